//! Scenario `connect`: what the auth callout costs per broker connect. A real nats-server
//! configured by `BrokerKeys::broker_config` (auth callout, TLS with a CA made by
//! `kanade-backend tls-init`) and the real backend in this process (`kanade_backend::serve`,
//! `[nats] auth = "callout"`, on a runtime of its own so its CPU time can be read per thread)
//! answer N machine connects, each with a fresh nkey, as `kanade-agent/<pc_id>` with its own
//! inbox prefix, exactly as the agent connects. Rounds: the same N connects to a server
//! without auth (the physical baseline), first enrollment with one token of N uses,
//! reconnect of the approved machines, and reconnect once their `last_seen` is older than
//! the callout's rewrite interval. Every connect has a timeout, every round a deadline.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use kanade_backend::access::Registry;
use kanade_backend::access::keys::{self, BrokerKeys};

use super::procs::{self, Nats, NatsOptions, ProcSample};
use super::{Env, mib, percentile, sorted, thousands};

/// Threads of the in-process backend's runtime are named this (the kernel keeps 15 bytes).
const BACKEND_THREADS: &str = "kb-backend";
/// How long one connect may take before it counts as failed.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(15);
/// Every round ends by then, connected or not.
const ROUND_DEADLINE: Duration = Duration::from_secs(300);
/// Passes over the machines a round could not connect yet.
const MAX_PASSES: usize = 20;
/// The callout's `SEEN_EVERY`: a machine seen longer ago gets its `last_seen` rewritten.
const SEEN_EVERY: chrono::Duration = chrono::Duration::minutes(10);

/// One simulated machine: its id and its own nkey seed.
struct Machine {
    pc_id: String,
    seed: String,
}

/// Where the clients connect and how many at once.
#[derive(Clone)]
struct Target {
    url: String,
    ca: Option<PathBuf>,
    inflight: usize,
}

/// The figures of one round.
struct Round {
    label: &'static str,
    wall: f64,
    /// Passes over the machines still out (1 when every first attempt succeeded).
    passes: usize,
    /// Machines whose first attempt failed.
    first_failed: usize,
    /// Machines still out at the end.
    never: usize,
    /// Per-connect latency of the successful connects, in ms, sorted.
    latencies: Vec<f64>,
    failures: BTreeMap<String, usize>,
    /// The callout's reasons for refusing, as nats-server logged them.
    refusals: BTreeMap<String, usize>,
    backend_cpu: Option<f64>,
    broker_cpu: f64,
    broker_rss_before: u64,
    broker_rss_open: u64,
    client_cpu: f64,
    load: String,
}

