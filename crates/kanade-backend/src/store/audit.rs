//! `audit_log`: the projection of stream AUDIT, idempotent on the stream sequence.

use chrono::{DateTime, Utc};
use kanade_protocol::api::{AuditEntry, Page};
use kanade_protocol::wire::AuditEvent;
use rusqlite::{Connection, Transaction, params};

use crate::store::{parse_ts, ts};

pub fn insert(tx: &Transaction<'_>, ev: &AuditEvent, stream_seq: u64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO audit_log (actor, action, target, payload, occurred_at, client_addr, stream_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (stream_seq) DO NOTHING",
    )?
    .execute(params![
        ev.actor,
        ev.action,
        ev.target,
        ev.payload.to_string(),
        ts(ev.occurred_at),
        ev.client_addr,
        i64::try_from(stream_seq).unwrap_or(i64::MAX),
    ])?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

pub fn list(
    conn: &Connection,
    f: &Filter,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Page<AuditEntry>> {
    let condition = "(?1 IS NULL OR actor = ?1) AND (?2 IS NULL OR action = ?2)
        AND (?3 IS NULL OR occurred_at >= ?3) AND (?4 IS NULL OR occurred_at < ?4)";
    let (since, until) = (f.since.map(ts), f.until.map(ts));
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM audit_log WHERE {condition}"),
        params![f.actor, f.action, since, until],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, actor, action, target, payload, occurred_at, client_addr FROM audit_log
         WHERE {condition} ORDER BY occurred_at DESC, id DESC LIMIT ?5 OFFSET ?6"
    ))?;
    let items = stmt
        .query_map(
            params![
                f.actor,
                f.action,
                since,
                until,
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            |row| {
                let payload: String = row.get(4)?;
                Ok(AuditEntry {
                    id: row.get(0)?,
                    actor: row.get(1)?,
                    action: row.get(2)?,
                    target: row.get(3)?,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
                    occurred_at: parse_ts(row.get(5)?).unwrap_or_default(),
                    client_addr: row.get(6)?,
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit,
        offset,
    })
}
