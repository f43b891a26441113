//! `check_status` (the latest status of each check on each machine; the newest run wins even
//! when results arrive out of order), `check_history` (every result, for the trend) and
//! `check_alerts` (alerts already decided, so a redelivered result never alerts twice).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use kanade_protocol::api::{CheckRow, CheckTrendDay, ComplianceSummary, Page};
use kanade_protocol::hints::CheckStatus;
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::store::{parse_ts, ts};

pub struct NewStatus<'a> {
    pub pc_id: &'a str,
    pub check_name: &'a str,
    pub status: CheckStatus,
    pub detail: Option<&'a str>,
    pub label: Option<&'a str>,
    pub job_id: &'a str,
    pub exec_id: &'a str,
    pub result_id: &'a str,
    pub finished_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// The stored status of a check on a machine and when the run that reported it finished.
pub fn current(
    tx: &Transaction<'_>,
    pc_id: &str,
    check_name: &str,
) -> rusqlite::Result<Option<(CheckStatus, DateTime<Utc>)>> {
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT status, finished_at FROM check_status WHERE pc_id = ?1 AND check_name = ?2",
            [pc_id, check_name],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(status, at)| {
        (
            CheckStatus::parse_lenient(&status),
            parse_ts(Some(at)).unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    }))
}

/// Stores `s` unless a run that finished later is already stored. True when it was stored.
pub fn upsert(tx: &Transaction<'_>, s: &NewStatus<'_>) -> rusqlite::Result<bool> {
    let changed = tx.execute(
        "INSERT INTO check_status (pc_id, check_name, status, detail, label, job_id, result_id,
             finished_at, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (pc_id, check_name) DO UPDATE SET
             status = excluded.status, detail = excluded.detail, label = excluded.label,
             job_id = excluded.job_id, result_id = excluded.result_id,
             finished_at = excluded.finished_at, recorded_at = excluded.recorded_at
         WHERE excluded.finished_at >= check_status.finished_at",
        params![
            s.pc_id,
            s.check_name,
            s.status.as_str(),
            s.detail,
            s.label,
            s.job_id,
            s.result_id,
            ts(s.finished_at),
            ts(s.recorded_at),
        ],
    )?;
    Ok(changed > 0)
}

/// Keeps `s` in the history (a redelivered result is stored once), late results included.
pub fn record_history(tx: &Transaction<'_>, s: &NewStatus<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO check_history (result_id, check_name, pc_id, status, finished_at, exec_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT DO NOTHING",
        params![
            s.result_id,
            s.check_name,
            s.pc_id,
            s.status.as_str(),
            ts(s.finished_at),
            s.exec_id,
        ],
    )?;
    Ok(())
}

/// One check per UTC day since `since` (oldest first): each machine that reported that day
/// counts once, by the last result it reported that day.
pub fn trend(
    conn: &Connection,
    check_name: &str,
    since: DateTime<Utc>,
) -> rusqlite::Result<Vec<CheckTrendDay>> {
    let mut stmt = conn.prepare_cached(
        "SELECT day, status, COUNT(*) FROM (
             SELECT substr(finished_at, 1, 10) AS day, status,
                    ROW_NUMBER() OVER (PARTITION BY substr(finished_at, 1, 10), pc_id
                                       ORDER BY finished_at DESC, result_id DESC) AS nth
             FROM check_history WHERE check_name = ?1 AND finished_at >= ?2)
         WHERE nth = 1 GROUP BY day, status ORDER BY day",
    )?;
    let mut days: Vec<CheckTrendDay> = Vec::new();
    let counted = stmt.query_map(params![check_name, ts(since)], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            crate::store::count_at(r, 2)?,
        ))
    })?;
    for item in counted {
        let (day, status, n) = item?;
        if days.last().is_none_or(|d| d.day != day) {
            days.push(CheckTrendDay {
                day,
                ok: 0,
                warn: 0,
                fail: 0,
                unknown: 0,
            });
        }
        let Some(entry) = days.last_mut() else {
            continue;
        };
        match CheckStatus::parse_lenient(&status) {
            CheckStatus::Ok => entry.ok += n,
            CheckStatus::Warn => entry.warn += n,
            CheckStatus::Fail => entry.fail += n,
            CheckStatus::Unknown => entry.unknown += n,
        }
    }
    Ok(days)
}

