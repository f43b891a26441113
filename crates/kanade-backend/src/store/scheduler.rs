//! What the scheduler and the wave driver ask the read model: online machines, each
//! machine's newest success of a job, a schedule's unfinished executions, an execution's
//! failure tally; and where an execution's rollout stands (the `rollout_*` columns).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use kanade_protocol::schedule::RolloutProgress;
use rusqlite::{Connection, OptionalExtension, params};

use crate::store::{StoreResult, parse_ts, ts};

/// Machines whose last heartbeat is within `window` of `now`, sorted.
pub fn online_agents(
    conn: &Connection,
    now: DateTime<Utc>,
    window: Duration,
) -> rusqlite::Result<Vec<String>> {
    let mut stmt =
        conn.prepare_cached("SELECT pc_id FROM agents WHERE last_heartbeat >= ?1 ORDER BY pc_id")?;
    stmt.query_map([ts(now - window)], |r| r.get(0))?.collect()
}

/// The newest successful finish (exit 0, not skipped, not reaped) of `job_id`, per machine.
/// Merges the queued successes first (`results::fold_successes`), so it takes the writer.
pub fn successes(
    conn: &mut Connection,
    job_id: &str,
) -> rusqlite::Result<BTreeMap<String, DateTime<Utc>>> {
    crate::store::results::fold_successes(conn)?;
    let mut stmt =
        conn.prepare_cached("SELECT pc_id, finished_at FROM job_successes WHERE job_id = ?1")?;
    let rows = stmt.query_map([job_id], |r| {
        Ok((r.get::<_, String>(0)?, parse_ts(r.get(1)?)))
    })?;
    let mut out = BTreeMap::new();
    for row in rows {
        let (pc, at) = row?;
        if let Some(at) = at {
            out.insert(pc, at);
        }
    }
    Ok(out)
}

/// Executions started by `initiated_by` that are still unconfirmed, pending or running.
pub fn unfinished(conn: &Connection, initiated_by: &str) -> rusqlite::Result<u32> {
    conn.query_row(
        "SELECT COUNT(*) FROM executions
         WHERE initiated_by = ?1 AND status IN ('awaiting_approval', 'unconfirmed', 'pending', 'running')",
        [initiated_by],
        |r| r.get(0),
    )
}

/// Finished runs of an execution that count for the health gate, and how many failed
/// (a non-zero exit or reaped). Skipped runs count as neither.
pub fn tally(conn: &Connection, exec_id: &str) -> rusqlite::Result<(u64, u64)> {
    conn.query_row(
        "SELECT COUNT(*),
             COALESCE(SUM(CASE WHEN exit_code <> 0 OR reaped = 1 THEN 1 ELSE 0 END), 0)
         FROM execution_results
         WHERE exec_id = ?1 AND finished_at IS NOT NULL AND skipped = 0",
        [exec_id],
        |r| {
            Ok((
                u64::try_from(r.get::<_, i64>(0)?).unwrap_or(0),
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        },
    )
}

/// An execution got a rollout of `waves_total` waves, none published yet.
pub fn rollout_started(conn: &Connection, exec_id: &str, waves_total: u32) -> StoreResult<()> {
    conn.execute(
        "UPDATE executions SET rollout_status = 'running', rollout_waves_total = ?2,
             rollout_waves_published = 0
         WHERE exec_id = ?1",
        params![exec_id, waves_total],
    )?;
    Ok(())
}

/// `published` waves are out; `done` when that was the last.
pub fn rollout_published(
    conn: &Connection,
    exec_id: &str,
    published: u32,
    done: bool,
) -> StoreResult<()> {
    conn.execute(
        "UPDATE executions SET rollout_waves_published = ?2,
             rollout_status = CASE WHEN ?3 THEN 'done' ELSE 'running' END
         WHERE exec_id = ?1",
        params![exec_id, published, done],
    )?;
    Ok(())
}

/// The health gate stopped the rollout. Only the machines of the waves already published
/// will answer, so the execution's target shrinks to them and completes when they did.
pub fn rollout_halted(
    conn: &Connection,
    exec_id: &str,
    target_count: i64,
    note: &str,
) -> StoreResult<()> {
    conn.execute(
        "UPDATE executions SET rollout_status = 'halted', rollout_note = ?3,
             target_count = ?2,
             status = CASE
                 WHEN status IN ('unconfirmed', 'pending', 'running')
                     AND success_count + failure_count + skipped_count >= ?2 THEN 'completed'
                 ELSE status END
         WHERE exec_id = ?1",
        params![exec_id, target_count.max(1), note],
    )?;
    Ok(())
}

/// Where an execution's rollout stands; `None` without a rollout (or execution).
pub fn rollout(conn: &Connection, exec_id: &str) -> rusqlite::Result<Option<RolloutProgress>> {
    let row = conn
        .query_row(
            "SELECT rollout_status, rollout_waves_total, rollout_waves_published, rollout_note
             FROM executions WHERE exec_id = ?1",
            [exec_id],
            |r| {
                Ok((
                    r.get::<_, Option<String>>(0)?,
                    r.get::<_, Option<u32>>(1)?,
                    r.get::<_, Option<u32>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                ))
            },
        )
        .optional()?;
    Ok(row.and_then(|(status, total, published, note)| {
        Some(RolloutProgress {
            status: status?,
            waves_total: total.unwrap_or(0),
            waves_published: published.unwrap_or(0),
            note,
        })
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::executions::{self, NewExecution, Outcome};

    #[tokio::test]
    async fn a_halt_shrinks_the_target_and_completes_what_answered() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(&dir.path().join("db"))
            .await
            .unwrap();
        let now = Utc::now();
        let out = store
            .write(move |conn| {
                executions::insert(
                    conn,
                    &NewExecution {
                        exec_id: "e1".into(),
                        job_id: "j".into(),
                        version: "1".into(),
                        request_id: "r1".into(),
                        initiated_by: "scheduler:s".into(),
                        initiated_at: now,
                        target_count: 4,
                        subjects: vec![],
                        deadline_at: None,
                    },
                )?;
                rollout_started(conn, "e1", 2)?;
                rollout_published(conn, "e1", 1, false)?;
                let tx = conn.transaction()?;
                executions::count(&tx, "e1", Outcome::Failure)?;
                executions::count(&tx, "e1", Outcome::Success)?;
                tx.commit()?;
                assert_eq!(unfinished(conn, "scheduler:s")?, 1);
                rollout_halted(conn, "e1", 2, "halted before wave 2")?;
                Ok((rollout(conn, "e1")?, unfinished(conn, "scheduler:s")?))
            })
            .await
            .unwrap();
        let (progress, unfinished) = out;
        assert_eq!(
            progress,
            Some(RolloutProgress {
                status: "halted".into(),
                waves_total: 2,
                waves_published: 1,
                note: Some("halted before wave 2".into()),
            })
        );
        assert_eq!(unfinished, 0, "the two machines that got wave 1 answered");
    }
}
