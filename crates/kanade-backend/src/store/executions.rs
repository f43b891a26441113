//! `executions`: one row per fan-out (an operator's exec or a scheduler fire) with its
//! counters. The exec handler inserts the row; the results projector moves the counters.

use chrono::{DateTime, Utc};
use kanade_protocol::api::{ExecutionSummary, Page};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::store::{StoreResult, parse_ts, ts};

pub struct NewExecution {
    pub exec_id: String,
    pub job_id: String,
    pub version: String,
    pub request_id: String,
    pub initiated_by: String,
    pub initiated_at: DateTime<Utc>,
    pub target_count: i64,
    pub subjects: Vec<String>,
    pub deadline_at: Option<DateTime<Utc>>,
}

/// How one machine's run ended, for the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure,
    Skipped,
}

pub fn insert(conn: &Connection, e: &NewExecution) -> StoreResult<()> {
    conn.execute(
        "INSERT INTO executions (exec_id, job_id, version, request_id, initiated_by, initiated_at,
             target_count, subjects, deadline_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            e.exec_id,
            e.job_id,
            e.version,
            e.request_id,
            e.initiated_by,
            ts(e.initiated_at),
            e.target_count,
            serde_json::to_string(&e.subjects).unwrap_or_else(|_| "[]".to_owned()),
            e.deadline_at.map(ts),
        ],
    )?;
    Ok(())
}

pub fn delete(conn: &Connection, exec_id: &str) -> StoreResult<()> {
    conn.execute("DELETE FROM executions WHERE exec_id = ?1", [exec_id])?;
    Ok(())
}

/// The broker did not acknowledge the command: it may be stored and run. Results that
/// already arrived win (the status moved on).
pub fn mark_unconfirmed(conn: &Connection, exec_id: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE executions SET status = 'unconfirmed' WHERE exec_id = ?1 AND status = 'pending'",
        [exec_id],
    )?;
    Ok(())
}

/// A retried publish was acknowledged: an unconfirmed execution becomes pending.
pub fn confirm(conn: &Connection, exec_id: &str) -> StoreResult<()> {
    conn.execute(
        "UPDATE executions SET status = 'pending' WHERE exec_id = ?1 AND status = 'unconfirmed'",
        [exec_id],
    )?;
    Ok(())
}

/// The execution of an agent-side schedule's fire, learned from its results: created by the
/// first (`initiated_by` `agent:<schedule>`, started when that run started), and every
/// machine that reports joins its targets: `target_count` is the number of machines with a
/// row. It is counted once when the execution is created; after that each first row of a
/// machine adds one (`join_local_fire`, here for a result that inserted its row and from
/// `results::apply_started` for a started event), instead of recounting every run of the
/// execution for each result, which was quadratic in the fleet. An execution the backend
/// started itself is left alone.
pub fn record_local_fire(
    tx: &Transaction<'_>,
    r: &kanade_protocol::wire::ExecResult,
    schedule: &str,
    inserted_row: bool,
) -> rusqlite::Result<()> {
    let initiated_by = format!("agent:{schedule}");
    let created = tx
        .prepare_cached(
            "INSERT INTO executions (exec_id, job_id, version, request_id, initiated_by,
                 initiated_at, target_count, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0, 'running')
             ON CONFLICT (exec_id) DO NOTHING",
        )?
        .execute(params![
            r.exec_id,
            r.job_id,
            r.version,
            r.request_id,
            initiated_by,
            ts(r.started_at),
        ])?;
    if created > 0 {
        tx.prepare_cached(
            "UPDATE executions SET target_count = (SELECT COUNT(DISTINCT pc_id)
                 FROM execution_results WHERE exec_id = ?1)
             WHERE exec_id = ?1",
        )?
        .execute([&r.exec_id])?;
    } else if inserted_row {
        join_local_fire(tx, &r.exec_id, &r.pc_id, &r.result_id)?;
    }
    tx.prepare_cached(
        "UPDATE executions SET initiated_at = MIN(initiated_at, ?3)
         WHERE exec_id = ?1 AND initiated_by = ?2",
    )?
    .execute(params![r.exec_id, initiated_by, ts(r.started_at)])?;
    Ok(())
}

