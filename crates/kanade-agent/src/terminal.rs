//! Remote terminal sessions: answers signed open requests on `terminal.open.<pc>` by starting
//! the login shell on a PTY (`pty`), streams its output on `terminal.out.<pc>.<session>` and
//! takes input, resizes, keepalives and the close on `terminal.in.<pc>.<session>`.
//!
//! A session ends — and every process of the shell's session is killed — when the shell exits,
//! the backend closes it, no input came for the config's `terminal_idle_timeout` (15m unless
//! set), the backend's keepalives stop for `PEER_TIMEOUT_SECS`, the broker connection drops,
//! or the agent stops. Open requests are
//! refused unless signed by a key of `command_keys` for this machine within the last minute,
//! and while the machine's effective config says `terminal: deny`; with `terminal: consent`
//! the user signed in at the machine must accept first (`consent`).

pub mod consent;
mod pty;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use base64::Engine;
use chrono::Utc;
use futures::StreamExt;
use kanade_protocol::config::{EffectiveConfig, TerminalPolicy};
use kanade_protocol::subject;
use kanade_protocol::terminal::{
    self, Input, OUTPUT_CHUNK_MAX, OpenReply, OpenRequest, Output, VerifyError,
};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;

use crate::keyring::Keyring;

pub use pty::session_members;

/// Sessions one machine runs at once.
const MAX_SESSIONS: usize = 8;
/// How long a hung-up shell may take to go before SIGKILL.
const END_GRACE: Duration = Duration::from_secs(2);

/// What the session loop needs.
#[derive(Clone)]
pub struct Env {
    pub client: Client,
    pub pc_id: String,
    pub keyring: Keyring,
    /// The machine's effective config: `terminal`, `terminal_consent_timeout` and
    /// `terminal_idle_timeout` are read as each session opens.
    pub config: watch::Receiver<EffectiveConfig>,
    /// Requests waiting for the signed-in user's consent (answered over the local socket).
    pub consents: consent::Consents,
    /// Where logind's sessions are (who is signed in, for consent).
    pub sessions_dir: PathBuf,
}

impl Env {
    pub fn new(
        client: Client,
        pc_id: String,
        keyring: Keyring,
        config: watch::Receiver<EffectiveConfig>,
        consents: consent::Consents,
        sessions_dir: PathBuf,
    ) -> Env {
        Env {
            client,
            pc_id,
            keyring,
            config,
            consents,
            sessions_dir,
        }
    }
}

