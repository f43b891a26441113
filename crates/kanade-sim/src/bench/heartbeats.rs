//! Scenario `heartbeats`: 50,000 simulated machines beating every 30 s (host perf every 60 s)
//! for 3 minutes against the release backend as its own process: backend CPU and RSS from
//! `/proc/<pid>`, and projector lag per row as `agents.updated_at − agents.last_heartbeat`
//! (the backend's clock when it wrote the batch minus the simulator's clock when it built the
//! beat; same machine, same clock).

use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use super::procs::{self, BackendSetup, Nats, ProcSample, cpu_percent};
use super::{Env, mib, percentile, sorted, thousands, wait_until};
use crate::{Fleet, FleetConfig};

fn lag_between(conn: &Connection, since: &str, upto: &str) -> anyhow::Result<Vec<f64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT (julianday(updated_at) - julianday(last_heartbeat)) * 86400000.0
         FROM agents WHERE updated_at > ?1 AND updated_at <= ?2",
    )?;
    let rows = stmt.query_map([since, upto], |r| r.get::<_, f64>(0))?;
    Ok(rows.collect::<Result<Vec<_>, _>>()?)
}

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let n = env.scaled(50_000, 100);
    let window = env.scaled_time(Duration::from_secs(180), Duration::from_secs(30));
    let interval = Duration::from_secs(30);
    let dir = env.scratch("heartbeats")?;
    let nats = Nats::start(&dir.join("nats"))?;
    let setup = BackendSetup::new(&env.bin("kanade-backend"), &dir.join("backend"), &nats.url)?;
    let mut backend = setup.start().await?;
    let idle0 = backend.sample()?;
    println!("heartbeats: {n} machines joining over {interval:?}");
    let fleet = Fleet::start(FleetConfig {
        nats_url: nats.url.clone(),
        machines: n,
        ramp: interval,
        heartbeat: interval,
        host_perf: Some(Duration::from_secs(60)),
        ..FleetConfig::default()
    })
    .await?;
    let db = setup.db.clone();
    wait_until(
        "every machine in agents",
        Duration::from_secs(180),
        Duration::from_secs(1),
        || {
            let db = db.clone();
            async move { Ok(super::query_i64(&db, "SELECT COUNT(*) FROM agents")? >= n as i64) }
        },
    )
    .await?;
    // One more interval so the ramp's extra first beats are behind us.
    tokio::time::sleep(Duration::from_secs(5)).await;
    println!("heartbeats: measuring for {window:?}");
    let load_before = procs::load_average();
    let conn = Connection::open_with_flags(&db, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    let s0 = backend.sample()?;
    let n0 = nats.proc.sample()?;
    let me0 = procs::sample(std::process::id())?;
    let f0 = fleet.stats();
    let started = Instant::now();
    let mut since = kanade_backend::store::ts(chrono::Utc::now());
    let mut lags = Vec::new();
    let mut rss_max = s0.rss_bytes;
    let mut per_window: Vec<(f64, f64)> = Vec::new();
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(5)).await;
        // Rows written up to 1.5 s ago; later ones are read in the next round.
        let upto =
            kanade_backend::store::ts(chrono::Utc::now() - chrono::Duration::milliseconds(1500));
        let mut batch = lag_between(&conn, &since, &upto)?;
        batch.retain(|v| v.is_finite());
        since = upto;
        let s = backend.sample()?;
        rss_max = rss_max.max(s.rss_bytes);
        let b = sorted(batch.clone());
        per_window.push((percentile(&b, 99.0), s.rss_bytes as f64));
        lags.extend(batch);
    }
    let s1: ProcSample = backend.sample()?;
    let n1 = nats.proc.sample()?;
    let me1 = procs::sample(std::process::id())?;
    let f1 = fleet.stats();
    let elapsed = started.elapsed().as_secs_f64();
    let load_after = procs::load_average();
    let online_backend = super::query_i64(
        &db,
        &format!(
            "SELECT COUNT(*) FROM agents WHERE last_heartbeat >= '{}'",
            kanade_backend::store::ts(chrono::Utc::now() - chrono::Duration::seconds(120))
        ),
    )?;
    let host_rows = super::query_i64(&db, "SELECT COUNT(*) FROM host_perf_samples")?;
    let _ = fleet.stop(Duration::from_secs(5)).await;
    backend.stop(Duration::from_secs(10));
    drop(nats);

    let lags = sorted(lags);
    let cpu = cpu_percent(&s0, &s1);
    let beats = f1.heartbeats - f0.heartbeats;
    let (p50, p99, max) = (
        percentile(&lags, 50.0),
        percentile(&lags, 99.0),
        lags.last().copied().unwrap_or(f64::NAN),
    );
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    let mut md = format!(
        "### 3. Heartbeats\n\n\
         {} simulated machines, heartbeat every 30 s and host perf every 60 s, each spread \
         evenly over its interval ({:.0} beats/s measured), against the release backend as its \
         own process. Measured over {:.0} s after all machines had joined. Lag is per row: \
         `agents.updated_at` (the backend's clock when it wrote the batch, just before commit) \
         minus `last_heartbeat` (the simulator's clock when it built the beat). Load average \
         {load_before} before, {load_after} after.\n\n\
         | measurement | value |\n|---|---:|\n\
         | heartbeats published in the window | {} |\n\
         | rows updated and measured | {} |\n\
         | projector lag p50 / p99 / max | {p50:.0} / {p99:.0} / {max:.0} ms |\n\
         | **backend CPU** (utime+stime over wall) | **{cpu:.1} %** of one core |\n\
         | backend RSS at the end / max (idle before the fleet: {}) | {} / {} |\n\
         | nats-server CPU | {:.1} % |\n\
         | simulator process CPU ({} machines) | {:.1} % |\n\
         | machines online per SQLite at the end | {} |\n\
         | host perf rows | {} |\n\n\
         Goals: lag < 1 s: {} (p99 {p99:.0} ms, max {max:.0} ms); backend < 25 % of one \
         core: {} ({cpu:.1} %).\n",
        thousands(n as f64),
        beats as f64 / elapsed,
        elapsed,
        thousands(beats as f64),
        thousands(lags.len() as f64),
        mib(idle0.rss_bytes),
        mib(s1.rss_bytes),
        mib(rss_max),
        cpu_percent(&n0, &n1),
        thousands(n as f64),
        cpu_percent(&me0, &me1),
        thousands(online_backend as f64),
        thousands(host_rows as f64),
        verdict(max < 1000.0),
        verdict(cpu < 25.0),
    );
    md.push_str(&format!(
        "\nPer 5 s window, lag p99 (ms): {}\n",
        per_window
            .iter()
            .map(|(p, _)| format!("{p:.0}"))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(md)
}