/// Whether any machine ever reported `check_name` (still in the history or the latest status).
pub fn known(conn: &Connection, check_name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM check_status WHERE check_name = ?1)
             OR EXISTS (SELECT 1 FROM check_history WHERE check_name = ?1)",
        [check_name],
        |r| r.get(0),
    )
}

/// Notes that the run `result_id` alerts for `check_name`. False when it already had.
/// Who last logged on at `pc_id`, as its newest heartbeat said (`{last_logon}` of alerts).
pub fn last_logon_user(conn: &Connection, pc_id: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT last_logon_user FROM agents WHERE pc_id = ?1",
        [pc_id],
        |r| r.get::<_, Option<String>>(0),
    )
    .optional()
    .map(Option::flatten)
}

pub fn record_alert(
    tx: &Transaction<'_>,
    result_id: &str,
    check_name: &str,
    pc_id: &str,
    status: CheckStatus,
    now: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let inserted = tx.execute(
        "INSERT INTO check_alerts (result_id, check_name, pc_id, status, decided_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![result_id, check_name, pc_id, status.as_str(), ts(now)],
    )?;
    Ok(inserted > 0)
}

const COLUMNS: &str = "pc_id, check_name, status, detail, label, job_id, finished_at, recorded_at";

fn row(r: &Row<'_>) -> rusqlite::Result<CheckRow> {
    Ok(CheckRow {
        pc_id: r.get(0)?,
        check_name: r.get(1)?,
        status: CheckStatus::parse_lenient(&r.get::<_, String>(2)?),
        detail: r.get(3)?,
        label: r.get(4)?,
        job_id: r.get(5)?,
        finished_at: parse_ts(r.get(6)?).unwrap_or_default(),
        recorded_at: parse_ts(r.get(7)?).unwrap_or_default(),
    })
}

/// Most failing machines listed per check in the summary.
const FAILING_LISTED: i64 = 100;

/// Every check across the fleet: counts per status and the failing machines.
pub fn summary(conn: &Connection) -> rusqlite::Result<Vec<ComplianceSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT check_name, status, COUNT(*), MAX(label) FROM check_status
         GROUP BY check_name, status ORDER BY check_name",
    )?;
    let mut checks: BTreeMap<String, ComplianceSummary> = BTreeMap::new();
    let counted = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            crate::store::count_at(r, 2)?,
            r.get::<_, Option<String>>(3)?,
        ))
    })?;
    for item in counted {
        let (name, status, n, label) = item?;
        let entry = checks
            .entry(name.clone())
            .or_insert_with(|| ComplianceSummary {
                check_name: name,
                label: None,
                ok: 0,
                warn: 0,
                fail: 0,
                unknown: 0,
                failing: Vec::new(),
            });
        entry.label = entry.label.take().or(label);
        match CheckStatus::parse_lenient(&status) {
            CheckStatus::Ok => entry.ok += n,
            CheckStatus::Warn => entry.warn += n,
            CheckStatus::Fail => entry.fail += n,
            CheckStatus::Unknown => entry.unknown += n,
        }
    }
    let mut failing = conn.prepare_cached(
        "SELECT pc_id FROM check_status WHERE check_name = ?1 AND status = 'fail'
         ORDER BY pc_id LIMIT ?2",
    )?;
    for entry in checks.values_mut() {
        entry.failing = failing
            .query_map(params![entry.check_name, FAILING_LISTED], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?;
    }
    Ok(checks.into_values().collect())
}

/// One check on every machine (optionally only those in `status`), by machine id.
pub fn for_check(
    conn: &Connection,
    check_name: &str,
    status: Option<CheckStatus>,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Page<CheckRow>> {
    let status = status.map(|s| s.as_str());
    let condition = "check_name = ?1 AND (?2 IS NULL OR status = ?2)";
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM check_status WHERE {condition}"),
        params![check_name, status],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM check_status WHERE {condition} ORDER BY pc_id LIMIT ?3 OFFSET ?4"
    ))?;
    let items = stmt
        .query_map(
            params![
                check_name,
                status,
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit,
        offset,
    })
}

/// Every check of one machine, by check name.
pub fn for_pc(conn: &Connection, pc_id: &str) -> rusqlite::Result<Vec<CheckRow>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM check_status WHERE pc_id = ?1 ORDER BY check_name"
    ))?;
    stmt.query_map([pc_id], row)?.collect()
}
