//! Commands in, results out: subscribe to this machine's command subjects (group subjects
//! follow live membership changes), catch up (`replay`: the newest command per subject) at
//! start, after every reconnect, after a group change and every `catch_up_every` while
//! connected (a leaf node whose uplink was down keeps its agents connected: only this finds
//! what was sent meanwhile), check the signature (`verify`), run each `request_id` once, and
//! hand each admitted command to `execute` (gates, jitter, slot, run_as, workdir, the script,
//! the started event, emitted events and the result to the outbox, in that order). The fleet
//! freeze is not a gate: it holds only the backend's scheduled fires, never a command that
//! reached the machine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use async_nats::connection::State;
use async_nats::jetstream::{self, kv};
use chrono::Utc;
use futures::StreamExt;
use kanade_bus::kv_cache::KvCache;
use kanade_protocol::names::{self, exit_code};
use kanade_protocol::subject::is_valid_token;
use kanade_protocol::wire::{Command, CommandExtras};
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use crate::dedup::SeenRequests;
use crate::execute::{GATE_BUCKETS, JobEnv, execute, skip, stopping};
pub use crate::execute::{check_deadline, check_gates};
use crate::replay;
pub use crate::run_env::Env;
use crate::slots::Slots;
use crate::staleness::GateCache;
use crate::subscriptions::Subscriptions;
pub use crate::verify::Refusal;
use crate::verify::{self, Admission, Refused};

/// How often the loop looks for a reconnect (after which it catches up).
const TICK: Duration = Duration::from_millis(250);
/// A failing catch-up is retried with backoff up to this.
const MAX_CATCH_UP_BACKOFF: Duration = Duration::from_secs(10);
/// How long running jobs get to record their results once the agent stops.
const JOBS_GRACE: Duration = Duration::from_secs(5);

