//! Performance telemetry on core NATS (lossy by design): `HostPerf` on `host_perf.<pc_id>`
//! every `host_perf_interval`, and `ProcessPerf` (the top processes by CPU) on
//! `process_perf.<pc_id>` every `process_perf_interval` while investigation mode is on. Both
//! follow the live config; investigation mode ends by itself at `process_perf_expires_at`.
//!
//! Rates and CPU % come from the agent's own deltas between two readings (`sys` supplies the
//! raw counters). Process CPU % uses the per-core convention: 100 % is one core busy.

use std::collections::HashMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kanade_protocol::config::EffectiveConfig;
use kanade_protocol::subject;
use kanade_protocol::wire::{HostPerf, ProcessPerf, ProcessSample};
use serde::Serialize;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config_supervisor::next_tick;
use crate::sys::{self, HostCounters, ProcessIo, ProcessTable};

/// The first process sample of an investigation comes this soon, whatever the interval.
const FIRST_PROCESS_SAMPLE: Duration = Duration::from_secs(1);

/// Publishes host perf forever, at the live `host_perf_interval`. Runs until aborted.
pub async fn host(
    client: async_nats::Client,
    pc_id: String,
    mut config: watch::Receiver<EffectiveConfig>,
) {
    let subject = subject::host_perf(&pc_id);
    // The baseline for the first sample's rates.
    let mut previous = match sys::host_counters() {
        Ok(counters) => Some((Instant::now(), counters)),
        Err(err) if err.kind() == std::io::ErrorKind::Unsupported => {
            tracing::info!(error = %err, "no host perf from this machine");
            return std::future::pending().await;
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot read host counters");
            None
        }
    };
    let mut last = Instant::now();
    loop {
        next_tick(&mut config, last, |c| c.host_perf_interval.0).await;
        last = Instant::now();
        let counters = match sys::host_counters() {
            Ok(counters) => counters,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read host counters");
                continue;
            }
        };
        let perf = match &previous {
            Some((at, before)) => host_perf(
                &pc_id,
                Utc::now(),
                Some(before),
                &counters,
                last.duration_since(*at),
            ),
            None => host_perf(&pc_id, Utc::now(), None, &counters, Duration::ZERO),
        };
        previous = Some((last, counters));
        publish(&client, &subject, &perf).await;
    }
}

/// One `HostPerf` from two readings `elapsed` apart; without a previous reading the CPU %
/// and the rates are unknown (omitted, as the original's first tick).
pub fn host_perf(
    pc_id: &str,
    at: DateTime<Utc>,
    previous: Option<&HostCounters>,
    current: &HostCounters,
    elapsed: Duration,
) -> HostPerf {
    let secs = elapsed.as_secs_f64();
    let rate = |new: u64, old: Option<u64>| match old {
        Some(old) if secs > 0.0 => Some(new.saturating_sub(old) as f64 / secs),
        _ => None,
    };
    let cpu_pct = previous.map(|prev| {
        let total = current.cpu_total_ticks.saturating_sub(prev.cpu_total_ticks);
        let idle = current.cpu_idle_ticks.saturating_sub(prev.cpu_idle_ticks);
        if total == 0 {
            0.0
        } else {
            (100.0 * total.saturating_sub(idle) as f64 / total as f64) as f32
        }
    });
    HostPerf {
        pc_id: pc_id.to_owned(),
        at,
        cpu_pct,
        cpu_count: Some(current.cpu_count),
        mem_used_bytes: Some(current.mem_used_bytes),
        mem_total_bytes: Some(current.mem_total_bytes),
        swap_used_bytes: Some(current.swap_used_bytes),
        swap_total_bytes: Some(current.swap_total_bytes),
        disk_read_bytes_per_sec: rate(current.disk_read_bytes, previous.map(|p| p.disk_read_bytes)),
        disk_written_bytes_per_sec: rate(
            current.disk_written_bytes,
            previous.map(|p| p.disk_written_bytes),
        ),
        net_rx_bytes_per_sec: rate(current.net_rx_bytes, previous.map(|p| p.net_rx_bytes)),
        net_tx_bytes_per_sec: rate(current.net_tx_bytes, previous.map(|p| p.net_tx_bytes)),
    }
}

