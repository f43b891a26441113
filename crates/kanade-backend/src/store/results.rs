//! `execution_results`: one row per (command, machine) run. The events projector inserts the
//! in-flight row; the results projector completes it. Both are idempotent on `result_id`.

use chrono::{DateTime, Duration, Utc};
use kanade_protocol::api::{Page, ResultDetail, ResultSummary};
use kanade_protocol::wire::{EventStarted, ExecResult, legacy_result_id};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::store::executions::{self, Outcome};
use crate::store::{parse_ts, ts};

/// How long after its timeout an in-flight run is given before it counts as lost.
pub const REAP_GRACE: Duration = Duration::minutes(5);

pub fn outcome(r: &ExecResult) -> Outcome {
    match (r.skipped, r.exit_code) {
        (true, _) => Outcome::Skipped,
        (false, 0) => Outcome::Success,
        (false, _) => Outcome::Failure,
    }
}

/// Inserts the in-flight row of a started run; a redelivered or late event changes nothing.
pub fn apply_started(
    tx: &Transaction<'_>,
    ev: &EventStarted,
    recorded_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    // The original's oldest started event names neither the request nor the result: take the
    // execution's request id and derive the result id the agent's result will also get.
    let filled;
    let ev = if ev.request_id.is_empty() || ev.result_id.is_empty() {
        let mut owned = ev.clone();
        if owned.request_id.is_empty() {
            owned.request_id = tx
                .prepare_cached("SELECT request_id FROM executions WHERE exec_id = ?1")?
                .query_row([&owned.exec_id], |r| r.get(0))
                .optional()?
                .unwrap_or_default();
        }
        if owned.result_id.is_empty() {
            if owned.request_id.is_empty() {
                tracing::debug!(exec_id = %owned.exec_id, "started event of an unknown execution without ids: ignored");
                return Ok(());
            }
            owned.result_id = legacy_result_id(&owned.request_id, &owned.pc_id);
        }
        filled = owned;
        &filled
    } else {
        ev
    };
    let expires_at = ev.timeout_secs.map(|t| {
        ev.started_at + Duration::seconds(i64::try_from(t).unwrap_or(i64::MAX / 2)) + REAP_GRACE
    });
    // Cached statements: parsing the SQL again for every row cost more than running it.
    let inserted = tx
        .prepare_cached(
            "INSERT INTO execution_results (result_id, request_id, exec_id, pc_id, job_id, version,
             started_at, recorded_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT (result_id) DO NOTHING",
        )?
        .execute(params![
            ev.result_id,
            ev.request_id,
            ev.exec_id,
            ev.pc_id,
            ev.job_id,
            ev.version,
            ts(ev.started_at),
            ts(recorded_at),
            expires_at.map(ts),
        ])?;
    if inserted > 0 {
        executions::mark_running(tx, &ev.exec_id)?;
        executions::join_local_fire(tx, &ev.exec_id, &ev.pc_id, &ev.result_id)?;
    }
    Ok(())
}

/// Completes (or inserts) a run's row and counts it on its execution exactly once: a
/// redelivered result finds the row finished and changes nothing; a real result arriving
/// after the row was reaped replaces it and moves the count from failure to its outcome.
/// True when the result was applied (false for a redelivery).
pub fn apply_result(
    tx: &Transaction<'_>,
    r: &ExecResult,
    recorded_at: DateTime<Utc>,
) -> rusqlite::Result<bool> {
    let mut deltas = executions::Deltas::default();
    let applied = apply_result_counting(tx, r, recorded_at, &mut deltas)?;
    deltas.apply(tx)?;
    Ok(applied)
}

/// Like `apply_result`, but leaves the execution's counter changes in `deltas` for the
/// caller to apply (once per execution per batch) before the transaction commits.
pub fn apply_result_counting(
    tx: &Transaction<'_>,
    r: &ExecResult,
    recorded_at: DateTime<Utc>,
    deltas: &mut executions::Deltas,
) -> rusqlite::Result<bool> {
    let existing: Option<(Option<String>, bool)> = tx
        .prepare_cached("SELECT finished_at, reaped FROM execution_results WHERE result_id = ?1")?
        .query_row([&r.result_id], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    let previous = match existing {
        Some((Some(_), false)) => return Ok(false),
        Some((Some(_), true)) => Some(Outcome::Failure),
        Some((None, _)) | None => None,
    };
    tx.prepare_cached(
        "INSERT INTO execution_results (result_id, request_id, exec_id, pc_id, job_id, version,
             exit_code, stdout, stderr, stdout_object, stderr_object, started_at, finished_at,
             recorded_at, skipped, reaped)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 0)
         ON CONFLICT (result_id) DO UPDATE SET
             exit_code = excluded.exit_code, stdout = excluded.stdout, stderr = excluded.stderr,
             stdout_object = excluded.stdout_object, stderr_object = excluded.stderr_object,
             started_at = excluded.started_at, finished_at = excluded.finished_at,
             recorded_at = excluded.recorded_at, skipped = excluded.skipped, reaped = 0",
    )?
    .execute(params![
        r.result_id,
        r.request_id,
        r.exec_id,
        r.pc_id,
        r.job_id,
        r.version,
        r.exit_code,
        r.stdout,
        r.stderr,
        r.stdout_object,
        r.stderr_object,
        ts(r.started_at),
        ts(r.finished_at),
        ts(recorded_at),
        r.skipped,
    ])?;
    if let Some(schedule) = &r.schedule_id {
        executions::record_local_fire(tx, r, schedule, existing.is_none())?;
    }
    if outcome(r) == Outcome::Success {
        queue_success(tx, r)?;
    }
    match previous {
        Some(from) => deltas.recount(&r.exec_id, from, outcome(r)),
        None => deltas.count(&r.exec_id, outcome(r)),
    }
    Ok(true)
}

