//! `host_perf_samples` and `process_perf_samples`: performance time series, written in
//! batches by the perf projector and read downsampled.

use chrono::{DateTime, Duration, Utc};
use kanade_protocol::api::{FleetPerf, FleetPoint, PerfPoint, TopEntry};
use kanade_protocol::wire::{HostPerf, ProcessPerf, ProcessSample};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::store::{count_at, parse_ts, ts};

/// Most points a series returns, whatever the range.
pub const MAX_POINTS: i64 = 1000;
/// A machine's latest sample counts for "now" while it is younger than this.
pub const FRESH: Duration = Duration::minutes(5);

fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

pub fn insert_host(tx: &Transaction<'_>, samples: &[HostPerf]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO host_perf_samples (pc_id, at, cpu_pct, cpu_count, mem_used_bytes, mem_total_bytes,
             swap_used_bytes, swap_total_bytes, disk_read_bytes_per_sec, disk_written_bytes_per_sec,
             net_rx_bytes_per_sec, net_tx_bytes_per_sec)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT (pc_id, at) DO NOTHING",
    )?;
    for s in samples {
        stmt.execute(params![
            s.pc_id,
            ts(s.at),
            s.cpu_pct.map(f64::from),
            s.cpu_count,
            s.mem_used_bytes.map(big),
            s.mem_total_bytes.map(big),
            s.swap_used_bytes.map(big),
            s.swap_total_bytes.map(big),
            s.disk_read_bytes_per_sec,
            s.disk_written_bytes_per_sec,
            s.net_rx_bytes_per_sec,
            s.net_tx_bytes_per_sec,
        ])?;
    }
    Ok(())
}

pub fn insert_processes(tx: &Transaction<'_>, snapshots: &[ProcessPerf]) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "INSERT INTO process_perf_samples (pc_id, at, pid, name, cpu_pct, rss_bytes,
             disk_read_bytes_per_sec, disk_written_bytes_per_sec)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT (pc_id, at, pid) DO NOTHING",
    )?;
    for snap in snapshots {
        for p in &snap.processes {
            stmt.execute(params![
                snap.pc_id,
                ts(snap.at),
                p.pid,
                p.name,
                f64::from(p.cpu_pct),
                big(p.rss_bytes),
                p.disk_read_bytes_per_sec,
                p.disk_written_bytes_per_sec,
            ])?;
        }
    }
    Ok(())
}

/// The step actually used: at least `requested`, and wide enough for at most `MAX_POINTS`.
pub fn effective_step(from: DateTime<Utc>, to: DateTime<Utc>, requested: Option<i64>) -> i64 {
    let span = (to - from).num_seconds().max(1);
    let minimum = (span + MAX_POINTS - 1) / MAX_POINTS;
    requested.unwrap_or(60).max(minimum).max(1)
}

/// Averages of one machine's samples per `step` seconds in `[from, to)`. A number missing
/// from a sample (stored NULL) is left out of its average; a step where no sample has it
/// shows 0.
pub fn series(
    conn: &Connection,
    pc_id: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: i64,
) -> rusqlite::Result<Vec<PerfPoint>> {
    let mut stmt = conn.prepare_cached(
        "SELECT (CAST(strftime('%s', at) AS INTEGER) / ?4) * ?4 AS bucket, COUNT(*),
             COALESCE(AVG(cpu_pct), 0), COALESCE(AVG(mem_used_bytes), 0),
             COALESCE(AVG(mem_total_bytes), 0), COALESCE(AVG(swap_used_bytes), 0),
             COALESCE(AVG(disk_read_bytes_per_sec), 0), COALESCE(AVG(disk_written_bytes_per_sec), 0),
             COALESCE(AVG(net_rx_bytes_per_sec), 0), COALESCE(AVG(net_tx_bytes_per_sec), 0)
         FROM host_perf_samples WHERE pc_id = ?1 AND at >= ?2 AND at < ?3
         GROUP BY bucket ORDER BY bucket",
    )?;
    stmt.query_map(params![pc_id, ts(from), ts(to), step], |row| {
        Ok(PerfPoint {
            at: DateTime::from_timestamp(row.get(0)?, 0).unwrap_or_default(),
            samples: row.get(1)?,
            cpu_pct: row.get(2)?,
            mem_used_bytes: row.get(3)?,
            mem_total_bytes: row.get(4)?,
            swap_used_bytes: row.get(5)?,
            disk_read_bytes_per_sec: row.get(6)?,
            disk_written_bytes_per_sec: row.get(7)?,
            net_rx_bytes_per_sec: row.get(8)?,
            net_tx_bytes_per_sec: row.get(9)?,
        })
    })?
    .collect()
}

