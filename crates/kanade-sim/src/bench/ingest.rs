//! Scenario `ingest`: M results published into RESULTS, projected by the release backend
//! (timed until `COUNT(*)` reaches M), against the same rows written straight into SQLite
//! with the backend's schema: batched transactions with a prepared statement (the physical
//! limit), the projector's own SQL batched without NATS, and one row per transaction.

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use kanade_protocol::subject;
use kanade_protocol::wire::ExecResult;
use rusqlite::{Connection, params};

use super::procs::{self, BackendSetup, Nats};
use super::{Env, publish_all, query_i64, thousands};

/// Machines per execution in the generated results.
pub const PER_EXEC: usize = 10_000;
/// Rows per transaction of the references: the results projector's largest batch.
const BATCH: usize = kanade_backend::projector::BATCH;

/// The references' connection: the backend's own pragmas (WAL, page cache, mmap, checkpoints).
const PRAGMAS: &str = kanade_backend::store::PRAGMAS;

pub fn exec_id(k: usize) -> String {
    format!("bench-exec-{k:04}")
}

/// `m` results of `ceil(m / PER_EXEC)` executions, 5 % failing, `stdout_bytes` of output.
pub fn results(m: usize, stdout_bytes: usize) -> Vec<ExecResult> {
    let base: DateTime<Utc> = Utc::now() - chrono::Duration::minutes(10);
    let filler =
        crate::output::stdout("sim-00000", crate::spec::Payload::None, stdout_bytes, false);
    (0..m)
        .map(|i| {
            let (k, machine) = (i / PER_EXEC, i % PER_EXEC);
            let started = base + chrono::Duration::milliseconds(i as i64 % 60_000);
            let failed = i % 20 == 7;
            ExecResult {
                result_id: uuid::Uuid::new_v4().to_string(),
                request_id: format!("bench-req-{k:04}"),
                exec_id: exec_id(k),
                pc_id: format!("sim-{machine:05}"),
                job_id: "bench".to_owned(),
                version: "1".to_owned(),
                exit_code: i32::from(failed),
                stdout: filler.clone(),
                stderr: if failed {
                    "simulated failure\n".to_owned()
                } else {
                    String::new()
                },
                stdout_object: None,
                stderr_object: None,
                started_at: started,
                finished_at: started + chrono::Duration::milliseconds(800),
                skipped: false,
                schedule_id: None,
            }
        })
        .collect()
}

/// A fresh database with the backend's migrations.
pub fn fresh_db(path: &Path) -> anyhow::Result<Connection> {
    for suffix in ["", "-wal", "-shm"] {
        let p = path.with_file_name(format!(
            "{}{suffix}",
            path.file_name().and_then(|n| n.to_str()).unwrap_or("db")
        ));
        let _ = std::fs::remove_file(p);
    }
    kanade_backend::store::migrate_file(path)?;
    let conn = Connection::open(path)?;
    conn.execute_batch(PRAGMAS)?;
    Ok(conn)
}

