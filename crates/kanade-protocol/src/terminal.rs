//! Remote terminal: the open request the backend signs and sends to one machine
//! (`terminal.open.<pc>`, request/reply), the frames of a session (`terminal.in.<pc>.<id>`
//! backend → agent, `terminal.out.<pc>.<id>` agent → backend, core NATS), the WebSocket
//! control frames between a client and the backend, and the session records the API lists.
//!
//! Who may open: only the backend publishes on `terminal.open.*` and `terminal.in.*` (no agent
//! or operator grant names them), and every open request is also signed with a key of
//! `command_keys`, over the session id, machine, user, size and a signing time at most
//! [`OPEN_MAX_AGE`] old, so an open request cannot be forged or replayed later even on a
//! broker without the auth callout.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

use crate::signing::{self, SigningKey};

/// The first bytes of a signed open request.
const DOMAIN_OPEN_V1: &[u8] = b"kanade-terminal-open-v1";

/// How old a signed open request may be when the agent sees it.
pub const OPEN_MAX_AGE: TimeDelta = TimeDelta::seconds(60);
/// The backend sends a keepalive this often while a session is open.
pub const KEEPALIVE_EVERY_SECS: u64 = 5;
/// Either side ends a session after hearing nothing from the other this long.
pub const PEER_TIMEOUT_SECS: u64 = 20;
/// One output frame carries at most this many bytes.
pub const OUTPUT_CHUNK_MAX: usize = 16 * 1024;
/// The longest and shortest consent wait an agent honours (`terminal_consent_timeout`).
pub const CONSENT_TIMEOUT_MIN_SECS: u64 = 1;
pub const CONSENT_TIMEOUT_MAX_SECS: u64 = 10 * 60;
/// Transcripts are kept this many days unless the backend config says otherwise.
pub const DEFAULT_TRANSCRIPT_RETENTION_DAYS: u32 = 30;
/// The smallest and largest terminal sizes accepted.
pub const MIN_DIM: u16 = 1;
pub const MAX_DIM: u16 = 1000;

/// The backend asks machine `pc_id` to open a shell (`terminal.open.<pc>`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenRequest {
    pub session_id: String,
    pub pc_id: String,
    /// The admin who opens it (for the agent's log).
    pub user: String,
    pub rows: u16,
    pub cols: u16,
    pub key_id: String,
    pub signed_at: DateTime<Utc>,
    /// ed25519 over [`open_bytes`], standard base64.
    pub sig: String,
}

/// The agent's answer to an open request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenReply {
    pub ok: bool,
    /// Why not, when `ok` is false.
    #[serde(default)]
    pub error: Option<String>,
    /// The shell's process id (its process group id too).
    #[serde(default)]
    pub pid: Option<u32>,
    /// Under `terminal: consent`, the signed-in user who accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_by: Option<String>,
}

/// What the backend sends into a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Input {
    /// Keystrokes, standard base64.
    Data {
        data: String,
    },
    Resize {
        rows: u16,
        cols: u16,
    },
    Keepalive,
    Close,
}

/// What the agent sends out of a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Output {
    /// Terminal output, standard base64; `seq` counts frames from 0 so gaps show.
    Data {
        seq: u64,
        data: String,
    },
    Keepalive,
    /// The shell is gone; nothing follows.
    Exit {
        #[serde(default)]
        code: Option<i32>,
        reason: String,
    },
}

/// Control frames on the WebSocket (text frames, JSON); bytes travel as binary frames.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Control {
    /// Backend → client: the machine's config says `terminal: consent`; its signed-in user
    /// is being asked and has `timeout_secs` to answer. `opened` or `refused` follows.
    Waiting { message: String, timeout_secs: u64 },
    /// Backend → client, last frame before the close: no session was opened (the user
    /// declined, did not answer in time, or nobody is signed in).
    Refused { reason: String },
    /// Backend → client: the shell is running.
    Opened { session_id: String },
    /// Client → backend.
    Resize { rows: u16, cols: u16 },
    /// Backend → client, last frame before the close.
    Exit {
        #[serde(default)]
        code: Option<i32>,
        reason: String,
    },
}

/// The consent wait a configured `terminal_consent_timeout` means, within the bounds.
pub fn consent_timeout(configured: std::time::Duration) -> std::time::Duration {
    configured.clamp(
        std::time::Duration::from_secs(CONSENT_TIMEOUT_MIN_SECS),
        std::time::Duration::from_secs(CONSENT_TIMEOUT_MAX_SECS),
    )
}

/// The idle timeout a configured `terminal_idle_timeout` means, within the bounds
/// ([`crate::config::IDLE_TIMEOUT_MIN_SECS`] to [`crate::config::IDLE_TIMEOUT_MAX_SECS`]):
/// the API refuses values outside them, and a scope written by hand is held to them too.
pub fn idle_timeout(configured: std::time::Duration) -> std::time::Duration {
    configured.clamp(
        std::time::Duration::from_secs(crate::config::IDLE_TIMEOUT_MIN_SECS),
        std::time::Duration::from_secs(crate::config::IDLE_TIMEOUT_MAX_SECS),
    )
}

/// Whether a size is acceptable; the error names the field.
pub fn check_size(rows: u16, cols: u16) -> Result<(), String> {
    for (name, v) in [("rows", rows), ("cols", cols)] {
        if !(MIN_DIM..=MAX_DIM).contains(&v) {
            return Err(format!("{name}: must be between {MIN_DIM} and {MAX_DIM}"));
        }
    }
    Ok(())
}

