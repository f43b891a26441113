//! `kanade-sim`: runs a simulated fleet against a real broker (and the backend behind it)
//! until `--duration` passes or ctrl-c, printing what it did every few seconds.

use std::time::{Duration, Instant};

use clap::Parser;
use kanade_sim::spec::{self, ChurnRate, GroupSplit, Payload, RunTime};
use kanade_sim::{Fleet, FleetConfig, StatsSnapshot};

const ABOUT: &str = "Simulates a fleet of kanade agents against a real NATS broker and backend, \
without one process or one connection per machine.";

const LONG_ABOUT: &str = "\
Simulates a fleet of kanade agents against a real NATS broker and backend, without one process \
or one connection per machine: a few NATS connections carry N simulated machines. Each machine \
subscribes its own commands.pc.<id> while online; commands.all, commands.group.<g> and pings \
are subscribed once per connection and fanned out in-process to the member machines. Machines \
send real heartbeats and host perf (spread evenly over the interval), answer commands with \
real events.started and results (JetStream, acks awaited in a window), and can leave and \
return over time (--churn) to exercise liveness.

Besides benchmarks, an operator can point it at a staging broker and backend to rehearse a \
rollout: register the job, run `kanade-sim --nats-url nats://staging:4222 --machines 5000 \
--groups canary:2%,wave1:30%,wave2:68% --fail-rate 0.01`, fire the schedule or exec waves and \
watch the dashboard, alerts and counts behave as they would with a real fleet. Use a --prefix \
that no real machine has. The JetStream resources must exist (start the backend, or `kanade \
jetstream setup`). $KANADE_NATS_TOKEN is sent when set.

Not simulated: catching up on missed commands (direct get per subject), live group changes, \
kill requests, the on-disk outbox, config from KV and self-update.";

#[derive(Parser)]
#[command(name = "kanade-sim", version, about = ABOUT, long_about = LONG_ABOUT)]
struct Cli {
    /// Broker URL.
    #[arg(long, env = "KANADE_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Number of simulated machines.
    #[arg(long)]
    machines: usize,
    /// Machine ids are <prefix><number> (zero-padded to 5 digits or more).
    #[arg(long, default_value = "sim-")]
    prefix: String,
    /// Group split, e.g. g1:30%,g2:70% (written into KV agent_groups).
    #[arg(long, value_parser = |s: &str| s.parse::<GroupSplit>(), default_value = "")]
    groups: GroupSplit,
    /// Do not write the groups into KV agent_groups (they are already there).
    #[arg(long)]
    no_write_groups: bool,
    /// Heartbeat interval of each machine.
    #[arg(long, value_parser = spec::duration, default_value = "30s")]
    heartbeat: Duration,
    /// Host perf interval of each machine; 0s sends none.
    #[arg(long, value_parser = spec::duration, default_value = "60s")]
    host_perf: Duration,
    /// Script run time: 100ms (fixed), 50ms..2s (uniform), log:50ms..2s (log-uniform).
    #[arg(long, value_parser = |s: &str| s.parse::<RunTime>(), default_value = "50ms..2s")]
    run_time: RunTime,
    /// Share of runs that exit 1: 0.05 or 5%.
    #[arg(long, value_parser = spec::fraction, default_value = "0.05")]
    fail_rate: f64,
    /// Bytes of stdout per result.
    #[arg(long, default_value_t = 200)]
    output_bytes: usize,
    /// Payload in stdout, fenced as a real job prints it.
    #[arg(long, value_enum, default_value_t = Payload::None)]
    payload: Payload,
    /// Machines leaving over time, e.g. 1%/min or 20/min; each returns after --churn-away.
    #[arg(long, value_parser = |s: &str| s.parse::<ChurnRate>())]
    churn: Option<ChurnRate>,
    /// How long a machine that left stays away.
    #[arg(long, value_parser = spec::duration, default_value = "3m")]
    churn_away: Duration,
    /// Machines join spread evenly over this.
    #[arg(long, value_parser = spec::duration, default_value = "10s")]
    ramp: Duration,
    /// Stop after this long (default: until ctrl-c).
    #[arg(long, value_parser = spec::duration)]
    duration: Option<Duration>,
    /// NATS connections (default: one per 10,000 machines, at most 8).
    #[arg(long, default_value_t = 0)]
    connections: usize,
    /// Skip reading script_current / script_status before each run (the real agent reads them).
    #[arg(long)]
    no_gate_reads: bool,
    /// Seconds between progress lines.
    #[arg(long, value_parser = spec::duration, default_value = "10s")]
    report_every: Duration,
    /// Give every machine a broker connection of its own, with a real agent's subscriptions
    /// and KV watches (kanade_sim::machines), to see what connected machines cost the
    /// broker; each answers commands with one result, and does nothing else (no heartbeats).
    /// Raises the open-file limit to its hard limit.
    #[arg(long)]
    one_connection_per_machine: bool,
}

