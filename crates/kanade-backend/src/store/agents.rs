//! `agents`: one row per machine, kept current by the heartbeat projector.

use chrono::{DateTime, Duration, Utc};
use kanade_protocol::api::{AgentRow, Page, VersionCount};
use kanade_protocol::wire::Heartbeat;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::store::{count_at, parse_ts, ts};

/// Upserts the newest heartbeat of each machine. Host name and OS keep their old value when a
/// beat leaves them empty; the logged-on user (and its display name, together) and the command
/// protocols keep theirs when a beat does not say.
pub fn upsert_heartbeats(
    tx: &Transaction<'_>,
    beats: &[Heartbeat],
    now: DateTime<Utc>,
) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO agents (pc_id, hostname, os_family, os_version, agent_version, first_seen,
             last_heartbeat, agent_cpu_pct, agent_rss_bytes, quarantined_versions, updated_at,
             agent_disk_read_bytes, agent_disk_written_bytes, last_logon_user,
             last_logon_display_name, command_protocols, command_keys, enforcing,
             ip_addresses, uptime_secs, load_avg)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17,
             ?18, ?19, ?20)
         ON CONFLICT (pc_id) DO UPDATE SET
             hostname = CASE WHEN excluded.hostname = '' THEN agents.hostname ELSE excluded.hostname END,
             os_family = CASE WHEN excluded.os_family = '' THEN agents.os_family ELSE excluded.os_family END,
             os_version = CASE WHEN excluded.os_version = '' THEN agents.os_version ELSE excluded.os_version END,
             agent_version = excluded.agent_version,
             last_heartbeat = MAX(agents.last_heartbeat, excluded.last_heartbeat),
             agent_cpu_pct = excluded.agent_cpu_pct,
             agent_rss_bytes = excluded.agent_rss_bytes,
             quarantined_versions = excluded.quarantined_versions,
             updated_at = excluded.updated_at,
             agent_disk_read_bytes = excluded.agent_disk_read_bytes,
             agent_disk_written_bytes = excluded.agent_disk_written_bytes,
             last_logon_display_name = CASE WHEN excluded.last_logon_user IS NULL
                 THEN agents.last_logon_display_name ELSE excluded.last_logon_display_name END,
             last_logon_user = COALESCE(excluded.last_logon_user, agents.last_logon_user),
             command_protocols = COALESCE(excluded.command_protocols, agents.command_protocols),
             command_keys = excluded.command_keys,
             enforcing = excluded.enforcing,
             ip_addresses = excluded.ip_addresses,
             uptime_secs = excluded.uptime_secs,
             load_avg = excluded.load_avg",
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
            hb.agent_rss_bytes.map(big),
            serde_json::to_string(&hb.quarantined_versions).unwrap_or_else(|_| "[]".to_owned()),
            ts(now),
            hb.agent_disk_read_bytes.map(big),
            hb.agent_disk_written_bytes.map(big),
            hb.last_logon_user,
            hb.last_logon_display_name,
            hb.command_protocols
                .as_ref()
                .map(|p| serde_json::to_string(p).unwrap_or_else(|_| "[]".to_owned())),
            hb.command_keys
                .as_ref()
                .map(|keys| serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned())),
            hb.enforcing,
            json_list(&hb.ip_addresses),
            hb.uptime_secs.map(big),
            json_list(&hb.load_avg),
        ])?;
    }
    Ok(())
}

/// A list as JSON, `None` when empty (not reported).
fn json_list<T: serde::Serialize>(items: &[T]) -> Option<String> {
    match items.is_empty() {
        true => None,
        false => serde_json::to_string(items).ok(),
    }
}

fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn unsigned(v: Option<i64>) -> Option<u64> {
    v.and_then(|v| u64::try_from(v).ok())
}

/// Machines whose last heartbeat is within `window` of `now`.
pub fn count_online(
    conn: &Connection,
    now: DateTime<Utc>,
    window: Duration,
) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM agents WHERE last_heartbeat >= ?1",
        [ts(now - window)],
        |r| r.get(0),
    )
}

/// Drops machines whose last heartbeat is older than `before` (server setting
/// `agent_prune_days`); a live agent comes back with its next heartbeat. Returns how many.
pub fn prune_silent(conn: &Connection, before: DateTime<Utc>) -> rusqlite::Result<usize> {
    conn.execute("DELETE FROM agents WHERE last_heartbeat < ?1", [ts(before)])
}

