//! Remote terminal sessions, backend side: checks (fleet freeze, the machine's `terminal`
//! config), the signed open request to the agent (`terminal.open.<pc>`), the bridge between
//! the client's WebSocket and the session's subjects, keepalives both ways, the audit events
//! (`terminal_open`, `terminal_close` with duration and reason) and the transcript (output and
//! input lines with their time, NDJSON in object store `terminal_transcripts`, written when the
//! session ends; kept `[retention] terminal_transcripts`).
//!
//! Under `terminal: consent` the WebSocket is accepted first and told `waiting` while the
//! agent asks the signed-in user (`with_consent`); a refusal (declined, no answer in time,
//! nobody signed in) is sent as `refused` and audited as `terminal_refused`.
//!
//! WebSocket frames: binary frames carry terminal bytes both ways; text frames carry
//! `terminal::Control` JSON (`resize` from the client; `opened`, `exit` from the backend).

use std::time::Duration;

use async_nats::jetstream;
use axum::extract::ws::{Message, WebSocket};
use base64::Engine;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kanade_protocol::config::TerminalPolicy;
use kanade_protocol::terminal::{
    self, Control, Input, OpenReply, OpenRequest, Output, TranscriptEntry,
};
use kanade_protocol::wire::AuditEvent;
use kanade_protocol::{names, subject};
use tokio::time::Instant;

use crate::auth::Caller;
use crate::desired;
use crate::state::AppState;

/// How long the agent may take to start the shell.
const OPEN_TIMEOUT: Duration = Duration::from_secs(10);
/// How often, and how long apart, the end of a session is tried to be recorded while the
/// broker is away (two minutes in all).
const RECORD_ATTEMPTS: u32 = 60;
const RECORD_RETRY: Duration = Duration::from_secs(2);
/// A transcript keeps at most this many bytes of text; past it only the counts go on.
const TRANSCRIPT_MAX_BYTES: usize = 8 * 1024 * 1024;

/// Why a session cannot be opened; the API turns each into its status.
#[derive(Debug)]
pub enum Refused {
    Frozen,
    Denied,
    /// The agent did not answer or said no.
    Agent(String),
    Unavailable(String),
}

/// A session the agent has started.
pub struct Opened {
    pub session_id: String,
    pub pc_id: String,
    pub started_at: DateTime<Utc>,
    output: async_nats::Subscriber,
}

/// New session ids: 32 hex digits (a subject token).
pub fn new_session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// What the checks allow: a session right away, or one the signed-in user must accept
/// within `consent`.
#[derive(Debug, Clone, Copy)]
pub struct Admission {
    pub consent: Option<Duration>,
}

/// Checks the freeze and the machine's policy.
pub async fn check(state: &AppState, pc_id: &str) -> Result<Admission, Refused> {
    let now = Utc::now();
    let freeze = desired::freeze(&state.js)
        .await
        .map_err(|e| Refused::Unavailable(format!("cannot read the fleet freeze: {e:#}")))?;
    if freeze.frozen(now) {
        return Err(Refused::Frozen);
    }
    let effective = desired::effective(&state.js, pc_id)
        .await
        .map_err(|e| Refused::Unavailable(format!("cannot read the machine's config: {e:#}")))?;
    let consent = match effective.effective.terminal {
        TerminalPolicy::Deny => return Err(Refused::Denied),
        TerminalPolicy::Allow => None,
        TerminalPolicy::Consent => Some(terminal::consent_timeout(
            effective.effective.terminal_consent_timeout.0,
        )),
    };
    Ok(Admission { consent })
}

/// Asks the agent to open a shell (after `check`); under consent the agent answers once its
/// user did, so the wait is that much longer. A refusal is audited as `terminal_refused`.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    pc_id: &str,
    (rows, cols): (u16, u16),
    admission: Admission,
) -> Result<Opened, Refused> {
    let now = Utc::now();
    let session_id = new_session_id();
    // Subscribed before asking, so the shell's first output (the prompt) is not lost.
    let output = state
        .nats
        .subscribe(subject::terminal_out(pc_id, &session_id))
        .await
        .map_err(|e| Refused::Unavailable(format!("cannot subscribe: {e}")))?;
    let request = OpenRequest::signed(
        &state.signer.current(),
        &session_id,
        pc_id,
        &caller.username,
        (rows, cols),
        now,
    );
    let payload = serde_json::to_vec(&request).unwrap_or_default();
    let reply = tokio::time::timeout(
        OPEN_TIMEOUT + admission.consent.unwrap_or_default(),
        state
            .nats
            .request(subject::terminal_open(pc_id), payload.into()),
    )
    .await
    .map_err(|_| Refused::Agent(format!("machine {pc_id} did not answer in time")))?
    .map_err(|e| Refused::Agent(format!("machine {pc_id} cannot be reached: {e}")))?;
    let reply: OpenReply = serde_json::from_slice(&reply.payload)
        .map_err(|e| Refused::Agent(format!("machine {pc_id} answered unreadably: {e}")))?;
    if !reply.ok {
        let why = reply.error.unwrap_or_else(|| "refused".into());
        crate::audit::record(
            &state.js,
            caller,
            "terminal_refused",
            Some(pc_id),
            serde_json::json!({ "session_id": session_id, "reason": why }),
        )
        .await;
        return Err(Refused::Agent(why));
    }
    let mut payload = serde_json::json!({ "session_id": session_id, "rows": rows, "cols": cols });
    if admission.consent.is_some() {
        payload["accepted_by"] = serde_json::json!(reply.accepted_by);
    }
    crate::audit::record(&state.js, caller, "terminal_open", Some(pc_id), payload).await;
    Ok(Opened {
        session_id,
        pc_id: pc_id.to_owned(),
        started_at: now,
        output,
    })
}

