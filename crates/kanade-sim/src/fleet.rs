//! The simulated fleet: N machines on a few NATS connections ("shards"). Each machine has its
//! own `commands.pc.<id>` subscription, held only while it is online, so the broker's
//! interest graph and per-machine routing are real. The shared command subjects
//! (`commands.all`, `commands.group.<g>`) and pings (`agents.*.ping`) are subscribed once
//! per connection and fanned out in-process to that connection's online machines: the broker
//! delivers such a message once per connection, not once per machine as it would to a real
//! fleet. Heartbeats and host perf go out on core NATS at configurable intervals, spread
//! evenly over the interval; a command makes each targeted machine publish, after a simulated
//! run time, an `ExecResult` (and a real `EventStarted` first when the run lasts longer than
//! `STARTED_EVENT_AFTER`, as the real agent does) (JetStream, with the same
//! `Nats-Msg-Id` the real agent's outbox uses, acks awaited asynchronously in a window).
//! Machines can leave and return over time (churn).
//!
//! Not simulated: the agents' catch-up by direct get on `EXEC` (a returning machine does not catch
//! up on missed commands), live group changes from KV, `kill.<exec_id>`, the on-disk outbox,
//! config from KV and self-update.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::message::PublishMessage;
use async_nats::{Client, Message};
use bytes::Bytes;
use chrono::Utc;
use futures::StreamExt;
use futures::stream::{BoxStream, FuturesUnordered, SelectAll};
use kanade_bus::kv_cache::KvCache;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::{AgentGroups, Command, Heartbeat, HostPerf};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use crate::schedule::{Churn, Spread};
use crate::spec::{ChurnRate, GroupSplit, Payload, RunTime};

mod runs;

use runs::{GATE_BUCKETS, RunCtx, RunGuard, run_one};

/// How often each shard looks at its schedule.
const TICK: Duration = Duration::from_millis(10);
/// JetStream publishes whose acks may be outstanding per connection before the publisher
/// waits for some (the async-publish pattern: never await each ack on its own).
const ACK_WINDOW: usize = 2000;
/// Attempts before a message counts as lost: with the backoff (200 ms doubling to 3.2 s),
/// about a minute of trying.
const MAX_PUBLISH_ATTEMPTS: u32 = 25;
/// Recent request ids kept per machine to run each request once.
const DEDUP_DEPTH: usize = 16;

/// Everything the fleet needs to run.
#[derive(Debug, Clone)]
pub struct FleetConfig {
    pub nats_url: String,
    pub machines: usize,
    /// Machine ids are `<prefix><number>`, numbers zero-padded to at least five digits.
    pub prefix: String,
    pub groups: GroupSplit,
    /// Write each machine's group into KV `agent_groups`, so group targeting and the
    /// backend's expected counts see them.
    pub write_groups: bool,
    pub heartbeat: Duration,
    /// `None`: no host perf.
    pub host_perf: Option<Duration>,
    pub run_time: RunTime,
    pub fail_rate: f64,
    pub output_bytes: usize,
    pub payload: Payload,
    pub churn: Option<ChurnRate>,
    /// How long a machine that left stays away before it returns.
    pub churn_away: Duration,
    /// Machines join spread evenly over this (0: all at once).
    pub ramp: Duration,
    /// NATS connections (0: one per 10,000 machines, at most 8).
    pub connections: usize,
    /// Read `script_current` and `script_status` before each run, as the real agent does.
    pub gate_reads: bool,
    pub agent_version: String,
}

impl Default for FleetConfig {
    fn default() -> FleetConfig {
        FleetConfig {
            nats_url: "nats://127.0.0.1:4222".to_owned(),
            machines: 100,
            prefix: "sim-".to_owned(),
            groups: GroupSplit::default(),
            write_groups: true,
            heartbeat: Duration::from_secs(30),
            host_perf: Some(Duration::from_secs(60)),
            run_time: RunTime::Uniform(Duration::from_millis(50), Duration::from_secs(2)),
            fail_rate: 0.05,
            output_bytes: 200,
            payload: Payload::None,
            churn: None,
            churn_away: Duration::from_secs(180),
            ramp: Duration::from_secs(10),
            connections: 0,
            gate_reads: true,
            agent_version: format!("{}-sim", kanade_protocol::VERSION),
        }
    }
}

