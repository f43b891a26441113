//! The kanade agent: the daemon on every managed machine. It runs the jobs the broker sends,
//! reports their results and timeline events through a durable on-disk outbox, and publishes
//! heartbeats and performance telemetry, all following configuration that changes live.
//!
//! `run` records an `agent_started` timeline event, connects (retrying forever, so the agent
//! starts while the broker is down), then supervises independent loops: the live config
//! (`config_supervisor`: KV `agent_config` and `agent_groups` → a `watch` channel every other
//! loop follows), command intake (`commands`, with live subscriptions in `subscriptions`,
//! catch-up in `replay`, dedup in `dedup`, the concurrency limit in `slots` and `emit` jobs'
//! events in `emit`), script execution
//! (`process`), the outbox drainer (`outbox`), the heartbeat and ping responder
//! (`heartbeat`), host and process perf (`perf`, reading the OS through `sys`), notifications
//! for the people at the machine (`notifications`, shown through `desktop`, listed and
//! confirmed over the local socket in `local`) and, when running from an installed executable,
//! self-update and the boot sentinel's health confirmation (`self_update`). Every loop
//! lives in a `JoinSet` owned by `serve`, so dropping the `serve` future stops them all (and
//! kills running scripts' process trees). The first heartbeat waits until the command
//! subscriptions (groups included) are in place, so a machine seen online is a machine that
//! takes commands.
//!
//! `serve` returns `Stopped::Restart` after a self-update swapped the executable; `main`
//! then executes the new file. `run` is `serve` without an installed executable (tests, and
//! embedding): no self-update, no sentinel.
//!
//! Architecture invariant: the agent never depends on the backend; it talks to it only
//! through the broker, with the types in `kanade-protocol`.

pub mod agent_logs;
pub mod collect;
pub mod commands;
pub mod config;
pub mod config_supervisor;
pub mod dedup;
pub mod desktop;
pub mod emit;
pub mod execute;
pub mod finalize;
pub mod heartbeat;
pub mod host_facts;
pub mod identity;
pub mod key_watch;
pub mod keyring;
pub mod live;
pub mod local;
pub mod local_scheduler;
pub mod logging;
pub mod logon;
pub mod notifications;
pub mod outbox;
pub mod perf;
pub mod private;
pub mod process;
pub mod read_marks;
pub mod replay;
pub mod run_as;
pub mod run_env;
pub mod screen_lock;
pub mod self_update;
pub mod slots;
pub mod staleness;
pub mod subscriptions;
pub mod sys;
pub mod terminal;
pub mod verify;
pub mod workdir;

pub use config::AgentConfig;

use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use kanade_bus::Role;
use kanade_protocol::wire::ObsEvent;
use tokio::sync::watch;
use tokio::task::JoinSet;

/// How long the outbox may keep publishing once the agent was asked to stop.
const FLUSH_GRACE: Duration = Duration::from_secs(2);
/// Running jobs are killed at shutdown; this bounds the wait for their results.
const JOBS_GRACE: Duration = Duration::from_secs(6);

/// How `serve` ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stopped {
    /// `shutdown` resolved.
    Shutdown,
    /// The executable was replaced by a self-update; start the new one.
    Restart(self_update::Restart),
}

/// Runs the agent until `shutdown` resolves, without self-update. Never panics on bad wire
/// input.
pub async fn run(
    config: AgentConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    serve(config, None, shutdown).await.map(|_| ())
}