/// A machine's first row in an agent-side fire that already exists (`record_local_fire`) adds
/// it to the targets; a machine with another row of the fire (a retry) is counted already.
/// Looked up through the machine's runs (`idx_results_pc`), a few hundred rows at most.
pub fn join_local_fire(
    tx: &Transaction<'_>,
    exec_id: &str,
    pc_id: &str,
    result_id: &str,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE executions SET target_count = target_count + 1
         WHERE exec_id = ?1 AND initiated_by LIKE 'agent:%'
           AND NOT EXISTS (SELECT 1 FROM execution_results INDEXED BY idx_results_pc
               WHERE pc_id = ?2 AND exec_id = ?1 AND result_id <> ?3)",
    )?
    .execute(params![exec_id, pc_id, result_id])?;
    Ok(())
}

/// A run started: a pending (or unconfirmed) execution becomes running.
pub fn mark_running(tx: &Transaction<'_>, exec_id: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE executions SET status = 'running'
         WHERE exec_id = ?1 AND status IN ('pending', 'unconfirmed')",
    )?
    .execute([exec_id])?;
    Ok(())
}

/// Counts one finished run; the execution completes when every expected machine reported.
/// Callers guarantee each run is counted once (see `results::apply_result`).
pub fn count(tx: &Transaction<'_>, exec_id: &str, outcome: Outcome) -> rusqlite::Result<()> {
    let (s, f, k) = match outcome {
        Outcome::Success => (1, 0, 0),
        Outcome::Failure => (0, 1, 0),
        Outcome::Skipped => (0, 0, 1),
    };
    // Cached: this runs once per result, and parsing it cost more than running it.
    tx.prepare_cached(
        "UPDATE executions SET
             success_count = success_count + ?2,
             failure_count = failure_count + ?3,
             skipped_count = skipped_count + ?4,
             status = CASE
                 WHEN success_count + failure_count + skipped_count + 1 >= target_count
                     THEN 'completed'
                 ELSE 'running' END
         WHERE exec_id = ?1",
    )?
    .execute(params![exec_id, s, f, k])?;
    Ok(())
}

/// Counter changes gathered over a batch of results, applied with one statement per
/// execution instead of one per result (`apply`).
#[derive(Debug, Default)]
pub struct Deltas(std::collections::HashMap<String, [i64; 3]>);

impl Deltas {
    fn slot(outcome: Outcome) -> usize {
        match outcome {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Skipped => 2,
        }
    }

    /// One more run of `exec_id` ended with `outcome`.
    pub fn count(&mut self, exec_id: &str, outcome: Outcome) {
        self.0.entry(exec_id.to_owned()).or_default()[Deltas::slot(outcome)] += 1;
    }

