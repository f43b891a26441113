//! The scheduler: an explicit loop that runs on exactly one backend at a time (the holder of
//! the `lease`). While leading it keeps every schedule of KV `schedules` and every rollout of
//! KV `exec_rollouts` in memory, follows both buckets with KV watches (edits, deletes and
//! creates apply within moments; a watch that ends is reopened and everything reloaded),
//! sleeps until the earliest wake, asks `policy::decide_fire` what is due and lets `dispatch`
//! fire it and `waves` publish due waves. While the fleet freeze is on nothing fires (ticks
//! that come due are logged and passed over; waves wait).
//!
//! `on_failure.retry` travels with each fired command (`Command.retry`): the agent re-runs a
//! failed script after the backoff and reports the last attempt. per_pc schedules also
//! re-dispatch failed machines after the redispatch window.

pub mod dispatch;
pub mod lease;
pub mod policy;
pub mod waves;

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::kv;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kanade_protocol::names;
use kanade_protocol::schedule::{RolloutPlan, RunsOn, Schedule, When};
use tokio::time::Instant;

use crate::exec::Fanout;
use crate::scheduler::lease::Lease;
use crate::scheduler::policy::History;

/// How the scheduler paces itself.
#[derive(Debug, Clone)]
pub struct Settings {
    /// This backend's identity for the lease.
    pub holder: String,
    pub lease_ttl: Duration,
    /// How often per_pc / per_target schedules compare the fleet with the job's successes.
    pub reconcile_every: Duration,
}

/// Stands by until this backend holds the lease, then leads until it loses it; forever.
pub async fn run(fanout: Fanout, settings: Settings) -> anyhow::Result<()> {
    loop {
        let mut lease = Lease::acquire(&fanout.js, &settings.holder, settings.lease_ttl).await?;
        tracing::info!(holder = %settings.holder, "this backend runs the scheduler");
        match lead(&fanout, &settings, &mut lease).await {
            Ok(()) => tracing::warn!("lost the scheduler lease; standing by"),
            Err(err) => {
                lease.release().await;
                return Err(err);
            }
        }
    }
}

/// A schedule as the leader keeps it.
struct Loaded {
    schedule: Schedule,
    revision: u64,
    /// When this revision was stored: its ticks before then never fire.
    stored_at: DateTime<Utc>,
    last_tick: Option<DateTime<Utc>>,
    /// When to decide again; `None`: never (until the schedule changes).
    wake: Option<DateTime<Utc>>,
}

struct Plan {
    plan: RolloutPlan,
    revision: u64,
    due: Option<DateTime<Utc>>,
}

struct Leading {
    schedules_kv: kv::Store,
    plans_kv: kv::Store,
    marks_kv: kv::Store,
    schedules: HashMap<String, Loaded>,
    plans: HashMap<String, Plan>,
    marks: dispatch::Marks,
}

async fn lead(fanout: &Fanout, settings: &Settings, lease: &mut Lease) -> anyhow::Result<()> {
    let bucket = |name: &'static str| async move {
        fanout
            .js
            .get_key_value(name)
            .await
            .with_context(|| format!("opening KV {name}"))
    };
    let mut state = Leading {
        schedules_kv: bucket(names::KV_SCHEDULES).await?,
        plans_kv: bucket(names::KV_EXEC_ROLLOUTS).await?,
        marks_kv: bucket(names::KV_SCHEDULER_DISPATCH).await?,
        schedules: HashMap::new(),
        plans: HashMap::new(),
        marks: HashMap::new(),
    };
    let mut schedule_watch = state.schedules_kv.watch_all().await?;
    let mut plan_watch = state.plans_kv.watch_all().await?;
    reload(&mut state).await?;
    loop {
        if !lease.held() {
            return Ok(());
        }
        let now = Utc::now();
        let frozen = match crate::desired::freeze(&fanout.js).await {
            Ok(freeze) => {
                if let crate::desired::FreezeState::Unreadable(why) = &freeze {
                    tracing::warn!("{why}; counting the fleet as frozen: firing nothing");
                }
                freeze.frozen(now)
            }
            Err(err) => {
                tracing::warn!(
                    error = format!("{err:#}"),
                    "cannot read the fleet freeze; firing nothing"
                );
                true
            }
        };
        tick_schedules(fanout, settings, &mut state, now, frozen).await;
        tick_plans(fanout, &mut state, now, frozen).await;

        let wakes = state
            .schedules
            .values()
            .filter_map(|l| l.wake)
            .chain(state.plans.values().filter_map(|p| p.due))
            .min();
        let sleep_for = wakes
            .map(|w| (w - Utc::now()).to_std().unwrap_or_default())
            .unwrap_or(Duration::from_secs(3600));
        let deadline = (Instant::now() + sleep_for).min(lease.renew_at());
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            entry = schedule_watch.next() => match entry {
                Some(Ok(entry)) => apply_schedule(&mut state, entry),
                Some(Err(err)) => tracing::warn!(error = %err, "schedules watch error"),
                None => {
                    tracing::warn!("schedules watch ended; reopening and reloading");
                    schedule_watch = state.schedules_kv.watch_all().await?;
                    reload(&mut state).await?;
                }
            },
            entry = plan_watch.next() => match entry {
                Some(Ok(entry)) => apply_plan(&mut state, entry),
                Some(Err(err)) => tracing::warn!(error = %err, "rollouts watch error"),
                None => {
                    tracing::warn!("rollouts watch ended; reopening and reloading");
                    plan_watch = state.plans_kv.watch_all().await?;
                    reload(&mut state).await?;
                }
            },
        }
        if Instant::now() >= lease.renew_at() && !lease.renew().await {
            return Ok(());
        }
    }
}

