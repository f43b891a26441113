//! The agent-side scheduler (`runs_on: agent`, reference §7.5): the agent reads the schedules
//! that run on agents from KV `schedules` (with their jobs and the fleet freeze; kept on disk
//! in `cache`, so it keeps working while the broker is unreachable) and fires those that target
//! it (all, one of its groups, or its pc id) on its own clock. Clock (`calendar`, `cron`) and
//! `per_pc` schedules are decided by the same pure `decide_fire` as the backend's scheduler,
//! over this machine's memory of its fires and successes (`local_completions.json`; only a run
//! that exited 0 and was not skipped counts as done). `when.on` events: `startup` once per boot
//! of the machine (the kernel's boot id; an agent restart in the same boot does not fire
//! again; `starting_deadline` limits it to agents started within that long of the boot), and
//! `logon` when a new active local user session appears in logind's session files, `lock` /
//! `unlock` when logind says the active session's screen locked or unlocked (`screen_lock`,
//! over D-Bus). The fleet
//! freeze (cached; undecodable = frozen), the active period, window and skip dates hold fires.
//!
//! A fire is a `Command` built from the cached job, handed to command intake (`commands`),
//! which runs it through the same gates (version pin, revoke, staleness, deadline), slots and
//! outbox as any command, so the result reaches the backend once the broker is back. Local
//! fires are not signed: they come from this agent's own copy of KV, not from the wire.

pub mod cache;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kanade_protocol::manifest::Manifest;
use kanade_protocol::names;
use kanade_protocol::schedule::policy::{self, History};
use kanade_protocol::schedule::{OsEvent, Schedule, When};
use kanade_protocol::wire::{Command, FREEZE_KEY, RetrySpec};
use tokio::sync::{mpsc, watch};

use cache::{Cache, Memo, Memory};

/// How often the clock and the session files are looked at.
const TICK: Duration = Duration::from_secs(1);
/// A full read of the schedules even without a KV change, while connected.
const RESYNC: Duration = Duration::from_secs(300);

/// A run of this agent that finished: how command intake tells the scheduler.
#[derive(Debug, Clone)]
pub struct Finished {
    pub request_id: String,
    pub exit_code: i32,
    pub skipped: bool,
    pub at: DateTime<Utc>,
}

/// What the local scheduler needs from the agent.
pub struct Env {
    pub pc_id: String,
    pub client: async_nats::Client,
    pub data_dir: PathBuf,
    pub sessions_dir: PathBuf,
    /// Where logind tells screen locks (`screen_lock`).
    pub logind_bus: String,
    pub groups: watch::Receiver<Option<BTreeSet<String>>>,
    /// Where fires go (command intake).
    pub fires: mpsc::Sender<Command>,
    /// Every result command intake records.
    pub finished: mpsc::UnboundedReceiver<Finished>,
}