    /// A counted run moves from one outcome to another.
    pub fn recount(&mut self, exec_id: &str, from: Outcome, to: Outcome) {
        let entry = self.0.entry(exec_id.to_owned()).or_default();
        entry[Deltas::slot(from)] -= 1;
        entry[Deltas::slot(to)] += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Applies and clears the gathered changes; an execution completes once every expected
    /// machine is counted.
    pub fn apply(&mut self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        let mut stmt = tx.prepare_cached(
            "UPDATE executions SET
                 success_count = success_count + ?2,
                 failure_count = failure_count + ?3,
                 skipped_count = skipped_count + ?4,
                 status = CASE
                     WHEN success_count + failure_count + skipped_count + ?2 + ?3 + ?4 >= target_count
                         THEN 'completed'
                     ELSE 'running' END
             WHERE exec_id = ?1",
        )?;
        for (exec_id, [s, f, k]) in self.0.drain() {
            stmt.execute(params![exec_id, s, f, k])?;
        }
        Ok(())
    }
}

/// Moves one counted run from one outcome to another (a late real result replacing a reaped row).
pub fn recount(
    tx: &Transaction<'_>,
    exec_id: &str,
    from: Outcome,
    to: Outcome,
) -> rusqlite::Result<()> {
    let delta = |o: Outcome, which: Outcome| i64::from(o == which);
    tx.execute(
        "UPDATE executions SET
             success_count = success_count - ?2 + ?3,
             failure_count = failure_count - ?4 + ?5,
             skipped_count = skipped_count - ?6 + ?7
         WHERE exec_id = ?1",
        params![
            exec_id,
            delta(from, Outcome::Success),
            delta(to, Outcome::Success),
            delta(from, Outcome::Failure),
            delta(to, Outcome::Failure),
            delta(from, Outcome::Skipped),
            delta(to, Outcome::Skipped),
        ],
    )?;
    Ok(())
}

const COLUMNS: &str = "exec_id, job_id, version, initiated_by, initiated_at, target_count,
    success_count, failure_count, skipped_count, status, subjects, rollout_status IS NOT NULL";

/// `commands.pc.web-1` → `web-1`, `commands.group.g` → `group:g`, `commands.all` → `all`.
fn target_of(subject: &str) -> String {
    if let Some(pc) = subject.strip_prefix("commands.pc.") {
        pc.to_owned()
    } else if let Some(group) = subject.strip_prefix("commands.group.") {
        format!("group:{group}")
    } else if subject == "commands.all" {
        "all".to_owned()
    } else {
        subject.to_owned()
    }
}

/// Counts `exec_id`'s runs by outcome without reading every run: the execution's counters
/// already split success / failure / skipped, so only the runs stopped with exit -1 (timed
/// out or killed, by what the agent wrote at the end of stderr; or reaped) and the skipped
/// ones (by reason) are read, through partial indexes. A finalize step's row is not a
/// machine's run and is not counted (as in the counters). Machines with no row are
/// `waiting` while the execution can still hear from them, `not_reported` once it is over.
pub fn outcomes(
    conn: &Connection,
    e: &ExecutionSummary,
) -> rusqlite::Result<kanade_protocol::outcome::OutcomeCounts> {
    use kanade_protocol::outcome::{Outcome as Run, classify};
    let mut c = kanade_protocol::outcome::OutcomeCounts {
        ok: e.success_count,
        skipped: e.skipped_count,
        ..Default::default()
    };
    let mut stmt = conn.prepare_cached(
        "SELECT reaped, substr(stderr, -400) FROM execution_results INDEXED BY idx_results_stopped
         WHERE exec_id = ?1 AND exit_code = -1 AND skipped = 0
           AND job_id NOT LIKE '%\\_\\_finalize' ESCAPE '\\'",
    )?;
    let rows = stmt.query_map([&e.exec_id], |r| {
        Ok((r.get::<_, bool>(0)?, r.get::<_, String>(1)?))
    })?;
    for row in rows {
        let (reaped, tail) = row?;
        match classify(Some(-1), false, reaped, &tail).0 {
            Run::NotReported => c.not_reported += 1,
            Run::TimedOut => c.timed_out += 1,
            Run::Killed => c.killed += 1,
            _ => {}
        }
    }
    c.failed = (e.failure_count - c.not_reported - c.timed_out - c.killed).max(0);
    // Machines whose run is still going: an unfinished row and no result (a few rows, through
    // a partial index; counting the machines with a row read every run of the execution).
    let running: i64 = conn
        .prepare_cached(
            "SELECT COUNT(DISTINCT pc_id) FROM execution_results u
                 INDEXED BY idx_results_unfinished
             WHERE exec_id = ?1 AND finished_at IS NULL
               AND job_id NOT LIKE '%\\_\\_finalize' ESCAPE '\\'
               AND NOT EXISTS (SELECT 1 FROM execution_results f
                   WHERE f.exec_id = u.exec_id AND f.pc_id = u.pc_id
                     AND f.finished_at IS NOT NULL)",
        )?
        .query_row([&e.exec_id], |r| r.get(0))?;
    // A machine whose row was pruned with the results window still counts through the
    // counters.
    let counted = e.success_count + e.failure_count + e.skipped_count;
    c.running = running;
    let missing = (e.target_count - counted - running).max(0);
    if matches!(e.status.as_str(), "completed" | "expired") {
        c.not_reported += missing;
    } else if !matches!(e.status.as_str(), "rejected" | "awaiting_approval") {
        c.waiting = missing;
    }
    let mut stmt = conn.prepare_cached(
        "SELECT status, COUNT(*) FROM check_history WHERE exec_id = ?1 GROUP BY status",
    )?;
    let by_status = stmt.query_map([&e.exec_id], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
    for item in by_status {
        let (status, n): (String, i64) = item?;
        c.checks.insert(status, n);
    }
    if c.skipped > 0 {
        let mut stmt = conn.prepare_cached(
            "SELECT exit_code, COUNT(*) FROM execution_results INDEXED BY idx_results_skipped
             WHERE exec_id = ?1 AND skipped = 1 AND reaped = 0 AND exit_code IS NOT NULL
               AND job_id NOT LIKE '%\\_\\_finalize' ESCAPE '\\'
             GROUP BY exit_code",
        )?;
        let by_code = stmt.query_map([&e.exec_id], |r| Ok((r.get::<_, i32>(0)?, r.get(1)?)))?;
        for item in by_code {
            let (code, n): (i32, i64) = item?;
            *c.skip_reasons
                .entry(kanade_protocol::outcome::skip_reason(code).to_owned())
                .or_default() += n;
        }
    }
    Ok(c)
}

/// Fills the counts by outcome and the worst outcome of `e`.
fn with_outcomes(conn: &Connection, mut e: ExecutionSummary) -> rusqlite::Result<ExecutionSummary> {
    e.outcomes = outcomes(conn, &e)?;
    e.worst = e.outcomes.worst();
    Ok(e)
}

fn summary(row: &Row<'_>) -> rusqlite::Result<ExecutionSummary> {
    Ok(ExecutionSummary {
        exec_id: row.get(0)?,
        job_id: row.get(1)?,
        version: row.get(2)?,
        initiated_by: row.get(3)?,
        initiated_at: parse_ts(row.get(4)?).unwrap_or_default(),
        target_count: row.get(5)?,
        success_count: row.get(6)?,
        failure_count: row.get(7)?,
        skipped_count: row.get(8)?,
        status: row.get(9)?,
        outcomes: Default::default(),
        worst: None,
        targets: row
            .get::<_, Option<String>>(10)?
            .and_then(|text| serde_json::from_str::<Vec<String>>(&text).ok())
            .unwrap_or_default()
            .iter()
            .map(|s| target_of(s))
            .collect(),
        rollout: row.get(11)?,
    })
}

/// Filters of the executions list; unset ones match everything.
#[derive(Debug, Default, Clone)]
pub struct ListFilter {
    pub job_id: Option<String>,
    pub status: Option<String>,
    /// Started at or after this instant.
    pub since: Option<DateTime<Utc>>,
}

/// Executions matching `filter`, newest first.
pub fn list(
    conn: &Connection,
    filter: &ListFilter,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Page<ExecutionSummary>> {
    let since = filter.since.map(ts);
    let wanted = "(?1 IS NULL OR job_id = ?1) AND (?2 IS NULL OR status = ?2)
         AND (?3 IS NULL OR initiated_at >= ?3)";
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM executions WHERE {wanted}"),
        params![filter.job_id, filter.status, since],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM executions WHERE {wanted}
         ORDER BY initiated_at DESC, exec_id DESC LIMIT ?4 OFFSET ?5"
    ))?;
    let items = stmt
        .query_map(
            params![
                filter.job_id,
                filter.status,
                since,
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            summary,
        )?
        .map(|e| with_outcomes(conn, e?))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit,
        offset,
    })
}