/// The newest sample of every machine that reported within `FRESH` of `now`:
/// `(pc_id, at, cpu %, memory %, disk bytes/s, network bytes/s)`.
/// `(pc_id, at, cpu %, memory %, disk bytes/s, network bytes/s)`.
type Latest = (String, DateTime<Utc>, f64, f64, f64, f64);

fn latest(conn: &Connection, now: DateTime<Utc>) -> rusqlite::Result<Vec<Latest>> {
    let mut stmt = conn.prepare_cached(
        "SELECT h.pc_id, h.at, COALESCE(h.cpu_pct, 0),
             COALESCE(CASE WHEN h.mem_total_bytes > 0 THEN 100.0 * h.mem_used_bytes / h.mem_total_bytes END, 0),
             COALESCE(h.disk_read_bytes_per_sec, 0) + COALESCE(h.disk_written_bytes_per_sec, 0),
             COALESCE(h.net_rx_bytes_per_sec, 0) + COALESCE(h.net_tx_bytes_per_sec, 0)
         FROM host_perf_samples h
         JOIN (SELECT pc_id, MAX(at) AS at FROM host_perf_samples WHERE at >= ?1 GROUP BY pc_id) l
           ON h.pc_id = l.pc_id AND h.at = l.at",
    )?;
    stmt.query_map([ts(now - FRESH)], |row| {
        Ok((
            row.get(0)?,
            parse_ts(row.get(1)?).unwrap_or_default(),
            row.get(2)?,
            row.get(3)?,
            row.get(4)?,
            row.get(5)?,
        ))
    })?
    .collect()
}

