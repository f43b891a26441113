//! The scheduler's IO around `policy::decide_fire`: gather a schedule's history (online
//! machines, the job's successes, dispatch marks, unfinished executions), and carry out a
//! fire. Every fire first writes a dispatch mark in KV `scheduler_dispatch` with
//! compare-and-set — `tick.<schedule>.<unix time>` for a clock tick, `pc.<schedule>.<pc>` and
//! `target.<schedule>` for reconcile dispatches — so a restarted or second backend never fires
//! the same thing twice. Then it goes through `approval::fire_or_request` (which holds back jobs needing approval) as
//! `scheduler:<schedule id>`.

use std::collections::{BTreeMap, HashMap};

use anyhow::Context;
use async_nats::jetstream::kv;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use kanade_protocol::api::{ExecRequest, Target};
use kanade_protocol::manifest::Manifest;
use kanade_protocol::schedule::{Schedule, When};

use crate::auth::Caller;
use crate::exec::{self, Fanout};
use crate::scheduler::policy::{Fire, History};
use crate::{catalog, store};

/// Dispatch marks this backend wrote or read while leading: key → (time, revision).
pub type Marks = HashMap<String, (DateTime<Utc>, u64)>;

/// The actor a schedule's executions are recorded under.
pub fn actor(schedule_id: &str) -> String {
    format!("scheduler:{schedule_id}")
}

/// What happened so far, as `decide_fire` needs it. `None` when the job is not registered.
pub async fn history(
    fanout: &Fanout,
    marks_kv: &kv::Store,
    marks: &mut Marks,
    schedule: &Schedule,
    base: History,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<(History, Manifest)>> {
    let Some(job) = catalog::get(&fanout.js, &schedule.job_id).await? else {
        return Ok(None);
    };
    let mut h = base;
    h.job_timeout = chrono::Duration::from_std(job.manifest.execute.timeout.0)
        .unwrap_or(chrono::Duration::hours(1));
    match &schedule.when {
        When::Calendar(_) | When::Cron(_) => {
            if schedule
                .constraints
                .as_ref()
                .is_some_and(|c| c.max_concurrent.is_some())
            {
                let by = actor(&schedule.id);
                h.running = fanout
                    .store
                    .read(move |c| store::scheduler::unfinished(c, &by))
                    .await?;
            }
        }
        // Agent-side schedules never reach the backend's scheduler (`apply_schedule`).
        When::On(_) => {}
        When::PerPc(_) | When::PerTarget(_) => {
            h.machines = machines(fanout, schedule, now).await?;
            let job_id = schedule.job_id.clone();
            h.successes = fanout
                .store
                .write(move |c| Ok(store::scheduler::successes(c, &job_id)?))
                .await?;
            if matches!(schedule.when, When::PerPc(_)) {
                h.dispatched = BTreeMap::new();
                for pc in &h.machines {
                    let key = pc_key(&schedule.id, pc);
                    if let Some((at, _)) = mark(marks_kv, marks, &key).await? {
                        h.dispatched.insert(pc.clone(), at);
                    }
                }
            } else {
                let key = target_key(&schedule.id);
                h.target_dispatched = mark(marks_kv, marks, &key).await?.map(|(at, _)| at);
            }
        }
    }
    Ok(Some((h, job.manifest)))
}

/// Carries out `fire`. Returns false when a dispatch mark showed it had already happened.
pub async fn fire(
    fanout: &Fanout,
    marks_kv: &kv::Store,
    marks: &mut Marks,
    schedule: &Schedule,
    manifest: &Manifest,
    fire: &Fire,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let stamp = Bytes::from(now.to_rfc3339());
    let mut target = schedule.target.clone();
    let mut rollout = schedule.rollout.clone();
    let mut tick_key = None;
    match (&schedule.when, &fire.machines) {
        (When::PerPc(_), Some(pcs)) => {
            let mut claimed = Vec::new();
            for pc in pcs {
                if claim(marks_kv, marks, &pc_key(&schedule.id, pc), now).await? {
                    claimed.push(pc.clone());
                }
            }
            if claimed.is_empty() {
                return Ok(false);
            }
            target = Target {
                pcs: claimed,
                ..Target::default()
            };
            rollout = None;
        }
        (When::PerTarget(_), _) => {
            if !claim(marks_kv, marks, &target_key(&schedule.id), now).await? {
                return Ok(false);
            }
        }
        _ => {
            let key = format!("tick.{}.{}", schedule.id, fire.tick.timestamp());
            match marks_kv.create(&key, stamp.clone()).await {
                Ok(_) => tick_key = Some(key),
                Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                    return Ok(false);
                }
                Err(err) => return Err(anyhow::anyhow!(err).context("writing a dispatch mark")),
            }
        }
    }
    let deadline_at = schedule
        .starting_deadline
        .and_then(|d| chrono::Duration::from_std(d.0).ok())
        .map(|d| fire.tick + d);
    let req = ExecRequest {
        target,
        jitter: schedule.jitter,
        deadline_at,
        rollout,
        retry: schedule.on_failure.as_ref().map(|f| f.retry.clone()),
        // A schedule fires at whoever its target names when the tick comes.
        allow_unknown: true,
    };
    let actor = Caller::system(&actor(&schedule.id));
    match crate::approval::fire_or_request(fanout, manifest, &req, &actor, now).await {
        Ok(fired) => {
            tracing::info!(
                schedule = %schedule.id,
                job = %schedule.job_id,
                exec_id = %fired.exec_id,
                tick = %fire.tick,
                machines = fired.target_count,
                "schedule fired"
            );
            Ok(true)
        }
        Err(err) => {
            // Let the tick be tried again rather than lost.
            if let Some(key) = tick_key {
                let _ = marks_kv.purge(&key).await;
            }
            Err(anyhow::Error::new(err).context(format!("firing schedule {}", schedule.id)))
        }
    }
}