impl FleetConfig {
    pub fn connection_count(&self) -> usize {
        match self.connections {
            0 => self.machines.div_ceil(10_000).clamp(1, 8),
            n => n.min(self.machines.max(1)),
        }
    }

    /// The id of machine `index`.
    pub fn machine_id(&self, index: usize) -> String {
        let width = self.machines.saturating_sub(1).to_string().len().max(5);
        format!("{}{index:0width$}", self.prefix)
    }
}

/// Counters of everything the fleet did, shared by all shards.
#[derive(Debug, Default)]
struct Stats {
    online: AtomicI64,
    joins: AtomicU64,
    leaves: AtomicU64,
    heartbeats: AtomicU64,
    host_perf: AtomicU64,
    pings: AtomicU64,
    commands: AtomicU64,
    bad_commands: AtomicU64,
    runs_started: AtomicU64,
    skipped: AtomicU64,
    results: AtomicU64,
    in_flight: AtomicI64,
    js_published: AtomicU64,
    js_acked: AtomicU64,
    js_retries: AtomicU64,
    js_lost: AtomicU64,
    unacked: AtomicI64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct StatsSnapshot {
    pub online: i64,
    pub joins: u64,
    pub leaves: u64,
    pub heartbeats: u64,
    pub host_perf: u64,
    pub pings: u64,
    /// Commands accepted by a machine (after dedup), one per machine and request.
    pub commands: u64,
    pub bad_commands: u64,
    pub runs_started: u64,
    /// Refused runs (deadline, version pin, revoke, unreadable gates).
    pub skipped: u64,
    /// Results handed to the publisher.
    pub results: u64,
    pub in_flight: i64,
    pub js_published: u64,
    pub js_acked: u64,
    pub js_retries: u64,
    pub js_lost: u64,
    /// JetStream messages not yet acknowledged by the broker.
    pub unacked: i64,
}

impl Stats {
    fn snapshot(&self) -> StatsSnapshot {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let s = |a: &AtomicI64| a.load(Ordering::Relaxed);
        StatsSnapshot {
            online: s(&self.online),
            joins: r(&self.joins),
            leaves: r(&self.leaves),
            heartbeats: r(&self.heartbeats),
            host_perf: r(&self.host_perf),
            pings: r(&self.pings),
            commands: r(&self.commands),
            bad_commands: r(&self.bad_commands),
            runs_started: r(&self.runs_started),
            skipped: r(&self.skipped),
            results: r(&self.results),
            in_flight: s(&self.in_flight),
            js_published: r(&self.js_published),
            js_acked: r(&self.js_acked),
            js_retries: r(&self.js_retries),
            js_lost: r(&self.js_lost),
            unacked: s(&self.unacked),
        }
    }
}

fn inc(a: &AtomicU64) {
    a.fetch_add(1, Ordering::Relaxed);
}

/// A running fleet. Dropping it without `stop` aborts everything.
pub struct Fleet {
    stats: Arc<Stats>,
    stop: watch::Sender<bool>,
    shards: Vec<JoinHandle<()>>,
    publishers: Vec<JoinHandle<()>>,
    clients: Vec<Client>,
    pub config: Arc<FleetConfig>,
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for task in self.shards.iter().chain(&self.publishers) {
            task.abort();
        }
    }
}

