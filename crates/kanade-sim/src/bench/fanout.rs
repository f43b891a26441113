//! Scenario `fanout`: one command to every simulated machine through `POST /api/exec`,
//! timed from the call until `GET /api/executions/{id}` says completed (every result
//! projected), five runs each at 1,000 and 10,000 machines.

use std::time::{Duration, Instant};

use kanade_protocol::api::{ExecResponse, ExecutionDetail};

use super::procs::{self, BackendSetup, Nats};
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

const RUNS: usize = 5;

struct Run {
    elapsed: Duration,
    polls: usize,
    last_poll: Duration,
}

async fn one_size(env: &Env, n: usize, run_time: RunTime) -> anyhow::Result<(Vec<Run>, String)> {
    let dir = env.scratch(&format!("fanout-{n}"))?;
    let nats = Nats::start(&dir.join("nats"))?;
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
        ..FleetConfig::default()
    })
    .await?;
    wait_until(
        "every machine online",
        Duration::from_secs(120),
        Duration::from_millis(200),
        || {
            let (http, base) = (http.clone(), base.clone());
            async move { Ok(online_count(&http, &base).await? >= n as u64) }
        },
    )
    .await?;
    let mut runs = Vec::new();
    for _ in 0..RUNS {
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
        let mut polls = 0;
        let last_poll = loop {
            let p0 = Instant::now();
            let detail: ExecutionDetail = http
                .get(format!("{base}/api/executions/{}", fired.exec_id))
                .send()
                .await?
                .error_for_status()?
                .json()
                .await?;
            polls += 1;
            let took = p0.elapsed();
            if detail.execution.status == "completed" {
                anyhow::ensure!(
                    detail.results.len() == n,
                    "completed with {} result rows, expected {n}",
                    detail.results.len()
                );
                break took;
            }
            anyhow::ensure!(
                t0.elapsed() < Duration::from_secs(120),
                "execution did not complete in 120 s"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        runs.push(Run {
            elapsed: t0.elapsed(),
            polls,
            last_poll,
        });
        fleet.wait_idle(Duration::from_secs(30)).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let cpu = backend.sample()?;
    let stats = fleet.stop(Duration::from_secs(10)).await;
    backend.stop(Duration::from_secs(10));
    let note = format!(
        "{} machines: {} commands answered, {} skipped, {} JetStream retries, backend CPU {:.1} s in total; load {}",
        thousands(n as f64),
        thousands(stats.commands as f64),
        stats.skipped,
        stats.js_retries,
        cpu.cpu_secs,
        procs::load_average(),
    );
    drop(nats);
    Ok((runs, note))
}

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let run_time = RunTime::Uniform(Duration::ZERO, Duration::from_millis(100));
    let mut md = format!(
        "### 2. Fan-out through the API\n\n\
         `POST /api/exec/bench-fanout` with `{{\"target\":{{\"all\":true}}}}` to N simulated \
         machines (all online by heartbeat first, so `target_count` = N), timed from the call \
         until `GET /api/executions/{{id}}` (polled one request at a time, 20 ms apart) \
         reports `completed` with N result rows. Each machine reads `script_current` and \
         `script_status` (as the real agent does), publishes `events.started`, \"runs\" for \
         {run_time} (uniform) and publishes its result; 5 % exit 1. The commands.all \
         message reaches the simulator once per connection and is fanned out in-process. \
         {RUNS} runs per size; with 5 runs p99 is the slowest run.\n\n\
         | machines | p50 | p99 | max | polls (last run) | last poll took |\n|---:|---:|---:|---:|---:|---:|\n"
    );
    let mut notes = Vec::new();
    let mut at_10k = None;
    for n in [1000, 10_000] {
        let size = env.scaled(n, 10);
        println!("fanout: {size} machines");
        let (runs, note) = one_size(env, size, run_time).await?;
        let secs = sorted(runs.iter().map(|r| r.elapsed.as_secs_f64()).collect());
        let last = runs.last();
        md.push_str(&format!(
            "| {} | {:.3} s | {:.3} s | {:.3} s | {} | {:.0} ms |\n",
            thousands(size as f64),
            percentile(&secs, 50.0),
            percentile(&secs, 99.0),
            secs.last().copied().unwrap_or(f64::NAN),
            last.map(|r| r.polls).unwrap_or(0),
            last.map(|r| r.last_poll.as_secs_f64() * 1000.0)
                .unwrap_or(0.0),
        ));
        notes.push(format!(
            "{note}; runs: {}",
            runs.iter()
                .map(|r| format!("{:.3} s", r.elapsed.as_secs_f64()))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        if n == 10_000 {
            at_10k = Some((size, secs.last().copied().unwrap_or(f64::NAN)));
        }
    }
    md.push('\n');
    for note in notes {
        md.push_str(&format!("- {note}\n"));
    }
    if let Some((size, max)) = at_10k {
        let verdict = if max <= 2.0 { "met" } else { "**missed**" };
        md.push_str(&format!(
            "\nGoal at 10,000 machines (all results in SQLite within 2 s): {verdict} at {} \
             machines (slowest run {max:.3} s).\n",
            thousands(size as f64)
        ));
    }
    Ok(md)
}