/// What a session saw, for the transcript and the close event.
struct Record {
    started: Instant,
    entries: Vec<TranscriptEntry>,
    text_bytes: usize,
    output_bytes: u64,
    input_bytes: u64,
    pending_input: Vec<u8>,
}

impl Record {
    fn push(&mut self, dir: &str, bytes: &[u8]) {
        if self.text_bytes >= TRANSCRIPT_MAX_BYTES {
            return;
        }
        let text = String::from_utf8_lossy(bytes).into_owned();
        self.text_bytes += text.len();
        self.entries.push(TranscriptEntry {
            t_ms: self.started.elapsed().as_millis() as u64,
            dir: dir.to_owned(),
            text,
        });
    }

    fn output(&mut self, bytes: &[u8]) {
        self.output_bytes += bytes.len() as u64;
        self.push("o", bytes);
    }

    /// Input is kept line by line (a keystroke per entry would bury the transcript).
    fn input(&mut self, bytes: &[u8]) {
        self.input_bytes += bytes.len() as u64;
        for &b in bytes {
            self.pending_input.push(b);
            if b == b'\r' || b == b'\n' {
                self.flush_input();
            }
        }
    }

    fn flush_input(&mut self) {
        if !self.pending_input.is_empty() {
            let line = std::mem::take(&mut self.pending_input);
            self.push("i", &line);
        }
    }

    fn ndjson(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for entry in &self.entries {
            out.extend(serde_json::to_vec(entry).unwrap_or_default());
            out.push(b'\n');
        }
        out
    }
}

/// Under `terminal: consent`: tells the client it waits for the user, asks the agent, then
/// runs the session or sends the refusal and closes.
pub async fn with_consent(
    state: AppState,
    mut socket: WebSocket,
    caller: Caller,
    pc_id: String,
    size: (u16, u16),
    admission: Admission,
) {
    let timeout = admission.consent.unwrap_or_default();
    let waiting = Control::Waiting {
        message: format!("waiting for the user signed in at {pc_id} to accept…"),
        timeout_secs: timeout.as_secs(),
    };
    let _ = socket.send(control(&waiting)).await;
    match start(&state, &caller, &pc_id, size, admission).await {
        Ok(opened) => bridge(state, socket, caller, opened).await,
        Err(refused) => {
            let reason = match refused {
                Refused::Agent(why) | Refused::Unavailable(why) => why,
                Refused::Frozen => "the fleet freeze is on".to_owned(),
                Refused::Denied => format!("the config of machine {pc_id} says terminal: deny"),
            };
            let _ = socket.send(control(&Control::Refused { reason })).await;
            let _ = socket.send(Message::Close(None)).await;
        }
    }
}

fn control(c: &Control) -> Message {
    Message::Text(serde_json::to_string(c).unwrap_or_default().into())
}