/// Receives and dispatches commands until the agent stops, then waits (bounded) for running
/// jobs to record their results.
pub async fn run(env: Env, seen: SeenRequests, mut local: mpsc::Receiver<Command>) {
    let js = jetstream::new(env.client.clone());
    let mut stop = env.stop.clone();
    let slots = Slots::new(env.live.config.borrow().max_local_concurrent as usize);
    let gates: Arc<GateCache> = Arc::default();
    // Until the broker was reached once, the local scheduler's fires still run: the pin and
    // revocation cannot be read then, so the job's staleness policy decides.
    let mut early = JoinSet::new();
    let offline = JobEnv {
        env: env.clone(),
        script_current: None,
        script_status: None,
        gate_cache: None,
        slots: slots.clone(),
        gates: gates.clone(),
    };
    let mut seen = seen;
    let setup = {
        let setting_up = setup_with_retry(&env, &js);
        let mut setting_up = std::pin::pin!(setting_up);
        loop {
            tokio::select! {
                setup = &mut setting_up => break setup,
                Some(cmd) = local.recv() => {
                    if seen.first_sighting(&cmd.request_id, Utc::now()) {
                        early.spawn(execute(offline.clone(), cmd, false));
                    }
                }
                _ = stopping(&mut stop) => {
                    wait_for_jobs(&mut early).await;
                    return;
                }
            }
        }
    };
    tracing::info!(subjects = ?setup.subs.subjects(), "listening for commands");
    env.ready.send_replace(true);
    let mut subs = setup.subs;
    let mut config = env.live.config.clone();
    let mut groups = env.live.groups.clone();
    let size = config.borrow_and_update().max_local_concurrent as usize;
    if size != slots.size() {
        slots.resize(size);
    }
    let (recheck_tx, mut rechecks) = mpsc::channel(256);
    let mut intake = Intake {
        job_env: JobEnv {
            env: env.clone(),
            script_current: Some(setup.script_current),
            script_status: Some(setup.script_status),
            gate_cache: Some(setup.gate_cache),
            slots: slots.clone(),
            gates,
        },
        seen,
        refused: Refused::default(),
        recheck: recheck_tx,
        jobs: early,
    };
    let mut marks = replay::Marks::load(env.data_dir.join("catch_up.json"));
    let mut catch_up_due = true;
    let mut catch_up_backoff = Duration::ZERO;
    let mut catch_up_at = tokio::time::Instant::now();
    let mut seen_connects = 0;
    // The first periodic look comes at a phase of its own per machine, so a fleet started
    // at once does not look all at the same moment.
    let mut periodic_at = (!env.catch_up_every.is_zero()).then(|| {
        tokio::time::Instant::now() + env.catch_up_every + phase(&env.pc_id, env.catch_up_every)
    });
    let mut ticks = tokio::time::interval(TICK);
    loop {
        if let Some(at) = periodic_at
            && !catch_up_due
            && tokio::time::Instant::now() >= at
        {
            catch_up_due = true;
            catch_up_at = at;
        }
        let connects = env.client.statistics().connects.load(Ordering::Relaxed);
        if connects != seen_connects {
            seen_connects = connects;
            catch_up_due = true;
            catch_up_at = tokio::time::Instant::now();
        }
        if catch_up_due
            && tokio::time::Instant::now() >= catch_up_at
            && env.client.connection_state() == State::Connected
        {
            let subjects = subs.subjects();
            let caught_up = tokio::select! {
                res = catch_up(&js, &subjects, &subs.joined, &mut marks, &mut intake) => res,
                _ = stopping(&mut stop) => break,
            };
            match caught_up {
                Ok(n) => {
                    // Past the commands from before the joins for good (they are acked).
                    subs.joined.clear();
                    catch_up_due = false;
                    catch_up_backoff = Duration::ZERO;
                    if !env.catch_up_every.is_zero() {
                        periodic_at = Some(tokio::time::Instant::now() + env.catch_up_every);
                    }
                    // Counts commands handled live before too (run once: `seen`).
                    tracing::debug!(messages = n, "caught up on missed commands");
                }
                Err(err) => {
                    let error = format!("{err:#}");
                    if catch_up_backoff.is_zero() {
                        tracing::warn!(error, "catch-up failed; retrying");
                    } else {
                        tracing::debug!(error, "catch-up failed again");
                    }
                    catch_up_backoff = (catch_up_backoff * 2).clamp(TICK, MAX_CATCH_UP_BACKOFF);
                    catch_up_at = tokio::time::Instant::now() + catch_up_backoff;
                }
            }
        }
        let mut membership_changed = false;
        tokio::select! {
            Some(message) = subs.streams.next() => {
                intake.accept(&message.subject, &message.payload, "live", false);
            }
            Some(again) = rechecks.recv() => {
                let Recheck { subject, payload, via } = again;
                intake.accept(&subject, &payload, via, true);
            }
            Some(cmd) = local.recv() => intake.local(cmd),
            Some(done) = intake.jobs.join_next() => log_job_end(done),
            Ok(()) = groups.changed() => {
                let wanted = groups.borrow_and_update().clone().unwrap_or_default();
                membership_changed = subs.follow_groups(&env.client, &js, &wanted).await;
            }
            Ok(()) = config.changed() => {
                let size = config.borrow_and_update().max_local_concurrent as usize;
                if size != slots.size() {
                    slots.resize(size);
                }
            }
            _ = ticks.tick() => {
                intake.job_env.gates.observe(env.client.connection_state());
                // Retries a subscription that failed at the last change.
                let wanted = groups.borrow().clone().unwrap_or_default();
                membership_changed = subs.follow_groups(&env.client, &js, &wanted).await;
            }
            _ = stopping(&mut stop) => break,
        }
        if membership_changed {
            // The catch-up must cover the new subjects too.
            catch_up_due = true;
            catch_up_at = tokio::time::Instant::now();
        }
    }
    drop(subs);
    wait_for_jobs(&mut intake.jobs).await;
}

/// A machine's own offset in `[0, every)`, the same on every start (FNV-1a of its id).
fn phase(pc_id: &str, every: Duration) -> Duration {
    let hash = pc_id.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    let millis = every.as_millis().max(1) as u64;
    Duration::from_millis(hash % millis)
}

/// Waits (bounded) for running jobs to record their results.
async fn wait_for_jobs(jobs: &mut JoinSet<()>) {
    let waited = tokio::time::timeout(JOBS_GRACE, async {
        while let Some(done) = jobs.join_next().await {
            log_job_end(done);
        }
    })
    .await;
    if waited.is_err() {
        tracing::warn!(
            jobs = jobs.len(),
            "jobs did not finish in time; abandoning them"
        );
    }
}

fn log_job_end(done: Result<(), tokio::task::JoinError>) {
    if let Err(err) = done
        && err.is_panic()
    {
        tracing::error!(error = %err, "a job task panicked");
    }
}

struct Setup {
    subs: Subscriptions,
    script_current: kv::Store,
    script_status: kv::Store,
    gate_cache: KvCache,
}