/// `--one-connection-per-machine`: connects every machine, then holds the connections.
async fn run_connected(cli: &Cli) -> anyhow::Result<()> {
    use futures::StreamExt;
    let limit = kanade_sim::machines::raise_fd_limit();
    println!(
        "kanade-sim: {} machines, one connection each, to {} (open-file limit {limit})",
        cli.machines, cli.nats_url
    );
    let results = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let started = Instant::now();
    let connects = futures::stream::iter(0..cli.machines).map(|i| {
        let (url, results) = (cli.nats_url.clone(), results.clone());
        let id = format!("{}{i:05}", cli.prefix);
        async move { kanade_sim::machines::connect(&url, &id, true, results).await }
    });
    let mut connects = connects.buffer_unordered(64);
    let mut fleet = Vec::with_capacity(cli.machines);
    while let Some(machine) = connects.next().await {
        fleet.push(machine?);
    }
    println!(
        "{} connected in {:.1} s",
        fleet.len(),
        started.elapsed().as_secs_f64()
    );
    let until = async {
        match cli.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = until => {}
        _ = tokio::signal::ctrl_c() => {}
    }
    println!(
        "results sent: {}",
        results.load(std::sync::atomic::Ordering::Relaxed)
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    if cli.one_connection_per_machine {
        return run_connected(&cli).await;
    }
    let config = FleetConfig {
        nats_url: cli.nats_url,
        machines: cli.machines,
        prefix: cli.prefix,
        groups: cli.groups,
        write_groups: !cli.no_write_groups,
        heartbeat: cli.heartbeat,
        host_perf: Some(cli.host_perf).filter(|d| !d.is_zero()),
        run_time: cli.run_time,
        fail_rate: cli.fail_rate,
        output_bytes: cli.output_bytes,
        payload: cli.payload,
        churn: cli.churn,
        churn_away: cli.churn_away,
        ramp: cli.ramp,
        connections: cli.connections,
        gate_reads: !cli.no_gate_reads,
        ..FleetConfig::default()
    };
    println!(
        "kanade-sim: {} machines ({}..{}) on {} connection(s) to {}; heartbeat {}, run time {}",
        config.machines,
        config.machine_id(0),
        config.machine_id(config.machines - 1),
        config.connection_count(),
        config.nats_url,
        humantime::format_duration(config.heartbeat),
        config.run_time,
    );
    let started = Instant::now();
    let fleet = Fleet::start(config).await?;
    let until = async {
        match cli.duration {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(until);
    let mut every = tokio::time::interval(cli.report_every.max(Duration::from_secs(1)));
    every.tick().await;
    loop {
        tokio::select! {
            _ = &mut until => break,
            _ = tokio::signal::ctrl_c() => break,
            _ = every.tick() => print_line(started, &fleet.stats()),
        }
    }
    println!("stopping: letting running jobs finish (up to 30 s)");
    let last = fleet.stop(Duration::from_secs(30)).await;
    print_line(started, &last);
    if last.unacked > 0 || last.js_lost > 0 {
        println!(
            "warning: {} message(s) unacknowledged, {} lost",
            last.unacked, last.js_lost
        );
    }
    Ok(())
}

fn print_line(started: Instant, s: &StatsSnapshot) {
    println!(
        "[{:>6.0}s] online {} (joins {}, leaves {}) | heartbeats {} host_perf {} pings {} | \
         commands {} started {} skipped {} results {} in flight {} | js acked {}/{} retries {} lost {}",
        started.elapsed().as_secs_f64(),
        s.online,
        s.joins,
        s.leaves,
        s.heartbeats,
        s.host_perf,
        s.pings,
        s.commands,
        s.runs_started,
        s.skipped,
        s.results,
        s.in_flight,
        s.js_acked,
        s.js_published,
        s.js_retries,
        s.js_lost,
    );
}
