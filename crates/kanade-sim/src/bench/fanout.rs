//! Scenario `fanout`: one command to every simulated machine through `POST /api/exec`,
//! timed from the call until `GET /api/executions/{id}` says completed (every result
//! projected), at 1,000 to 100,000 machines, beside two references from the same run: the
//! moment the broker had acknowledged every result (publish-only) and plain SQLite inserts of
//! as many rows (the raw limit).

use std::time::{Duration, Instant};

use kanade_protocol::api::{ExecResponse, ExecutionDetail, ExecutionSummary, Page};

use super::procs::{self, BackendSetup, Nats, NatsOptions};
use super::{
    Env, api_client, online_count, percentile, register_job, sorted, thousands, wait_until,
};
use crate::spec::RunTime;
use crate::{Fleet, FleetConfig};

pub const JOB: &str = "id: bench-fanout
version: \"1\"
description: fan-out benchmark (simulated machines only)
execute:
  shell: sh
  script: \"true\"
  timeout: 60s
";

/// Sizes before scaling (`KANADE_BENCH_FANOUT_SIZES`, comma-separated, overrides them).
const SIZES: [usize; 4] = [1000, 10_000, 50_000, 100_000];
/// Goals: (machines, seconds until every result is projected).
const GOALS: [(usize, f64); 3] = [(10_000, 2.0), (50_000, 2.0), (100_000, 4.0)];

