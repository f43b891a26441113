//! Scenario `api`: read latency with 50,000 live simulated machines (heartbeating while the
//! load runs) and 2,000 executions in the database: 32 concurrent loopback clients, bounded
//! by request count and time, per endpoint.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::ingest::{fresh_db, seed_executions};
use super::procs::{self, BackendSetup, Nats, cpu_percent};
use super::{Env, api_client, online_count, percentile, sorted, thousands, wait_until};
use crate::{Fleet, FleetConfig};

pub const CLIENTS: usize = 32;

/// Latencies of one endpoint under load.
pub struct Load {
    pub latencies_ms: Vec<f64>,
    pub errors: usize,
    pub elapsed: Duration,
}

/// `clients` concurrent loops of GET `url` until `max_requests` were sent or `max_time` passed.
pub async fn load(
    http: &reqwest::Client,
    url: &str,
    clients: usize,
    max_requests: usize,
    max_time: Duration,
) -> Load {
    let sent = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (http, url, sent) = (http.clone(), url.to_owned(), sent.clone());
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::new();
            let mut errors = 0;
            while sent.fetch_add(1, Ordering::Relaxed) < max_requests
                && started.elapsed() < max_time
            {
                let t = Instant::now();
                let ok = match http.get(&url).send().await {
                    Ok(resp) if resp.status().is_success() => resp.bytes().await.is_ok(),
                    _ => false,
                };
                if ok {
                    lat.push(t.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
            }
            (lat, errors)
        }));
    }
    let mut out = Load {
        latencies_ms: Vec::new(),
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for task in tasks {
        if let Ok((lat, errors)) = task.await {
            out.latencies_ms.extend(lat);
            out.errors += errors;
        }
    }
    out.elapsed = started.elapsed();
    out
}

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let n = env.scaled(50_000, 100);
    let execs = 2000;
    let max_requests = env.scaled(20_000, 500);
    let max_time = env.scaled_time(Duration::from_secs(30), Duration::from_secs(5));
    let dir = env.scratch("api")?;
    let nats = Nats::start(&dir.join("nats"))?;
    let setup = BackendSetup::new(&env.bin("kanade-backend"), &dir.join("backend"), &nats.url)?;
    {
        let mut conn = fresh_db(&setup.db)?;
        seed_executions(&mut conn, execs, 10_000)?;
    }
    let mut backend = setup.start().await?;
    let base = setup.base();
    let http = api_client()?;
    println!("api: {n} machines joining");
    let fleet = Fleet::start(FleetConfig {
        nats_url: nats.url.clone(),
        machines: n,
        ramp: Duration::from_secs(20).min(Duration::from_millis(n as u64)),
        heartbeat: Duration::from_secs(30),
        ..FleetConfig::default()
    })
    .await?;
    wait_until(
        "every machine online",
        Duration::from_secs(180),
        Duration::from_secs(1),
        || {
            let (http, base) = (http.clone(), base.clone());
            async move { Ok(online_count(&http, &base).await? >= n as u64) }
        },
    )
    .await?;
    let endpoints = [
        "/api/agents?online=true&limit=50",
        "/api/agents?limit=50&sort=last_heartbeat&order=desc",
        "/api/executions",
    ];
    let mut md = format!(
        "### 4. API under load\n\n\
         {} simulated machines online and heartbeating every 30 s during the load, {} \
         executions in the database. {CLIENTS} concurrent clients (Rust, reqwest, one shared \
         connection pool, loopback), each sending the next GET as soon as the previous answer \
         was read, until {} requests or {:.0} s per endpoint; latency measured by the client \
         including reading the body. The release backend runs as its own process.\n\n\
         | endpoint | requests | errors | req/s | p50 | p99 | max | backend CPU |\n\
         |---|---:|---:|---:|---:|---:|---:|---:|\n",
        thousands(n as f64),
        thousands(execs as f64),
        thousands(max_requests as f64),
        max_time.as_secs_f64(),
    );
    let mut verdicts = Vec::new();
    for path in endpoints {
        println!("api: load on {path}");
        let url = format!("{base}{path}");
        // Warm-up: connections and statement caches.
        let _ = load(&http, &url, CLIENTS, CLIENTS * 4, Duration::from_secs(5)).await;
        let c0 = backend.sample()?;
        let result = load(&http, &url, CLIENTS, max_requests, max_time).await;
        let c1 = backend.sample()?;
        let lat = sorted(result.latencies_ms);
        let p99 = percentile(&lat, 99.0);
        md.push_str(&format!(
            "| `GET {path}` | {} | {} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.0} % |\n",
            thousands(lat.len() as f64),
            result.errors,
            thousands(lat.len() as f64 / result.elapsed.as_secs_f64()),
            percentile(&lat, 50.0),
            p99,
            lat.last().copied().unwrap_or(f64::NAN),
            cpu_percent(&c0, &c1),
        ));
        verdicts.push(format!(
            "`{path}` {} ({p99:.1} ms)",
            if p99 < 20.0 { "met" } else { "**missed**" }
        ));
    }
    let rss = backend.sample()?.rss_bytes;
    let _ = fleet.stop(Duration::from_secs(5)).await;
    backend.stop(Duration::from_secs(10));
    drop(nats);
    md.push_str(&format!(
        "\nGoal p99 < 20 ms: {}. Backend RSS at the end {}; load average {}. The load \
         generator, the simulator and the backend share the machine's 2 cores, so a \
         request's latency includes waiting for a core.\n",
        verdicts.join("; "),
        super::mib(rss),
        procs::load_average(),
    ));
    Ok(md)
}