/// Runs until the agent stops.
pub async fn run(mut env: Env) {
    let (cache_tx, mut cache_rx) =
        watch::channel(cache::load::<Cache>(&cache::cache_path(&env.data_dir)));
    let _sync = AbortOnDrop(tokio::spawn(sync(
        env.client.clone(),
        env.data_dir.clone(),
        env.groups.clone(),
        cache_tx,
    )));
    let (screen_tx, mut screen_rx) = mpsc::unbounded_channel();
    let _screen = AbortOnDrop(tokio::spawn(crate::screen_lock::watch(
        env.logind_bus.clone(),
        screen_tx,
    )));
    let memory_path = cache::memory_path(&env.data_dir);
    let mut memory: Memory = cache::load(&memory_path);
    let boot = boot_id();
    let uptime_at_start = chrono::Duration::seconds(
        sysinfo::System::uptime()
            .ok()
            .and_then(|u| i64::try_from(u).ok())
            .unwrap_or(i64::MAX / 2),
    );
    let mut sessions: BTreeSet<String> = crate::run_as::active_sessions(&env.sessions_dir)
        .into_iter()
        .map(|s| s.id)
        .collect();
    // request id -> schedule id, for the runs still out.
    let mut pending: BTreeMap<String, String> = BTreeMap::new();
    let mut ticks = tokio::time::interval(TICK);
    loop {
        // A lock or unlock is decided on its own, at once.
        let mut screen = None;
        tokio::select! {
            _ = ticks.tick() => {}
            Some(event) = screen_rx.recv() => screen = Some(event),
            Some(done) = env.finished.recv() => {
                if let Some(schedule) = pending.remove(&done.request_id)
                    && done.exit_code == 0
                    && !done.skipped
                {
                    memory.entry(schedule).or_default().last_success = Some(done.at);
                    persist(&memory_path, &memory);
                }
                continue;
            }
            Ok(()) = cache_rx.changed() => {}
        }
        let now = Utc::now();
        let cache = cache_rx.borrow_and_update().clone();
        let groups = env.groups.borrow().clone().unwrap_or(cache.groups.clone());
        let current: BTreeSet<String> = crate::run_as::active_sessions(&env.sessions_dir)
            .into_iter()
            .map(|s| s.id)
            .collect();
        let logons = current.difference(&sessions).count();
        sessions = current;
        let frozen = cache.frozen(now);
        let mut changed = false;
        for schedule in cache
            .schedules
            .iter()
            .filter(|s| s.enabled && targets(s, &env.pc_id, &groups))
        {
            let memo = memory.entry(schedule.id.clone()).or_insert_with(|| Memo {
                first_seen: Some(now),
                ..Memo::default()
            });
            let Some(manifest) = cache.jobs.get(&schedule.job_id) else {
                continue;
            };
            let due = decide(
                schedule,
                manifest,
                memo,
                &env.pc_id,
                now,
                &Triggers {
                    boot: &boot,
                    uptime_at_start,
                    logons,
                    screen,
                },
            );
            if due.remember != *memo {
                *memo = due.remember;
                changed = true;
            }
            let Some(tick) = due.fire else {
                continue;
            };
            if frozen {
                tracing::info!(schedule = schedule.id, "fleet freeze is on: not firing");
                continue;
            }
            let Some(cmd) = command(schedule, manifest, tick, due.event, now) else {
                tracing::warn!(
                    schedule = schedule.id,
                    job = schedule.job_id,
                    "the job has no inline script; not firing"
                );
                continue;
            };
            tracing::info!(
                schedule = schedule.id,
                job = cmd.id,
                request_id = cmd.request_id,
                "local schedule fires"
            );
            memo.last_fired = Some(now);
            changed = true;
            pending.insert(cmd.request_id.clone(), schedule.id.clone());
            if env.fires.send(cmd).await.is_err() {
                // Command intake is gone: the agent is stopping.
                return;
            }
        }
        let known: BTreeSet<&String> = cache.schedules.iter().map(|s| &s.id).collect();
        let before = memory.len();
        memory.retain(|id, _| known.contains(id));
        if changed || memory.len() != before {
            persist(&memory_path, &memory);
        }
    }
}

/// Ends the KV reader with the scheduler (the agent drops its loops at shutdown).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn persist(path: &std::path::Path, memory: &Memory) {
    if let Err(err) = cache::save(path, memory) {
        tracing::warn!(
            error = format!("{err:#}"),
            "cannot keep the local schedules' memory"
        );
    }
}

/// Whether `schedule` is meant for this machine.
pub fn targets(schedule: &Schedule, pc_id: &str, groups: &BTreeSet<String>) -> bool {
    let t = &schedule.target;
    t.all || t.pcs.iter().any(|p| p == pc_id) || t.groups.iter().any(|g| groups.contains(g))
}

/// What happened on the machine since the last look.
pub struct Triggers<'a> {
    pub boot: &'a str,
    pub uptime_at_start: chrono::Duration,
    /// New active user sessions.
    pub logons: usize,
    /// A lock or unlock of the active session (`screen_lock`).
    pub screen: Option<OsEvent>,
}

/// One schedule's decision: the memory to keep and the fire, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Due {
    pub remember: Memo,
    pub fire: Option<DateTime<Utc>>,
    /// The event that fired it (`when.on`), else a clock or per_pc fire.
    pub event: Option<OsEvent>,
}