pub fn get(conn: &Connection, exec_id: &str) -> rusqlite::Result<Option<ExecutionSummary>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM executions WHERE exec_id = ?1"),
        [exec_id],
        summary,
    )
    .optional()?
    .map(|e| with_outcomes(conn, e))
    .transpose()
}

/// Recreates an execution from its audit record when the row is missing (a replay after a
/// wipe), taking its counters from the results already projected. An existing row is left
/// alone, so the live path and a replay never count twice.
pub fn restore(
    tx: &Transaction<'_>,
    r: &kanade_protocol::wire::ExecutionRecord,
) -> rusqlite::Result<()> {
    let inserted = tx.execute(
        "INSERT INTO executions (exec_id, job_id, version, request_id, initiated_by, initiated_at,
             target_count, subjects, deadline_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (exec_id) DO NOTHING",
        params![
            r.exec_id,
            r.job_id,
            r.version,
            r.request_id,
            r.initiated_by,
            ts(r.initiated_at),
            r.target_count,
            serde_json::to_string(&r.subjects).unwrap_or_else(|_| "[]".to_owned()),
            r.deadline_at.map(ts),
        ],
    )?;
    if inserted == 0 {
        return Ok(());
    }
    tx.execute(
        "UPDATE executions SET
             success_count = (SELECT COUNT(*) FROM execution_results r WHERE r.exec_id = ?1
                 AND r.finished_at IS NOT NULL AND r.skipped = 0 AND r.exit_code = 0 AND r.reaped = 0),
             failure_count = (SELECT COUNT(*) FROM execution_results r WHERE r.exec_id = ?1
                 AND r.finished_at IS NOT NULL AND r.skipped = 0 AND (r.exit_code <> 0 OR r.reaped = 1)),
             skipped_count = (SELECT COUNT(*) FROM execution_results r WHERE r.exec_id = ?1
                 AND r.finished_at IS NOT NULL AND r.skipped = 1),
             status = 'pending'
         WHERE exec_id = ?1",
        [&r.exec_id],
    )?;
    tx.execute(
        "UPDATE executions SET status = CASE
             WHEN success_count + failure_count + skipped_count >= target_count THEN 'completed'
             WHEN success_count + failure_count + skipped_count > 0
                 OR EXISTS (SELECT 1 FROM execution_results r WHERE r.exec_id = ?1) THEN 'running'
             ELSE 'pending' END
         WHERE exec_id = ?1",
        [&r.exec_id],
    )?;
    Ok(())
}

/// When each schedule last fired: the newest execution initiated by `scheduler:<id>` (the
/// backend's fires) or `agent:<id>` (agent-side schedules), by schedule id.
pub fn last_fires(
    conn: &Connection,
) -> rusqlite::Result<std::collections::HashMap<String, DateTime<Utc>>> {
    let mut stmt = conn.prepare_cached(
        "SELECT initiated_by, MAX(initiated_at) FROM executions
         WHERE initiated_by LIKE 'scheduler:%' OR initiated_by LIKE 'agent:%'
         GROUP BY initiated_by",
    )?;
    let mut out = std::collections::HashMap::new();
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))?;
    for row in rows {
        let (by, at) = row?;
        let id = by
            .split_once(':')
            .map(|(_, id)| id)
            .unwrap_or(&by)
            .to_owned();
        if let Some(at) = parse_ts(Some(at)) {
            let slot = out.entry(id).or_insert(at);
            *slot = (*slot).max(at);
        }
    }
    Ok(out)
}