fn open_bytes(
    session_id: &str,
    pc_id: &str,
    user: &str,
    rows: u16,
    cols: u16,
    key_id: &str,
    signed_at: DateTime<Utc>,
) -> Vec<u8> {
    let signed_at = signed_at.to_rfc3339_opts(SecondsFormat::Nanos, true);
    let fields: [(&str, String); 7] = [
        ("session_id", session_id.to_owned()),
        ("pc_id", pc_id.to_owned()),
        ("user", user.to_owned()),
        ("rows", rows.to_string()),
        ("cols", cols.to_string()),
        ("key_id", key_id.to_owned()),
        ("signed_at", signed_at),
    ];
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(DOMAIN_OPEN_V1);
    for (name, value) in fields {
        for part in [name.as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

impl OpenRequest {
    /// A signed request to open `session_id` on `pc_id`.
    pub fn signed(
        key: &SigningKey,
        session_id: &str,
        pc_id: &str,
        user: &str,
        (rows, cols): (u16, u16),
        now: DateTime<Utc>,
    ) -> OpenRequest {
        let bytes = open_bytes(session_id, pc_id, user, rows, cols, key.key_id(), now);
        OpenRequest {
            session_id: session_id.to_owned(),
            pc_id: pc_id.to_owned(),
            user: user.to_owned(),
            rows,
            cols,
            key_id: key.key_id().to_owned(),
            signed_at: now,
            sig: key.sign_bytes(&bytes),
        }
    }

    /// Checks the request for machine `own_pc` against `keys` (key id → public key).
    /// `Err(Some(id))` when the key is unknown (the caller may fetch it and ask again).
    pub fn verify(
        &self,
        own_pc: &str,
        keys: &BTreeMap<String, String>,
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let Some(public_key) = keys.get(&self.key_id) else {
            return Err(VerifyError::UnknownKey(self.key_id.clone()));
        };
        let bytes = open_bytes(
            &self.session_id,
            &self.pc_id,
            &self.user,
            self.rows,
            self.cols,
            &self.key_id,
            self.signed_at,
        );
        if !signing::verify_bytes(public_key, &bytes, &self.sig) {
            return Err(VerifyError::Refused("bad signature".to_owned()));
        }
        if self.pc_id != own_pc {
            return Err(VerifyError::Refused(format!(
                "signed for machine {}, not this one",
                self.pc_id
            )));
        }
        if self.signed_at > now + signing::MAX_FUTURE_SKEW
            || now.signed_duration_since(self.signed_at) > OPEN_MAX_AGE
        {
            return Err(VerifyError::Refused(
                "signed too long ago or in the future".to_owned(),
            ));
        }
        if !crate::ids::is_token(&self.session_id) {
            return Err(VerifyError::Refused("malformed session id".to_owned()));
        }
        check_size(self.rows, self.cols).map_err(VerifyError::Refused)
    }
}

/// Why an open request is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    UnknownKey(String),
    Refused(String),
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            VerifyError::UnknownKey(id) => write!(f, "key {id} is not in command_keys"),
            VerifyError::Refused(why) => f.write_str(why),
        }
    }
}

/// One audited terminal session (`GET /api/terminal-sessions`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TerminalSession {
    pub session_id: String,
    pub pc_id: String,
    /// The admin who opened it.
    pub user: String,
    pub started_at: DateTime<Utc>,
    /// Absent while it is open (or when the backend stopped before recording the end).
    #[serde(default)]
    pub ended_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub duration_secs: Option<f64>,
    /// Why it ended (`shell exited`, `idle`, `client closed`, `broker connection lost`, …).
    #[serde(default)]
    pub end_reason: Option<String>,
    #[serde(default)]
    pub output_bytes: u64,
    #[serde(default)]
    pub input_bytes: u64,
    /// Whether a transcript is stored (it is deleted after the retention period).
    #[serde(default)]
    pub has_transcript: bool,
}

/// One entry of a stored transcript (`GET /api/terminal-sessions/{id}/transcript`, NDJSON):
/// milliseconds since the start, `o` for output or `i` for input, and the text (lossy UTF-8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TranscriptEntry {
    pub t_ms: u64,
    pub dir: String,
    pub text: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_open_verifies_only_for_its_machine_and_time() {
        let key = SigningKey::generate();
        let keys: BTreeMap<String, String> = [(key.key_id().to_owned(), key.public_key())].into();
        let now = Utc::now();
        let req = OpenRequest::signed(&key, "s1", "pc1", "admin", (24, 80), now);
        assert_eq!(req.verify("pc1", &keys, now), Ok(()));
        assert!(req.verify("pc2", &keys, now).is_err());
        assert!(
            req.verify("pc1", &keys, now + TimeDelta::seconds(120))
                .is_err()
        );
        let mut tampered = req.clone();
        tampered.rows = 25;
        assert!(tampered.verify("pc1", &keys, now).is_err());
        let mut other = req.clone();
        other.key_id = "kother".into();
        assert_eq!(
            other.verify("pc1", &keys, now),
            Err(VerifyError::UnknownKey("kother".into()))
        );
    }

    #[test]
    fn sizes_are_bounded() {
        assert!(check_size(40, 100).is_ok());
        assert!(check_size(0, 100).unwrap_err().contains("rows"));
        assert!(check_size(40, 1001).unwrap_err().contains("cols"));
    }
}