/// Connects one simulator connection (token from `$KANADE_NATS_TOKEN`, like every kanade
/// component).
pub async fn connect(url: &str, name: String) -> anyhow::Result<Client> {
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .max_reconnects(None)
        .client_capacity(65_536)
        .subscription_capacity(4096)
        .connection_timeout(Duration::from_secs(5));
    if let Some(token) = std::env::var("KANADE_NATS_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        options = options.token(token);
    }
    // A cluster is named by several URLs, comma separated; the client moves between them.
    let servers: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .with_context(|| format!("`{u}` is not a broker URL (in {url})"))
        })
        .collect::<anyhow::Result<_>>()?;
    options
        .connect(servers)
        .await
        .with_context(|| format!("connecting to NATS at {url}"))
}

impl Fleet {
    /// Connects, writes group membership, and starts every shard; machines then join over
    /// the ramp.
    pub async fn start(config: FleetConfig) -> anyhow::Result<Fleet> {
        anyhow::ensure!(config.machines > 0, "--machines must be at least 1");
        anyhow::ensure!(
            !config.heartbeat.is_zero(),
            "the heartbeat interval must be greater than zero"
        );
        anyhow::ensure!(
            subject::is_valid_pc_id(&config.machine_id(0)),
            "the prefix `{}` makes machine ids that are not valid",
            config.prefix
        );
        let config = Arc::new(config);
        let count = config.connection_count();
        let mut clients = Vec::with_capacity(count);
        for k in 0..count {
            clients
                .push(connect(&config.nats_url, format!("kanade-sim/{}{k}", config.prefix)).await?);
        }
        let js = jetstream::new(clients[0].clone());
        if config.write_groups && !config.groups.groups.is_empty() {
            write_groups(&js, &config).await?;
        }
        let gates = if config.gate_reads {
            let open = |name: &'static str| {
                let js = js.clone();
                async move {
                    js.get_key_value(name).await.with_context(|| {
                        format!("opening KV {name}: start the backend or run `kanade jetstream setup` first")
                    })
                }
            };
            Some((
                open(names::KV_SCRIPT_CURRENT).await?,
                open(names::KV_SCRIPT_STATUS).await?,
            ))
        } else {
            None
        };