async fn setup_with_retry(env: &Env, js: &jetstream::Context) -> Setup {
    // Group subjects are part of the set-up: wait until membership is known.
    let mut groups = env.live.groups.clone();
    let _ = groups.wait_for(Option::is_some).await;
    let mut delay = Duration::from_millis(250);
    let mut attempts = 0u32;
    loop {
        if env.client.connection_state() == State::Connected {
            match setup(env, js).await {
                Ok(setup) => return setup,
                Err(err) => {
                    attempts += 1;
                    let error = format!("{err:#}");
                    if attempts == 1 || attempts.is_power_of_two() {
                        tracing::warn!(error, attempts, "cannot set up command intake; retrying");
                    }
                }
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

async fn setup(env: &Env, js: &jetstream::Context) -> anyhow::Result<Setup> {
    let script_current = js
        .get_key_value(names::KV_SCRIPT_CURRENT)
        .await
        .context("opening KV script_current")?;
    let script_status = js
        .get_key_value(names::KV_SCRIPT_STATUS)
        .await
        .context("opening KV script_status")?;
    let groups = env.live.groups.borrow().clone().unwrap_or_default();
    let subs = Subscriptions::open(&env.client, &env.pc_id, &groups).await?;
    let gate_cache = KvCache::start(&env.client, &GATE_BUCKETS)
        .await
        .context("subscribing to the pins and revocations")?;
    Ok(Setup {
        subs,
        script_current,
        script_status,
        gate_cache,
    })
}

async fn catch_up(
    js: &jetstream::Context,
    subjects: &[String],
    joined: &BTreeMap<String, u64>,
    marks: &mut replay::Marks,
    intake: &mut Intake,
) -> anyhow::Result<usize> {
    replay::catch_up(js, subjects, joined, marks, |subject, _, payload| {
        intake.accept(subject, payload, "replay", false)
    })
    .await
}

/// A command to decide on again once its signing key was read from KV.
struct Recheck {
    subject: String,
    payload: Vec<u8>,
    via: &'static str,
}

/// Decodes, verifies, deduplicates and dispatches commands.
struct Intake {
    job_env: JobEnv,
    seen: SeenRequests,
    refused: Refused,
    recheck: mpsc::Sender<Recheck>,
    jobs: JoinSet<()>,
}

impl Intake {
    /// A fire of the local scheduler: from this agent's own cached KV, so not verified.
    fn local(&mut self, cmd: Command) {
        if !self.seen.first_sighting(&cmd.request_id, Utc::now()) {
            return;
        }
        self.jobs.spawn(execute(self.job_env.clone(), cmd, false));
    }

    fn accept(&mut self, subject: &str, payload: &[u8], via: &'static str, rechecked: bool) {
        let cmd: Command = match serde_json::from_slice(payload) {
            Ok(cmd) => cmd,
            Err(err) => {
                tracing::warn!(via, error = %err, "ignoring a command that does not decode");
                return;
            }
        };
        if !is_valid_token(&cmd.request_id) || !is_valid_token(&cmd.exec_id) {
            tracing::warn!(
                via,
                request_id = cmd.request_id,
                exec_id = cmd.exec_id,
                "ignoring a command whose request or exec id cannot be a subject token"
            );
            return;
        }
        let env = &self.job_env.env;
        let mode = env.live.config.borrow().command_signatures;
        match verify::admit(&cmd, subject, &env.keyring, mode, rechecked, Utc::now()) {
            Admission::Run => {}
            Admission::Recheck(key_id) => {
                let (keyring, recheck) = (env.keyring.clone(), self.recheck.clone());
                let again = Recheck {
                    subject: subject.to_owned(),
                    payload: payload.to_vec(),
                    via,
                };
                self.jobs.spawn(async move {
                    keyring.fetch(&key_id).await;
                    let _ = recheck.send(again).await;
                });
                return;
            }
            Admission::Refuse(refusal) => {
                // Not recorded as seen: a forged command must not push real ones out of the set.
                if self.refused.first(&cmd.request_id) {
                    let env = env.clone();
                    let result_id = kanade_protocol::wire::new_result_id();
                    self.jobs
                        .spawn(async move { skip(&env, &cmd, result_id, refusal).await });
                }
                return;
            }
        }
        if !self.seen.first_sighting(&cmd.request_id, Utc::now()) {
            tracing::debug!(
                via,
                request_id = cmd.request_id,
                "replayed: already handled this request; not running it again"
            );
            return;
        }
        tracing::info!(
            via,
            request_id = cmd.request_id,
            exec_id = cmd.exec_id,
            job = cmd.id,
            "accepted a command"
        );
        // The original's fields `Command` does not carry: refuse what is not acted on.
        let extras: CommandExtras = serde_json::from_slice(payload).unwrap_or_default();
        if let Some(reason) = extras.unsupported() {
            let env = env.clone();
            let result_id = kanade_protocol::wire::new_result_id();
            let refusal = Refusal {
                exit_code: exit_code::NOT_BUILT,
                reason,
            };
            self.jobs
                .spawn(async move { skip(&env, &cmd, result_id, refusal).await });
            return;
        }
        let bypass = extras.bypass_local_limit;
        self.jobs.spawn(execute(self.job_env.clone(), cmd, bypass));
    }
}