/// Publishes process perf while investigation mode is on; idle otherwise. Runs until aborted.
pub async fn investigate(
    client: async_nats::Client,
    pc_id: String,
    mut config: watch::Receiver<EffectiveConfig>,
) {
    let subject = subject::process_perf(&pc_id);
    loop {
        let investigating = config.borrow_and_update().investigating(Utc::now());
        if !investigating {
            if config.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        let until = config.borrow().process_perf_expires_at;
        tracing::info!(?until, "investigation mode on: sending process perf");
        let mut sampler = ProcessSampler::default();
        if sampler.sample(0).is_none() {
            // Unsupported here: wait for the next change instead of spinning.
            if config.changed().await.is_err() {
                return std::future::pending().await;
            }
            continue;
        }
        let mut last = Instant::now();
        let mut first = true;
        loop {
            let current = config.borrow_and_update().clone();
            if !current.investigating(Utc::now()) {
                break;
            }
            let interval = match first {
                true => current.process_perf_interval.0.min(FIRST_PROCESS_SAMPLE),
                false => current.process_perf_interval.0,
            };
            let expiry = instant_of(current.process_perf_expires_at);
            tokio::select! {
                _ = tokio::time::sleep_until(last + interval) => {
                    last = Instant::now();
                    first = false;
                    let now = Utc::now();
                    if !current.investigating(now) {
                        continue;
                    }
                    let Some(processes) = sampler.sample(current.process_perf_top_n as usize) else {
                        continue;
                    };
                    let perf = ProcessPerf { pc_id: pc_id.clone(), at: now, processes };
                    publish(&client, &subject, &perf).await;
                }
                _ = tokio::time::sleep_until(expiry) => {}
                changed = config.changed() => {
                    if changed.is_err() {
                        // The supervisor is gone; the expiry still ends the investigation.
                        tokio::time::sleep_until(expiry).await;
                    }
                }
            }
        }
        tracing::info!("investigation mode off");
    }
}

/// The monotonic instant of a wall-clock time (now when it passed or is unset).
fn instant_of(at: Option<DateTime<Utc>>) -> Instant {
    let left = at
        .and_then(|at| (at - Utc::now()).to_std().ok())
        .unwrap_or_default();
    Instant::now() + left
}

/// Keeps the previous reading of every process, so CPU % and I/O rates come from deltas.
#[derive(Default)]
pub struct ProcessSampler {
    previous: Option<(Instant, ProcessTable)>,
    /// Last I/O reading per process (pid, start ticks), for the processes that made a top list.
    io: HashMap<(u32, u64), (Instant, ProcessIo)>,
}

impl ProcessSampler {
    /// Reads every process and returns the top `top_n` by CPU since the previous call
    /// (ties by memory). `None` when the process table cannot be read.
    pub fn sample(&mut self, top_n: usize) -> Option<Vec<ProcessSample>> {
        let table = match sys::process_table() {
            Ok(table) => table,
            Err(err) => {
                tracing::warn!(error = %err, "cannot read the process table");
                return None;
            }
        };
        let now = Instant::now();
        let mut top = match &self.previous {
            Some((_, previous)) => rank(previous, &table, top_n),
            None => Vec::new(),
        };
        let mut io = HashMap::with_capacity(top.len());
        for (key, sample) in &mut top {
            let Some(reading) = sys::process_io(sample.pid) else {
                continue;
            };
            if let Some((at, old)) = self.io.get(key) {
                let secs = now.duration_since(*at).as_secs_f64();
                if secs > 0.0 {
                    sample.disk_read_bytes_per_sec =
                        Some(reading.read_bytes.saturating_sub(old.read_bytes) as f64 / secs);
                    sample.disk_written_bytes_per_sec =
                        Some(reading.written_bytes.saturating_sub(old.written_bytes) as f64 / secs);
                }
            }
            io.insert(*key, (now, reading));
        }
        self.io = io;
        self.previous = Some((now, table));
        Some(top.into_iter().map(|(_, sample)| sample).collect())
    }
}

/// The `top_n` busiest processes between two tables, keyed by (pid, start ticks). A process
/// new since `previous` counts its CPU time since it started.
pub fn rank(
    previous: &ProcessTable,
    current: &ProcessTable,
    top_n: usize,
) -> Vec<((u32, u64), ProcessSample)> {
    let before: HashMap<(u32, u64), u64> = previous
        .processes
        .iter()
        .map(|p| ((p.pid, p.start_ticks), p.cpu_ticks))
        .collect();
    // Ticks of all CPUs together; one core's worth is that divided by the core count.
    let host_ticks = current
        .cpu_total_ticks
        .saturating_sub(previous.cpu_total_ticks) as f64;
    let per_core = host_ticks / f64::from(current.cpu_count.max(1));
    let mut ranked: Vec<((u32, u64), ProcessSample)> = current
        .processes
        .iter()
        .map(|p| {
            let key = (p.pid, p.start_ticks);
            let used = p
                .cpu_ticks
                .saturating_sub(before.get(&key).copied().unwrap_or(0));
            let cpu_pct = match per_core > 0.0 {
                true => (100.0 * used as f64 / per_core) as f32,
                false => 0.0,
            };
            let sample = ProcessSample {
                pid: p.pid,
                name: p.name.clone(),
                cpu_pct,
                rss_bytes: p.rss_bytes,
                disk_read_bytes_per_sec: None,
                disk_written_bytes_per_sec: None,
            };
            (key, sample)
        })
        .collect();
    ranked.sort_by(|(_, a), (_, b)| {
        b.cpu_pct
            .total_cmp(&a.cpu_pct)
            .then(b.rss_bytes.cmp(&a.rss_bytes))
            .then(a.pid.cmp(&b.pid))
    });
    ranked.truncate(top_n);
    ranked
}

async fn publish<T: Serialize>(client: &async_nats::Client, subject: &str, message: &T) {
    let payload = match serde_json::to_vec(message) {
        Ok(payload) => payload,
        Err(err) => {
            tracing::error!(error = %err, subject, "cannot encode perf");
            return;
        }
    };
    if let Err(err) = client.publish(subject.to_owned(), payload.into()).await {
        tracing::debug!(error = %err, subject, "perf not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::ProcessCounters;

    #[test]
    fn host_rates_come_from_deltas() {
        let before = HostCounters {
            cpu_total_ticks: 1000,
            cpu_idle_ticks: 800,
            cpu_count: 2,
            mem_total_bytes: 100,
            mem_used_bytes: 40,
            disk_read_bytes: 1000,
            disk_written_bytes: 0,
            net_rx_bytes: 500,
            net_tx_bytes: 10,
            ..HostCounters::default()
        };
        let after = HostCounters {
            cpu_total_ticks: 1200,
            cpu_idle_ticks: 950,
            disk_read_bytes: 5000,
            disk_written_bytes: 2000,
            net_rx_bytes: 300, // counter reset: no negative rate
            net_tx_bytes: 410,
            ..before.clone()
        };
        let now = Utc::now();
        let perf = host_perf("pc", now, Some(&before), &after, Duration::from_secs(2));
        assert_eq!(perf.cpu_pct, Some(25.0));
        assert_eq!(perf.cpu_count, Some(2));
        assert_eq!(perf.disk_read_bytes_per_sec, Some(2000.0));
        assert_eq!(perf.disk_written_bytes_per_sec, Some(1000.0));
        assert_eq!(perf.net_rx_bytes_per_sec, Some(0.0));
        assert_eq!(perf.net_tx_bytes_per_sec, Some(200.0));
        // The first tick has nothing to diff against: no CPU % and no rates, as the original.
        let first = host_perf("pc", now, None, &after, Duration::ZERO);
        assert_eq!((first.cpu_pct, first.disk_read_bytes_per_sec), (None, None));
        assert_eq!(first.mem_used_bytes, Some(40));
    }

    fn process(pid: u32, start: u64, cpu: u64, rss: u64) -> ProcessCounters {
        ProcessCounters {
            pid,
            start_ticks: start,
            name: format!("p{pid}"),
            cpu_ticks: cpu,
            rss_bytes: rss,
        }
    }

    #[test]
    fn processes_rank_by_cpu_then_memory_per_core() {
        let previous = ProcessTable {
            cpu_total_ticks: 0,
            cpu_count: 2,
            processes: vec![
                process(1, 1, 100, 10),
                process(2, 1, 0, 10),
                process(3, 1, 0, 99),
            ],
        };
        let current = ProcessTable {
            cpu_total_ticks: 400, // 200 ticks per core
            cpu_count: 2,
            processes: vec![
                process(1, 1, 150, 10),
                process(2, 1, 200, 10), // a full core
                process(3, 1, 0, 99),
                process(4, 9, 20, 5), // new since the previous table
                process(5, 1, 0, 1),
            ],
        };
        let top = rank(&previous, &current, 4);
        let pids: Vec<u32> = top.iter().map(|(_, s)| s.pid).collect();
        assert_eq!(pids, [2, 1, 4, 3]);
        assert_eq!(top[0].1.cpu_pct, 100.0);
        assert_eq!(top[1].1.cpu_pct, 25.0);
        assert_eq!(top[2].1.cpu_pct, 10.0);
        // A reused pid is a new process, not a negative delta.
        let reused = ProcessTable {
            processes: vec![process(1, 77, 30, 1)],
            ..current.clone()
        };
        assert_eq!(rank(&previous, &reused, 1)[0].1.cpu_pct, 15.0);
    }

    #[test]
    fn investigation_expiry_maps_to_a_monotonic_instant() {
        let soon = Utc::now() + chrono::TimeDelta::seconds(30);
        let at = instant_of(Some(soon));
        assert!(at > Instant::now() + Duration::from_secs(25));
        assert!(instant_of(Some(Utc::now() - chrono::TimeDelta::seconds(5))) <= Instant::now());
        assert!(instant_of(None) <= Instant::now());
    }
}