/// The schedule's machines that are online now: all of them, the members of its groups (or
/// its waves' groups) and its named machines.
async fn machines(
    fanout: &Fanout,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<String>> {
    let window = fanout.online_window;
    let online = fanout
        .store
        .read(move |c| store::scheduler::online_agents(c, now, window))
        .await?;
    if schedule.target.all {
        return Ok(online);
    }
    let groups = match &schedule.rollout {
        Some(rollout) => rollout.groups(),
        None => schedule.target.groups.clone(),
    };
    let members = exec::group_members(&fanout.js, &groups).await?;
    Ok(online
        .into_iter()
        .filter(|pc| members.contains(pc) || schedule.target.pcs.contains(pc))
        .collect())
}

fn pc_key(schedule_id: &str, pc: &str) -> String {
    format!("pc.{schedule_id}.{pc}")
}

fn target_key(schedule_id: &str) -> String {
    format!("target.{schedule_id}")
}

/// The dispatch mark at `key`, from the cache or the bucket.
async fn mark(
    marks_kv: &kv::Store,
    marks: &mut Marks,
    key: &str,
) -> anyhow::Result<Option<(DateTime<Utc>, u64)>> {
    if let Some(found) = marks.get(key) {
        return Ok(Some(*found));
    }
    let entry = marks_kv
        .entry(key)
        .await
        .context("reading a dispatch mark")?;
    let Some(entry) = entry.filter(|e| e.operation == kv::Operation::Put) else {
        return Ok(None);
    };
    let at = std::str::from_utf8(&entry.value)
        .ok()
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.to_utc())
        .unwrap_or_default();
    marks.insert(key.to_owned(), (at, entry.revision));
    Ok(Some((at, entry.revision)))
}

/// Moves the mark at `key` to `now` with compare-and-set. False when someone else moved it
/// first (the cache is refreshed then).
async fn claim(
    marks_kv: &kv::Store,
    marks: &mut Marks,
    key: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let stamp = Bytes::from(now.to_rfc3339());
    let written = match marks.get(key) {
        Some((_, revision)) => marks_kv.update(key, stamp, *revision).await.ok(),
        None => marks_kv.create(key, stamp).await.ok(),
    };
    match written {
        Some(revision) => {
            marks.insert(key.to_owned(), (now, revision));
            Ok(true)
        }
        None => {
            marks.remove(key);
            mark(marks_kv, marks, key).await?;
            Ok(false)
        }
    }
}
