//! Fan-out: turns "run job J on target T" into a pinned version, one command per subject and
//! an `executions` row, announced by an `exec` audit event and a live event. The exec API and
//! the scheduler both go through `approval::fire_or_request` → `fire_and_record`. With a rollout, nothing is published here:
//! the plan goes to KV `exec_rollouts` and the wave driver (`scheduler::waves`) publishes
//! each wave when it is due. Publishing itself is `publish::publish_command`: a command the
//! broker may have stored without acknowledging leaves the execution `unconfirmed`, never
//! deleted. A job with `require_approval` goes to `approval` instead and reaches `send` only
//! once a second operator approved it.

pub mod publish;
pub mod targets;

use std::collections::BTreeSet;

use anyhow::Context;
use async_nats::jetstream;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use kanade_protocol::api::{ExecRequest, ExecResponse, LiveEvent, Target};
use kanade_protocol::manifest::Manifest;
use kanade_protocol::names;
use kanade_protocol::schedule::RolloutPlan;
use kanade_protocol::wire::{Command, ExecutionRecord};

use crate::auth::Caller;
use crate::live::LiveHub;
use crate::store::{self, Store, StoreError, executions::NewExecution};

use crate::{audit, catalog};
pub use publish::{Delivery, publish_command};

/// What a fan-out needs from the running backend.
#[derive(Clone)]
pub struct Fanout {
    pub js: jetstream::Context,
    pub store: Store,
    pub live: LiveHub,
    /// A machine is online while its last heartbeat is younger than this.
    pub online_window: chrono::Duration,
    /// How long one command publish waits for the broker's acknowledgement.
    pub ack_timeout: std::time::Duration,
    /// Signs each command as it is published.
    pub signer: std::sync::Arc<crate::signer::Signer>,
    /// How long a request of a job with `require_approval` waits for its second operator.
    pub approval_expires_after: chrono::Duration,
}

/// Why a fan-out failed. Nothing was published (or everything was refused).
#[derive(Debug, thiserror::Error)]
pub enum FireError {
    /// The read model could not be read or written (full disk, read-only, I/O).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The broker refused or could not be reached before anything was stored.
    #[error("{0:#}")]
    Broker(anyhow::Error),
}

impl From<anyhow::Error> for FireError {
    fn from(err: anyhow::Error) -> FireError {
        match err.downcast::<StoreError>() {
            Ok(store) => FireError::Store(store),
            Err(other) => FireError::Broker(other),
        }
    }
}

impl Fanout {
    pub fn of(state: &crate::state::AppState) -> Fanout {
        Fanout {
            js: state.js.clone(),
            store: state.store.clone(),
            live: state.live.clone(),
            online_window: state.online_window(),
            ack_timeout: state.config.nats.ack_timeout.0,
            signer: state.signer.clone(),
            approval_expires_after: state.config.approval.expires_after(),
        }
    }
}

/// Fires `manifest` as `actor`, then records the `exec` audit event (which also rebuilds the
/// execution after a read-model wipe) and announces it live. Callers go through
/// `approval::fire_or_request`, which holds back a job with `require_approval`.
pub async fn fire_and_record(
    fanout: &Fanout,
    manifest: &Manifest,
    req: &ExecRequest,
    actor: &Caller,
    now: DateTime<Utc>,
) -> Result<ExecResponse, FireError> {
    let fired = fire(fanout, manifest, req, &actor.username, now).await?;
    let record = ExecutionRecord {
        exec_id: fired.exec_id.clone(),
        job_id: fired.job_id.clone(),
        version: fired.version.clone(),
        request_id: fired.request_id.clone(),
        initiated_by: actor.username.clone(),
        initiated_at: now,
        target_count: fired.target_count,
        subjects: fired.subjects.clone(),
        deadline_at: req.deadline_at,
    };
    let payload = serde_json::to_value(&record).unwrap_or_default();
    audit::record(&fanout.js, actor, "exec", Some(&fired.job_id), payload).await;
    fanout.live.send(LiveEvent::Execution {
        exec_id: fired.exec_id.clone(),
        job_id: fired.job_id.clone(),
    });
    Ok(fired)
}

