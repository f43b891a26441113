//! `approvals`: the two-person rule's requests, each beside its `executions` row (status
//! `awaiting_approval` until decided). Written by the API as it happens and again by the audit
//! projector from the `approval.*` events, idempotently, so a wiped read model gets them back.

use chrono::{DateTime, Utc};
use kanade_protocol::approval::{Approval, ApprovalRecord, ApprovalState};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::{parse_ts, ts};

/// Records a request and its execution (awaiting approval). A request already there is left
/// alone, so the live path and a replay of its audit event agree.
pub fn insert(conn: &Connection, r: &ApprovalRecord) -> rusqlite::Result<()> {
    let e = &r.execution;
    conn.execute(
        "INSERT INTO executions (exec_id, job_id, version, request_id, initiated_by, initiated_at,
             target_count, subjects, deadline_at, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 'awaiting_approval')
         ON CONFLICT (exec_id) DO NOTHING",
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
    conn.execute(
        "INSERT INTO approvals (exec_id, job_id, requested_by, requested_at, expires_at, record)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (exec_id) DO NOTHING",
        params![
            e.exec_id,
            e.job_id,
            e.initiated_by,
            ts(e.initiated_at),
            ts(r.expires_at),
            serde_json::to_string(r).unwrap_or_default(),
        ],
    )?;
    Ok(())
}

/// One decision on a request.
#[derive(Debug, Clone)]
pub struct Decision {
    pub exec_id: String,
    pub state: ApprovalState,
    pub by: String,
    pub at: DateTime<Utc>,
    pub reason: Option<String>,
    /// Approvals: the machines expected to answer, counted as the commands went out.
    pub target_count: Option<i64>,
}

/// Decides a request still awaiting and moves its execution on: `pending` (or further, when
/// results are already there) for an approval, `rejected` / `expired` otherwise. Returns false
/// when the request was already decided (or never existed): the caller lost the race.
pub fn decide(conn: &Connection, d: &Decision) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE approvals SET state = ?2, decided_by = ?3, decided_at = ?4, reason = ?5
         WHERE exec_id = ?1 AND state = 'awaiting'",
        params![d.exec_id, d.state.as_str(), d.by, ts(d.at), d.reason],
    )?;
    if changed == 0 {
        return Ok(false);
    }
    match d.state {
        ApprovalState::Approved => {
            conn.execute(
                "UPDATE executions SET target_count = COALESCE(?2, target_count),
                     status = CASE
                         WHEN success_count + failure_count + skipped_count > 0
                             AND success_count + failure_count + skipped_count
                                 >= COALESCE(?2, target_count) THEN 'completed'
                         WHEN success_count + failure_count + skipped_count > 0
                             OR EXISTS (SELECT 1 FROM execution_results r WHERE r.exec_id = ?1)
                             THEN 'running'
                         ELSE 'pending' END
                 WHERE exec_id = ?1 AND status = 'awaiting_approval'",
                params![d.exec_id, d.target_count],
            )?;
        }
        ApprovalState::Rejected | ApprovalState::Expired => {
            let status = match d.state {
                ApprovalState::Rejected => kanade_protocol::approval::STATUS_REJECTED,
                _ => kanade_protocol::approval::STATUS_EXPIRED,
            };
            conn.execute(
                "UPDATE executions SET status = ?2
                 WHERE exec_id = ?1 AND status = 'awaiting_approval'",
                params![d.exec_id, status],
            )?;
        }
        ApprovalState::Awaiting => {}
    }
    Ok(true)
}

/// Undoes an approval whose commands could not be sent (the broker refused them): the request
/// waits again and nothing is recorded as approved.
pub fn reopen(conn: &Connection, exec_id: &str) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE approvals SET state = 'awaiting', decided_by = NULL, decided_at = NULL,
             reason = NULL
         WHERE exec_id = ?1 AND state = 'approved'",
        [exec_id],
    )?;
    conn.execute(
        "UPDATE executions SET status = 'awaiting_approval'
         WHERE exec_id = ?1 AND status = 'pending'",
        [exec_id],
    )?;
    Ok(())
}

const COLUMNS: &str =
    "exec_id, job_id, requested_by, requested_at, expires_at, state, decided_by, decided_at,
     reason, record";

fn approval(row: &Row<'_>) -> rusqlite::Result<(Approval, Option<ApprovalRecord>)> {
    let record: Option<ApprovalRecord> = serde_json::from_str(&row.get::<_, String>(9)?).ok();
    let state: String = row.get(5)?;
    Ok((
        Approval {
            exec_id: row.get(0)?,
            job_id: row.get(1)?,
            version: record
                .as_ref()
                .map(|r| r.execution.version.clone())
                .unwrap_or_default(),
            requested_by: row.get(2)?,
            requested_at: parse_ts(row.get(3)?).unwrap_or_default(),
            expires_at: parse_ts(row.get(4)?).unwrap_or_default(),
            state: ApprovalState::parse(&state).unwrap_or(ApprovalState::Expired),
            decided_by: row.get(6)?,
            decided_at: parse_ts(row.get(7)?),
            reason: row.get(8)?,
            request: record
                .as_ref()
                .map(|r| r.request.clone())
                .unwrap_or_default(),
        },
        record,
    ))
}

/// One request with the record it was made from (`None` when the stored record is unreadable).
pub fn get(
    conn: &Connection,
    exec_id: &str,
) -> rusqlite::Result<Option<(Approval, Option<ApprovalRecord>)>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM approvals WHERE exec_id = ?1"),
        [exec_id],
        approval,
    )
    .optional()
}

/// Requests in `state` (all when `None`), newest first.
pub fn list(
    conn: &Connection,
    state: Option<ApprovalState>,
    limit: u32,
) -> rusqlite::Result<Vec<Approval>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE (?1 IS NULL OR state = ?1)
         ORDER BY requested_at DESC, exec_id DESC LIMIT ?2"
    ))?;
    stmt.query_map(params![state.map(ApprovalState::as_str), limit], |r| {
        approval(r).map(|(a, _)| a)
    })?
    .collect()
}

/// Requests still awaiting whose time ran out at `now`.
pub fn due(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<Approval>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM approvals WHERE state = 'awaiting' AND expires_at <= ?1
         ORDER BY expires_at LIMIT 500"
    ))?;
    stmt.query_map([ts(now)], |r| approval(r).map(|(a, _)| a))?
        .collect()
}
