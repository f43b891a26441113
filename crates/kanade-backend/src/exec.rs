//! Fan-out: turns "run job J on target T" into a pinned version, one command per subject and
//! an `executions` row. Used by the API now and by the scheduler later.

use anyhow::Context;
use async_nats::jetstream;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use kanade_protocol::api::{ExecRequest, ExecResponse, Target};
use kanade_protocol::manifest::Manifest;
use kanade_protocol::names;
use kanade_protocol::wire::{AgentGroups, Command};

use crate::catalog;
use crate::store::{self, Store, executions::NewExecution};

/// Publishes `manifest` to `req.target`. The execution row exists before any command leaves,
/// so no result can arrive for an unknown execution.
pub async fn fire(
    js: &jetstream::Context,
    store: &Store,
    manifest: &Manifest,
    req: &ExecRequest,
    initiated_by: &str,
    now: DateTime<Utc>,
    online_window: chrono::Duration,
) -> anyhow::Result<ExecResponse> {
    let script = manifest
        .script()
        .context("the manifest has no inline script")?
        .to_owned();
    let subjects = req.target.subjects();
    let target_count = expected_machines(js, store, &req.target, now, online_window).await?;
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
    store
        .write(move |conn| store::executions::insert(conn, &row))
        .await?;

    let command = Command {
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        request_id: request_id.clone(),
        exec_id: exec_id.clone(),
        shell: manifest.execute.shell,
        script,
        timeout_secs: manifest.execute.timeout.as_secs(),
        jitter_secs: req.jitter.map(|j| j.as_secs()),
        deadline_at: req.deadline_at,
        cwd: manifest.execute.cwd.clone(),
        emit: manifest.emit.clone(),
        emergency: false,
        issued_at: now,
        issued_by: Some(initiated_by.to_owned()),
    };
    if let Err(err) = publish(js, manifest, &command, &subjects).await {
        let id = exec_id.clone();
        let _ = store
            .write(move |conn| store::executions::delete(conn, &id))
            .await;
        return Err(err);
    }
    Ok(ExecResponse {
        exec_id,
        job_id: manifest.id.clone(),
        version: manifest.version.clone(),
        request_id,
        target_count,
        subjects,
    })
}

async fn publish(
    js: &jetstream::Context,
    manifest: &Manifest,
    command: &Command,
    subjects: &[String],
) -> anyhow::Result<()> {
    let pins = js
        .get_key_value(names::KV_SCRIPT_CURRENT)
        .await
        .context("opening KV script_current")?;
    catalog::put_text(&pins, &manifest.id, &manifest.version).await?;
    let payload = Bytes::from(serde_json::to_vec(command)?);
    for subject in subjects {
        js.publish(subject.clone(), payload.clone())
            .await
            .with_context(|| format!("publishing to {subject}"))?
            .await
            .with_context(|| format!("broker did not acknowledge {subject}"))?;
    }
    Ok(())
}

/// How many machines should answer: the named machines plus the members of the named groups,
/// or every online machine for `all` (at least 1, so an execution can complete).
async fn expected_machines(
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
    let mut machines: std::collections::BTreeSet<String> = target.pcs.iter().cloned().collect();
    if !target.groups.is_empty() {
        let groups = js
            .get_key_value(names::KV_AGENT_GROUPS)
            .await
            .context("opening KV agent_groups")?;
        let keys: Vec<String> = match groups.keys().await {
            Ok(keys) => keys
                .try_collect()
                .await
                .context("listing KV agent_groups")?,
            Err(err) => return Err(anyhow::anyhow!(err).context("listing KV agent_groups")),
        };
        for pc in keys {
            let Some(bytes) = groups.get(&pc).await.context("reading KV agent_groups")? else {
                continue;
            };
            let Ok(member) = serde_json::from_slice::<AgentGroups>(&bytes) else {
                continue;
            };
            if member.groups.iter().any(|g| target.groups.contains(g)) {
                machines.insert(pc);
            }
        }
    }
    Ok(i64::try_from(machines.len()).unwrap_or(i64::MAX).max(1))
}