        let stats = Arc::new(Stats::default());
        let (stop, stop_rx) = watch::channel(false);
        let started = Instant::now();
        let mut shards = Vec::new();
        let mut publishers = Vec::new();
        for (k, client) in clients.iter().enumerate() {
            let (out_tx, out_rx) = mpsc::unbounded_channel();
            publishers.push(tokio::spawn(publisher(
                jetstream::new(client.clone()),
                out_rx,
                out_tx.clone(),
                stats.clone(),
            )));
            let gate_cache = match gates {
                Some(_) => Some(KvCache::start(client, &GATE_BUCKETS).await?),
                None => None,
            };
            let ctx = Arc::new(RunCtx {
                config: config.clone(),
                out: out_tx,
                gates: gates.clone(),
                gate_cache,
                stats: stats.clone(),
            });
            let shard = Shard::new(k, count, client.clone(), ctx, started);
            shards.push(tokio::spawn(shard.run(stop_rx.clone())));
        }
        Ok(Fleet {
            stats,
            stop,
            shards,
            publishers,
            clients,
            config,
        })
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.stats.snapshot()
    }

    /// Waits until no run is in flight and the broker acknowledged everything published.
    pub async fn wait_idle(&self, limit: Duration) -> bool {
        let deadline = Instant::now() + limit;
        loop {
            let s = self.stats();
            if s.in_flight == 0 && s.unacked == 0 {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops intake and heartbeats, lets running jobs finish and their results be
    /// acknowledged (up to `grace`), then closes the connections.
    pub async fn stop(mut self, grace: Duration) -> StatsSnapshot {
        self.stop.send_replace(true);
        for shard in self.shards.drain(..) {
            let _ = shard.await;
        }
        self.wait_idle(grace).await;
        for client in &self.clients {
            let _ = tokio::time::timeout(Duration::from_secs(2), client.flush()).await;
        }
        self.stats()
    }
}

async fn write_groups(js: &jetstream::Context, config: &FleetConfig) -> anyhow::Result<()> {
    let kv = js.get_key_value(names::KV_AGENT_GROUPS).await.context(
        "opening KV agent_groups: start the backend or run `kanade jetstream setup` first",
    )?;
    let puts = (0..config.machines).filter_map(|i| {
        let group = config.groups.group_of(i, config.machines)?;
        let value = AgentGroups {
            groups: vec![config.groups.groups[group].0.clone()],
        };
        let (kv, id) = (kv.clone(), config.machine_id(i));
        Some(async move {
            let bytes = Bytes::from(serde_json::to_vec(&value).unwrap_or_default());
            kv.put(&id, bytes)
                .await
                .with_context(|| format!("writing agent_groups[{id}]"))
        })
    });
    let mut stream = futures::stream::iter(puts).buffer_unordered(256);
    while let Some(res) = stream.next().await {
        res?;
    }
    Ok(())
}

/// A JetStream message waiting for its ack.
struct Outgoing {
    subject: String,
    msg_id: String,
    payload: Bytes,
    attempts: u32,
}

type Acked = (Result<(), String>, Outgoing);

async fn track(ack: PublishAckFuture, out: Outgoing) -> Acked {
    (ack.await.map(|_| ()).map_err(|e| e.to_string()), out)
}

/// Publishes JetStream messages of one connection, keeping up to `ACK_WINDOW` acks
/// outstanding; a failed publish is retried after a pause with the same message id.
async fn publisher(
    js: jetstream::Context,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
    retry: mpsc::UnboundedSender<Outgoing>,
    stats: Arc<Stats>,
) {
    let mut pending = FuturesUnordered::new();
    let settle = |(res, mut out): Acked, stats: &Stats| match res {
        Ok(()) => {
            inc(&stats.js_acked);
            stats.unacked.fetch_sub(1, Ordering::Relaxed);
        }
        Err(err) => {
            out.attempts += 1;
            if out.attempts >= MAX_PUBLISH_ATTEMPTS {
                tracing::warn!(subject = out.subject, %err, "giving up on a message");
                inc(&stats.js_lost);
                stats.unacked.fetch_sub(1, Ordering::Relaxed);
            } else {
                inc(&stats.js_retries);
                // Backing off like the agent's outbox: a broker node's loss (a new stream
                // leader, clients moving to another node) takes seconds, not milliseconds.
                let pause = Duration::from_millis(200) * 2u32.pow(out.attempts.min(4));
                let retry = retry.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(pause).await;
                    let _ = retry.send(out);
                });
            }
        }
    };
    loop {
        tokio::select! {
            biased;
            Some(done) = pending.next(), if !pending.is_empty() => settle(done, &stats),
            next = rx.recv() => {
                let Some(out) = next else { break };
                let message = PublishMessage::build()
                    .payload(out.payload.clone())
                    .message_id(out.msg_id.clone());
                match js.send_publish(out.subject.clone(), message).await {
                    Ok(ack) => {
                        inc(&stats.js_published);
                        pending.push(track(ack, out));
                    }
                    Err(err) => settle((Err(err.to_string()), out), &stats),
                }
                while pending.len() >= ACK_WINDOW {
                    match pending.next().await {
                        Some(done) => settle(done, &stats),
                        None => break,
                    }
                }
            }
        }
    }
    while let Some(done) = pending.next().await {
        settle(done, &stats);
    }
}

/// One simulated machine of a shard.
struct Machine {
    id: Arc<str>,
    group: Option<usize>,
    online: bool,
    /// Dropping it ends the machine's subscription stream (unsubscribing it).
    leave: Option<oneshot::Sender<()>>,
    recent: VecDeque<String>,
    cpu_base: f32,
    rss_base: u64,
}

enum Inbound {
    Pc(usize, Message),
    /// `None`: `commands.all`; `Some(g)`: `commands.group.<g>`.
    Shared(Option<usize>, Message),
    Ping(Message),
}