/// The pure decision for one schedule on this machine at `now`.
pub fn decide(
    schedule: &Schedule,
    manifest: &Manifest,
    memo: &Memo,
    pc_id: &str,
    now: DateTime<Utc>,
    triggers: &Triggers<'_>,
) -> Due {
    let mut remember = memo.clone();
    let due = |remember: Memo, fire: Option<DateTime<Utc>>, event| Due {
        remember,
        fire,
        event,
    };
    match &schedule.when {
        When::On(events) => {
            if events.contains(&OsEvent::Startup)
                && memo.startup_boot.as_deref() != Some(triggers.boot)
            {
                remember.startup_boot = Some(triggers.boot.to_owned());
                let late = schedule.starting_deadline.is_some_and(|d| {
                    triggers.uptime_at_start > chrono::Duration::from_std(d.0).unwrap_or_default()
                });
                if !late && policy::gate(schedule, now).is_none() {
                    return due(remember, Some(now), Some(OsEvent::Startup));
                }
            }
            if events.contains(&OsEvent::Logon)
                && triggers.logons > 0
                && policy::gate(schedule, now).is_none()
            {
                return due(remember, Some(now), Some(OsEvent::Logon));
            }
            if let Some(event) = triggers.screen
                && events.contains(&event)
                && policy::gate(schedule, now).is_none()
            {
                return due(remember, Some(now), Some(event));
            }
            due(remember, None, None)
        }
        _ => {
            let mut history = History::new(memo.first_seen.unwrap_or(now));
            history.last_tick = memo.last_tick;
            history.machines = vec![pc_id.to_owned()];
            if let Some(at) = memo.last_success {
                history.successes.insert(pc_id.to_owned(), at);
            }
            if let Some(at) = memo.last_fired {
                history.dispatched.insert(pc_id.to_owned(), at);
            }
            history.job_timeout = chrono::Duration::from_std(manifest.execute.timeout.0)
                .unwrap_or(chrono::Duration::hours(1));
            let decision = policy::decide_fire(schedule, &history, now);
            if decision.handled.is_some() {
                remember.last_tick = decision.handled;
            }
            match decision.fire {
                Some(fire) => due(remember, Some(fire.tick), None),
                None => due(remember, None, None),
            }
        }
    }
}

/// The command a fire runs; `None` when the job has no inline script.
pub fn command(
    schedule: &Schedule,
    manifest: &Manifest,
    tick: DateTime<Utc>,
    event: Option<OsEvent>,
    now: DateTime<Utc>,
) -> Option<Command> {
    let script = manifest.script()?.to_owned();
    // Clock fires of one tick share an execution id across the fleet; event fires are their own.
    let exec_id = match event {
        None => uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            format!("kanade/local-schedule:{}:{}", schedule.id, tick.timestamp()).as_bytes(),
        ),
        Some(_) => uuid::Uuid::new_v4(),
    };
    let deadline_at = schedule
        .starting_deadline
        .and_then(|d| chrono::Duration::from_std(d.0).ok())
        .map(|d| tick + d);
    Some(Command {
        id: manifest.id.clone(),
        version: manifest.version.clone(),
        request_id: uuid::Uuid::new_v4().to_string(),
        exec_id: exec_id.to_string(),
        shell: manifest.execute.shell,
        script,
        timeout_secs: manifest.execute.timeout.as_secs(),
        jitter_secs: schedule.jitter.map(|j| j.as_secs()),
        retry: schedule.on_failure.as_ref().map(|f| RetrySpec {
            max: f.retry.max,
            backoff_secs: f.retry.backoff.as_secs(),
        }),
        deadline_at,
        cwd: manifest.execute.cwd.clone(),
        run_as: manifest.execute.run_as,
        staleness: manifest.staleness,
        emit: manifest.emit.clone(),
        emergency: false,
        issued_at: now,
        issued_by: Some(format!("scheduler:{}", schedule.id)),
        collect: manifest.collect.clone(),
        finalize: manifest.finalize.clone(),
        signature: None,
    })
}

/// The kernel's id of this boot; the boot time where there is none.
fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|id| id.trim().to_owned())
        .unwrap_or_else(|_| format!("boot-{}", sysinfo::System::boot_time().unwrap_or_default()))
}