/// The `executions` rows the results belong to (as the exec API would have inserted them).
pub fn seed_executions(conn: &mut Connection, execs: usize, per_exec: usize) -> anyhow::Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt = tx.prepare(
            "INSERT INTO executions (exec_id, job_id, version, request_id, initiated_by,
                 initiated_at, target_count, subjects, status)
             VALUES (?1, 'bench', '1', ?2, 'bench', ?3, ?4, '[\"commands.all\"]', 'running')",
        )?;
        let now = Utc::now();
        for k in 0..execs {
            let at = kanade_backend::store::ts(now - chrono::Duration::seconds((execs - k) as i64));
            stmt.execute(params![
                exec_id(k),
                format!("bench-req-{k:04}"),
                at,
                per_exec as i64
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

const INSERT: &str = "INSERT INTO execution_results (result_id, request_id, exec_id, pc_id, job_id,
    version, exit_code, stdout, stderr, stdout_object, stderr_object, started_at, finished_at,
    recorded_at, skipped, reaped)
    VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, 0)";

fn insert_row(
    stmt: &mut rusqlite::CachedStatement<'_>,
    r: &ExecResult,
    now: &str,
) -> rusqlite::Result<usize> {
    use kanade_backend::store::ts;
    stmt.execute(params![
        r.result_id,
        r.request_id,
        r.exec_id,
        r.pc_id,
        r.job_id,
        r.version,
        r.exit_code,
        r.stdout,
        r.stderr,
        r.stdout_object,
        r.stderr_object,
        ts(r.started_at),
        ts(r.finished_at),
        now,
        r.skipped,
    ])
}

/// The physical limit: plain inserts, `BATCH` rows per transaction, one cached statement.
pub fn raw_batched(conn: &mut Connection, rows: &[ExecResult]) -> anyhow::Result<Duration> {
    let now = kanade_backend::store::ts(Utc::now());
    let started = Instant::now();
    for chunk in rows.chunks(BATCH) {
        let tx = conn.transaction()?;
        {
            let mut stmt = tx.prepare_cached(INSERT)?;
            for r in chunk {
                insert_row(&mut stmt, r, &now)?;
            }
        }
        tx.commit()?;
    }
    Ok(started.elapsed())
}

/// The naive way: one row per (autocommit) transaction.
pub fn raw_naive(conn: &mut Connection, rows: &[ExecResult]) -> anyhow::Result<Duration> {
    let now = kanade_backend::store::ts(Utc::now());
    let started = Instant::now();
    let mut stmt = conn.prepare_cached(INSERT)?;
    for r in rows {
        insert_row(&mut stmt, r, &now)?;
    }
    Ok(started.elapsed())
}

/// The projector's SQL (`store::results::apply_result`: lookup, upsert, execution counter)
/// in `BATCH`-row transactions, without NATS or JSON.
pub fn projector_sql(conn: &mut Connection, rows: &[ExecResult]) -> anyhow::Result<Duration> {
    let now = Utc::now();
    let started = Instant::now();
    for chunk in rows.chunks(BATCH) {
        let tx = conn.transaction()?;
        for r in chunk {
            kanade_backend::store::results::apply_result(&tx, r, now)?;
        }
        tx.commit()?;
    }
    Ok(started.elapsed())
}

/// One projector measurement and the SQLite references right after it.
struct Round {
    publish: Duration,
    healthy: Duration,
    /// Rows already there at the first poll, and the time from then to the last row.
    first_count: i64,
    steady: Duration,
    total: Duration,
    limit: Duration,
    sql: Duration,
    cpu_secs: f64,
    completed: i64,
    counted: i64,
    load: String,
}

async fn round(env: &Env, dir: &Path, rows: &[ExecResult], execs: usize) -> anyhow::Result<Round> {
    let m = rows.len();
    let nats = Nats::start(&dir.join("nats"))?;
    let client = crate::fleet::connect(&nats.url, "kanade-bench".into()).await?;
    let js = async_nats::jetstream::new(client.clone());
    kanade_bus::ensure_resources(&js).await?;
    let setup = BackendSetup::new(&env.bin("kanade-backend"), &dir.join("backend"), &nats.url)?;
    {
        let mut conn = fresh_db(&setup.db)?;
        seed_executions(&mut conn, execs, PER_EXEC.min(m))?;
    }
    let messages = rows.iter().map(|r| {
        (
            subject::results_of(&r.pc_id, &r.request_id),
            serde_json::to_vec(r).unwrap_or_default(),
        )
    });
    let publish = publish_all(&js, messages, 1000).await?;

    let load_before = procs::load_average();
    let spawned = Instant::now();
    let mut backend = setup.start().await?;
    let healthy = spawned.elapsed();
    let mut first: Option<(Instant, i64)> = None;
    let done = loop {
        // MAX(rowid) equals COUNT(*) on this insert-only table and costs a B-tree descent
        // instead of an index scan, so the polling does not slow the backend down; the
        // final COUNT(*) below checks it.
        let count = query_i64(
            &setup.db,
            "SELECT COALESCE(MAX(rowid), 0) FROM execution_results",
        )
        .unwrap_or(0);
        let now = Instant::now();
        if count > 0 && first.is_none() {
            first = Some((now, count));
        }
        if count as usize >= m {
            break now;
        }
        if spawned.elapsed() > Duration::from_secs(900) {
            anyhow::bail!(
                "the projector did not write {m} rows within 15 minutes ({count} so far)"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cpu_secs = backend.sample().map(|c| c.cpu_secs).unwrap_or(f64::NAN);
    backend.stop(Duration::from_secs(10));
    let rows_now = query_i64(&setup.db, "SELECT COUNT(*) FROM execution_results")?;
    anyhow::ensure!(
        rows_now as usize == m,
        "COUNT(*) is {rows_now} after the projector finished, expected {m}"
    );
    let counted = query_i64(
        &setup.db,
        "SELECT COALESCE(SUM(success_count + failure_count + skipped_count), 0) FROM executions",
    )?;
    let completed = query_i64(
        &setup.db,
        "SELECT COUNT(*) FROM executions WHERE status = 'completed'",
    )?;
    drop(client);
    drop(nats);
    let (t_first, first_count) = first.unwrap_or((spawned, 0));

    let limit = raw_batched(&mut fresh_db(&dir.join("raw.db"))?, rows)?;
    let sql = {
        let mut conn = fresh_db(&dir.join("sql.db"))?;
        seed_executions(&mut conn, execs, PER_EXEC.min(m))?;
        projector_sql(&mut conn, rows)?
    };
    Ok(Round {
        publish,
        healthy,
        first_count,
        steady: done - t_first,
        total: done - spawned,
        limit,
        sql,
        cpu_secs,
        completed,
        counted,
        load: format!("{load_before}→{}", procs::load_average()),
    })
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let m = env.scaled(200_000, 1000);
    let rounds: usize = std::env::var("KANADE_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3)
        .max(1);
    let stdout_bytes = 200;
    let execs = m.div_ceil(PER_EXEC);
    let dir = env.scratch("ingest")?;
    println!("ingest: generating {m} results of {execs} execution(s)");
    let rows = results(m, stdout_bytes);
    let json_bytes: usize = rows
        .iter()
        .map(|r| serde_json::to_vec(r).map(|v| v.len()).unwrap_or(0))
        .sum();
    let mut all = Vec::new();
    for k in 0..rounds {
        println!(
            "ingest: round {} of {rounds}: publish, project, then the SQLite references",
            k + 1
        );
        all.push(round(env, &dir.join(format!("round-{k}")), &rows, execs).await?);
    }
    let naive_n = m.min(50_000);
    println!("ingest: raw SQLite, one row per transaction ({naive_n} rows)");
    let naive = raw_naive(&mut fresh_db(&dir.join("naive.db"))?, &rows[..naive_n])?;

    let rate = |n: f64, d: Duration| n / d.as_secs_f64().max(1e-9);
    let med = |f: &dyn Fn(&Round) -> f64| median(all.iter().map(f).collect());
    let projector_rate = med(&|r| rate((m as i64 - r.first_count) as f64, r.steady));
    let projector_total_rate = med(&|r| rate(m as f64, r.total));
    let limit_rate = med(&|r| rate(m as f64, r.limit));
    let sql_rate = med(&|r| rate(m as f64, r.sql));
    let publish_rate = med(&|r| rate(m as f64, r.publish));
    let naive_rate = rate(naive_n as f64, naive);
    let ratio = projector_rate / limit_rate;
    let verdict = if ratio >= 0.8 { "met" } else { "**missed**" };
    let mut md = String::new();
    md.push_str(&format!(
        "### 1. Projector ingest\n\n\
         {m} results ({} executions of {} machines, {} B of stdout each, {:.0} B of JSON on \
         average) published into RESULTS while the backend was stopped; the matching \
         `executions` rows were present (inserted first, as `POST /api/exec` does), no \
         `events.started` were published. Then the release backend was started and \
         `SELECT MAX(rowid) FROM execution_results` polled every 50 ms (equal to `COUNT(*)` on this insert-only table, which is checked at the end, and cheap enough not to slow the backend down). The references write the \
         same {m} results into fresh databases made by the backend's migrations (same tables \
         and indexes, with the backend's pragmas), right after each \
         projector measurement. {rounds} rounds; the table shows medians.\n\n",
        execs,
        PER_EXEC.min(m),
        stdout_bytes,
        json_bytes as f64 / m as f64,
    ));
    md.push_str("| measurement (median of rounds) | rows/s | vs. limit |\n|---|---:|---:|\n");
    md.push_str(&format!(
        "| publish into RESULTS (async, 1000 acks in flight) | {} | |\n",
        thousands(publish_rate)
    ));
    md.push_str(&format!(
        "| **projector**, first row seen → last row | **{}** | **{ratio:.2}** |\n",
        thousands(projector_rate)
    ));
    md.push_str(&format!(
        "| projector including backend start | {} | {:.2} |\n",
        thousands(projector_total_rate),
        projector_total_rate / limit_rate
    ));
    md.push_str(&format!(
        "| **limit**: raw SQLite, {BATCH} rows/tx, cached prepared INSERT | **{}** | 1.00 |\n",
        thousands(limit_rate)
    ));
    md.push_str(&format!(
        "| the projector's SQL (`store::results::apply_result`: lookup, upsert, execution counter), {BATCH} rows/tx, no NATS or JSON | {} | {:.2} |\n",
        thousands(sql_rate),
        sql_rate / limit_rate
    ));
    md.push_str(&format!(
        "| naive: raw SQLite, one row per transaction ({} rows, once) | {} | {:.2} |\n\n",
        thousands(naive_n as f64),
        thousands(naive_rate),
        naive_rate / limit_rate
    ));
    md.push_str(
        "| round | projector | limit | ratio | projector SQL | backend CPU | to /health | load (1 min) | executions completed, results counted |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for (k, r) in all.iter().enumerate() {
        let p = rate((m as i64 - r.first_count) as f64, r.steady);
        let l = rate(m as f64, r.limit);
        md.push_str(&format!(
            "| {} | {} ({:.2} s) | {} ({:.2} s) | {:.2} | {} | {:.1} s | {:.2} s | {} | {}/{execs}, {} |\n",
            k + 1,
            thousands(p),
            r.steady.as_secs_f64(),
            thousands(l),
            r.limit.as_secs_f64(),
            p / l,
            thousands(rate(m as f64, r.sql)),
            r.cpu_secs,
            r.healthy.as_secs_f64(),
            r.load,
            r.completed,
            thousands(r.counted as f64),
        ));
    }
    md.push_str(&format!(
        "\nGoal ≥ 0.80 of the limit: {verdict} ({ratio:.2}).\n"
    ));
    Ok(md)
}