/// Queues a successful result for `job_successes` (the newest successful finish per job and
/// machine, which the scheduler's `per_pc` and `per_target` modes ask for). An append at the
/// end of a table in insertion order: upserting each into `job_successes` rewrote a fan-out's
/// job rows at random places in every batch (migration 0019).
fn queue_success(tx: &Transaction<'_>, r: &ExecResult) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO job_success_queue (job_id, pc_id, finished_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![r.job_id, r.pc_id, ts(r.finished_at)])?;
    Ok(())
}

/// Merges the queued successes into `job_successes` (keeping each job and machine's newest)
/// in one sorted pass and empties the queue. `scheduler::successes`, the reader of
/// `job_successes`, folds first; housekeeping folds so the queue stays short.
/// Returns how many queued successes were merged.
pub fn fold_successes(conn: &mut Connection) -> rusqlite::Result<usize> {
    let tx = conn.transaction()?;
    // `WHERE true`: an upsert's SELECT needs a WHERE clause to parse unambiguously.
    tx.prepare_cached(
        "INSERT INTO job_successes (job_id, pc_id, finished_at)
         SELECT job_id, pc_id, MAX(finished_at) FROM job_success_queue WHERE true
         GROUP BY job_id, pc_id
         ON CONFLICT (job_id, pc_id) DO UPDATE SET finished_at = excluded.finished_at
             WHERE excluded.finished_at > job_successes.finished_at",
    )?
    .execute([])?;
    let queued = tx
        .prepare_cached("DELETE FROM job_success_queue")?
        .execute([])?;
    tx.commit()?;
    Ok(queued)
}

/// Records why a run's hint payloads could not be read (a JSON array of messages).
pub fn set_hint_errors(
    tx: &Transaction<'_>,
    result_id: &str,
    errors: &[String],
) -> rusqlite::Result<()> {
    let text = serde_json::to_string(errors).unwrap_or_else(|_| "[]".to_owned());
    tx.execute(
        "UPDATE execution_results SET hint_errors = ?2 WHERE result_id = ?1",
        params![result_id, text],
    )?;
    Ok(())
}

/// The last column is the end of stderr of a run stopped with exit -1, where the agent says
/// whether it timed out or was killed (`outcome::classify`).
const COLUMNS: &str = "result_id, request_id, exec_id, pc_id, job_id, version, exit_code,
    started_at, finished_at, recorded_at, skipped, reaped,
    CASE WHEN exit_code = -1 AND reaped = 0 THEN substr(stderr, -400) ELSE '' END";

fn summary(row: &Row<'_>) -> rusqlite::Result<ResultSummary> {
    let tail: String = row.get(12)?;
    let (outcome, outcome_note) =
        kanade_protocol::outcome::classify(row.get(6)?, row.get(10)?, row.get(11)?, &tail);
    Ok(ResultSummary {
        result_id: row.get(0)?,
        request_id: row.get(1)?,
        exec_id: row.get(2)?,
        pc_id: row.get(3)?,
        job_id: row.get(4)?,
        version: row.get(5)?,
        exit_code: row.get(6)?,
        started_at: parse_ts(row.get(7)?),
        finished_at: parse_ts(row.get(8)?),
        recorded_at: parse_ts(row.get(9)?),
        skipped: row.get(10)?,
        reaped: row.get(11)?,
        outcome,
        outcome_note,
    })
}

#[derive(Debug, Default, Clone)]
pub struct Filter {
    pub exec_id: Option<String>,
    pub pc_id: Option<String>,
}

