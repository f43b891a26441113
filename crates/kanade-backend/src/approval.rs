//! The two-person rule for jobs with `require_approval: true`. An execution of such a job
//! (exec API, CLI, scheduler fire) is recorded as a request, `awaiting_approval`, and sends
//! nothing. Another operator (or admin) approves it — then the commands go out through the
//! same send step as any exec (`exec::send`, signed in `publish_command`) — or rejects it; a
//! request nobody decides expires after `[approval] expires_after`. Every step is an
//! `approval.*` audit event, from which the audit projector rebuilds requests and statuses
//! after a read-model wipe. The decision is claimed in SQLite's single writer before anything
//! is sent, so two approvers racing on one backend send once.

use anyhow::Context;
use chrono::{DateTime, Utc};
use kanade_protocol::api::{ExecRequest, ExecResponse, ExecWarning, LiveEvent};
use kanade_protocol::approval::{
    self as rule, Approval, ApprovalDecision, ApprovalRecord, ApprovalState,
};
use kanade_protocol::manifest::Manifest;
use kanade_protocol::wire::ExecutionRecord;

use crate::auth::Caller;
use crate::exec::{self, Fanout, FireError};
use crate::store::{self, StoreError, approvals::Decision};
use crate::{audit, catalog};

/// The warning code an exec answer carries when it waits for approval.
pub const WARNING_AWAITING: &str = "awaiting_approval";
/// The actor recorded for expiries.
pub const EXPIRY_ACTOR: &str = "approval-expiry";

/// Why a decision was refused.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("execution {0} is not awaiting approval (its job does not require approval)")]
    NotFound(String),
    /// The requester tried to approve their own request.
    #[error("{0}")]
    Forbidden(String),
    /// Already decided, expired, or the job changed since the request.
    #[error("{0}")]
    Conflict(String),
    #[error(transparent)]
    Fire(#[from] FireError),
}

impl From<StoreError> for DecideError {
    fn from(err: StoreError) -> DecideError {
        DecideError::Fire(FireError::Store(err))
    }
}

/// SHA-256 (hex) of the script a manifest would send.
pub fn script_digest(manifest: &Manifest) -> String {
    crate::releases::sha256_hex(manifest.script().unwrap_or_default().as_bytes())
}

/// The one way an exec starts (API and scheduler): a job with `require_approval` becomes a
/// request waiting for a second operator (nothing is sent); any other is fired at once.
pub async fn fire_or_request(
    fanout: &Fanout,
    manifest: &Manifest,
    req: &ExecRequest,
    actor: &Caller,
    now: DateTime<Utc>,
) -> Result<ExecResponse, FireError> {
    if manifest.require_approval {
        return request(fanout, manifest, req, actor, now).await;
    }
    exec::fire_and_record(fanout, manifest, req, actor, now).await
}

/// Records a request to run `manifest` as `req` for `actor`; nothing is sent.
pub async fn request(
    fanout: &Fanout,
    manifest: &Manifest,
    req: &ExecRequest,
    actor: &Caller,
    now: DateTime<Utc>,
) -> Result<ExecResponse, FireError> {
    manifest
        .script()
        .context("the manifest has no inline script")?;
    let (subjects, target_count) = exec::aim(fanout, req, now).await?;
    let record = ApprovalRecord {
        execution: ExecutionRecord {
            exec_id: uuid::Uuid::new_v4().to_string(),
            job_id: manifest.id.clone(),
            version: manifest.version.clone(),
            request_id: uuid::Uuid::new_v4().to_string(),
            initiated_by: actor.username.clone(),
            initiated_at: now,
            target_count,
            subjects,
            deadline_at: req.deadline_at,
        },
        request: req.clone(),
        expires_at: now + fanout.approval_expires_after,
        script_sha256: script_digest(manifest),
    };
    let row = record.clone();
    fanout
        .store
        .write(move |c| Ok(store::approvals::insert(c, &row)?))
        .await?;
    let e = &record.execution;
    let payload = serde_json::to_value(&record).unwrap_or_default();
    audit::record(
        &fanout.js,
        actor,
        rule::ACTION_REQUEST,
        Some(&e.job_id),
        payload,
    )
    .await;
    fanout.live.send(LiveEvent::Execution {
        exec_id: e.exec_id.clone(),
        job_id: e.job_id.clone(),
    });
    tracing::info!(exec_id = %e.exec_id, job = %e.job_id, by = %actor.username, "execution awaits approval");
    Ok(ExecResponse {
        exec_id: e.exec_id.clone(),
        job_id: e.job_id.clone(),
        version: e.version.clone(),
        request_id: e.request_id.clone(),
        target_count,
        subjects: e.subjects.clone(),
        status: rule::STATUS_AWAITING.to_owned(),
        machines: Vec::new(),
        warnings: vec![ExecWarning {
            code: WARNING_AWAITING.to_owned(),
            message: format!(
                "job {} requires approval: nothing was sent; another operator approves it \
                 (kanade approve {}) before {}",
                e.job_id,
                e.exec_id,
                record
                    .expires_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            ),
        }],
    })
}

