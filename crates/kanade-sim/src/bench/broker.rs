//! Scenario `broker`: what connected machines cost nats-server itself. One real connection per
//! simulated machine (`crate::machines`: the agent's core subscriptions and its six KV watches,
//! i.e. six ordered consumers each) against a nats-server whose resources kanade's backend
//! would create (`kanade_bus::ensure_resources`). At each size the broker's CPU and resident
//! memory are read idle (over a fixed window) and during a fan-out (one command on
//! `commands.all`, every machine answering with one acknowledged result). Clear text and no
//! auth callout: the callout's cost per connect is the `connect` scenario's.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use kanade_protocol::subject;

use super::procs::{self, Nats, NatsOptions};
use super::{Env, mib};
use crate::machines::{self, Machine, WATCHES_PER_MACHINE};

/// Connects in flight at once.
const CONNECTING: usize = 64;

struct Row {
    machines: usize,
    consumers: u64,
    idle_cpu_percent: f64,
    rss_bytes: u64,
    fanout: Duration,
    fanout_cpu_secs: f64,
}

async fn monitor(port: u16, path: &str) -> anyhow::Result<serde_json::Value> {
    Ok(reqwest::get(format!("http://127.0.0.1:{port}{path}"))
        .await?
        .json()
        .await?)
}

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let limit = machines::raise_fd_limit();
    // The bench process holds one descriptor per machine, and so does nats-server (started
    // from here, with the same limit); keep some for everything else.
    let ceiling = (limit as usize).saturating_sub(2_000);
    let mut sizes: Vec<usize> = [1_000, 5_000, 20_000]
        .iter()
        .map(|n| env.scaled(*n, 50).min(ceiling))
        .collect();
    sizes.dedup();
    let window = env.scaled_time(Duration::from_secs(20), Duration::from_secs(5));
    let dir = env.scratch("broker")?;
    let nats = Nats::start_with(
        &dir.join("nats"),
        &NatsOptions {
            monitor: true,
            // Room for every reservation of kanade's streams (nothing is preallocated), and
            // for more than nats-server 2.15's default of 1,000 consumers per stream: every
            // agent watches `command_keys`, `schedules`, `jobs`, … (deploy/examples/broker.conf).
            config: Some(
                "jetstream {\n  max_file_store: 64GB\n  limits { default_max_consumers: -1 }\n}\n"
                    .to_owned(),
            ),
            ..NatsOptions::default()
        },
    )?;
    let port = nats.monitor_port.context("no monitoring port")?;
    let setup = async_nats::connect(&nats.url).await?;
    let js = async_nats::jetstream::new(setup.clone());
    kanade_bus::ensure_resources(&js)
        .await
        .context("creating kanade's streams and buckets")?;
    let results = Arc::new(AtomicU64::new(0));
    let mut fleet: Vec<Machine> = Vec::new();
    let mut rows = Vec::new();
    let load_before = procs::load_average();
    for &size in &sizes {
        let started = Instant::now();
        let mut pending = FuturesUnordered::new();
        let mut next = fleet.len();
        while fleet.len() < size {
            while next < size && pending.len() < CONNECTING {
                let (url, results) = (nats.url.clone(), results.clone());
                let pc = format!("bm-{next:06}");
                pending.push(async move { machines::connect(&url, &pc, true, results).await });
                next += 1;
            }
            match pending.next().await {
                Some(machine) => fleet.push(machine?),
                None => break,
            }
        }
        println!(
            "    {size} machines connected in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        let varz = monitor(port, "/varz").await?;
        let connections = varz["connections"].as_u64().unwrap_or(0);
        if connections < size as u64 {
            bail!("the broker counts {connections} connections, expected {size}");
        }
        let consumers = monitor(port, "/jsz")
            .await?
            .get("consumers")
            .and_then(|c| c.as_u64())
            .unwrap_or(0);

        // Idle: connections, subscriptions and consumers only (consumer heartbeats).
        let a = nats.proc.sample()?;
        tokio::time::sleep(window).await;
        let b = nats.proc.sample()?;
        let idle_cpu_percent = procs::cpu_percent(&a, &b);

        // Fan-out: one command to every machine, one acknowledged result back from each.
        let before = results.load(Ordering::Relaxed);
        let c = nats.proc.sample()?;
        let t0 = Instant::now();
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Kanade-Exec", format!("bench-{size}").as_str());
        js.publish_with_headers(subject::COMMANDS_ALL, headers, "{}".into())
            .await?
            .await?;
        let deadline = t0 + Duration::from_secs(300);
        while results.load(Ordering::Relaxed) < before + size as u64 {
            if Instant::now() > deadline {
                bail!(
                    "{} of {size} results within 300 s",
                    results.load(Ordering::Relaxed) - before
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let fanout = t0.elapsed();
        let d = nats.proc.sample()?;
        rows.push(Row {
            machines: size,
            consumers,
            idle_cpu_percent,
            rss_bytes: d.rss_bytes.max(b.rss_bytes),
            fanout,
            fanout_cpu_secs: d.cpu_secs - c.cpu_secs,
        });
        println!(
            "    {size}: idle {idle_cpu_percent:.1} % CPU, {}; fan-out {:.2} s, {:.2} CPU s",
            mib(d.rss_bytes),
            fanout.as_secs_f64(),
            d.cpu_secs - c.cpu_secs
        );
    }
    drop(fleet);
    let load_after = procs::load_average();

    let mut md = String::new();
    writeln!(
        md,
        "### 8. Broker cost of connected machines (one connection each)\n\n\
         nats-server alone, each simulated machine on its own connection with a real agent's \
         subscriptions (8 core ones) and KV watches ({WATCHES_PER_MACHINE} ordered consumers; \
         the agent creates no durable one). Idle is read over {} s; the fan-out is one command \
         on `commands.all` answered by one acknowledged result per machine. Open-file limit of \
         the bench process: {limit}. Load average before {load_before}, after {load_after}.\n",
        window.as_secs()
    )?;
    writeln!(
        md,
        "| machines | consumers | idle CPU (% of a core) | per 1,000 machines | broker RSS | per 1,000 machines | fan-out | broker CPU s in it | per 1,000 machines |"
    )?;
    writeln!(md, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")?;
    for r in &rows {
        let k = r.machines as f64 / 1000.0;
        writeln!(
            md,
            "| {} | {} | {:.1} | {:.2} | {} | {:.1} MiB | {:.2} s | {:.2} | {:.3} |",
            r.machines,
            r.consumers,
            r.idle_cpu_percent,
            r.idle_cpu_percent / k,
            mib(r.rss_bytes),
            r.rss_bytes as f64 / 1048576.0 / k,
            r.fanout.as_secs_f64(),
            r.fanout_cpu_secs,
            r.fanout_cpu_secs / k,
        )?;
    }
    Ok(md)
}