/// Relays between the client and the agent until either side ends, then records the end.
pub async fn bridge(state: AppState, mut socket: WebSocket, caller: Caller, mut s: Opened) {
    let b64 = base64::engine::general_purpose::STANDARD;
    let input_subject = subject::terminal_in(&s.pc_id, &s.session_id);
    let send = |input: Input| {
        let nats = state.nats.clone();
        let subject = input_subject.clone();
        async move {
            let payload = serde_json::to_vec(&input).unwrap_or_default();
            nats.publish(subject, payload.into()).await.is_ok()
        }
    };
    let mut rec = Record {
        started: Instant::now(),
        entries: Vec::new(),
        text_bytes: 0,
        output_bytes: 0,
        input_bytes: 0,
        pending_input: Vec::new(),
    };
    let _ = socket
        .send(control(&Control::Opened {
            session_id: s.session_id.clone(),
        }))
        .await;
    let peer_timeout = Duration::from_secs(terminal::PEER_TIMEOUT_SECS);
    let mut last_agent = Instant::now();
    let mut keepalives = tokio::time::interval(Duration::from_secs(terminal::KEEPALIVE_EVERY_SECS));
    let mut checks = tokio::time::interval(Duration::from_secs(1));
    // (reason, exit code, whether the agent already ended it)
    let (reason, code, agent_ended) = loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(bytes))) => {
                    rec.input(&bytes);
                    send(Input::Data { data: b64.encode(&bytes) }).await;
                }
                Some(Ok(Message::Text(text))) => {
                    if let Ok(Control::Resize { rows, cols }) = serde_json::from_str(&text)
                        && terminal::check_size(rows, cols).is_ok()
                    {
                        send(Input::Resize { rows, cols }).await;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => break ("client closed".to_owned(), None, false),
            },
            msg = s.output.next() => {
                let Some(msg) = msg else {
                    break ("broker connection lost".to_owned(), None, false);
                };
                last_agent = Instant::now();
                match serde_json::from_slice::<Output>(&msg.payload) {
                    Ok(Output::Data { data, .. }) => {
                        let Ok(bytes) = b64.decode(data.as_bytes()) else { continue };
                        rec.output(&bytes);
                        if socket.send(Message::Binary(bytes.into())).await.is_err() {
                            break ("client closed".to_owned(), None, false);
                        }
                    }
                    Ok(Output::Keepalive) => {}
                    Ok(Output::Exit { code, reason }) => break (reason, code, true),
                    Err(_) => {}
                }
            }
            _ = keepalives.tick() => {
                send(Input::Keepalive).await;
            }
            _ = checks.tick() => {
                if state.nats.connection_state() != async_nats::connection::State::Connected {
                    break ("broker connection lost".to_owned(), None, false);
                }
                if last_agent.elapsed() > peer_timeout {
                    break ("the agent stopped answering".to_owned(), None, false);
                }
            }
        }
    };
    if !agent_ended {
        send(Input::Close).await;
    }
    let _ = socket
        .send(control(&Control::Exit {
            code,
            reason: reason.clone(),
        }))
        .await;
    let _ = socket.send(Message::Close(None)).await;
    rec.flush_input();
    let ended_at = Utc::now();
    let js = state.js.clone();
    let mut transcript = false;
    // A session ended by a broker restart is recorded once the broker is back (for a while).
    for attempt in 0..RECORD_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(RECORD_RETRY).await;
        }
        if !transcript {
            transcript = store_transcript(&js, &s.session_id, rec.ndjson()).await;
        }
        if transcript || attempt + 1 >= RECORD_ATTEMPTS / 2 {
            break;
        }
    }
    let event = AuditEvent {
        actor: caller.username.clone(),
        action: "terminal_close".to_owned(),
        target: Some(s.pc_id.clone()),
        payload: serde_json::json!({
            "session_id": s.session_id,
            "reason": reason,
            "exit_code": code,
            "duration_secs": (ended_at - s.started_at).num_milliseconds() as f64 / 1000.0,
            "output_bytes": rec.output_bytes,
            "input_bytes": rec.input_bytes,
            "transcript": transcript,
        }),
        occurred_at: ended_at,
        client_addr: caller.client_addr.clone(),
    };
    for attempt in 0..RECORD_ATTEMPTS {
        match crate::audit::publish(&js, &event).await {
            Ok(()) => return,
            Err(err) if attempt + 1 == RECORD_ATTEMPTS => {
                tracing::error!(session_id = s.session_id, error = %format!("{err:#}"), "the end of a terminal session was not audited");
            }
            Err(_) => tokio::time::sleep(RECORD_RETRY).await,
        }
    }
}

/// Puts a transcript in the object store; false when it could not be kept.
async fn store_transcript(js: &jetstream::Context, session_id: &str, body: Vec<u8>) -> bool {
    let result = async {
        let bucket = js.get_object_store(names::OBJ_TERMINAL_TRANSCRIPTS).await?;
        let mut reader = std::io::Cursor::new(body);
        bucket.put(session_id, &mut reader).await?;
        anyhow::Ok(())
    }
    .await;
    match result {
        Ok(()) => true,
        Err(err) => {
            tracing::error!(session_id, error = %format!("{err:#}"), "terminal transcript not kept");
            false
        }
    }
}

/// Sets how long transcripts are kept (the object store's max age), at boot.
pub async fn apply_retention(js: &jetstream::Context, keep: Duration) -> anyhow::Result<()> {
    let mut stream = js
        .get_stream(format!("OBJ_{}", names::OBJ_TERMINAL_TRANSCRIPTS))
        .await?;
    let mut config = stream.info().await?.config.clone();
    if config.max_age != keep {
        config.max_age = keep;
        js.update_stream(config).await?;
    }
    Ok(())
}

/// Reads a stored transcript; `None` when there is none (never kept, or past retention).
pub async fn read_transcript(
    js: &jetstream::Context,
    session_id: &str,
) -> anyhow::Result<Option<Vec<u8>>> {
    use tokio::io::AsyncReadExt;
    let bucket = js.get_object_store(names::OBJ_TERMINAL_TRANSCRIPTS).await?;
    let mut object = match bucket.get(session_id).await {
        Ok(object) => object,
        Err(err) if matches!(err.kind(), jetstream::object_store::GetErrorKind::NotFound) => {
            return Ok(None);
        }
        Err(err) => return Err(err.into()),
    };
    let mut out = Vec::new();
    object.read_to_end(&mut out).await?;
    Ok(Some(out))
}