/// Runs the agent until `shutdown` resolves or a self-update asks for a restart. With
/// `installed`, the agent reports that executable's version and quarantined versions, updates
/// it and confirms its boot to the sentinel.
pub async fn serve(
    config: AgentConfig,
    installed: Option<self_update::Installed>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<Stopped> {
    let pc_id = config.pc_id()?;
    let version = match &installed {
        Some(installed) => installed.version.clone(),
        None => kanade_protocol::VERSION.to_owned(),
    };
    let heartbeat_interval = config.agent.heartbeat_interval.0;
    if heartbeat_interval.is_zero() {
        bail!("[agent] heartbeat_interval must be greater than zero");
    }
    let data_dir = config.data_dir()?;
    identity::refuse_exposed_seed(&data_dir)?;
    private::prepare(&data_dir)
        .with_context(|| format!("creating data dir {}", data_dir.display()))?;
    let machine_key = identity::load_or_create(&data_dir)?;
    let outbox = outbox::Outbox::open(&data_dir).context("opening the outbox")?;
    let seen = dedup::SeenRequests::load(data_dir.join("seen_requests.json"));
    tracing::info!(pc_id, nats_url = config.agent.nats_url, data_dir = %data_dir.display(),
        version, "kanade agent starting");
    outbox
        .push(&outbox::Entry::Events(vec![started_event(
            &pc_id, &version,
        )]))
        .await
        .context("recording the agent_started event")?;

    let client = kanade_bus::connect_with(
        Role::Agent {
            pc_id: pc_id.clone(),
        },
        &config.agent.nats_url,
        &kanade_bus::Access {
            ca_file: config.agent.nats_ca.clone(),
            nkey_seed: Some(
                machine_key
                    .seed()
                    .map_err(|err| anyhow::anyhow!("encoding the machine key: {err}"))?,
            ),
            token: config.enrollment_token(),
        },
    )
    .await?;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, ready_rx) = watch::channel(false);
    let sentinel = installed.as_ref().map(|i| i.sentinel.clone());
    let (publish, live) = config_supervisor::channels(heartbeat_interval);
    let keyring = keyring::Keyring::default();
    let probe = Arc::new(Mutex::new(heartbeat::Probe::new(
        &pc_id,
        &version,
        sentinel,
        heartbeat::Signing {
            keyring: keyring.clone(),
            config: live.config.clone(),
        },
        &config.agent.sessions_dir,
    )));
    let inbox = Arc::new(notifications::Inbox::load(&data_dir));
    let socket = local::socket_path(&data_dir);

    let mut subsystems = JoinSet::new();
    subsystems.spawn(outbox::drain(outbox.clone(), client.clone()));
    subsystems.spawn(keyring::follow(client.clone(), keyring.clone()));
    subsystems.spawn(config_supervisor::run(
        client.clone(),
        pc_id.clone(),
        heartbeat_interval,
        publish,
    ));
    subsystems.spawn(heartbeat::run(
        client.clone(),
        probe.clone(),
        pc_id.clone(),
        live.config.clone(),
        ready_rx.clone(),
    ));
    subsystems.spawn(perf::host(
        client.clone(),
        pc_id.clone(),
        live.config.clone(),
    ));
    subsystems.spawn(perf::investigate(
        client.clone(),
        pc_id.clone(),
        live.config.clone(),
    ));
    subsystems.spawn(heartbeat::answer_pings(
        client.clone(),
        probe,
        pc_id.clone(),
    ));
    let log_folder = match (&config.log.path, config.log.keep_days) {
        (Some(path), days) if days > 0 => logging::log_folder(path, &data_dir).ok(),
        _ => None,
    };
    subsystems.spawn(agent_logs::serve(client.clone(), pc_id.clone(), log_folder));
    let consents = terminal::consent::Consents::default();
    subsystems.spawn(terminal::serve(terminal::Env::new(
        client.clone(),
        pc_id.clone(),
        keyring.clone(),
        live.config.clone(),
        consents.clone(),
        config.agent.sessions_dir.clone(),
    )));
    subsystems.spawn(notifications::run(
        client.clone(),
        pc_id.clone(),
        live.groups.clone(),
        inbox.clone(),
    ));
    let local = local::Local {
        pc_id: pc_id.clone(),
        inbox,
        outbox: outbox.clone(),
        read_marks: Some(read_marks::ReadMarks::new(client.clone(), pc_id.clone())),
        consents,
    };
    let socket_bound = match local::bind(&socket) {
        Ok(listener) => {
            subsystems.spawn(local::serve(listener, local));
            true
        }
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "no local interface: `kanade-agent notifications` will not reach this agent"
            );
            false
        }
    };
    // Its own set: it ends (with a restart) where the others only end by failing.
    let mut update = JoinSet::new();
    match installed {
        Some(installed) => {
            subsystems.spawn(self_update::confirm_when_healthy(
                client.clone(),
                installed.sentinel.clone(),
                ready_rx.clone(),
            ));
            let ctx = self_update::Ctx {
                client: client.clone(),
                pc_id: pc_id.clone(),
                outbox: outbox.clone(),
                data_dir: data_dir.clone(),
                installed,
            };
            update.spawn(self_update::run(ctx, live.config.clone()));
        }
        None => tracing::info!("not running from an installed executable: self-update is off"),
    }
    // The agent-side scheduler (`runs_on: agent`) hands its fires to command intake and hears
    // back of every result.
    let (fires_tx, fires_rx) = tokio::sync::mpsc::channel(64);
    let (finished_tx, finished_rx) = tokio::sync::mpsc::unbounded_channel();
    subsystems.spawn(local_scheduler::run(local_scheduler::Env {
        pc_id: pc_id.clone(),
        client: client.clone(),
        data_dir: data_dir.clone(),
        sessions_dir: config.agent.sessions_dir.clone(),
        logind_bus: config.agent.logind_bus.clone(),
        groups: live.groups.clone(),
        fires: fires_tx,
        finished: finished_rx,
    }));
    // Separate, because at shutdown it is awaited (jobs record results) while the others are
    // only aborted.
    let mut intake = JoinSet::new();
    let env = commands::Env {
        pc_id,
        client: client.clone(),
        outbox: outbox.clone(),
        stop: stop_rx,
        ready: ready_tx,
        live,
        keyring,
        data_dir: data_dir.clone(),
        sessions_dir: config.agent.sessions_dir.clone(),
        finished: Some(finished_tx),
        catch_up_every: config.agent.catch_up_every.0,
    };
    intake.spawn(commands::run(env, seen, fires_rx));

    let outcome = tokio::select! {
        _ = shutdown => Ok(Stopped::Shutdown),
        Some(ended) = update.join_next() => ended.map(Stopped::Restart).map_err(Err),
        Some(ended) = subsystems.join_next() => Err(ended),
        Some(ended) = intake.join_next() => Err(ended),
    };
    match &outcome {
        Err(ended) => tracing::error!(?ended, "an agent subsystem stopped unexpectedly"),
        Ok(Stopped::Restart(restart)) => tracing::info!(
            from = restart.from,
            to = restart.to,
            "restarting into the updated executable"
        ),
        Ok(Stopped::Shutdown) => {}
    }
    tracing::info!("shutting down: no new commands; running jobs are stopped");
    stop_tx.send_replace(true);
    if tokio::time::timeout(JOBS_GRACE, intake.join_next())
        .await
        .is_err()
    {
        tracing::warn!("command intake did not stop in time");
    }
    intake.abort_all();
    if outbox.wait_empty(FLUSH_GRACE).await {
        tracing::info!("outbox flushed");
    } else {
        tracing::info!("outbox not empty; the rest is sent at the next start");
    }
    subsystems.abort_all();
    update.abort_all();
    while subsystems.join_next().await.is_some() {}
    while update.join_next().await.is_some() {}
    if socket_bound {
        let _ = std::fs::remove_file(&socket);
    }
    let _ = tokio::time::timeout(Duration::from_millis(500), client.flush()).await;
    drop(client);
    match outcome {
        Ok(stopped) => Ok(stopped),
        Err(ended) => bail!("an agent subsystem stopped unexpectedly: {ended:?}"),
    }
}

/// The timeline event of this start; its record id makes a re-send harmless.
fn started_event(pc_id: &str, version: &str) -> ObsEvent {
    let now = Utc::now();
    ObsEvent {
        pc_id: pc_id.to_owned(),
        at: now,
        kind: "agent_started".to_owned(),
        source: "agent".to_owned(),
        event_record_id: Some(format!("agent_started:{}", now.timestamp_millis())),
        payload: serde_json::json!({ "version": version }),
    }
}
