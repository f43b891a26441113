//! Reaching into one machine while something is wrong: the live output of a running script
//! (`job.tail.<pc>.<exec_id>`, core NATS, lossy by design) and the agent's own log lines
//! (`logs.fetch.<pc>`, request/reply). The final `ExecResult` stays the source of truth for
//! output; a tail chunk is only a preview of it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// At most this many bytes of live output per run and second leave the agent; the rest is
/// dropped and counted (`TailChunk::dropped_bytes`), never waited for.
pub const TAIL_BYTES_PER_SEC: u64 = 64 * 1024;
/// A tail chunk carries at most this many bytes of text.
pub const TAIL_CHUNK_MAX: usize = 16 * 1024;
/// The agent's log reply carries at most this many bytes of text (newest lines kept).
pub const LOGS_MAX_BYTES: usize = 1024 * 1024;
/// Lines returned when the request names no count.
pub const LOGS_DEFAULT_LINES: u32 = 200;
/// The most lines one request may ask for.
pub const LOGS_MAX_LINES: u32 = 100_000;

/// Which output stream a chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum OutputStream {
    Stdout,
    Stderr,
}

impl OutputStream {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputStream::Stdout => "stdout",
            OutputStream::Stderr => "stderr",
        }
    }
}

/// A piece of a running script's output (`job.tail.<pc>.<exec_id>`). Chunks of one run are
/// numbered from 0; the last one has `done` set and the final count of dropped bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TailChunk {
    pub exec_id: String,
    pub pc_id: String,
    pub result_id: String,
    pub seq: u64,
    pub stream: OutputStream,
    /// Whole lines as a rule (a line longer than a chunk is split); may be empty in the last.
    pub text: String,
    /// Bytes of output this run dropped so far (rate cap or a slow broker connection).
    #[serde(default)]
    pub dropped_bytes: u64,
    /// The run ended: no more chunks follow.
    #[serde(default)]
    pub done: bool,
}

/// `logs.fetch.<pc>`: which of the agent's own log lines to return, newest last.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogsRequest {
    /// Only lines of files written since then (the day files are chosen by date; lines whose
    /// leading timestamp is older are left out).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Only lines containing this text (case-sensitive, plain text).
    #[serde(default)]
    pub grep: Option<String>,
    /// The newest this many lines (default `LOGS_DEFAULT_LINES`, at most `LOGS_MAX_LINES`).
    #[serde(default)]
    pub lines: Option<u32>,
}

/// The agent's answer to `LogsRequest`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogsReply {
    pub pc_id: String,
    /// The chosen lines, oldest first, each ending in a newline.
    pub text: String,
    /// Older matching lines were left out (line count or the size cap).
    #[serde(default)]
    pub truncated: bool,
    /// The files read, oldest first.
    #[serde(default)]
    pub files: Vec<String>,
    /// Why nothing could be read (no log folder configured, unreadable files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_and_log_requests_round_trip_and_tolerate_missing_fields() {
        let chunk: TailChunk = serde_json::from_str(
            r#"{"exec_id":"e","pc_id":"p","result_id":"r","seq":0,"stream":"stderr","text":"x\n","extra":1}"#,
        )
        .unwrap();
        assert_eq!(chunk.stream, OutputStream::Stderr);
        assert!(!chunk.done);
        assert_eq!(chunk.dropped_bytes, 0);
        let req: LogsRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(req, LogsRequest::default());
    }
}
