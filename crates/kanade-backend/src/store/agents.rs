//! `agents`: one row per machine, kept current by the heartbeat projector.

use chrono::{DateTime, Duration, Utc};
use kanade_protocol::wire::Heartbeat;
use rusqlite::{Connection, Transaction, params};

use crate::store::ts;

/// A machine is online while its last heartbeat is younger than this.
pub const ONLINE_WINDOW: Duration = Duration::minutes(2);

/// Upserts the newest heartbeat of each machine. Host name and OS keep their old value when a
/// beat leaves them empty.
pub fn upsert_heartbeats(
    tx: &Transaction<'_>,
    beats: &[Heartbeat],
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO agents (pc_id, hostname, os_family, os_version, agent_version, first_seen,
             last_heartbeat, agent_cpu_pct, agent_rss_bytes, quarantined_versions, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (pc_id) DO UPDATE SET
             hostname = CASE WHEN excluded.hostname = '' THEN agents.hostname ELSE excluded.hostname END,
             os_family = CASE WHEN excluded.os_family = '' THEN agents.os_family ELSE excluded.os_family END,
             os_version = CASE WHEN excluded.os_version = '' THEN agents.os_version ELSE excluded.os_version END,
             agent_version = excluded.agent_version,
             last_heartbeat = MAX(agents.last_heartbeat, excluded.last_heartbeat),
             agent_cpu_pct = excluded.agent_cpu_pct,
             agent_rss_bytes = excluded.agent_rss_bytes,
             quarantined_versions = excluded.quarantined_versions,
             updated_at = excluded.updated_at",
    )?;
    for hb in beats {
        stmt.execute(params![
            hb.pc_id,
            hb.hostname,
            hb.os_family,
            hb.os_version,
            hb.agent_version,
            ts(hb.at),
            hb.agent_cpu_pct,
            hb.agent_rss_bytes
                .map(|b| i64::try_from(b).unwrap_or(i64::MAX)),
            serde_json::to_string(&hb.quarantined_versions).unwrap_or_else(|_| "[]".to_owned()),
            ts(now),
        ])?;
    }
    Ok(())
}

/// Machines whose last heartbeat is within the online window of `now`.
pub fn count_online(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM agents WHERE last_heartbeat >= ?1",
        [ts(now - ONLINE_WINDOW)],
        |r| r.get(0),
    )
}
