//! The benchmark scenarios behind `kanade-bench` / `scripts/bench`: projector ingest against
//! raw SQLite, fan-out through the API, heartbeat load, API latency, agent footprint, replay
//! after a wipe, and broker connects through the auth callout. Each runs against a real
//! nats-server and the release backend (as a separate process; `connect` runs it in-process),
//! and returns a Markdown section with its figures; sizes scale with `KANADE_BENCH_SCALE`.

pub mod agent;
pub mod api;
pub mod broker;
pub mod connect;
pub mod fanout;
pub mod heartbeats;
pub mod ingest;
pub mod procs;
pub mod replay;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream;
use futures::StreamExt;
use futures::stream::FuturesUnordered;

/// Where a scenario finds the binaries and puts its scratch files, and how big it runs.
#[derive(Debug, Clone)]
pub struct Env {
    /// 1.0 = the sizes of the issue; smaller for a quick check.
    pub scale: f64,
    /// Folder with the release `kanade-backend` and `kanade-agent`.
    pub bin_dir: PathBuf,
    /// Scratch space (databases, broker stores, logs).
    pub work: PathBuf,
}

impl Env {
    /// `n × scale`, at least `min`.
    pub fn scaled(&self, n: usize, min: usize) -> usize {
        ((n as f64 * self.scale).round() as usize).max(min)
    }

    pub fn scaled_time(&self, d: Duration, min: Duration) -> Duration {
        d.mul_f64(self.scale.min(1.0)).max(min)
    }

    pub fn scratch(&self, name: &str) -> anyhow::Result<PathBuf> {
        let dir = self.work.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
        }
        std::fs::create_dir_all(&dir)?;
        Ok(dir)
    }

    pub fn bin(&self, name: &str) -> PathBuf {
        self.bin_dir.join(name)
    }
}

/// A reqwest client that sends the benchmark's bearer token.
pub fn api_client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {}", procs::TOKEN))?,
    );
    Ok(reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(64)
        .build()?)
}

/// Publishes every message to JetStream with up to `window` acks outstanding; returns the
/// elapsed time.
pub async fn publish_all<I>(
    js: &jetstream::Context,
    messages: I,
    window: usize,
) -> anyhow::Result<Duration>
where
    I: IntoIterator<Item = (String, Vec<u8>)>,
{
    let started = Instant::now();
    let mut pending = FuturesUnordered::new();
    for (subject, payload) in messages {
        let ack = js
            .publish(subject, payload.into())
            .await
            .context("publishing")?;
        pending.push(ack.into_future());
        while pending.len() >= window {
            if let Some(res) = pending.next().await {
                res.context("broker did not acknowledge")?;
            }
        }
    }
    while let Some(res) = pending.next().await {
        res.context("broker did not acknowledge")?;
    }
    Ok(started.elapsed())
}

/// Nearest-rank percentile of sorted values (`p` in 0..=100).
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// `12,345` style thousands.
pub fn thousands(n: f64) -> String {
    let s = format!("{:.0}", n.round());
    let (sign, digits) = match s.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", s.as_str()),
    };
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

pub fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Polls `f` every `every` until it returns true or `limit` passes (then an error naming `what`).
pub async fn wait_until<F, Fut>(
    what: &str,
    limit: Duration,
    every: Duration,
    mut f: F,
) -> anyhow::Result<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    loop {
        if f().await? {
            return Ok(started.elapsed());
        }
        if started.elapsed() > limit {
            anyhow::bail!("timed out after {limit:?} waiting for {what}");
        }
        tokio::time::sleep(every).await;
    }
}

/// Machines the backend counts online (`GET /api/agents?online=true`).
pub async fn online_count(http: &reqwest::Client, base: &str) -> anyhow::Result<u64> {
    let page: kanade_protocol::api::Page<serde_json::Value> = http
        .get(format!("{base}/api/agents?online=true&limit=1"))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    Ok(page.total)
}

/// A scalar from a read-only SQLite connection.
pub fn query_i64(db: &std::path::Path, sql: &str) -> anyhow::Result<i64> {
    let conn = rusqlite::Connection::open_with_flags(
        db,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(5))?;
    Ok(conn.query_row(sql, [], |r| r.get(0))?)
}

/// Registers a job through the API.
pub async fn register_job(http: &reqwest::Client, base: &str, yaml: &str) -> anyhow::Result<()> {
    http.post(format!("{base}/api/jobs"))
        .header("content-type", "application/yaml")
        .body(yaml.to_owned())
        .send()
        .await?
        .error_for_status()
        .context("registering the job")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let v = sorted((1..=100).map(f64::from).collect());
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&v, 100.0), 100.0);
        assert_eq!(percentile(&[3.0], 99.0), 3.0);
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
    }
}