pub fn list(
    conn: &Connection,
    filter: &Filter,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Page<ResultSummary>> {
    // One statement per filter shape, so each names its column plainly and SQLite plans it
    // through that column's index; `(?1 IS NULL OR exec_id = ?1)` is planned before the
    // value is known and read the whole table for a machine's runs.
    let condition = match (&filter.exec_id, &filter.pc_id) {
        (None, None) => "?1 IS NULL AND ?2 IS NULL",
        (Some(_), None) => "exec_id = ?1 AND ?2 IS NULL",
        (None, Some(_)) => "?1 IS NULL AND pc_id = ?2",
        (Some(_), Some(_)) => "exec_id = ?1 AND pc_id = ?2",
    };
    let total: i64 = conn
        .prepare_cached(&format!(
            "SELECT COUNT(*) FROM execution_results WHERE {condition}"
        ))?
        .query_row(params![filter.exec_id, filter.pc_id], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM execution_results WHERE {condition}
         ORDER BY started_at DESC, result_id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let items = stmt
        .query_map(
            params![
                filter.exec_id,
                filter.pc_id,
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            summary,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit,
        offset,
    })
}

/// Every run of one execution, ordered by machine.
pub fn for_execution(conn: &Connection, exec_id: &str) -> rusqlite::Result<Vec<ResultSummary>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM execution_results WHERE exec_id = ?1 ORDER BY pc_id, started_at"
    ))?;
    stmt.query_map([exec_id], summary)?.collect()
}

/// Stores the original's result links (`collect_object`, `parent_result_id`) on a result.
pub fn set_links(
    tx: &Transaction<'_>,
    result_id: &str,
    links: &kanade_protocol::wire::ResultLinks,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE execution_results SET collect_object = ?2, parent_result_id = ?3
         WHERE result_id = ?1",
    )?
    .execute(params![
        result_id,
        links.collect_object,
        links.parent_result_id
    ])?;
    Ok(())
}

pub fn get(conn: &Connection, result_id: &str) -> rusqlite::Result<Option<ResultDetail>> {
    conn.query_row(
        &format!(
            "SELECT {COLUMNS}, stdout, stderr, stdout_object, stderr_object, hint_errors,
                 collect_object, parent_result_id
             FROM execution_results WHERE result_id = ?1"
        ),
        [result_id],
        |row| {
            Ok(ResultDetail {
                summary: summary(row)?,
                stdout: row.get(13)?,
                stderr: row.get(14)?,
                stdout_object: row.get(15)?,
                stderr_object: row.get(16)?,
                collect_object: row.get(18)?,
                parent_result_id: row.get(19)?,
                hint_errors: row
                    .get::<_, Option<String>>(17)?
                    .and_then(|text| serde_json::from_str(&text).ok())
                    .unwrap_or_default(),
            })
        },
    )
    .optional()
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn result(id: &str, job: &str, pc: &str, exit_code: i32, hour: u32) -> ExecResult {
        let at = Utc.with_ymd_and_hms(2026, 1, 1, hour, 0, 0).unwrap();
        ExecResult {
            result_id: id.to_owned(),
            request_id: "req".to_owned(),
            exec_id: format!("exec-{id}"),
            pc_id: pc.to_owned(),
            job_id: job.to_owned(),
            version: "1".to_owned(),
            exit_code,
            stdout: String::new(),
            stderr: String::new(),
            stdout_object: None,
            stderr_object: None,
            started_at: at,
            finished_at: at,
            skipped: false,
            schedule_id: None,
        }
    }

    fn successes(conn: &Connection) -> Vec<(String, String, String)> {
        conn.prepare("SELECT job_id, pc_id, finished_at FROM job_successes ORDER BY 1, 2")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn apply(conn: &mut Connection, results: &[ExecResult]) {
        let tx = conn.transaction().unwrap();
        for r in results {
            apply_result(&tx, r, Utc::now()).unwrap();
        }
        tx.commit().unwrap();
    }

    #[test]
    fn queued_successes_fold_into_each_job_and_machines_newest_and_never_move_it_back() {
        let mut conn = Connection::open_in_memory().unwrap();
        crate::store::migrations().to_latest(&mut conn).unwrap();
        let mut skipped = result("s", "j", "pc3", 0, 9);
        skipped.skipped = true;
        apply(
            &mut conn,
            &[
                result("a", "j", "pc1", 0, 5),
                result("b", "j", "pc1", 0, 3),
                result("c", "j", "pc2", 1, 6),
                result("d", "k", "pc1", 0, 7),
                skipped,
            ],
        );
        assert!(
            successes(&conn).is_empty(),
            "nothing is merged before a fold"
        );
        assert_eq!(
            fold_successes(&mut conn).unwrap(),
            3,
            "three successes queued"
        );
        let newest = vec![
            ("j".into(), "pc1".into(), "2026-01-01T05:00:00.000Z".into()),
            ("k".into(), "pc1".into(), "2026-01-01T07:00:00.000Z".into()),
        ];
        assert_eq!(successes(&conn), newest, "not a failure, not a skip");
        // An older success projected later (a late machine's result) and a redelivery.
        apply(
            &mut conn,
            &[result("e", "j", "pc1", 0, 1), result("d", "k", "pc1", 0, 7)],
        );
        assert_eq!(
            fold_successes(&mut conn).unwrap(),
            1,
            "the redelivery queued nothing"
        );
        assert_eq!(
            successes(&conn),
            newest,
            "an older success moves nothing back"
        );
        assert_eq!(fold_successes(&mut conn).unwrap(), 0, "the queue is empty");
    }
}
