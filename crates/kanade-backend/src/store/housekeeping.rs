//! Housekeeping SQL: reap runs that never reported, expire executions nobody picked up, and
//! delete rows past their retention in bounded batches so the API never stalls.

use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, params};

use crate::store::executions::{self, Outcome};
use crate::store::ts;

/// Rows deleted per statement, and statements per table per tick.
pub const BATCH: i64 = 10_000;
pub const MAX_BATCHES: usize = 10;
/// In-flight rows without a deadline are given this long.
pub const DEFAULT_RUN_LIMIT: Duration = Duration::hours(24);
pub const REAP_NOTE: &str =
    "kanade: no result from the agent before the run's deadline; counted as failed";

/// Finishes in-flight rows past their deadline with exit -1 and counts them as failures.
/// Returns how many were reaped.
pub fn reap(conn: &mut Connection, now: DateTime<Utc>) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    let due: Vec<(String, String, String)> = {
        let mut stmt = tx.prepare(
            "SELECT result_id, exec_id, job_id FROM execution_results
             WHERE finished_at IS NULL
               AND COALESCE(expires_at, strftime('%Y-%m-%dT%H:%M:%fZ', started_at, '+24 hours')) < ?1
             LIMIT 10000",
        )?;
        stmt.query_map([ts(now)], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?
    };
    for (result_id, exec_id, job_id) in &due {
        tx.execute(
            "UPDATE execution_results SET exit_code = -1, finished_at = ?2, reaped = 1,
                 stderr = CASE WHEN stderr = '' THEN ?3 ELSE stderr || char(10) || ?3 END
             WHERE result_id = ?1 AND finished_at IS NULL",
            params![result_id, ts(now), REAP_NOTE],
        )?;
        // A finalize step's row is not a machine's run: the counters count machines.
        if !job_id.ends_with(kanade_protocol::collect::FINALIZE_SUFFIX) {
            executions::count(&tx, exec_id, Outcome::Failure)?;
        }
    }
    tx.commit()?;
    Ok(due.len())
}

/// Executions still pending or unconfirmed (no machine started them) after `after` become
/// `expired`.
pub fn expire_pending(
    conn: &Connection,
    now: DateTime<Utc>,
    after: Duration,
) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE executions SET status = 'expired'
         WHERE status IN ('pending', 'unconfirmed') AND initiated_at < ?1",
        [ts(now - after)],
    )
}

/// How long each kind of row is kept.
#[derive(Debug, Clone, Copy)]
pub struct Retention {
    pub results: Duration,
    pub executions: Duration,
    pub host_perf: Duration,
    pub process_perf: Duration,
    pub timeline: Duration,
    pub audit: Duration,
    pub inventory_history: Duration,
}

/// One delete statement per table kind; `?1` is the cut-off.
const SWEEPS: &[(&str, &str)] = &[
    (
        "results",
        "DELETE FROM execution_results WHERE result_id IN (SELECT result_id FROM execution_results WHERE started_at < ?1 ORDER BY started_at LIMIT ?2)",
    ),
    (
        "executions",
        "DELETE FROM executions WHERE exec_id IN (SELECT exec_id FROM executions WHERE initiated_at < ?1 LIMIT ?2)",
    ),
    (
        "approvals",
        "DELETE FROM approvals WHERE exec_id IN (SELECT exec_id FROM approvals WHERE requested_at < ?1 LIMIT ?2)",
    ),
    (
        "host_perf",
        "DELETE FROM host_perf_samples WHERE (pc_id, at) IN (SELECT pc_id, at FROM host_perf_samples WHERE at < ?1 LIMIT ?2)",
    ),
    (
        "process_perf",
        "DELETE FROM process_perf_samples WHERE (pc_id, at, pid) IN (SELECT pc_id, at, pid FROM process_perf_samples WHERE at < ?1 LIMIT ?2)",
    ),
    (
        "timeline",
        "DELETE FROM obs_events WHERE id IN (SELECT id FROM obs_events WHERE at < ?1 LIMIT ?2)",
    ),
    (
        "inventory_history",
        "DELETE FROM inventory_history WHERE id IN (SELECT id FROM inventory_history WHERE observed_at < ?1 LIMIT ?2)",
    ),
    (
        "check_history",
        "DELETE FROM check_history WHERE (result_id, check_name) IN (SELECT result_id, check_name FROM check_history WHERE finished_at < ?1 LIMIT ?2)",
    ),
    (
        "check_alerts",
        "DELETE FROM check_alerts WHERE (result_id, check_name) IN (SELECT result_id, check_name FROM check_alerts WHERE decided_at < ?1 LIMIT ?2)",
    ),
    (
        "audit",
        "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log WHERE occurred_at < ?1 LIMIT ?2)",
    ),
];

/// Deletes one batch of rows of `kind` older than its window; returns how many went. The
/// caller loops (up to `MAX_BATCHES`), yielding the writer between batches.
pub fn sweep_batch(
    conn: &Connection,
    kind: &str,
    retention: &Retention,
    now: DateTime<Utc>,
) -> rusqlite::Result<usize> {
    let window = match kind {
        "results" => retention.results,
        "executions" => retention.executions,
        // A request goes with its execution.
        "approvals" => retention.executions,
        "host_perf" => retention.host_perf,
        "process_perf" => retention.process_perf,
        "timeline" => retention.timeline,
        "inventory_history" => retention.inventory_history,
        // An alert decision matters only while its result could be redelivered.
        "check_alerts" => retention.results,
        // The compliance trend reaches as far back as results are kept.
        "check_history" => retention.results,
        _ => retention.audit,
    };
    let Some((_, sql)) = SWEEPS.iter().find(|(k, _)| *k == kind) else {
        return Ok(0);
    };
    conn.execute(sql, params![ts(now - window), BATCH])
}

pub fn kinds() -> impl Iterator<Item = &'static str> {
    SWEEPS.iter().map(|(k, _)| *k)
}