impl Round {
    fn ok(&self) -> usize {
        self.latencies.len()
    }
    fn rate(&self) -> f64 {
        self.ok() as f64 / self.wall
    }
    /// Failed attempts, all passes.
    fn failed(&self) -> usize {
        self.failures.values().sum()
    }
}

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let n = env.scaled(10_000, 50);
    let inflight: usize = std::env::var("KANADE_BENCH_CONNECT_INFLIGHT")
        .ok()
        .map(|v| {
            v.parse()
                .context("KANADE_BENCH_CONNECT_INFLIGHT is not a number")
        })
        .transpose()?
        .unwrap_or(200);
    let tls = std::env::var("KANADE_BENCH_CONNECT_TLS").map_or(true, |v| v != "0");
    raise_fd_limit(n)?;
    let dir = env.scratch("connect")?;

    let tls_files = match tls {
        true => Some(tls_init(&env.bin("kanade-backend"), &dir.join("tls"))?),
        false => None,
    };
    let server_tls = tls_files
        .as_ref()
        .map(|t| (t.dir.join("server.pem"), t.dir.join("server-key.pem")));
    let ca = tls_files.as_ref().map(|t| t.dir.join("ca.pem"));
    println!("connect: making {n} machine keys");
    let machines: Arc<Vec<Machine>> = Arc::new(
        (0..n)
            .map(|i| Machine {
                pc_id: format!("bench-{i:05}"),
                seed: kanade_protocol::signing::SigningKey::generate().seed(),
            })
            .collect(),
    );

    // 1. The physical baseline: the same connects to a server without auth.
    let plain = Nats::start_with(
        &dir.join("nats-plain"),
        &NatsOptions {
            tls: server_tls.clone(),
            monitor: true,
            ..NatsOptions::default()
        },
    )?;
    let target = Target {
        url: plain.url.clone(),
        ca: ca.clone(),
        inflight,
    };
    let baseline = round("no auth (baseline)", &plain, None, &target, &machines, None).await?;
    drop(plain);

    // 2. The callout-configured broker and the real backend.
    let backend_dir = dir.join("backend");
    std::fs::create_dir_all(&backend_dir)?;
    let keys = BrokerKeys::load_or_create(&backend_dir)?;
    let nats = Nats::start_with(
        &dir.join("nats-callout"),
        &NatsOptions {
            config: Some(keys.broker_config()),
            tls: server_tls,
            monitor: true,
        },
    )?;
    let target = Target {
        url: nats.url.clone(),
        ca: ca.clone(),
        inflight,
    };
    let backend = Backend::start(&nats.url, ca.clone(), &backend_dir).await?;
    let access = kanade_bus::Access {
        ca_file: ca.clone(),
        nkey_seed: Some(keys::backend_seed(&backend_dir)?),
        token: None,
    };
    let own = kanade_bus::connect_with(kanade_bus::Role::Cli, &nats.url, &access).await?;
    let registry = Registry::open(&async_nats::jetstream::new(own)).await?;
    warm_up(&registry, &target).await?;
    let backend_idle = backend.cpu()?;
    let idle_started = Instant::now();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let backend_idle_pct =
        (backend.cpu()? - backend_idle) / idle_started.elapsed().as_secs_f64() * 100.0;

    let (_, token) = registry
        .create_token(
            None,
            chrono::Duration::hours(1),
            u32::try_from(n)?,
            "kanade-bench",
            chrono::Utc::now(),
        )
        .await?;
    let enroll = round(
        "first enrollment (token of N uses)",
        &nats,
        Some(&backend),
        &target,
        &machines,
        Some(&token),
    )
    .await?;
    let statuses = count_statuses(&registry, &machines).await?;
    let reconnect = round(
        "reconnect, approved",
        &nats,
        Some(&backend),
        &target,
        &machines,
        None,
    )
    .await?;
    println!("connect: ageing last_seen of every machine past the callout's rewrite interval");
    age_last_seen(&registry, &machines).await?;
    let stale = round(
        "reconnect, last_seen > 10 min",
        &nats,
        Some(&backend),
        &target,
        &machines,
        None,
    )
    .await?;
    backend.stop().await;
    drop(nats);

    Ok(report(
        n,
        inflight,
        tls,
        backend_idle_pct,
        &statuses,
        &[baseline, enroll, reconnect, stale],
    ))
}

/// The files `kanade-backend tls-init` makes (a CA and a server certificate for loopback).
struct TlsDir {
    dir: PathBuf,
}

fn tls_init(backend: &Path, dir: &Path) -> anyhow::Result<TlsDir> {
    let out = Command::new(backend)
        .arg("tls-init")
        .arg(dir)
        .output()
        .with_context(|| {
            format!(
                "running {} tls-init (build it: cargo build -p kanade-backend)",
                backend.display()
            )
        })?;
    if !out.status.success() {
        bail!("tls-init failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(TlsDir {
        dir: dir.to_path_buf(),
    })
}

/// The soft open-files limit up to the hard one; N client sockets live in this process and
/// N server sockets in nats-server (which inherits the limit).
fn raise_fd_limit(n: usize) -> anyhow::Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard)?;
    }
    let need = n as u64 + 1024;
    if hard < need {
        bail!(
            "{n} connections need about {need} open files, the hard limit is {hard}: raise it \
             (ulimit -Hn) or use KANADE_BENCH_SCALE"
        );
    }
    Ok(())
}