/// Which of `pcs` ever sent a heartbeat, each with whether it is online now.
pub fn known(
    conn: &Connection,
    pcs: &[String],
    now: DateTime<Utc>,
    window: Duration,
) -> rusqlite::Result<Vec<(String, bool)>> {
    let cutoff = ts(now - window);
    let mut stmt =
        conn.prepare_cached("SELECT last_heartbeat >= ?2 FROM agents WHERE pc_id = ?1")?;
    let mut found = Vec::new();
    for pc in pcs {
        if let Some(online) = stmt
            .query_row(params![pc, cutoff], |r| r.get::<_, bool>(0))
            .optional()?
        {
            found.push((pc.clone(), online));
        }
    }
    Ok(found)
}

/// Columns the fleet table may be sorted by.
pub const SORTABLE: &[&str] = &[
    "pc_id",
    "hostname",
    "os_family",
    "os_version",
    "agent_version",
    "last_heartbeat",
    "first_seen",
    "agent_cpu_pct",
    "agent_rss_bytes",
    "uptime_secs",
];

#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    /// Matches the machine id, host name or an address (substring, case-insensitive).
    pub text: Option<String>,
    pub online: Option<bool>,
    pub os: Option<String>,
    pub version: Option<String>,
    /// Only these machines (a group's members); `Some(empty)` matches none.
    pub pcs: Option<Vec<String>>,
    /// One of `SORTABLE`; checked by the caller.
    pub sort: Option<&'static str>,
    pub descending: bool,
}

fn row(r: &rusqlite::Row<'_>, cutoff: &str) -> rusqlite::Result<AgentRow> {
    let last: String = r.get(6)?;
    let quarantined: String = r.get(9)?;
    Ok(AgentRow {
        pc_id: r.get(0)?,
        hostname: r.get(1)?,
        os_family: r.get(2)?,
        os_version: r.get(3)?,
        agent_version: r.get(4)?,
        first_seen: parse_ts(r.get(5)?).unwrap_or_default(),
        online: last.as_str() >= cutoff,
        last_heartbeat: parse_ts(Some(last)).unwrap_or_default(),
        agent_cpu_pct: r.get::<_, Option<f64>>(7)?.map(|v| v as f32),
        agent_rss_bytes: r
            .get::<_, Option<i64>>(8)?
            .and_then(|v| u64::try_from(v).ok()),
        quarantined_versions: serde_json::from_str(&quarantined).unwrap_or_default(),
        agent_disk_read_bytes: unsigned(r.get(10)?),
        agent_disk_written_bytes: unsigned(r.get(11)?),
        last_logon_user: r.get(12)?,
        last_logon_display_name: r.get(13)?,
        command_protocols: r
            .get::<_, Option<String>>(14)?
            .and_then(|p| serde_json::from_str(&p).ok()),
        command_keys: r
            .get::<_, Option<String>>(15)?
            .and_then(|keys| serde_json::from_str(&keys).ok()),
        enforcing: r.get(16)?,
        groups: Vec::new(),
        ip_addresses: r
            .get::<_, Option<String>>(17)?
            .and_then(|a| serde_json::from_str(&a).ok())
            .unwrap_or_default(),
        uptime_secs: unsigned(r.get(18)?),
        load_avg: r
            .get::<_, Option<String>>(19)?
            .and_then(|l| serde_json::from_str(&l).ok())
            .unwrap_or_default(),
    })
}

const COLUMNS: &str =
    "pc_id, hostname, os_family, os_version, agent_version, first_seen, last_heartbeat,
    agent_cpu_pct, agent_rss_bytes, quarantined_versions, agent_disk_read_bytes,
    agent_disk_written_bytes, last_logon_user, last_logon_display_name, command_protocols,
    command_keys, enforcing, ip_addresses, uptime_secs, load_avg";