/// Runs per size: 5 up to 10,000 machines, 3 above (`KANADE_BENCH_FANOUT_RUNS` overrides).
fn runs_for(n: usize) -> usize {
    std::env::var("KANADE_BENCH_FANOUT_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if n <= 10_000 { 5 } else { 3 })
}

fn sizes() -> Vec<usize> {
    std::env::var("KANADE_BENCH_FANOUT_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|s| s.trim().parse().ok()).collect())
        .filter(|v: &Vec<usize>| !v.is_empty())
        .unwrap_or_else(|| SIZES.to_vec())
}

struct Run {
    elapsed: Duration,
    /// Until the broker acknowledged every result of the run (publish-only).
    published: Duration,
    polls: usize,
    /// One read of the whole detail (N result rows) once completed.
    detail_read: Duration,
    /// CPU seconds each process spent from the call until the run was projected.
    cpu: RunCpu,
}

/// CPU seconds spent during one run by the backend, nats-server and the simulator (this
/// process: the simulated fleet and the poller).
#[derive(Debug, Clone, Copy, Default)]
struct RunCpu {
    backend: f64,
    broker: f64,
    simulator: f64,
}

fn cpu_now(backend: &procs::Proc, nats: &Nats) -> anyhow::Result<RunCpu> {
    Ok(RunCpu {
        backend: backend.sample()?.cpu_secs,
        broker: nats.proc.sample()?.cpu_secs,
        simulator: procs::sample(std::process::id())?.cpu_secs,
    })
}

impl std::ops::Sub for RunCpu {
    type Output = RunCpu;
    fn sub(self, o: RunCpu) -> RunCpu {
        RunCpu {
            backend: self.backend - o.backend,
            broker: self.broker - o.broker,
            simulator: self.simulator - o.simulator,
        }
    }
}

/// What one size measured.
struct Size {
    runs: Vec<Run>,
    note: String,
    /// Plain SQLite: n result rows, `projector::BATCH` per transaction.
    raw: Duration,
    load: String,
}

/// Waits until every result of the run that began at `before` was handed over and
/// acknowledged by the broker; the time since `t0`.
async fn published(fleet: &Fleet, before: u64, n: usize, t0: Instant) -> Duration {
    loop {
        let s = fleet.stats();
        if s.results >= before + n as u64 && s.unacked == 0 {
            return t0.elapsed();
        }
        if t0.elapsed() > Duration::from_secs(120) {
            return t0.elapsed();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

/// How the results projector batched the size's results, from the backend's `/metrics`
/// (`kanade_projector_batch_size` sum and count): "results in N transactions (mean M)".
async fn results_batches(http: &reqwest::Client, base: &str) -> anyhow::Result<String> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .error_for_status()?
        .text()
        .await?;
    let label = format!(
        "{{projector=\"{}\"}}",
        kanade_protocol::names::CONSUMER_RESULTS
    );
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}{label} ")))
            .and_then(|v| v.trim().parse::<f64>().ok())
    };
    let (Some(sum), Some(count)) = (
        value("kanade_projector_batch_size_sum"),
        value("kanade_projector_batch_size_count"),
    ) else {
        anyhow::bail!("no results batch sizes in /metrics");
    };
    Ok(format!(
        "results applied in {} transactions (mean {:.0} per transaction)",
        thousands(count),
        sum / count.max(1.0)
    ))
}

/// The raw SQLite limit for `n` rows, in a fresh database made by the backend's migrations.
fn raw_limit(dir: &std::path::Path, n: usize) -> anyhow::Result<Duration> {
    let rows = super::ingest::results(n, 200);
    let mut conn = super::ingest::fresh_db(&dir.join("raw.db"))?;
    super::ingest::seed_executions(
        &mut conn,
        n.div_ceil(super::ingest::PER_EXEC),
        super::ingest::PER_EXEC,
    )?;
    super::ingest::raw_batched(&mut conn, &rows)
}

async fn one_size(env: &Env, n: usize, run_time: RunTime) -> anyhow::Result<Size> {
    let dir = env.scratch(&format!("fanout-{n}"))?;
    // Every stream and store the backend creates must fit the server's file store limit,
    // which nats-server otherwise derives from the free disk (a busy disk made it refuse).
    let nats = Nats::start_with(
        &dir.join("nats"),
        &NatsOptions {
            config: Some("jetstream { max_file_store: 256GB }\n".to_owned()),
            ..NatsOptions::default()
        },
    )?;
    let setup = BackendSetup::new(&env.bin("kanade-backend"), &dir.join("backend"), &nats.url)?;
    let mut backend = setup.start().await?;
    let base = setup.base();
    let http = api_client()?;
    register_job(&http, &base, JOB).await?;
    let fleet = Fleet::start(FleetConfig {
        nats_url: nats.url.clone(),
        machines: n,
        ramp: Duration::from_millis((n as u64 / 5).max(1000)),
        run_time,
        fail_rate: 0.05,
        output_bytes: 200,
        gate_reads: std::env::var("KANADE_BENCH_GATE_READS").as_deref() != Ok("0"),
        ..FleetConfig::default()
    })
    .await?;
    wait_until(
        "every machine online",
        Duration::from_secs(300),
        Duration::from_millis(200),
        || {
            let (http, base) = (http.clone(), base.clone());
            async move { Ok(online_count(&http, &base).await? >= n as u64) }
        },
    )
    .await?;
    let mut runs = Vec::new();
    for _ in 0..runs_for(n) {
        let before = fleet.stats().results;
        let cpu0 = cpu_now(&backend, &nats)?;
        let t0 = Instant::now();
        let fired: ExecResponse = http
            .post(format!("{base}/api/exec/bench-fanout"))
            .json(&serde_json::json!({"target": {"all": true}}))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        anyhow::ensure!(
            fired.target_count == n as i64,
            "target_count {} but {n} machines are online",
            fired.target_count
        );
        // Polled by the executions list (the summary with its counters), not by the detail,
        // whose every read returns all N result rows and would load the backend it measures.
        let mut polls = 0;
        let projected = async {
            loop {
                let page: Page<ExecutionSummary> = http
                    .get(format!("{base}/api/executions?job_id=bench-fanout&limit=1"))
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                polls += 1;
                if page
                    .items
                    .first()
                    .is_some_and(|e| e.exec_id == fired.exec_id && e.status == "completed")
                {
                    break Ok::<_, anyhow::Error>(t0.elapsed());
                }
                anyhow::ensure!(
                    t0.elapsed() < Duration::from_secs(120),
                    "execution did not complete in 120 s"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        };
        let (elapsed, published) = tokio::join!(projected, published(&fleet, before, n, t0));
        let elapsed = elapsed?;
        let cpu = cpu_now(&backend, &nats)? - cpu0;
        let p0 = Instant::now();
        let detail: ExecutionDetail = http
            .get(format!("{base}/api/executions/{}", fired.exec_id))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let detail_read = p0.elapsed();
        anyhow::ensure!(
            detail.results.len() == n,
            "completed with {} result rows, expected {n}",
            detail.results.len()
        );
        runs.push(Run {
            elapsed,
            published,
            polls,
            detail_read,
            cpu,
        });
        fleet.wait_idle(Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let batches = results_batches(&http, &base).await.unwrap_or_default();
    let cpu = backend.sample()?;
    let stats = fleet.stop(Duration::from_secs(10)).await;
    backend.stop(Duration::from_secs(10));
    let load = procs::load_average();
    let note = format!(
        "{} machines: {} commands answered, {} skipped, {} JetStream retries, backend CPU {:.1} s in total, {batches}; load {load}",
        thousands(n as f64),
        thousands(stats.commands as f64),
        stats.skipped,
        stats.js_retries,
        cpu.cpu_secs,
    );
    drop(nats);
    // The same machine, right after, with nothing else of the run left running.
    let raw = raw_limit(&dir, n)?;
    Ok(Size {
        runs,
        note,
        raw,
        load,
    })
}

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let run_time = RunTime::Uniform(Duration::ZERO, Duration::from_millis(100));
    let gates = if std::env::var("KANADE_BENCH_GATE_READS").as_deref() == Ok("0") {
        "does not read the version pin and revocation (`KANADE_BENCH_GATE_READS=0`)"
    } else {
        "takes the version pin and revocation as the real agent does"
    };
    let batch = thousands(kanade_backend::projector::BATCH as f64);
    let mut md = format!(
        "### 2. Fan-out through the API\n\n\
         `POST /api/exec/bench-fanout` with `{{\"target\":{{\"all\":true}}}}` to N simulated \
         machines (all online by heartbeat first, so `target_count` = N), timed from the call \
         until `GET /api/executions?job_id=bench-fanout&limit=1` (polled one request at a \
         time, 10 ms apart) reports it `completed`, i.e. every result projected into SQLite; \
         then one `GET /api/executions/{{id}}` checks that it holds N result rows (\"detail \
         read\", not part of the time). Each machine {gates}, \"runs\" for {run_time} \
         (uniform) and publishes its result, announced by `events.started` first only when \
         the run lasts over 1 s, as the real agent does; 5 % exit 1. The \
         commands.all message reaches the simulator once per connection and is fanned out \
         in-process. Broker, backend and simulator share the machine's cores. References from \
         the same run: **publish-only** is the moment the simulator had every result of the run \
         acknowledged by JetStream (what the fan-out costs without the projection); the **raw \
         SQLite limit** inserts N result rows into a fresh database made by the backend's \
         migrations with its pragmas, {batch} rows per transaction (the projector's largest \
         batch), after the size's runs. 5 runs per size up to \
         10,000 machines, 3 above (p99 is then the slowest run).\n\n\
         | machines | p50 | p99 | max | publish-only (p50) | p50 / publish-only | raw SQLite, N rows | p50 / raw | polls (last run) | detail read | load (1 min) |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n"
    );
    let mut notes = Vec::new();
    let mut verdicts = Vec::new();
    for n in sizes() {
        let size = env.scaled(n, 10);
        println!("fanout: {size} machines");
        let result = one_size(env, size, run_time).await?;
        let runs = &result.runs;
        let secs = sorted(runs.iter().map(|r| r.elapsed.as_secs_f64()).collect());
        let publish = sorted(runs.iter().map(|r| r.published.as_secs_f64()).collect());
        let (p50, pub50) = (percentile(&secs, 50.0), percentile(&publish, 50.0));
        let raw = result.raw.as_secs_f64();
        let last = runs.last();
        md.push_str(&format!(
            "| {} | {p50:.3} s | {:.3} s | {:.3} s | {pub50:.3} s | {:.2} | {raw:.3} s | {:.2} | {} | {:.0} ms | {} |\n",
            thousands(size as f64),
            percentile(&secs, 99.0),
            secs.last().copied().unwrap_or(f64::NAN),
            p50 / pub50,
            p50 / raw,
            last.map(|r| r.polls).unwrap_or(0),
            last.map(|r| r.detail_read.as_secs_f64() * 1000.0)
                .unwrap_or(0.0),
            result.load.split_whitespace().next().unwrap_or("?"),
        ));
        let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
        let cpu_p50 = |f: fn(&RunCpu) -> f64| {
            percentile(&sorted(runs.iter().map(|r| f(&r.cpu)).collect()), 50.0)
        };
        let (cb, cn, cs) = (
            cpu_p50(|c| c.backend),
            cpu_p50(|c| c.broker),
            cpu_p50(|c| c.simulator),
        );
        notes.push(format!(
            "{}; CPU per run (median, from the call until projected): backend {cb:.2} s, \
             broker {cn:.2} s, simulator {cs:.2} s, together {:.2} s of the {cores} cores' {:.2} s; \
             runs: {}; publish-only: {}",
            result.note,
            cb + cn + cs,
            cores as f64 * p50,
            runs.iter()
                .map(|r| format!("{:.3} s", r.elapsed.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", "),
            runs.iter()
                .map(|r| format!("{:.3} s", r.published.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if let Some(&(_, goal)) = GOALS.iter().find(|(g, _)| *g == n) {
            let max = secs.last().copied().unwrap_or(f64::NAN);
            let verdict = if max <= goal { "met" } else { "**missed**" };
            verdicts.push(format!(
                "{} machines ≤ {goal:.0} s: {verdict} (slowest run {max:.3} s, p50 {p50:.3} s)",
                thousands(size as f64)
            ));
        }
    }
    md.push('\n');
    for note in notes {
        md.push_str(&format!("- {note}\n"));
    }
    if !verdicts.is_empty() {
        md.push_str(&format!(
            "\nGoals (every result in SQLite, slowest run): {}.\n",
            verdicts.join("; ")
        ));
    }
    Ok(md)
}