/// Keeps the cache in step with KV while connected: a full read at (re)connect, on every
/// change to `schedules`, `jobs` or the freeze (KV watches), and every `RESYNC`.
async fn sync(
    client: async_nats::Client,
    data_dir: PathBuf,
    groups: watch::Receiver<Option<BTreeSet<String>>>,
    cache: watch::Sender<Cache>,
) {
    let js = jetstream::new(client.clone());
    let path = cache::cache_path(&data_dir);
    let mut failures = 0u32;
    loop {
        if client.connection_state() != State::Connected {
            tokio::time::sleep(TICK).await;
            continue;
        }
        let watches = async {
            let schedules = js
                .get_key_value(names::KV_SCHEDULES)
                .await?
                .watch_all()
                .await?;
            let jobs = js.get_key_value(names::KV_JOBS).await?.watch_all().await?;
            let freeze = js
                .get_key_value(names::KV_FLEET_CONFIG)
                .await?
                .watch(FREEZE_KEY)
                .await?;
            anyhow::Ok(futures::stream::select_all([
                schedules.map(|_| ()).boxed(),
                jobs.map(|_| ()).boxed(),
                freeze.map(|_| ()).boxed(),
            ]))
        };
        let mut changes = match watches.await {
            Ok(changes) => changes,
            Err(err) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "cannot watch the agent-side schedules; using the cached ones"
                    );
                }
                tokio::time::sleep(TICK * failures.min(10)).await;
                continue;
            }
        };
        loop {
            let mine = groups
                .borrow()
                .clone()
                .unwrap_or_else(|| cache.borrow().groups.clone());
            match cache::read(&js, mine).await {
                Ok(fresh) => {
                    failures = 0;
                    let same = {
                        let old = cache.borrow();
                        old.schedules == fresh.schedules
                            && old.jobs == fresh.jobs
                            && old.freeze == fresh.freeze
                            && old.groups == fresh.groups
                    };
                    if !same {
                        if let Err(err) = cache::save(&path, &fresh) {
                            tracing::warn!(
                                error = format!("{err:#}"),
                                "cannot keep the agent-side schedules on disk"
                            );
                        }
                        tracing::info!(
                            schedules = fresh.schedules.len(),
                            "agent-side schedules read"
                        );
                        cache.send_replace(fresh);
                    }
                }
                Err(err) => {
                    tracing::debug!(
                        error = format!("{err:#}"),
                        "reading the agent-side schedules failed"
                    );
                    break;
                }
            }
            // Several changes in a row are read once.
            let next = tokio::time::timeout(RESYNC, changes.next()).await;
            match next {
                Ok(Some(())) => {
                    while let Ok(Some(())) =
                        tokio::time::timeout(Duration::from_millis(100), changes.next()).await
                    {
                    }
                }
                Ok(None) => break,
                Err(_) => {}
            }
        }
        tokio::time::sleep(TICK).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> Manifest {
        Manifest::parse("id: j\nversion: '1'\nexecute: {shell: sh, timeout: 30s, script: 'true'}\n")
            .unwrap()
    }

    fn schedule(rest: &str) -> Schedule {
        Schedule::parse(&format!(
            "id: s\njob_id: j\nruns_on: agent\ntarget: {{all: true}}\n{rest}"
        ))
        .unwrap()
    }

    fn triggers(boot: &str, logons: usize) -> Triggers<'_> {
        Triggers {
            boot,
            uptime_at_start: chrono::Duration::minutes(1),
            logons,
            screen: None,
        }
    }

    #[test]
    fn startup_fires_once_per_boot_and_logon_on_new_sessions() {
        let now = Utc::now();
        let s = schedule("when: {on: [startup, logon]}\n");
        let first = decide(&s, &job(), &Memo::default(), "pc", now, &triggers("b1", 0));
        assert_eq!(first.fire, Some(now));
        assert_eq!(first.event, Some(OsEvent::Startup));
        let again = decide(&s, &job(), &first.remember, "pc", now, &triggers("b1", 0));
        assert_eq!(again.fire, None, "same boot: no second startup");
        let logon = decide(&s, &job(), &first.remember, "pc", now, &triggers("b1", 1));
        assert_eq!(logon.event, Some(OsEvent::Logon));
        let reboot = decide(&s, &job(), &first.remember, "pc", now, &triggers("b2", 0));
        assert_eq!(reboot.event, Some(OsEvent::Startup));
        // starting_deadline: an agent that started long after the boot does not fire it.
        let late = schedule("when: {on: [startup]}\nstarting_deadline: 30s\n");
        let d = decide(
            &late,
            &job(),
            &Memo::default(),
            "pc",
            now,
            &triggers("b1", 0),
        );
        assert_eq!(d.fire, None);
        assert_eq!(d.remember.startup_boot.as_deref(), Some("b1"));
    }

    #[test]
    fn per_pc_once_stops_after_a_success_and_targets_follow_groups() {
        let now = Utc::now();
        let s = schedule("when: {per_pc: once}\n");
        let memo = Memo {
            first_seen: Some(now - chrono::Duration::minutes(1)),
            ..Memo::default()
        };
        let d = decide(&s, &job(), &memo, "pc", now, &triggers("b", 0));
        assert!(d.fire.is_some());
        let done = Memo {
            last_success: Some(now),
            last_fired: Some(now),
            ..memo
        };
        assert_eq!(
            decide(&s, &job(), &done, "pc", now, &triggers("b", 0)).fire,
            None
        );

        let mut g = schedule("when: {per_pc: once}\n");
        g.target = kanade_protocol::api::Target {
            groups: vec!["lab".into()],
            ..Default::default()
        };
        assert!(!targets(&g, "pc", &BTreeSet::new()));
        assert!(targets(&g, "pc", &BTreeSet::from(["lab".to_owned()])));
    }
}
