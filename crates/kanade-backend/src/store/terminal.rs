//! Remote terminal sessions as the audit log records them: one `terminal_open` event per
//! session and, once it ended, one `terminal_close` event with its end, reason and byte counts
//! (both carry `session_id` in their payload). No table of their own, so a wiped read model
//! gets them back from stream AUDIT like every other audit row.

use kanade_protocol::terminal::TerminalSession;
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::parse_ts;

const SELECT: &str = "SELECT json_extract(o.payload, '$.session_id'), o.target, o.actor,
        o.occurred_at, c.occurred_at, c.payload
    FROM audit_log o
    LEFT JOIN audit_log c ON c.action = 'terminal_close'
        AND json_extract(c.payload, '$.session_id') = json_extract(o.payload, '$.session_id')
    WHERE o.action = 'terminal_open'";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<TerminalSession> {
    let started_at = parse_ts(r.get(3)?).unwrap_or_default();
    let ended_at = parse_ts(r.get(4)?);
    let close: Option<String> = r.get(5)?;
    let close: serde_json::Value = close
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or_default();
    Ok(TerminalSession {
        session_id: r.get::<_, Option<String>>(0)?.unwrap_or_default(),
        pc_id: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
        user: r.get(2)?,
        started_at,
        ended_at,
        duration_secs: ended_at
            .map(|end| (end - started_at).num_milliseconds().max(0) as f64 / 1000.0),
        end_reason: close["reason"].as_str().map(str::to_owned),
        output_bytes: close["output_bytes"].as_u64().unwrap_or(0),
        input_bytes: close["input_bytes"].as_u64().unwrap_or(0),
        has_transcript: close["transcript"].as_bool().unwrap_or(false),
    })
}

/// The newest sessions first, of one machine when `pc_id` is given.
pub fn list(
    conn: &Connection,
    pc_id: Option<&str>,
    limit: u32,
) -> rusqlite::Result<Vec<TerminalSession>> {
    let mut stmt = conn.prepare_cached(&format!(
        "{SELECT} AND (?1 IS NULL OR o.target = ?1) ORDER BY o.occurred_at DESC, o.id DESC LIMIT ?2"
    ))?;
    stmt.query_map(params![pc_id, limit], row)?.collect()
}

/// One session by id.
pub fn get(conn: &Connection, session_id: &str) -> rusqlite::Result<Option<TerminalSession>> {
    conn.prepare_cached(&format!(
        "{SELECT} AND json_extract(o.payload, '$.session_id') = ?1"
    ))?
    .query_row(params![session_id], row)
    .optional()
}