async fn tick_schedules(
    fanout: &Fanout,
    settings: &Settings,
    state: &mut Leading,
    now: DateTime<Utc>,
    frozen: bool,
) {
    let due: Vec<String> = state
        .schedules
        .iter()
        .filter(|(_, l)| l.wake.is_some_and(|w| w <= now))
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        let Some(loaded) = state.schedules.get_mut(&id) else {
            continue;
        };
        let reconcile = matches!(loaded.schedule.when, When::PerPc(_) | When::PerTarget(_));
        let cadence =
            now + chrono::Duration::from_std(settings.reconcile_every).unwrap_or_default();
        let base = History {
            last_tick: loaded.last_tick,
            ..History::new(loaded.stored_at)
        };
        let gathered = dispatch::history(
            fanout,
            &state.marks_kv,
            &mut state.marks,
            &loaded.schedule,
            base,
            now,
        )
        .await;
        let (history, manifest) = match gathered {
            Ok(Some(found)) => found,
            Ok(None) => {
                tracing::warn!(schedule = %id, job = %loaded.schedule.job_id, "the schedule's job is not registered; not firing");
                loaded.wake = Some(cadence);
                continue;
            }
            Err(err) => {
                tracing::warn!(schedule = %id, error = format!("{err:#}"), "could not gather the schedule's history");
                loaded.wake = Some(now + chrono::Duration::seconds(5));
                continue;
            }
        };
        let decision = policy::decide_fire(&loaded.schedule, &history, now);
        let previous_tick = loaded.last_tick;
        if decision.handled.is_some() {
            loaded.last_tick = decision.handled;
        }
        loaded.wake = match reconcile {
            true => Some(decision.next_wake.map_or(cadence, |w| w.min(cadence))),
            false => decision.next_wake,
        };
        if let Some((at, skip)) = decision.skipped {
            tracing::info!(schedule = %id, at = %at, "not firing: {}", skip.as_str());
        }
        let Some(fire) = decision.fire else {
            continue;
        };
        if frozen {
            tracing::info!(schedule = %id, tick = %fire.tick, "fleet freeze is on: not firing");
            continue;
        }
        let fired = dispatch::fire(
            fanout,
            &state.marks_kv,
            &mut state.marks,
            &loaded.schedule,
            &manifest,
            &fire,
            now,
        )
        .await;
        match fired {
            Ok(true) => {}
            Ok(false) => {
                tracing::info!(schedule = %id, tick = %fire.tick, "already dispatched; not firing again")
            }
            Err(err) => {
                tracing::error!(schedule = %id, error = format!("{err:#}"), "schedule did not fire; retrying");
                loaded.last_tick = previous_tick;
                loaded.wake = Some(now + chrono::Duration::seconds(5));
            }
        }
    }
}