/// Nearest-rank percentile of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn fleet(
    conn: &Connection,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    step: i64,
    now: DateTime<Utc>,
) -> rusqlite::Result<FleetPerf> {
    let rows = latest(conn, now)?;
    let mut cpu: Vec<f64> = rows.iter().map(|r| r.2).collect();
    let mut mem: Vec<f64> = rows.iter().map(|r| r.3).collect();
    cpu.sort_by(f64::total_cmp);
    mem.sort_by(f64::total_cmp);
    let mut stmt = conn.prepare_cached(
        "SELECT (CAST(strftime('%s', at) AS INTEGER) / ?3) * ?3 AS bucket, COUNT(DISTINCT pc_id),
             COALESCE(AVG(cpu_pct), 0), COALESCE(MAX(cpu_pct), 0),
             COALESCE(AVG(CASE WHEN mem_total_bytes > 0 THEN 100.0 * mem_used_bytes / mem_total_bytes END), 0),
             COALESCE(MAX(CASE WHEN mem_total_bytes > 0 THEN 100.0 * mem_used_bytes / mem_total_bytes END), 0)
         FROM host_perf_samples WHERE at >= ?1 AND at < ?2 GROUP BY bucket ORDER BY bucket",
    )?;
    let series = stmt
        .query_map(params![ts(from), ts(to), step], |row| {
            Ok(FleetPoint {
                at: DateTime::from_timestamp(row.get(0)?, 0).unwrap_or_default(),
                machines: count_at(row, 1)?,
                cpu_avg: row.get(2)?,
                cpu_max: row.get(3)?,
                mem_pct_avg: row.get(4)?,
                mem_pct_max: row.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(FleetPerf {
        machines: rows.len() as u64,
        cpu_p50: percentile(&cpu, 50.0),
        cpu_p90: percentile(&cpu, 90.0),
        cpu_p99: percentile(&cpu, 99.0),
        mem_pct_p50: percentile(&mem, 50.0),
        mem_pct_p90: percentile(&mem, 90.0),
        mem_pct_p99: percentile(&mem, 99.0),
        step_secs: u64::try_from(step).unwrap_or(60),
        series,
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    Cpu,
    Mem,
    Disk,
    Net,
}

pub fn top(
    conn: &Connection,
    metric: Metric,
    limit: usize,
    now: DateTime<Utc>,
) -> rusqlite::Result<Vec<TopEntry>> {
    let mut rows: Vec<TopEntry> = latest(conn, now)?
        .into_iter()
        .map(|(pc_id, at, cpu, mem, disk, net)| {
            let value = match metric {
                Metric::Cpu => cpu,
                Metric::Mem => mem,
                Metric::Disk => disk,
                Metric::Net => net,
            };
            TopEntry { pc_id, at, value }
        })
        .collect();
    rows.sort_by(|a, b| {
        b.value
            .total_cmp(&a.value)
            .then_with(|| a.pc_id.cmp(&b.pc_id))
    });
    rows.truncate(limit);
    Ok(rows)
}

/// The newest process snapshot of a machine, busiest first.
pub fn processes(
    conn: &Connection,
    pc_id: &str,
) -> rusqlite::Result<(Option<DateTime<Utc>>, Vec<ProcessSample>)> {
    let at: Option<String> = conn.query_row(
        "SELECT MAX(at) FROM process_perf_samples WHERE pc_id = ?1",
        [pc_id],
        |r| r.get(0),
    )?;
    let Some(at) = at else {
        return Ok((None, Vec::new()));
    };
    let mut stmt = conn.prepare_cached(
        "SELECT pid, name, cpu_pct, rss_bytes, disk_read_bytes_per_sec, disk_written_bytes_per_sec
         FROM process_perf_samples WHERE pc_id = ?1 AND at = ?2 ORDER BY cpu_pct DESC, rss_bytes DESC",
    )?;
    let list = stmt
        .query_map(params![pc_id, at], |row| {
            Ok(ProcessSample {
                pid: row.get(0)?,
                name: row.get(1)?,
                cpu_pct: row.get::<_, f64>(2)? as f32,
                rss_bytes: u64::try_from(row.get::<_, i64>(3)?).unwrap_or(0),
                disk_read_bytes_per_sec: row.get(4)?,
                disk_written_bytes_per_sec: row.get(5)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((parse_ts(Some(at)), list))
}

/// The CPU count `pc_id` last reported in a host performance sample, if any.
pub fn cpu_count(conn: &Connection, pc_id: &str) -> rusqlite::Result<Option<u32>> {
    conn.query_row(
        "SELECT cpu_count FROM host_perf_samples WHERE pc_id = ?1 AND cpu_count IS NOT NULL
         ORDER BY at DESC LIMIT 1",
        [pc_id],
        |r| r.get(0),
    )
    .optional()
    .map(Option::flatten)
}

/// True when `pc_id` has any host performance sample, however old.
pub fn has_samples(conn: &Connection, pc_id: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM host_perf_samples WHERE pc_id = ?1)",
        [pc_id],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_keep_series_under_the_point_cap() {
        let from = Utc::now();
        assert_eq!(
            effective_step(from, from + Duration::hours(1), Some(10)),
            10
        );
        assert_eq!(
            effective_step(from, from + Duration::days(7), Some(60)),
            605
        );
        assert_eq!(effective_step(from, from + Duration::days(30), None), 2592);
    }

    #[test]
    fn percentiles_use_nearest_rank() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 50.0), 50.0);
        assert_eq!(percentile(&v, 99.0), 99.0);
        assert_eq!(percentile(&[7.0], 90.0), 7.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }
}