/// Where a fan-out goes: its subjects and how many machines should answer.
pub(crate) async fn aim(
    fanout: &Fanout,
    req: &ExecRequest,
    now: DateTime<Utc>,
) -> anyhow::Result<(Vec<String>, i64)> {
    let target = match &req.rollout {
        Some(rollout) => Target {
            groups: rollout.groups(),
            ..Target::default()
        },
        None => req.target.clone(),
    };
    let subjects = target.subjects();
    let target_count = expected_machines(
        &fanout.js,
        &fanout.store,
        &target,
        now,
        fanout.online_window,
    )
    .await?;
    Ok((subjects, target_count))
}

/// Publishes `manifest` to `req.target` (or plans its waves). The execution row exists before
/// any command leaves, so no result can arrive for an unknown execution. It is deleted only
/// when the broker refused the command; one it may have stored stays, `unconfirmed`.
pub async fn fire(
    fanout: &Fanout,
    manifest: &Manifest,
    req: &ExecRequest,
    initiated_by: &str,
    now: DateTime<Utc>,
) -> Result<ExecResponse, FireError> {
    let store = &fanout.store;
    manifest
        .script()
        .context("the manifest has no inline script")?;
    let (subjects, target_count) = aim(fanout, req, now).await?;
    let exec_id = uuid::Uuid::new_v4().to_string();
    let request_id = uuid::Uuid::new_v4().to_string();
    let row = NewExecution {
        exec_id: exec_id.clone(),
        job_id: manifest.id.clone(),
        version: manifest.version.clone(),
        request_id: request_id.clone(),
        initiated_by: initiated_by.to_owned(),
        initiated_at: now,
        target_count,
        subjects: subjects.clone(),
        deadline_at: req.deadline_at,
    };
    let waves = req.rollout.as_ref().map(|r| r.waves.len() as u32);
    store
        .write(move |conn| {
            store::executions::insert(conn, &row)?;
            match waves {
                Some(total) => store::scheduler::rollout_started(conn, &row.exec_id, total),
                None => Ok(()),
            }
        })
        .await?;
    let ids = (exec_id.as_str(), request_id.as_str());
    let delivery = match send(fanout, manifest, req, ids, &subjects, initiated_by, now).await {
        Ok(delivery) => delivery,
        Err(err) => {
            let id = exec_id.clone();
            let _ = store
                .write(move |conn| store::executions::delete(conn, &id))
                .await;
            return Err(err);
        }
    };
    Ok(ExecResponse {
        exec_id,
        job_id: manifest.id.clone(),
        version: manifest.version.clone(),
        request_id,
        target_count,
        subjects,
        status: delivery.status().to_owned(),
        machines: Vec::new(),
        warnings: Vec::new(),
    })
}