async fn tick_plans(fanout: &Fanout, state: &mut Leading, now: DateTime<Utc>, frozen: bool) {
    let due: Vec<String> = state
        .plans
        .iter()
        .filter(|(_, p)| p.due.is_some_and(|d| d <= now))
        .map(|(id, _)| id.clone())
        .collect();
    for id in due {
        let Some(plan) = state.plans.get_mut(&id) else {
            continue;
        };
        let advanced = waves::advance(
            fanout,
            &state.plans_kv,
            &mut plan.plan,
            &mut plan.revision,
            now,
            frozen,
        )
        .await;
        match advanced {
            Ok(Some(due)) => plan.due = Some(due),
            Ok(None) => {
                state.plans.remove(&id);
            }
            Err(err) => {
                tracing::error!(exec_id = %id, error = format!("{err:#}"), "rollout wave failed; reloading it");
                state.plans.remove(&id);
                if let Ok(Some(entry)) = state.plans_kv.entry(&id).await {
                    apply_plan(state, entry);
                }
            }
        }
    }
}

/// Reads both buckets afresh: schedules and rollouts that vanished are dropped, changed ones
/// replaced, unchanged ones keep what the leader knew (the last tick).
async fn reload(state: &mut Leading) -> anyhow::Result<()> {
    let schedules = entries(&state.schedules_kv).await?;
    state
        .schedules
        .retain(|id, _| schedules.iter().any(|e| &e.key == id));
    for entry in schedules {
        apply_schedule(state, entry);
    }
    let plans = entries(&state.plans_kv).await?;
    state
        .plans
        .retain(|id, _| plans.iter().any(|e| &e.key == id));
    for entry in plans {
        apply_plan(state, entry);
    }
    tracing::info!(
        schedules = state.schedules.len(),
        rollouts = state.plans.len(),
        "scheduler loaded"
    );
    Ok(())
}

async fn entries(store: &kv::Store) -> anyhow::Result<Vec<kv::Entry>> {
    let keys: Vec<String> = match store.keys().await {
        Ok(keys) => futures::TryStreamExt::try_collect(keys)
            .await
            .context("listing keys")?,
        Err(err) => return Err(anyhow::anyhow!(err).context("listing keys")),
    };
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        if let Some(entry) = store.entry(&key).await.context("reading an entry")? {
            out.push(entry);
        }
    }
    Ok(out)
}

fn created(entry: &kv::Entry) -> DateTime<Utc> {
    DateTime::from_timestamp(entry.created.unix_timestamp(), entry.created.nanosecond())
        .unwrap_or_else(Utc::now)
}

fn apply_schedule(state: &mut Leading, entry: kv::Entry) {
    if entry.operation != kv::Operation::Put {
        if state.schedules.remove(&entry.key).is_some() {
            tracing::info!(schedule = %entry.key, "schedule deleted");
        }
        return;
    }
    if state
        .schedules
        .get(&entry.key)
        .is_some_and(|l| l.revision >= entry.revision)
    {
        return;
    }
    let schedule = match serde_json::from_slice::<Schedule>(&entry.value) {
        Ok(schedule) => schedule,
        Err(err) => {
            tracing::warn!(schedule = %entry.key, %err, "ignoring an undecodable schedule");
            state.schedules.remove(&entry.key);
            return;
        }
    };
    if schedule.runs_on == RunsOn::Agent {
        // The targeted agents fire it themselves.
        if state.schedules.remove(&entry.key).is_some() {
            tracing::info!(schedule = %entry.key, "schedule moved to the agents (runs_on: agent)");
        }
        return;
    }
    tracing::info!(schedule = %entry.key, when = %schedule.when.describe(), enabled = schedule.enabled, "schedule loaded");
    state.schedules.insert(
        entry.key.clone(),
        Loaded {
            schedule,
            revision: entry.revision,
            stored_at: created(&entry),
            last_tick: None,
            wake: Some(Utc::now()),
        },
    );
}

fn apply_plan(state: &mut Leading, entry: kv::Entry) {
    if entry.operation != kv::Operation::Put {
        state.plans.remove(&entry.key);
        return;
    }
    if state
        .plans
        .get(&entry.key)
        .is_some_and(|p| p.revision >= entry.revision)
    {
        return;
    }
    match serde_json::from_slice::<RolloutPlan>(&entry.value) {
        Ok(plan) => {
            state.plans.insert(
                entry.key.clone(),
                Plan {
                    plan,
                    revision: entry.revision,
                    due: Some(Utc::now()),
                },
            );
        }
        Err(err) => tracing::warn!(exec_id = %entry.key, %err, "ignoring an undecodable rollout"),
    }
}