/// The machines of one connection and their schedules.
struct Shard {
    client: Client,
    ctx: Arc<RunCtx>,
    machines: Vec<Machine>,
    by_id: HashMap<Arc<str>, usize>,
    ramp: Spread,
    beats: Spread,
    perf: Option<Spread>,
    churn: Option<Churn>,
    away: VecDeque<(Duration, usize)>,
    started: Instant,
    subs: SelectAll<BoxStream<'static, Inbound>>,
}

impl Shard {
    fn new(k: usize, count: usize, client: Client, ctx: Arc<RunCtx>, started: Instant) -> Shard {
        let cfg = ctx.config.clone();
        let total = cfg.machines;
        let globals: Vec<usize> = (k..total).step_by(count).collect();
        let machines: Vec<Machine> = globals
            .iter()
            .map(|&i| Machine {
                id: Arc::from(cfg.machine_id(i)),
                group: cfg.groups.group_of(i, total),
                online: false,
                leave: None,
                recent: VecDeque::new(),
                cpu_base: 0.02 + fastrand::f32() * 0.1,
                rss_base: (9 << 20) + fastrand::u64(0..(4 << 20)),
            })
            .collect();
        let by_id = machines
            .iter()
            .enumerate()
            .map(|(j, m)| (m.id.clone(), j))
            .collect();
        let n = machines.len();
        let spread = |interval| Spread::new(interval, total, k, count, n);
        let churn = cfg
            .churn
            .map(|rate| Churn::new(rate.per_second(total) * n as f64 / total as f64));
        Shard {
            client,
            machines,
            by_id,
            ramp: spread(cfg.ramp.max(Duration::from_nanos(1))),
            beats: spread(cfg.heartbeat),
            perf: cfg.host_perf.filter(|d| !d.is_zero()).map(spread),
            churn,
            away: VecDeque::new(),
            started,
            subs: SelectAll::new(),
            ctx,
        }
    }

    async fn run(mut self, mut stop: watch::Receiver<bool>) {
        if let Err(err) = self.subscribe_shared().await {
            tracing::error!(
                error = format!("{err:#}"),
                "cannot subscribe the shared subjects"
            );
            return;
        }
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut prev: Option<Duration> = None;
        loop {
            tokio::select! {
                biased;
                changed = stop.changed() => {
                    if changed.is_err() || *stop.borrow() {
                        break;
                    }
                }
                _ = tick.tick() => {
                    let now = self.started.elapsed();
                    self.on_tick(prev, now).await;
                    prev = Some(now);
                }
                Some(item) = self.subs.next() => self.on_inbound(item).await,
            }
        }
        for j in 0..self.machines.len() {
            if self.machines[j].online {
                self.leave(j);
            }
        }
        self.subs = SelectAll::new();
    }

    async fn subscribe_shared(&mut self) -> anyhow::Result<()> {
        let all = self.client.subscribe(subject::COMMANDS_ALL).await?;
        self.subs
            .push(all.map(|m| Inbound::Shared(None, m)).boxed());
        let groups = self.ctx.config.groups.clone();
        for (g, name) in groups.names().enumerate() {
            if self.machines.iter().any(|m| m.group == Some(g)) {
                let sub = self.client.subscribe(subject::commands_group(name)).await?;
                self.subs
                    .push(sub.map(move |m| Inbound::Shared(Some(g), m)).boxed());
            }
        }
        let pings = self.client.subscribe("agents.*.ping").await?;
        self.subs.push(pings.map(Inbound::Ping).boxed());
        Ok(())
    }

