//! Scenario `replay`: rebuild the read model from about 1,000,000 stream messages (exec
//! audit events, `events.started` and results) after `kanade-backend wipe-projector`, timed
//! from the start of the backend until the counts match and the consumers are drained.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::Utc;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::{AuditEvent, EventStarted, ExecutionRecord};

use super::ingest::{PER_EXEC, exec_id};
use super::procs::{self, BackendSetup, Nats};
use super::{Env, publish_all, query_i64, thousands};

async fn drained(js: &jetstream::Context) -> anyhow::Result<bool> {
    for (stream, consumer) in [
        (names::STREAM_RESULTS, names::CONSUMER_RESULTS),
        (names::STREAM_EVENTS, names::CONSUMER_EVENTS),
        (names::STREAM_AUDIT, names::CONSUMER_AUDIT),
    ] {
        let mut s = js.get_stream(stream).await?;
        let Ok(info) = s.consumer_info(consumer).await else {
            return Ok(false);
        };
        if info.num_pending > 0 || info.num_ack_pending > 0 {
            return Ok(false);
        }
        let _ = s.info().await?;
    }
    Ok(true)
}

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let execs = env.scaled(50, 1);
    let runs = execs * PER_EXEC;
    let messages = execs + 2 * runs;
    let dir = env.scratch("replay")?;
    let nats = Nats::start(&dir.join("nats"))?;
    let client = crate::fleet::connect(&nats.url, "kanade-bench".into()).await?;
    let js = jetstream::new(client.clone());
    let setup = BackendSetup::new(&env.bin("kanade-backend"), &dir.join("backend"), &nats.url)?;
    // A first start creates the resources, the database and its admin account.
    setup.start().await?.stop(Duration::from_secs(10));

    println!("replay: publishing {messages} messages");
    let rows = super::ingest::results(runs, 200);
    let now = Utc::now();
    let audits = (0..execs).map(|k| {
        let record = ExecutionRecord {
            exec_id: exec_id(k),
            job_id: "bench".into(),
            version: "1".into(),
            request_id: format!("bench-req-{k:04}"),
            initiated_by: "bench".into(),
            initiated_at: now - chrono::Duration::minutes(20) + chrono::Duration::seconds(k as i64),
            target_count: PER_EXEC as i64,
            subjects: vec![subject::COMMANDS_ALL.into()],
            deadline_at: None,
        };
        let event = AuditEvent {
            actor: "bench".into(),
            action: "exec".into(),
            target: Some("bench".into()),
            payload: serde_json::to_value(&record).unwrap_or_default(),
            occurred_at: record.initiated_at,
            client_addr: None,
        };
        (
            subject::audit("exec"),
            serde_json::to_vec(&event).unwrap_or_default(),
        )
    });
    let mut published = publish_all(&js, audits, 1000).await?;
    let started = rows.iter().map(|r| {
        let ev = EventStarted {
            result_id: r.result_id.clone(),
            request_id: r.request_id.clone(),
            exec_id: r.exec_id.clone(),
            pc_id: r.pc_id.clone(),
            job_id: r.job_id.clone(),
            version: r.version.clone(),
            started_at: r.started_at,
            timeout_secs: Some(60),
        };
        (
            subject::events_started(&ev.exec_id, &ev.pc_id),
            serde_json::to_vec(&ev).unwrap_or_default(),
        )
    });
    published += publish_all(&js, started, 1000).await?;
    let results = rows.iter().map(|r| {
        (
            subject::results_of(&r.pc_id, &r.request_id),
            serde_json::to_vec(r).unwrap_or_default(),
        )
    });
    published += publish_all(&js, results, 1000).await?;
    drop(rows);

    println!("replay: wipe-projector, then start and wait");
    setup.wipe()?;
    let load_before = procs::load_average();
    let t0 = Instant::now();
    let mut backend = setup.start().await?;
    let healthy = t0.elapsed();
    let mut counts_at = None;
    let done = loop {
        let finished = query_i64(
            &setup.db,
            "SELECT COUNT(*) FROM execution_results WHERE finished_at IS NOT NULL",
        )
        .unwrap_or(0);
        let completed = query_i64(
            &setup.db,
            "SELECT COUNT(*) FROM executions WHERE status = 'completed'",
        )
        .unwrap_or(0);
        if finished as usize >= runs && completed as usize >= execs {
            counts_at.get_or_insert(t0.elapsed());
            if drained(&js).await? {
                break t0.elapsed();
            }
        }
        anyhow::ensure!(
            t0.elapsed() < Duration::from_secs(1800),
            "replay did not finish in 30 minutes"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let cpu = backend.sample()?;
    let load_after = procs::load_average();
    backend.stop(Duration::from_secs(10));
    let counted = query_i64(
        &setup.db,
        "SELECT COALESCE(SUM(success_count + failure_count + skipped_count), 0) FROM executions",
    )?;
    let audit_rows = query_i64(&setup.db, "SELECT COUNT(*) FROM audit_log")?;
    let users = query_i64(&setup.db, "SELECT COUNT(*) FROM users")?;
    drop(client);
    drop(nats);
    let counts_at = counts_at.unwrap_or(done);
    Ok(format!(
        "### 6. Replay after a wipe\n\n\
         Streams holding {} messages: {} `exec` audit events (AUDIT), {} `events.started` \
         (EVENTS) and {} results with 200 B of stdout (RESULTS), published in {:.1} s. Then \
         `kanade-backend wipe-projector` and a start of the release backend, timed from \
         spawning the process. Load average {load_before} before, {load_after} after.\n\n\
         | measurement | value |\n|---|---:|\n\
         | backend answering /health | {:.2} s |\n\
         | counts match ({} finished rows, {} executions completed) | {:.1} s |\n\
         | every consumer drained (events included) | **{:.1} s** |\n\
         | replay rate (messages / drained time) | **{} msg/s** |\n\
         | backend CPU time | {:.1} s |\n\n\
         After the replay: execution counters add up to {} (expected {}), {} audit rows, {} \
         account(s) kept across the wipe.\n",
        thousands(messages as f64),
        execs,
        thousands(runs as f64),
        thousands(runs as f64),
        published.as_secs_f64(),
        healthy.as_secs_f64(),
        thousands(runs as f64),
        execs,
        counts_at.as_secs_f64(),
        done.as_secs_f64(),
        thousands(messages as f64 / done.as_secs_f64()),
        cpu.cpu_secs,
        thousands(counted as f64),
        thousands(runs as f64),
        audit_rows,
        users,
    ))
}