/// The one send step of an execution whose row exists: builds the command, publishes it (or
/// plans its waves) and, when the broker's acknowledgement is missing, marks the execution
/// `unconfirmed` and keeps retrying. `Err(Broker)` means nothing was stored. `ids` are the
/// execution's `(exec_id, request_id)`. Used by `fire` and by an approval.
pub(crate) async fn send(
    fanout: &Fanout,
    manifest: &Manifest,
    req: &ExecRequest,
    ids: (&str, &str),
    subjects: &[String],
    initiated_by: &str,
    now: DateTime<Utc>,
) -> Result<Delivery, FireError> {
    let (js, store) = (&fanout.js, &fanout.store);
    let (exec_id, request_id) = (ids.0.to_owned(), ids.1.to_owned());
    let script = manifest
        .script()
        .context("the manifest has no inline script")?
        .to_owned();
    let command = Command {
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        request_id,
        exec_id: exec_id.clone(),
        shell: manifest.execute.shell,
        script,
        timeout_secs: manifest.execute.timeout.as_secs(),
        jitter_secs: req.jitter.map(|j| j.as_secs()),
        retry: req
            .retry
            .as_ref()
            .map(|r| kanade_protocol::wire::RetrySpec {
                max: r.max,
                backoff_secs: r.backoff.as_secs(),
            }),
        deadline_at: req.deadline_at,
        cwd: manifest.execute.cwd.clone(),
        run_as: manifest.execute.run_as,
        staleness: manifest.staleness,
        emit: manifest.emit.clone(),
        emergency: false,
        issued_at: now,
        issued_by: Some(initiated_by.to_owned()),
        collect: manifest.collect.clone(),
        finalize: manifest.finalize.clone(),
        signature: None,
    };
    let sent = match &req.rollout {
        None => {
            publish(
                js,
                &fanout.signer,
                manifest,
                &command,
                subjects,
                fanout.ack_timeout,
            )
            .await
        }
        Some(rollout) => {
            let plan = RolloutPlan {
                exec_id: exec_id.clone(),
                job_id: manifest.id.clone(),
                initiated_by: initiated_by.to_owned(),
                started_at: now,
                rollout: rollout.clone(),
                command: command.clone(),
                waves_published: 0,
                held_since: None,
                held_secs: 0,
            };
            plan_waves(js, manifest, &plan)
                .await
                .map(|()| Delivery::Stored)
        }
    };
    let delivery = sent.map_err(FireError::Broker)?;
    if delivery == Delivery::Unconfirmed {
        tracing::warn!(%exec_id, "the broker did not acknowledge the command in time: it may be stored and run; keeping the execution as unconfirmed and retrying");
        let id = exec_id.clone();
        store
            .write(move |conn| store::executions::mark_unconfirmed(conn, &id))
            .await?;
        publish::settle_later(
            js.clone(),
            fanout.signer.clone(),
            store.clone(),
            command,
            subjects.to_vec(),
            fanout.ack_timeout,
        );
    }
    Ok(delivery)
}

async fn pin(js: &jetstream::Context, manifest: &Manifest) -> anyhow::Result<()> {
    let pins = js
        .get_key_value(names::KV_SCRIPT_CURRENT)
        .await
        .context("opening KV script_current")?;
    catalog::put_text(&pins, &manifest.id, &manifest.version).await
}

async fn publish(
    js: &jetstream::Context,
    signer: &crate::signer::Signer,
    manifest: &Manifest,
    command: &Command,
    subjects: &[String],
    ack_timeout: std::time::Duration,
) -> anyhow::Result<Delivery> {
    pin(js, manifest).await?;
    publish_command(js, signer, command, subjects, ack_timeout).await
}

async fn plan_waves(
    js: &jetstream::Context,
    manifest: &Manifest,
    plan: &RolloutPlan,
) -> anyhow::Result<()> {
    pin(js, manifest).await?;
    let plans = js
        .get_key_value(names::KV_EXEC_ROLLOUTS)
        .await
        .context("opening KV exec_rollouts")?;
    plans
        .create(&plan.exec_id, Bytes::from(serde_json::to_vec(plan)?))
        .await
        .context("writing the rollout plan to KV exec_rollouts")?;
    Ok(())
}

/// How many machines should answer: the named machines plus the members of the named groups,
/// or every online machine for `all` (at least 1, so an execution can complete).
pub async fn expected_machines(
    js: &jetstream::Context,
    store: &Store,
    target: &Target,
    now: DateTime<Utc>,
    online_window: chrono::Duration,
) -> anyhow::Result<i64> {
    if target.all {
        let online = store
            .read(move |conn| store::agents::count_online(conn, now, online_window))
            .await?;
        return Ok(online.max(1));
    }
    let mut machines: BTreeSet<String> = target.pcs.iter().cloned().collect();
    machines.extend(group_members(js, &target.groups).await?);
    Ok(i64::try_from(machines.len()).unwrap_or(i64::MAX).max(1))
}

/// The machines that are members of any of `groups` (KV `agent_groups`).
pub async fn group_members(
    js: &jetstream::Context,
    groups: &[String],
) -> anyhow::Result<BTreeSet<String>> {
    if groups.is_empty() {
        return Ok(BTreeSet::new());
    }
    let members = crate::desired::all_groups(js).await?;
    Ok(members
        .into_iter()
        .filter(|(_, of)| of.iter().any(|g| groups.contains(g)))
        .map(|(pc, _)| pc)
        .collect())
}