    async fn on_tick(&mut self, prev: Option<Duration>, now: Duration) {
        let cfg = self.ctx.config.clone();
        // Beats first: a machine joining in this tick sends its own first beat.
        for range in self.beats.due_repeating(prev, now) {
            for j in range {
                if self.machines[j].online {
                    self.heartbeat(j).await;
                }
            }
        }
        for j in self.ramp.due_once(prev, now) {
            if !self.machines[j].online {
                self.join(j).await;
            }
        }
        if let Some(perf) = self.perf {
            for range in perf.due_repeating(prev, now) {
                for j in range {
                    if self.machines[j].online {
                        self.host_perf(j).await;
                    }
                }
            }
        }
        if let (Some(churn), Some(prev)) = (self.churn, prev)
            && now > cfg.ramp
        {
            let from = prev.saturating_sub(cfg.ramp);
            for _ in 0..churn.departures(from, now - cfg.ramp) {
                if let Some(j) = self.random_online() {
                    self.leave(j);
                    self.away.push_back((now + cfg.churn_away, j));
                }
            }
            while let Some(&(back, j)) = self.away.front() {
                if back > now {
                    break;
                }
                self.away.pop_front();
                if !self.machines[j].online {
                    self.join(j).await;
                }
            }
        }
    }

    fn random_online(&self) -> Option<usize> {
        let n = self.machines.len();
        if n == 0 {
            return None;
        }
        for _ in 0..32 {
            let j = fastrand::usize(0..n);
            if self.machines[j].online {
                return Some(j);
            }
        }
        self.machines.iter().position(|m| m.online)
    }

    async fn join(&mut self, j: usize) {
        let id = self.machines[j].id.clone();
        let sub = match self.client.subscribe(subject::commands_pc(&id)).await {
            Ok(sub) => sub,
            Err(err) => {
                tracing::warn!(pc_id = %id, %err, "cannot subscribe; the machine stays offline");
                return;
            }
        };
        let (tx, rx) = oneshot::channel::<()>();
        self.subs
            .push(sub.map(move |m| Inbound::Pc(j, m)).take_until(rx).boxed());
        let machine = &mut self.machines[j];
        machine.online = true;
        machine.leave = Some(tx);
        inc(&self.ctx.stats.joins);
        self.ctx.stats.online.fetch_add(1, Ordering::Relaxed);
        // Like the real agent: the first heartbeat once commands are subscribed.
        self.heartbeat(j).await;
    }

    fn leave(&mut self, j: usize) {
        let machine = &mut self.machines[j];
        if !machine.online {
            return;
        }
        machine.online = false;
        machine.leave = None;
        inc(&self.ctx.stats.leaves);
        self.ctx.stats.online.fetch_sub(1, Ordering::Relaxed);
    }

    fn heartbeat_of(&self, j: usize) -> Heartbeat {
        let cfg = &self.ctx.config;
        let m = &self.machines[j];
        Heartbeat {
            pc_id: m.id.to_string(),
            at: Utc::now(),
            agent_version: cfg.agent_version.clone(),
            hostname: m.id.to_string(),
            os_family: "linux".to_owned(),
            os_version: "Debian GNU/Linux 12 (simulated)".to_owned(),
            agent_cpu_pct: Some(m.cpu_base + fastrand::f32() * 0.05),
            agent_rss_bytes: Some(m.rss_base + fastrand::u64(0..(256 << 10))),
            quarantined_versions: Vec::new(),
            ..Default::default()
        }
    }

    async fn heartbeat(&mut self, j: usize) {
        let hb = self.heartbeat_of(j);
        if let Ok(json) = serde_json::to_vec(&hb)
            && self
                .client
                .publish(subject::heartbeat(&hb.pc_id), json.into())
                .await
                .is_ok()
        {
            inc(&self.ctx.stats.heartbeats);
        }
    }