/// The backend running in this process on a runtime of its own.
struct Backend {
    runtime: Option<tokio::runtime::Runtime>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Backend {
    async fn start(nats_url: &str, ca: Option<PathBuf>, dir: &Path) -> anyhow::Result<Backend> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name(BACKEND_THREADS)
            // Blocking threads stay alive, so their CPU time stays readable per thread.
            .thread_keep_alive(Duration::from_secs(3600))
            .enable_all()
            .build()?;
        let mut config = kanade_backend::BackendConfig::default();
        config.nats.url = nats_url.to_owned();
        config.nats.ca_file = ca;
        config.nats.auth = kanade_backend::config::BrokerAuth::Callout;
        config.db.sqlite_path = dir.join("kanade.db");
        config.secrets.bootstrap_admin_password = Some("kanade-bench-admin-password".into());
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let base = format!("http://{}", listener.local_addr()?);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = runtime.spawn(async move {
            let listener = tokio::net::TcpListener::from_std(listener)?;
            kanade_backend::serve(config, listener, async move {
                let _ = stopped.await;
            })
            .await
        });
        let mut backend = Backend {
            runtime: Some(runtime),
            stop: Some(stop),
            task: Some(task),
        };
        let http = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if backend.task.as_ref().is_some_and(|t| t.is_finished()) {
                let task = backend.task.take().context("no backend task")?;
                bail!("the backend stopped: {:?}", task.await);
            }
            if let Ok(resp) = http.get(format!("{base}/health")).send().await
                && resp.status().is_success()
            {
                return Ok(backend);
            }
            if started.elapsed() > Duration::from_secs(60) {
                backend.stop().await;
                bail!("the backend did not answer /health within 60 s");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// CPU seconds of the backend runtime's threads.
    fn cpu(&self) -> anyhow::Result<f64> {
        threads_cpu(BACKEND_THREADS)
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// utime + stime of this process's threads whose name starts with `prefix`, in seconds.
fn threads_cpu(prefix: &str) -> anyhow::Result<f64> {
    let mut ticks = 0u64;
    for entry in std::fs::read_dir("/proc/self/task")? {
        let Ok(stat) = std::fs::read_to_string(entry?.path().join("stat")) else {
            continue; // the thread ended between listing and reading
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        let utime: u64 = fields.get(11).context("no utime")?.parse()?;
        let stime: u64 = fields.get(12).context("no stime")?.parse()?;
        ticks += utime + stime;
    }
    Ok(ticks as f64 / 100.0)
}

/// One machine's connect as the agent makes it (name, inbox prefix, nkey, token, pinned CA),
/// without the agent's retry of the first connect, so a refusal is an answer.
async fn connect_one(
    target: &Target,
    machine: &Machine,
    token: Option<&str>,
    limit: Duration,
) -> Result<async_nats::Client, String> {
    let lost = Arc::new(tokio::sync::Notify::new());
    let lost_tx = lost.clone();
    let tries = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut options = async_nats::ConnectOptions::new()
        .name(format!("kanade-agent/{}", machine.pc_id))
        .custom_inbox_prefix(kanade_protocol::grants::agent_inbox_prefix(&machine.pc_id))
        .nkey(machine.seed.clone())
        .connection_timeout(limit)
        // A refused connection must end, not be retried in the background: the first
        // attempt goes at once, any reconnect waits past the end of the run (the callback
        // also paces the first attempt, so it cannot simply always wait).
        .reconnect_delay_callback(move |_| {
            match tries.fetch_add(1, std::sync::atomic::Ordering::Relaxed) {
                0 => Duration::ZERO,
                _ => Duration::from_secs(3600),
            }
        })
        .event_callback(move |event| {
            let lost = lost_tx.clone();
            async move {
                if matches!(
                    event,
                    async_nats::Event::Disconnected | async_nats::Event::ServerError(_)
                ) {
                    lost.notify_one();
                }
            }
        })
        // Idle clients: a small read buffer keeps 10,000 of them cheap for this process.
        .read_buffer_capacity(4096);
    if let Some(token) = token {
        options = options.token(token.to_owned());
    }
    if let Some(ca) = &target.ca {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    // `connect` returns at the server's first message after CONNECT + PING; while the
    // callout is still deciding, that can be the server's own first PING rather than our
    // PONG, and `flush` only writes the socket. So a connect counts once the server answered
    // a request: one to a subject the agent's grant allows (`$JS.FC.>`) that nothing
    // subscribes to, which the server answers itself with "no responders".
    let connected = async {
        let client = options
            .connect(target.url.as_str())
            .await
            .map_err(|err| classify(&err.to_string()))?;
        let probe = format!("$JS.FC.kanade-bench.{}", machine.pc_id);
        tokio::select! {
            answer = client.request(probe, bytes::Bytes::new()) => match answer {
                Ok(_) => Ok(client),
                Err(err) if err.kind() == async_nats::RequestErrorKind::NoResponders => {
                    Ok(client)
                }
                Err(err) => Err(classify(&format!("after CONNECT: {err}"))),
            },
            _ = lost.notified() => Err("refused (authorization violation)".to_owned()),
        }
    };
    match tokio::time::timeout(limit, connected).await {
        Err(_) => Err("timed out".to_owned()),
        Ok(outcome) => outcome,
    }
}

fn classify(text: &str) -> String {
    match text.to_lowercase() {
        t if t.contains("authorization") => "refused (authorization violation)".into(),
        t if t.contains("timed out") || t.contains("timeout") => "timed out".into(),
        _ => text.chars().take(80).collect(),
    }
}

/// Why connects were refused, from byte `from` of nats-server's log on: the callout's reasons
/// (the server logs each, machine and token ids left out here), and the refusals without one
/// (the callout did not answer in time).
fn callout_refusals(log: &Path, from: u64) -> BTreeMap<String, usize> {
    let text = std::fs::read(log).unwrap_or_default();
    let text = String::from_utf8_lossy(text.get(from as usize..).unwrap_or_default());
    let mut out = BTreeMap::new();
    let (mut refused, mut explained) = (0, 0);
    for line in text.lines() {
        if line.contains("- authentication error") {
            refused += 1;
        }
        let Some((_, reason)) = line.split_once("Auth callout service returned an error: ") else {
            continue;
        };
        explained += 1;
        let reason: Vec<&str> = reason
            .split_whitespace()
            .map(|w| match w {
                w if w.starts_with("bench-") => "<pc>",
                w if w.len() >= 16 && w.chars().all(|c| c.is_ascii_hexdigit()) => "<token>",
                w => w,
            })
            .collect();
        *out.entry(reason.join(" ")).or_insert(0) += 1;
    }
    if refused > explained {
        // The server gave up waiting for the callout's answer (its authorization timeout).
        out.insert(
            "no answer within nats-server's authorization timeout".to_owned(),
            refused - explained,
        );
    }
    out
}

fn log_len(log: &Path) -> u64 {
    std::fs::metadata(log).map_or(0, |m| m.len())
}

/// N connects with `target.inflight` at once; the clients stay connected until all are done,
/// then are closed and the broker is waited for to see them gone.
async fn round(
    label: &'static str,
    nats: &Nats,
    backend: Option<&Backend>,
    target: &Target,
    machines: &Arc<Vec<Machine>>,
    token: Option<&str>,
) -> anyhow::Result<Round> {
    println!(
        "connect: {label}: {} connects, {} at once",
        machines.len(),
        target.inflight
    );
    let base_connections = connections(nats).await?;
    let log = nats.log.clone();
    let log_from = log_len(&log);
    let load = procs::load_average();
    let b0 = backend.map(Backend::cpu).transpose()?;
    let n0: ProcSample = nats.proc.sample()?;
    let me0 = procs::sample(std::process::id())?;
    let started = Instant::now();
    let deadline = started + ROUND_DEADLINE;
    // Machines refused or timed out try again, as agents do (they reconnect forever), in
    // passes over the ones still out, until all are in, `MAX_PASSES` or the deadline.
    let mut out: Vec<&Machine> = machines.iter().collect();
    let mut clients = Vec::new();
    let mut latencies = Vec::new();
    let mut failures = BTreeMap::new();
    let mut first_failed = 0;
    let mut passes = 0;
    while !out.is_empty() && passes < MAX_PASSES && Instant::now() < deadline {
        if passes > 0 {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        passes += 1;
        let results: Vec<(&Machine, Result<async_nats::Client, String>, f64)> =
            futures::stream::iter(out)
                .map(|machine| async move {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return (machine, Err("round deadline passed".to_owned()), 0.0);
                    }
                    let t = Instant::now();
                    let outcome =
                        connect_one(target, machine, token, CONNECT_TIMEOUT.min(left)).await;
                    (machine, outcome, t.elapsed().as_secs_f64() * 1000.0)
                })
                .buffer_unordered(target.inflight)
                .collect()
                .await;
        out = Vec::new();
        for (machine, outcome, ms) in results {
            match outcome {
                Ok(client) => {
                    clients.push(client);
                    latencies.push(ms);
                }
                Err(why) => {
                    *failures.entry(why).or_insert(0) += 1;
                    out.push(machine);
                }
            }
        }
        if passes == 1 {
            first_failed = out.len();
        }
    }
    let wall = started.elapsed().as_secs_f64();
    let b1 = backend.map(Backend::cpu).transpose()?;
    let n1 = nats.proc.sample()?;
    let me1 = procs::sample(std::process::id())?;
    let open = connections(nats).await?;
    drop(clients);
    let closed = super::wait_until(
        "the broker to drop the closed clients",
        Duration::from_secs(60),
        Duration::from_millis(200),
        || async { Ok(connections(nats).await? <= base_connections) },
    )
    .await;
    if let Err(err) = closed {
        tracing::warn!(
            error = format!("{err:#}"),
            "clients still counted by the broker"
        );
    }
    let backend_cpu = match (b0, b1) {
        (Some(a), Some(b)) => Some(b - a),
        _ => None,
    };
    let round = Round {
        label,
        wall,
        passes,
        first_failed,
        never: out.len(),
        latencies: sorted(latencies),
        failures,
        refusals: callout_refusals(&log, log_from),
        backend_cpu,
        broker_cpu: n1.cpu_secs - n0.cpu_secs,
        broker_rss_before: n0.rss_bytes,
        broker_rss_open: n1.rss_bytes,
        client_cpu: (me1.cpu_secs - me0.cpu_secs) - backend_cpu.unwrap_or(0.0),
        load,
    };
    println!(
        "connect: {label}: {} ok in {:.2} s ({:.0}/s), p50 {:.1} ms, p99 {:.1} ms, failed {:?}, \
         callout refused {:?}, backend CPU {:?} s, broker CPU {:.2} s, broker RSS {} with \
         {open} connections",
        round.ok(),
        round.wall,
        round.rate(),
        percentile(&round.latencies, 50.0),
        percentile(&round.latencies, 99.0),
        round.failures,
        round.refusals,
        round.backend_cpu,
        round.broker_cpu,
        mib(round.broker_rss_open),
    );
    Ok(round)
}

/// Client connections the broker counts (`/varz`).
async fn connections(nats: &Nats) -> anyhow::Result<u64> {
    let port = nats
        .monitor_port
        .context("nats-server without monitoring")?;
    let varz: serde_json::Value = reqwest::get(format!("http://127.0.0.1:{port}/varz"))
        .await?
        .error_for_status()?
        .json()
        .await?;
    varz["connections"]
        .as_u64()
        .context("/varz without connections")
}

/// Waits until the callout answers: one machine enrolled with a token of its own.
async fn warm_up(registry: &Registry, target: &Target) -> anyhow::Result<()> {
    let (_, token) = registry
        .create_token(
            None,
            chrono::Duration::hours(1),
            1,
            "kanade-bench",
            chrono::Utc::now(),
        )
        .await?;
    let machine = Machine {
        pc_id: "bench-warmup".to_owned(),
        seed: kanade_protocol::signing::SigningKey::generate().seed(),
    };
    let started = Instant::now();
    loop {
        match connect_one(target, &machine, Some(&token), Duration::from_secs(5)).await {
            Ok(client) => {
                drop(client);
                return Ok(());
            }
            Err(why) if started.elapsed() > Duration::from_secs(30) => {
                bail!("the auth callout did not let a machine in within 30 s: {why}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

/// How the machines stand in the registry, by status.
async fn count_statuses(
    registry: &Registry,
    machines: &[Machine],
) -> anyhow::Result<BTreeMap<String, usize>> {
    let found: Vec<anyhow::Result<Option<String>>> = futures::stream::iter(machines)
        .map(|m| async move {
            Ok(registry
                .identity(&m.pc_id)
                .await?
                .map(|id| format!("{:?}", id.status).to_lowercase()))
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let mut out = BTreeMap::new();
    for status in found {
        let key = status?.unwrap_or_else(|| "not recorded".to_owned());
        *out.entry(key).or_insert(0) += 1;
    }
    Ok(out)
}

/// Sets every machine's `last_seen` just past `SEEN_EVERY` ago, as after a broker restart
/// of machines that had been connected for a while.
async fn age_last_seen(registry: &Registry, machines: &[Machine]) -> anyhow::Result<()> {
    let then = chrono::Utc::now() - SEEN_EVERY - chrono::Duration::minutes(1);
    let edits: Vec<anyhow::Result<Option<_>>> = futures::stream::iter(machines)
        .map(|m| {
            registry.edit_identity(&m.pc_id, move |current| {
                Ok(current.map(|mut id| {
                    id.last_seen = then;
                    id
                }))
            })
        })
        .buffer_unordered(64)
        .collect()
        .await;
    for edit in edits {
        edit?;
    }
    Ok(())
}

fn report(
    n: usize,
    inflight: usize,
    tls: bool,
    backend_idle_pct: f64,
    statuses: &BTreeMap<String, usize>,
    rounds: &[Round],
) -> String {
    let base_rate = rounds[0].rate();
    let base_p50 = percentile(&rounds[0].latencies, 50.0);
    let mut md = format!(
        "### 7. Broker connect through the auth callout\n\n\
         {} machine connects, {inflight} in flight at a time, each with a fresh nkey and its \
         own name `kanade-agent/<pc_id>` and inbox prefix (as the agent connects), {}, to a real \
         nats-server configured by `BrokerKeys::broker_config` whose auth callout is answered by \
         the real backend (`kanade_backend::serve` with `[nats] auth = \"callout\"`) running in \
         the benchmark process on a tokio runtime of its own; its CPU is the sum over that \
         runtime's threads (idle before the rounds: {backend_idle_pct:.1} % of one core). A \
         connect is timed from the TCP connect until the server answered a first request (TLS \
         handshake, nonce signature and the callout's decision included; the request goes to a \
         `$JS.FC` subject the agent's grant allows and nothing subscribes to, so the server \
         itself answers \"no responders\"), {} s at most; all \
         connections stay open until the round's last one is done, then are closed. The \
         baseline connects the same way to a server with the same TLS but no auth at all. \
         Broker RSS is read with all N connections open. \"Client\" is the rest of the \
         benchmark process (the N async-nats clients). nats-server, backend and clients share \
         the machine's 2 cores.\n\n\
         A machine refused or timed out tries again, as an agent does, in passes over the \
         machines still out (at most {MAX_PASSES}, 250 ms apart); \"connected\" counts \
         machines in at the end, \"first try failed\" machines whose first attempt failed, \
         \"failed attempts\" all failed attempts; connects/s is connected over the round's \
         wall time, retries included; latencies are of successful attempts.\n\n\
         | round | connected | first try failed | failed attempts | passes | wall | connects/s | vs. baseline | p50 | p99 | max | backend CPU | broker CPU | broker RSS before → open | client CPU | load |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
        thousands(n as f64),
        if tls {
            "over TLS with a CA pinned (as in production)"
        } else {
            "in clear text"
        },
        CONNECT_TIMEOUT.as_secs(),
    );
    for r in rounds {
        let max = r.latencies.last().copied().unwrap_or(f64::NAN);
        md.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} s | {} | {:.2} | {:.1} ms | {:.1} ms | {:.0} ms | {} | {:.1} s | {} → {} | {:.1} s | {} |\n",
            r.label,
            thousands(r.ok() as f64),
            thousands(r.first_failed as f64),
            thousands(r.failed() as f64),
            r.passes,
            r.wall,
            thousands(r.rate()),
            r.rate() / base_rate,
            percentile(&r.latencies, 50.0),
            percentile(&r.latencies, 99.0),
            max,
            r.backend_cpu
                .map_or("–".to_owned(), |c| format!("{c:.1} s")),
            r.broker_cpu,
            mib(r.broker_rss_before),
            mib(r.broker_rss_open),
            r.client_cpu,
            r.load,
        ));
    }
    md.push_str("\nPer successful connect:\n\n");
    for r in rounds {
        let ok = r.ok().max(1) as f64;
        md.push_str(&format!(
            "- {}: backend {} CPU, broker {:.2} ms CPU, p50 {:.1}× the baseline's",
            r.label,
            r.backend_cpu
                .map_or("–".to_owned(), |c| format!("{:.2} ms", c * 1000.0 / ok)),
            r.broker_cpu * 1000.0 / ok,
            percentile(&r.latencies, 50.0) / base_p50,
        ));
        if r.never > 0 {
            md.push_str(&format!(
                "; **{} never connected**",
                thousands(r.never as f64)
            ));
        }
        if !r.failures.is_empty() {
            let why: Vec<String> = r
                .failures
                .iter()
                .map(|(k, v)| format!("{} {k}", thousands(*v as f64)))
                .collect();
            md.push_str(&format!("; failed attempts: {}", why.join(", ")));
        }
        if !r.refusals.is_empty() {
            let why: Vec<String> = r
                .refusals
                .iter()
                .map(|(k, v)| format!("{} × \"{k}\"", thousands(*v as f64)))
                .collect();
            md.push_str(&format!(
                "; refusals per nats-server's log: {}",
                why.join(", ")
            ));
        }
        md.push('\n');
    }
    let statuses: Vec<String> = statuses
        .iter()
        .map(|(k, v)| format!("{} {k}", thousands(*v as f64)))
        .collect();
    md.push_str(&format!(
        "\nAfter the enrollment round the registry held: {}. The last round first set every \
         machine's `last_seen` to 11 minutes ago, so each connect also rewrites it (one KV \
         compare-and-set), as after a broker restart of machines connected for a while.\n",
        statuses.join(", ")
    ));
    md
}