/// Reads a request still awaiting a decision.
async fn awaiting(
    fanout: &Fanout,
    exec_id: &str,
) -> Result<(Approval, ApprovalRecord), DecideError> {
    let id = exec_id.to_owned();
    let found = fanout
        .store
        .read(move |c| store::approvals::get(c, &id))
        .await?;
    let Some((approval, record)) = found else {
        return Err(DecideError::NotFound(exec_id.to_owned()));
    };
    if approval.state != ApprovalState::Awaiting {
        let by = approval
            .decided_by
            .as_deref()
            .map(|b| format!(" by {b}"))
            .unwrap_or_default();
        return Err(DecideError::Conflict(format!(
            "execution {exec_id} was already {}{by}; nothing changed",
            approval.state.as_str()
        )));
    }
    let record = record.ok_or_else(|| {
        DecideError::Conflict(format!(
            "execution {exec_id}: the stored request is unreadable; reject it and ask again"
        ))
    })?;
    Ok((approval, record))
}

/// Approves a request: claims the decision, then sends the commands exactly as requested.
/// The requester cannot approve their own request; a job edited since the request (another
/// version or script) is refused, so the approver approves exactly what runs.
pub async fn approve(
    fanout: &Fanout,
    exec_id: &str,
    approver: &Caller,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Approval, DecideError> {
    let (approval, record) = awaiting(fanout, exec_id).await?;
    if approval.expires_at <= now {
        expire(fanout, &approval, now).await?;
        return Err(DecideError::Conflict(format!(
            "the request for execution {exec_id} expired at {}; nothing was sent: ask again",
            approval
                .expires_at
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    if approver.username == approval.requested_by {
        return Err(DecideError::Forbidden(format!(
            "{} requested execution {exec_id} and cannot approve it: job {} requires a second \
             operator's approval",
            approver.username, approval.job_id
        )));
    }
    let job = catalog::get(&fanout.js, &approval.job_id)
        .await
        .map_err(|e| DecideError::Fire(FireError::Broker(e)))?
        .ok_or_else(|| {
            DecideError::Conflict(format!(
                "job {} was deleted since the request; reject it",
                approval.job_id
            ))
        })?;
    let manifest = job.manifest;
    let e = &record.execution;
    if manifest.version != e.version || script_digest(&manifest) != record.script_sha256 {
        return Err(DecideError::Conflict(format!(
            "job {} changed since the request (version {} then, {} now): reject it and ask again",
            e.job_id, e.version, manifest.version
        )));
    }
    if let Some(deadline) = record.request.deadline_at
        && deadline <= now
    {
        return Err(DecideError::Conflict(format!(
            "the request's deadline_at ({}) has passed, so every machine would skip it: reject it and ask again",
            deadline.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )));
    }
    let (_, target_count) = exec::aim(fanout, &record.request, now)
        .await
        .map_err(FireError::from)?;
    let decision = Decision {
        exec_id: exec_id.to_owned(),
        state: ApprovalState::Approved,
        by: approver.username.clone(),
        at: now,
        reason: reason.clone(),
        target_count: Some(target_count),
    };
    let waves = record
        .request
        .rollout
        .as_ref()
        .map(|r| r.waves.len() as u32);
    let claimed = fanout
        .store
        .write(move |c| {
            let won = store::approvals::decide(c, &decision)?;
            if let (true, Some(total)) = (won, waves) {
                store::scheduler::rollout_started(c, &decision.exec_id, total)?;
            }
            Ok(won)
        })
        .await?;
    if !claimed {
        return Err(DecideError::Conflict(format!(
            "execution {exec_id} was decided by someone else meanwhile; nothing changed"
        )));
    }
    let ids = (e.exec_id.as_str(), e.request_id.as_str());
    let sent = exec::send(
        fanout,
        &manifest,
        &record.request,
        ids,
        &e.subjects,
        &e.initiated_by,
        now,
    )
    .await;
    if let Err(err) = sent {
        // The broker refused the commands: nothing went out, so the request waits again. A
        // database fault after publishing leaves the approval standing (they may have gone).
        if matches!(err, FireError::Broker(_)) {
            let id = exec_id.to_owned();
            let _ = fanout
                .store
                .write(move |c| Ok(store::approvals::reopen(c, &id)?))
                .await;
        }
        return Err(err.into());
    }
    let decided = ApprovalDecision {
        exec_id: exec_id.to_owned(),
        job_id: approval.job_id.clone(),
        state: ApprovalState::Approved,
        requested_by: approval.requested_by.clone(),
        reason,
        target_count: Some(target_count),
    };
    finish(fanout, approver, &decided).await;
    tracing::info!(%exec_id, by = %approver.username, "execution approved and sent");
    current(fanout, exec_id).await
}

/// Rejects a request: nothing is ever sent. The requester may withdraw their own.
pub async fn reject(
    fanout: &Fanout,
    exec_id: &str,
    caller: &Caller,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<Approval, DecideError> {
    let (approval, _) = awaiting(fanout, exec_id).await?;
    let decision = Decision {
        exec_id: exec_id.to_owned(),
        state: ApprovalState::Rejected,
        by: caller.username.clone(),
        at: now,
        reason: reason.clone(),
        target_count: None,
    };
    if !fanout
        .store
        .write(move |c| Ok(store::approvals::decide(c, &decision)?))
        .await?
    {
        return Err(DecideError::Conflict(format!(
            "execution {exec_id} was decided by someone else meanwhile; nothing changed"
        )));
    }
    let decided = ApprovalDecision {
        exec_id: exec_id.to_owned(),
        job_id: approval.job_id.clone(),
        state: ApprovalState::Rejected,
        requested_by: approval.requested_by,
        reason,
        target_count: None,
    };
    finish(fanout, caller, &decided).await;
    current(fanout, exec_id).await
}

/// Expires one request (if still awaiting) and audits it.
async fn expire(
    fanout: &Fanout,
    approval: &Approval,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let decision = Decision {
        exec_id: approval.exec_id.clone(),
        state: ApprovalState::Expired,
        by: EXPIRY_ACTOR.to_owned(),
        at: now,
        reason: None,
        target_count: None,
    };
    if !fanout
        .store
        .write(move |c| Ok(store::approvals::decide(c, &decision)?))
        .await?
    {
        return Ok(());
    }
    let decided = ApprovalDecision {
        exec_id: approval.exec_id.clone(),
        job_id: approval.job_id.clone(),
        state: ApprovalState::Expired,
        requested_by: approval.requested_by.clone(),
        reason: None,
        target_count: None,
    };
    let actor = Caller::system(EXPIRY_ACTOR);
    finish(fanout, &actor, &decided).await;
    tracing::info!(exec_id = %approval.exec_id, "an approval request expired; nothing was sent");
    Ok(())
}

/// Expires every request whose time ran out at `now`; returns how many.
pub async fn expire_due(fanout: &Fanout, now: DateTime<Utc>) -> Result<usize, StoreError> {
    let due = fanout
        .store
        .read(move |c| store::approvals::due(c, now))
        .await?;
    for approval in &due {
        expire(fanout, approval, now).await?;
    }
    Ok(due.len())
}

/// The expiry loop.
pub async fn run(fanout: Fanout, every: std::time::Duration) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(every.max(std::time::Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(err) = expire_due(&fanout, Utc::now()).await {
            tracing::warn!(error = %err, "could not expire approval requests");
        }
    }
}

async fn finish(fanout: &Fanout, actor: &Caller, decided: &ApprovalDecision) {
    let action = match decided.state {
        ApprovalState::Approved => rule::ACTION_APPROVE,
        ApprovalState::Rejected => rule::ACTION_REJECT,
        ApprovalState::Expired | ApprovalState::Awaiting => rule::ACTION_EXPIRE,
    };
    let payload = serde_json::to_value(decided).unwrap_or_default();
    audit::record(&fanout.js, actor, action, Some(&decided.job_id), payload).await;
    fanout.live.send(LiveEvent::Execution {
        exec_id: decided.exec_id.clone(),
        job_id: decided.job_id.clone(),
    });
}

async fn current(fanout: &Fanout, exec_id: &str) -> Result<Approval, DecideError> {
    let id = exec_id.to_owned();
    fanout
        .store
        .read(move |c| store::approvals::get(c, &id))
        .await?
        .map(|(a, _)| a)
        .ok_or_else(|| DecideError::NotFound(exec_id.to_owned()))
}