    async fn host_perf(&mut self, j: usize) {
        let m = &self.machines[j];
        let total = 8u64 << 30;
        let perf = HostPerf {
            pc_id: m.id.to_string(),
            at: Utc::now(),
            cpu_pct: Some(fastrand::f32() * 40.0),
            cpu_count: Some(4),
            mem_used_bytes: Some((2 << 30) + fastrand::u64(0..(4 << 30))),
            mem_total_bytes: Some(total),
            swap_used_bytes: Some(0),
            swap_total_bytes: Some(2 << 30),
            disk_read_bytes_per_sec: Some(fastrand::f64() * 2e6),
            disk_written_bytes_per_sec: Some(fastrand::f64() * 1e6),
            net_rx_bytes_per_sec: Some(fastrand::f64() * 5e5),
            net_tx_bytes_per_sec: Some(fastrand::f64() * 2e5),
        };
        if let Ok(json) = serde_json::to_vec(&perf)
            && self
                .client
                .publish(subject::host_perf(&perf.pc_id), json.into())
                .await
                .is_ok()
        {
            inc(&self.ctx.stats.host_perf);
        }
    }

    async fn on_inbound(&mut self, item: Inbound) {
        match item {
            Inbound::Pc(j, msg) => {
                if let Some(cmd) = self.decode(&msg) {
                    self.dispatch(j, cmd);
                }
            }
            Inbound::Shared(group, msg) => {
                let Some(cmd) = self.decode(&msg) else { return };
                let targets: Vec<usize> = (0..self.machines.len())
                    .filter(|&j| {
                        let m = &self.machines[j];
                        m.online && (group.is_none() || m.group == group)
                    })
                    .collect();
                if cmd.jitter_secs.is_some_and(|j| j > 0) {
                    // Each machine starts at its own moment: one task each.
                    for j in targets {
                        self.dispatch(j, cmd.clone());
                    }
                } else {
                    let mut ids: Vec<Arc<str>> = Vec::with_capacity(targets.len());
                    for j in targets {
                        if self.first_time(j, &cmd) {
                            ids.push(self.machines[j].id.clone());
                        }
                    }
                    self.ctx
                        .stats
                        .in_flight
                        .fetch_add(ids.len() as i64, Ordering::Relaxed);
                    tokio::spawn(runs::run_many(self.ctx.clone(), ids, cmd));
                }
            }
            Inbound::Ping(msg) => {
                let Some(reply) = msg.reply.clone() else {
                    return;
                };
                let mut tokens = msg.subject.split('.');
                let id = tokens.nth(1).unwrap_or_default();
                let Some(&j) = self.by_id.get(id) else { return };
                if !self.machines[j].online {
                    return;
                }
                let hb = self.heartbeat_of(j);
                if let Ok(json) = serde_json::to_vec(&hb)
                    && self.client.publish(reply, json.into()).await.is_ok()
                {
                    inc(&self.ctx.stats.pings);
                }
            }
        }
    }

    fn decode(&self, msg: &Message) -> Option<Arc<Command>> {
        match serde_json::from_slice::<Command>(&msg.payload) {
            Ok(cmd)
                if subject::is_valid_token(&cmd.request_id)
                    && subject::is_valid_token(&cmd.exec_id) =>
            {
                Some(Arc::new(cmd))
            }
            _ => {
                inc(&self.ctx.stats.bad_commands);
                None
            }
        }
    }

    /// True (and counted as a command) the first time machine `j` sees `cmd`'s request;
    /// a repeat is ignored, as the agent runs each request once.
    fn first_time(&mut self, j: usize, cmd: &Command) -> bool {
        let machine = &mut self.machines[j];
        if machine.recent.iter().any(|r| *r == cmd.request_id) {
            return false;
        }
        if machine.recent.len() >= DEDUP_DEPTH {
            machine.recent.pop_front();
        }
        machine.recent.push_back(cmd.request_id.clone());
        inc(&self.ctx.stats.commands);
        true
    }

    fn dispatch(&mut self, j: usize, cmd: Arc<Command>) {
        if !self.first_time(j, &cmd) {
            return;
        }
        self.ctx.stats.in_flight.fetch_add(1, Ordering::Relaxed);
        let (ctx, id) = (self.ctx.clone(), self.machines[j].id.clone());
        let guard = RunGuard(ctx.stats.clone());
        tokio::spawn(async move {
            let _guard = guard;
            run_one(ctx, id, cmd).await;
        });
    }
}
