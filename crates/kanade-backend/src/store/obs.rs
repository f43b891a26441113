//! `obs_events`: every machine's timeline, projected from OBS_EVENTS. Events with a record id
//! are unique per `(pc_id, source, event_record_id)`; the others per stream sequence.

use chrono::{DateTime, Utc};
use kanade_protocol::api::{KindCount, ObsEntry, Page};
use kanade_protocol::wire::ObsEvent;
use rusqlite::{Connection, Transaction, params};

use crate::store::{count_at, parse_ts, ts};

pub fn insert(
    tx: &Transaction<'_>,
    ev: &ObsEvent,
    recorded_at: DateTime<Utc>,
    stream_seq: u64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO obs_events (pc_id, at, kind, source, event_record_id, payload, recorded_at, stream_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT DO NOTHING",
    )?
    .execute(params![
        ev.pc_id,
        ts(ev.at),
        ev.kind,
        ev.source,
        ev.event_record_id,
        ev.payload.to_string(),
        ts(recorded_at),
        i64::try_from(stream_seq).unwrap_or(i64::MAX),
    ])?;
    Ok(())
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub pc_id: Option<String>,
    pub kind: Option<String>,
    pub source: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
}

pub fn list(
    conn: &Connection,
    f: &Filter,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Page<ObsEntry>> {
    let condition =
        "(?1 IS NULL OR pc_id = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR source = ?3)
        AND (?4 IS NULL OR at >= ?4) AND (?5 IS NULL OR at < ?5)";
    let (from, to) = (f.from.map(ts), f.to.map(ts));
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM obs_events WHERE {condition}"),
        params![f.pc_id, f.kind, f.source, from, to],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, pc_id, at, kind, source, event_record_id, payload FROM obs_events
         WHERE {condition} ORDER BY at DESC, id DESC LIMIT ?6 OFFSET ?7"
    ))?;
    let items = stmt
        .query_map(
            params![
                f.pc_id,
                f.kind,
                f.source,
                from,
                to,
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            |row| {
                let payload: String = row.get(6)?;
                Ok(ObsEntry {
                    id: row.get(0)?,
                    pc_id: row.get(1)?,
                    at: parse_ts(row.get(2)?).unwrap_or_default(),
                    kind: row.get(3)?,
                    source: row.get(4)?,
                    event_record_id: row.get(5)?,
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::Null),
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

pub fn kinds(conn: &Connection) -> rusqlite::Result<Vec<KindCount>> {
    let mut stmt =
        conn.prepare_cached("SELECT kind, COUNT(*) FROM obs_events GROUP BY kind ORDER BY kind")?;
    stmt.query_map([], |row| {
        Ok(KindCount {
            kind: row.get(0)?,
            events: count_at(row, 1)?,
        })
    })?
    .collect()
}
