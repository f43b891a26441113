//! The wave driver: publishes each wave of a rollout (ad-hoc exec or schedule) to
//! `commands.group.<group>` once its delay since the start has passed, after the health gate
//! (`policy::should_halt`) let it through. Progress lives in KV `exec_rollouts`, written after
//! each wave, so a backend that takes over (or restarts) resumes where the last one stopped; a
//! wave published just before a crash may go out again, which agents ignore (same request id).
//! While the fleet is frozen a due wave is held (`held_since` in the plan) and goes out after
//! the thaw; the time held is added to the later waves' delays so they keep their spacing.

use anyhow::Context;
use async_nats::jetstream::kv;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use kanade_protocol::api::{LiveEvent, Target};
use kanade_protocol::schedule::{RolloutPlan, RolloutProgress};
use kanade_protocol::subject;
use serde_json::json;

use crate::auth::Caller;
use crate::exec::{self, Fanout};
use crate::scheduler::policy;
use crate::store;

/// How long a due wave waits while the fleet is frozen before it looks again.
const FROZEN_RETRY: chrono::Duration = chrono::Duration::seconds(5);

/// Publishes every wave of `plan` that is due at `now`. Returns when to look again, or `None`
/// when the rollout is over (finished or halted; its plan is then deleted).
pub async fn advance(
    fanout: &Fanout,
    plans: &kv::Store,
    plan: &mut RolloutPlan,
    revision: &mut u64,
    now: DateTime<Utc>,
    frozen: bool,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let total = plan.rollout.waves.len() as u32;
    loop {
        let index = plan.waves_published as usize;
        let Some(wave) = plan.rollout.waves.get(index).cloned() else {
            finish(fanout, plans, plan, total).await?;
            return Ok(None);
        };
        let due = plan.due(index).unwrap_or(now);
        if due > now {
            return Ok(Some(due));
        }
        if frozen {
            if plan.held_since.is_none() {
                // Recorded once per hold, so the API can say the wave waits and the time
                // held shifts the later waves after the thaw (also across a takeover).
                tracing::info!(exec_id = %plan.exec_id, wave = index + 1, "fleet freeze is on: holding the wave");
                plan.held_since = Some(due);
                save(plans, plan, revision).await?;
            }
            return Ok(Some(now + FROZEN_RETRY));
        }
        if let Some(since) = plan.held_since.take() {
            let held = (now - since).num_seconds().max(0) as u64;
            plan.held_secs = plan.held_secs.saturating_add(held);
            tracing::info!(exec_id = %plan.exec_id, wave = index + 1, held_secs = held, "the freeze is over: the held wave goes out");
        }
        if index > 0 && plan.rollout.halt_on_failure_pct.is_some() {
            let exec_id = plan.exec_id.clone();
            let (reported, failed) = fanout
                .store
                .read(move |c| store::scheduler::tally(c, &exec_id))
                .await?;
            if policy::should_halt(&plan.rollout, reported, failed) {
                halt(fanout, plans, plan, reported, failed).await?;
                return Ok(None);
            }
        }
        let delivery = exec::publish_command(
            &fanout.js,
            &fanout.signer,
            &plan.command,
            &[subject::commands_group(&wave.group)],
            fanout.ack_timeout,
        )
        .await?;
        // Not recorded as published: the next pass publishes it again under the same
        // message id, which the stream drops if the first copy was stored.
        anyhow::ensure!(
            delivery == exec::Delivery::Stored,
            "the broker did not acknowledge wave {} of {} in time; it may be stored, retrying",
            index + 1,
            plan.exec_id
        );
        plan.waves_published += 1;
        save(plans, plan, revision)
            .await
            .context("recording the wave in KV exec_rollouts")?;
        tracing::info!(exec_id = %plan.exec_id, wave = index + 1, group = %wave.group, "wave published");
        let (exec_id, published) = (plan.exec_id.clone(), plan.waves_published);
        fanout
            .store
            .write(move |c| {
                store::scheduler::rollout_published(c, &exec_id, published, published >= total)
            })
            .await?;
        announce(fanout, plan);
    }
}