/// Answers open requests until the connection ends; each request (a consent wait included)
/// and each session runs in its own task, and all of them (with their shells) end when this
/// future is dropped.
pub async fn serve(env: Env) {
    let mut requests = loop {
        match env
            .client
            .subscribe(subject::terminal_open(&env.pc_id))
            .await
        {
            Ok(sub) => break sub,
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for terminal requests; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    let slots = Arc::new(Semaphore::new(MAX_SESSIONS));
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        let msg = tokio::select! {
            msg = requests.next() => msg,
            Some(_) = sessions.join_next(), if !sessions.is_empty() => continue,
        };
        let Some(msg) = msg else { break };
        let Some(reply_to) = msg.reply.clone() else {
            continue;
        };
        let (env, slots) = (env.clone(), slots.clone());
        sessions.spawn(async move {
            let (answer, started) = match open(&env, &msg.payload, &slots).await {
                Ok(started) => (
                    OpenReply {
                        ok: true,
                        error: None,
                        pid: Some(started.shell.pid()),
                        accepted_by: started.accepted_by.clone(),
                    },
                    Some(started),
                ),
                Err(error) => {
                    tracing::warn!(error, "terminal open refused");
                    let reply = OpenReply {
                        ok: false,
                        error: Some(error),
                        pid: None,
                        accepted_by: None,
                    };
                    (reply, None)
                }
            };
            let payload = serde_json::to_vec(&answer).unwrap_or_default();
            if let Err(err) = env.client.publish(reply_to, payload.into()).await {
                tracing::warn!(error = %err, "cannot answer a terminal request");
            }
            if let Some(started) = started {
                run_session(env, started).await;
            }
        });
    }
}

/// A session whose shell runs, not yet streaming.
struct Started {
    session_id: String,
    shell: pty::Shell,
    input: async_nats::Subscriber,
    /// Who accepted, under `terminal: consent`.
    accepted_by: Option<String>,
    /// No input this long closes the session (`terminal_idle_timeout` when it opened).
    idle_timeout: Duration,
    _slot: tokio::sync::OwnedSemaphorePermit,
}

async fn open(env: &Env, payload: &[u8], slots: &Arc<Semaphore>) -> Result<Started, String> {
    let request: OpenRequest = serde_json::from_slice(payload)
        .map_err(|err| format!("the terminal request could not be read: {err}"))?;
    let mut verdict = request.verify(&env.pc_id, &env.keyring.snapshot(), Utc::now());
    if let Err(VerifyError::UnknownKey(id)) = &verdict
        && env.keyring.fetch(id).await
    {
        verdict = request.verify(&env.pc_id, &env.keyring.snapshot(), Utc::now());
    }
    verdict.map_err(|err| format!("terminal request refused: {err}"))?;
    let (policy, consent_timeout, idle_timeout) = {
        let config = env.config.borrow();
        (
            config.terminal,
            config.terminal_consent_timeout.0,
            terminal::idle_timeout(config.terminal_idle_timeout.0),
        )
    };
    if policy == TerminalPolicy::Deny {
        return Err("remote terminals are denied on this machine (config terminal: deny)".into());
    }
    let mut accepted_by = None;
    if policy == TerminalPolicy::Consent {
        let user = env
            .consents
            .ask(
                &env.sessions_dir,
                &request.session_id,
                &request.user,
                terminal::consent_timeout(consent_timeout),
            )
            .await?;
        accepted_by = Some(user);
    }
    let slot = slots
        .clone()
        .try_acquire_owned()
        .map_err(|_| format!("{MAX_SESSIONS} terminal sessions are already open here"))?;
    // Subscribed before the shell starts and before the answer, so no input is lost.
    let input = env
        .client
        .subscribe(subject::terminal_in(&env.pc_id, &request.session_id))
        .await
        .map_err(|err| format!("cannot listen for terminal input: {err}"))?;
    let shell = pty::Shell::spawn(request.rows, request.cols)
        .map_err(|err| format!("cannot start a shell: {err}"))?;
    tracing::info!(
        session_id = request.session_id,
        user = request.user,
        pid = shell.pid(),
        idle_timeout_secs = idle_timeout.as_secs(),
        "remote terminal opened"
    );
    Ok(Started {
        session_id: request.session_id,
        shell,
        input,
        accepted_by,
        idle_timeout,
        _slot: slot,
    })
}

/// Streams one session until it ends, then kills what is left of it and says why.
async fn run_session(env: Env, mut s: Started) {
    let out_subject = subject::terminal_out(&env.pc_id, &s.session_id);
    let b64 = base64::engine::general_purpose::STANDARD;
    let peer_timeout = Duration::from_secs(terminal::PEER_TIMEOUT_SECS);
    let mut last_input = Instant::now();
    let mut last_peer = Instant::now();
    let mut seq = 0u64;
    let mut buf = vec![0u8; OUTPUT_CHUNK_MAX];
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    let mut keepalives = tokio::time::interval(Duration::from_secs(terminal::KEEPALIVE_EVERY_SECS));
    let reason: String = loop {
        tokio::select! {
            read = s.shell.read(&mut buf) => match read {
                Ok(0) => break "shell exited".into(),
                Ok(n) => {
                    let frame = Output::Data { seq, data: b64.encode(&buf[..n]) };
                    seq += 1;
                    let payload = serde_json::to_vec(&frame).unwrap_or_default();
                    if env.client.publish(out_subject.clone(), payload.into()).await.is_err() {
                        break "broker connection lost".into();
                    }
                }
                Err(err) => break format!("terminal read failed: {err}"),
            },
            msg = s.input.next() => {
                let Some(msg) = msg else { break "broker connection lost".into() };
                last_peer = Instant::now();
                match serde_json::from_slice::<Input>(&msg.payload) {
                    Ok(Input::Data { data }) => {
                        last_input = Instant::now();
                        let Ok(bytes) = b64.decode(data.as_bytes()) else { continue };
                        if let Err(err) = s.shell.write_all(&bytes).await {
                            break format!("terminal write failed: {err}");
                        }
                    }
                    Ok(Input::Resize { rows, cols }) => {
                        if terminal::check_size(rows, cols).is_ok() {
                            let _ = s.shell.resize(rows, cols);
                        }
                    }
                    Ok(Input::Keepalive) => {}
                    Ok(Input::Close) => break "closed".into(),
                    Err(_) => {}
                }
            }
            _ = keepalives.tick() => {
                let payload = serde_json::to_vec(&Output::Keepalive).unwrap_or_default();
                let _ = env.client.publish(out_subject.clone(), payload.into()).await;
            }
            _ = ticks.tick() => {
                if env.client.connection_state() != async_nats::connection::State::Connected {
                    break "broker connection lost".into();
                }
                if last_peer.elapsed() > peer_timeout {
                    break "the backend stopped answering".into();
                }
                if last_input.elapsed() > s.idle_timeout {
                    break "idle".into();
                }
                if s.shell.try_exit_code().is_some() {
                    // The shell is gone though something still holds the terminal.
                    break "shell exited".into();
                }
            }
        }
    };
    let code = s.shell.end(END_GRACE).await;
    tracing::info!(
        session_id = s.session_id,
        reason,
        code,
        "remote terminal closed"
    );
    let payload = serde_json::to_vec(&Output::Exit { code, reason }).unwrap_or_default();
    let _ = env.client.publish(out_subject, payload.into()).await;
    let _ = env.client.flush().await;
}