pub fn list(
    conn: &Connection,
    f: &ListFilter,
    now: DateTime<Utc>,
    window: Duration,
    limit: u32,
    offset: u64,
    known_total: Option<u64>,
) -> rusqlite::Result<Page<AgentRow>> {
    let cutoff = ts(now - window);
    let pcs_json = f
        .pcs
        .as_ref()
        .map(|p| serde_json::to_string(p).unwrap_or_else(|_| "[]".into()));
    let text = f.text.as_ref().map(|t| {
        format!(
            "%{}%",
            t.to_lowercase().replace('%', "\\%").replace('_', "\\_")
        )
    });
    let condition =
        "(?1 IS NULL OR lower(pc_id) LIKE ?1 ESCAPE '\\' OR lower(hostname) LIKE ?1 ESCAPE '\\'
            OR lower(ip_addresses) LIKE ?1 ESCAPE '\\')
        AND (?2 IS NULL OR (?2 = 1 AND last_heartbeat >= ?3) OR (?2 = 0 AND last_heartbeat < ?3))
        AND (?4 IS NULL OR os_family = ?4 OR os_version = ?4)
        AND (?5 IS NULL OR agent_version = ?5)
        AND (?6 IS NULL OR pc_id IN (SELECT value FROM json_each(?6)))";
    let args = params![text, f.online, cutoff, f.os, f.version, pcs_json];
    // Counting scans every matching row (milliseconds at fleet scale), the page does not;
    // callers may pass a recent count instead.
    let total: i64 = match known_total {
        Some(total) => i64::try_from(total).unwrap_or(i64::MAX),
        None => conn.query_row(
            &format!("SELECT COUNT(*) FROM agents WHERE {condition}"),
            args,
            |r| r.get(0),
        )?,
    };
    let sort = f.sort.filter(|s| SORTABLE.contains(s)).unwrap_or("pc_id");
    let direction = if f.descending { "DESC" } else { "ASC" };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM agents WHERE {condition} ORDER BY {sort} {direction}, pc_id LIMIT ?7 OFFSET ?8"
    ))?;
    let items = stmt
        .query_map(
            params![
                text,
                f.online,
                cutoff,
                f.os,
                f.version,
                pcs_json,
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            |r| row(r, &cutoff),
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let seen = offset + items.len() as u64;
    let total = u64::try_from(total).unwrap_or(0);
    // A page that is not full ends the list, so its total is exact whatever was passed in.
    let total = if items.len() < limit as usize {
        seen
    } else {
        total.max(seen)
    };
    Ok(Page {
        items,
        total,
        limit,
        offset,
    })
}

pub fn get(
    conn: &Connection,
    pc_id: &str,
    now: DateTime<Utc>,
    window: Duration,
) -> rusqlite::Result<Option<AgentRow>> {
    let cutoff = ts(now - window);
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM agents WHERE pc_id = ?1"),
        [pc_id],
        |r| row(r, &cutoff),
    )
    .optional()
}

pub fn versions(
    conn: &Connection,
    now: DateTime<Utc>,
    window: Duration,
) -> rusqlite::Result<Vec<VersionCount>> {
    let mut stmt = conn.prepare_cached(
        "SELECT agent_version, COUNT(*), SUM(last_heartbeat >= ?1) FROM agents GROUP BY agent_version ORDER BY agent_version DESC",
    )?;
    stmt.query_map([ts(now - window)], |r| {
        Ok(VersionCount {
            agent_version: r.get(0)?,
            machines: count_at(r, 1)?,
            online: count_at(r, 2)?,
        })
    })?
    .collect()
}

/// Counts for `/metrics`: (online, offline).
pub fn liveness_counts(
    conn: &Connection,
    now: DateTime<Utc>,
    window: Duration,
) -> rusqlite::Result<(i64, i64)> {
    conn.query_row(
        "SELECT COALESCE(SUM(last_heartbeat >= ?1), 0), COALESCE(SUM(last_heartbeat < ?1), 0) FROM agents",
        [ts(now - window)],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

/// A machine whose recorded liveness disagrees with its heartbeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub pc_id: String,
    pub last_heartbeat: DateTime<Utc>,
    pub now_online: bool,
}

/// Machines that went silent (marked online, heartbeat older than the window) or came back
/// (marked offline, heartbeat fresh). Pure comparison of stored facts with `now`.
pub fn liveness_changes(
    conn: &Connection,
    now: DateTime<Utc>,
    window: Duration,
) -> rusqlite::Result<Vec<Transition>> {
    let mut stmt = conn.prepare_cached(
        "SELECT pc_id, last_heartbeat, last_heartbeat >= ?1 FROM agents
         WHERE (liveness = 'online' AND last_heartbeat < ?1) OR (liveness = 'offline' AND last_heartbeat >= ?1)",
    )?;
    stmt.query_map([ts(now - window)], |r| {
        Ok(Transition {
            pc_id: r.get(0)?,
            last_heartbeat: parse_ts(r.get(1)?).unwrap_or_default(),
            now_online: r.get(2)?,
        })
    })?
    .collect()
}

pub fn set_liveness(conn: &Connection, pc_id: &str, online: bool) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE agents SET liveness = ?2 WHERE pc_id = ?1",
        params![pc_id, if online { "online" } else { "offline" }],
    )?;
    Ok(())
}