/// Writes `plan` over the revision this backend last wrote (compare-and-set: a takeover that
/// wrote in between makes this fail, and the plan is reloaded).
async fn save(plans: &kv::Store, plan: &RolloutPlan, revision: &mut u64) -> anyhow::Result<()> {
    *revision = plans
        .update(
            &plan.exec_id,
            Bytes::from(serde_json::to_vec(plan)?),
            *revision,
        )
        .await
        .context("updating KV exec_rollouts")?;
    Ok(())
}

/// The plan of a rollout still in progress (`None` once it finished or halted).
pub async fn plan(
    js: &async_nats::jetstream::Context,
    exec_id: &str,
) -> anyhow::Result<Option<RolloutPlan>> {
    let plans = js
        .get_key_value(kanade_protocol::names::KV_EXEC_ROLLOUTS)
        .await
        .context("opening KV exec_rollouts")?;
    Ok(kanade_bus::kv::read::<RolloutPlan>(&plans, exec_id)
        .await?
        .0)
}

/// `progress` of a running rollout as the API shows it: `held`, naming the wave, while the
/// next wave came due during a freeze.
pub fn held(mut progress: RolloutProgress, plan: &RolloutPlan) -> RolloutProgress {
    let Some(since) = plan.held_since else {
        return progress;
    };
    if progress.status != "running" {
        return progress;
    }
    let index = plan.waves_published as usize;
    let group = plan
        .rollout
        .waves
        .get(index)
        .map(|w| format!(" (group {})", w.group))
        .unwrap_or_default();
    progress.status = "held".to_owned();
    progress.note = Some(format!(
        "wave {} of {}{group} came due at {} while the fleet is frozen; it goes out when the freeze ends, and the later waves keep their spacing after it",
        index + 1,
        plan.rollout.waves.len(),
        since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    ));
    progress
}

async fn finish(
    fanout: &Fanout,
    plans: &kv::Store,
    plan: &RolloutPlan,
    total: u32,
) -> anyhow::Result<()> {
    let exec_id = plan.exec_id.clone();
    fanout
        .store
        .write(move |c| store::scheduler::rollout_published(c, &exec_id, total, true))
        .await?;
    plans
        .delete(&plan.exec_id)
        .await
        .context("deleting a finished rollout from KV exec_rollouts")?;
    Ok(())
}

async fn halt(
    fanout: &Fanout,
    plans: &kv::Store,
    plan: &RolloutPlan,
    reported: u64,
    failed: u64,
) -> anyhow::Result<()> {
    let index = plan.waves_published as usize;
    let limit = plan.rollout.halt_on_failure_pct.unwrap_or(100.0);
    let pct = failed as f64 * 100.0 / reported.max(1) as f64;
    let group = &plan.rollout.waves[index].group;
    let note = format!(
        "halted before wave {} (group {group}): {failed} of {reported} results failed ({pct:.1}%), above {limit}%",
        index + 1
    );
    let published = Target {
        groups: plan.rollout.waves[..index]
            .iter()
            .map(|w| w.group.clone())
            .collect(),
        ..Target::default()
    };
    let target_count = exec::expected_machines(
        &fanout.js,
        &fanout.store,
        &published,
        Utc::now(),
        fanout.online_window,
    )
    .await?;
    let (exec_id, text) = (plan.exec_id.clone(), note.clone());
    fanout
        .store
        .write(move |c| store::scheduler::rollout_halted(c, &exec_id, target_count, &text))
        .await?;
    tracing::warn!(exec_id = %plan.exec_id, "{note}");
    let payload = json!({
        "exec_id": plan.exec_id,
        "job_id": plan.job_id,
        "wave": index + 1,
        "group": group,
        "reported": reported,
        "failed": failed,
        "halt_on_failure_pct": limit,
        "initiated_by": plan.initiated_by,
    });
    crate::audit::record(
        &fanout.js,
        &Caller::system("scheduler"),
        "rollout.halt",
        Some(&plan.exec_id),
        payload,
    )
    .await;
    plans
        .delete(&plan.exec_id)
        .await
        .context("deleting a halted rollout from KV exec_rollouts")?;
    announce(fanout, plan);
    Ok(())
}

fn announce(fanout: &Fanout, plan: &RolloutPlan) {
    fanout.live.send(LiveEvent::Execution {
        exec_id: plan.exec_id.clone(),
        job_id: plan.job_id.clone(),
    });
}
