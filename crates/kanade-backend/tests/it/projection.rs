//! Projectors against the real broker: results complete in-flight rows and count once, even
//! when redelivered, refused by the database for a while or when the backend dies mid-stream;
//! heartbeats make machines online.

use std::time::Duration;

use chrono::Utc;
use kanade_protocol::api::{ExecResponse, ExecutionDetail, Page, ResultDetail, ResultSummary};
use kanade_protocol::subject;
use kanade_protocol::wire::{EventStarted, ExecResult, Heartbeat};

use crate::support::{HELLO, TestBackend, publish, result_for, wait_for};

async fn fire(b: &TestBackend, target: serde_json::Value) -> ExecResponse {
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&serde_json::json!({"target": target, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

async fn execution(b: &TestBackend, exec_id: &str) -> ExecutionDetail {
    b.get(&format!("/api/executions/{exec_id}")).await
}

#[tokio::test]
async fn started_then_result_completes_the_row_and_counts_once() {
    let b = TestBackend::start().await;
    let fired = fire(&b, serde_json::json!({"pcs": ["pc1", "pc2"]})).await;
    let ok = result_for(&fired, "pc1", 0);
    let started = EventStarted {
        result_id: ok.result_id.clone(),
        request_id: ok.request_id.clone(),
        exec_id: ok.exec_id.clone(),
        pc_id: "pc1".into(),
        job_id: "hello".into(),
        version: "1".into(),
        started_at: ok.started_at,
        timeout_secs: Some(30),
    };
    publish(&b, subject::events_started(&fired.exec_id, "pc1"), &started).await;
    wait_for("in-flight row", Duration::from_secs(10), || async {
        let e = execution(&b, &fired.exec_id).await;
        e.execution.status == "running" && e.results.len() == 1 && e.results[0].exit_code.is_none()
    })
    .await;

    publish(&b, subject::results(&fired.request_id), &ok).await;
    // The same result again (a redelivery or a re-sent outbox entry) and a garbage message.
    publish(&b, subject::results(&fired.request_id), &ok).await;
    b.js.publish(subject::results("junk"), "not json".into())
        .await
        .unwrap()
        .await
        .unwrap();
    publish(
        &b,
        subject::results(&fired.request_id),
        &result_for(&fired, "pc2", 3),
    )
    .await;

    wait_for("completion", Duration::from_secs(10), || async {
        execution(&b, &fired.exec_id).await.execution.status == "completed"
    })
    .await;
    let e = execution(&b, &fired.exec_id).await;
    assert_eq!(
        (
            e.execution.success_count,
            e.execution.failure_count,
            e.execution.skipped_count
        ),
        (1, 1, 0)
    );
    assert_eq!(e.results.len(), 2);

    let page: Page<ResultSummary> = b
        .get(&format!("/api/results?exec_id={}&pc_id=pc1", fired.exec_id))
        .await;
    assert_eq!(page.total, 1);
    // Each filter shape is its own statement (`store::results::list`): all give the same rows.
    for (query, machines) in [
        (format!("exec_id={}", fired.exec_id), vec!["pc1", "pc2"]),
        ("pc_id=pc2".to_owned(), vec!["pc2"]),
        (String::new(), vec!["pc1", "pc2"]),
    ] {
        let listed: Page<ResultSummary> = b.get(&format!("/api/results?{query}")).await;
        let mut pcs: Vec<&str> = listed.items.iter().map(|r| r.pc_id.as_str()).collect();
        pcs.sort();
        assert_eq!(
            (pcs, listed.total),
            (machines.clone(), machines.len() as u64),
            "{query}"
        );
    }
    let detail: ResultDetail = b
        .get(&format!("/api/results/{}", page.items[0].result_id))
        .await;
    assert_eq!(
        (detail.stdout.as_str(), detail.summary.exit_code),
        ("hello from pc1\n", Some(0))
    );
    assert!(detail.summary.started_at.is_some() && detail.summary.recorded_at.is_some());
}

#[tokio::test]
async fn backend_killed_mid_stream_loses_and_doubles_nothing() {
    let mut b = TestBackend::start().await;
    const N: usize = 3000;
    let pcs: Vec<String> = (0..N).map(|i| format!("pc{i}")).collect();
    let fired = fire(&b, serde_json::json!({"pcs": pcs})).await;
    assert_eq!(fired.target_count, N as i64);

    // Publish asynchronously, collecting acks, while the backend is projecting.
    let mut acks = Vec::with_capacity(N);
    for (i, pc) in pcs.iter().enumerate() {
        let r = result_for(&fired, pc, i32::from(i % 10 == 0));
        let payload = serde_json::to_vec(&r).unwrap();
        acks.push(
            b.js.publish(subject::results(&fired.request_id), payload.into())
                .await
                .unwrap(),
        );
        if i == N / 3 {
            b.kill().await;
        }
    }
    for ack in acks {
        ack.await.unwrap();
    }
    // Some but not all should have been projected before the crash; either way, after a
    // restart everything arrives exactly once.
    b.boot().await;
    wait_for("all results projected", Duration::from_secs(60), || async {
        execution(&b, &fired.exec_id).await.execution.status == "completed"
    })
    .await;
    let e = execution(&b, &fired.exec_id).await;
    assert_eq!(
        e.execution.success_count + e.execution.failure_count,
        N as i64
    );
    assert_eq!(e.execution.failure_count, (N / 10) as i64);
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM execution_results"),
        N as i64
    );

    // A second crash and restart replays nothing twice.
    b.kill().await;
    b.boot().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let again = execution(&b, &fired.exec_id).await;
    assert_eq!(
        again.execution.success_count + again.execution.failure_count,
        N as i64
    );
}

/// The ack policy (`projector::commit`): a batch the database refuses is acked never, so the
/// broker hands it over again, and it is applied once the database takes it; batches the
/// database took before it and after it are counted once.
#[tokio::test]
async fn a_batch_the_database_refuses_is_redelivered_and_applied_once_it_can_be() {
    let b = TestBackend::start().await;
    const N: usize = 300;
    let pcs: Vec<String> = (0..N).map(|i| format!("pc{i}")).collect();
    let fired = fire(&b, serde_json::json!({"pcs": pcs})).await;
    let send = |range: std::ops::Range<usize>| {
        let (b, fired, pcs) = (&b, &fired, &pcs);
        async move {
            for i in range {
                publish(
                    b,
                    subject::results(&fired.request_id),
                    &result_for(fired, &pcs[i], 0),
                )
                .await;
            }
        }
    };
    send(0..100).await;
    wait_for("the first results", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM execution_results") == 100
    })
    .await;

    // The database refuses every new result row, as a full disk would.
    let db = rusqlite::Connection::open(b.db_path()).unwrap();
    db.busy_timeout(Duration::from_secs(10)).unwrap();
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON execution_results
         BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
    )
    .unwrap();
    send(100..200).await;
    let errors = "kanade_projector_errors_total{projector=\"backend_results_projector\"}";
    wait_for("a refused batch", Duration::from_secs(10), || async {
        let text = b.get_text("/metrics").await;
        text.lines()
            .any(|l| l.starts_with(errors) && !l.ends_with(" 0"))
    })
    .await;
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM execution_results"), 100);

    db.execute_batch("DROP TRIGGER refuse").unwrap();
    send(200..N).await;
    wait_for(
        "every result, after the redelivery",
        Duration::from_secs(60),
        || async { execution(&b, &fired.exec_id).await.execution.status == "completed" },
    )
    .await;
    let e = execution(&b, &fired.exec_id).await.execution;
    assert_eq!((e.success_count, e.failure_count), (N as i64, 0));
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM execution_results"),
        N as i64
    );
}

#[tokio::test]
async fn heartbeats_make_machines_count_for_all() {
    let b = TestBackend::start().await;
    for pc in ["a", "b", "c"] {
        let hb = Heartbeat {
            pc_id: pc.to_owned(),
            at: Utc::now(),
            agent_version: "0.1.0".into(),
            hostname: format!("{pc}.lan"),
            os_family: "linux".into(),
            os_version: "12".into(),
            agent_cpu_pct: Some(0.5),
            agent_rss_bytes: Some(10 << 20),
            quarantined_versions: vec![],
            ..Default::default()
        };
        let nats = b.nats_client().await;
        nats.publish(
            subject::heartbeat(pc),
            serde_json::to_vec(&hb).unwrap().into(),
        )
        .await
        .unwrap();
        nats.flush().await.unwrap();
    }
    wait_for("three agents", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM agents") == 3
    })
    .await;
    let fired = fire(&b, serde_json::json!({"all": true})).await;
    assert_eq!(fired.target_count, 3);
}

#[tokio::test]
async fn each_named_replica_builds_a_complete_read_model() {
    let b = TestBackend::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = kanade_backend::BackendConfig::default();
    crate::support::use_broker(&mut config, &b.nats);
    config.db.sqlite_path = dir.path().join("replica-b.db");
    config.server.replica = Some("b".into());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let second = tokio::spawn(kanade_backend::serve(
        config,
        listener,
        std::future::pending(),
    ));
    let fired = fire(&b, serde_json::json!({"pcs": ["pc1", "pc2", "pc3"]})).await;
    for pc in ["pc1", "pc2", "pc3"] {
        publish(
            &b,
            subject::results(&fired.request_id),
            &result_for(&fired, pc, 0),
        )
        .await;
    }
    let count = |path: std::path::PathBuf| {
        rusqlite::Connection::open(path)
            .and_then(|c| {
                c.query_row("SELECT COUNT(*) FROM execution_results", [], |r| {
                    r.get::<_, i64>(0)
                })
            })
            .unwrap_or(0)
    };
    let replica_db = dir.path().join("replica-b.db");
    wait_for(
        "both read models complete",
        Duration::from_secs(20),
        || async { count(b.db_path()) == 3 && count(replica_db.clone()) == 3 },
    )
    .await;
    let streams = kanade_bus::stream_status(&b.js).await.unwrap();
    let results = streams.iter().find(|s| s.name == "RESULTS").unwrap();
    let names: Vec<&str> = results
        .consumer_list
        .iter()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["backend_results_projector", "backend_results_projector_b"]
    );
    second.abort();
}

/// A machine may publish only on its own subjects (the broker's grant); a report whose body
/// names another machine than its subject is dropped, so one machine cannot answer for another.
#[tokio::test]
async fn a_result_or_start_naming_another_machine_than_its_subject_is_dropped() {
    let b = TestBackend::start().await;
    let fired = fire(&b, serde_json::json!({"pcs": ["pc1", "pc2"]})).await;
    // pc1 forges pc2's success, on its own subjects.
    let forged = result_for(&fired, "pc2", 0);
    let forged_start = EventStarted {
        result_id: forged.result_id.clone(),
        request_id: forged.request_id.clone(),
        exec_id: forged.exec_id.clone(),
        pc_id: "pc2".into(),
        job_id: "hello".into(),
        version: "1".into(),
        started_at: forged.started_at,
        timeout_secs: Some(30),
    };
    publish(
        &b,
        subject::events_started(&fired.exec_id, "pc1"),
        &forged_start,
    )
    .await;
    publish(&b, subject::results_of("pc1", &fired.request_id), &forged).await;
    // pc1's own result, on its own subject, counts.
    publish(
        &b,
        subject::results_of("pc1", &fired.request_id),
        &result_for(&fired, "pc1", 0),
    )
    .await;
    wait_for("pc1's own result", Duration::from_secs(10), || async {
        execution(&b, &fired.exec_id).await.results.len() == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let e = execution(&b, &fired.exec_id).await;
    let machines: Vec<&str> = e.results.iter().map(|r| r.pc_id.as_str()).collect();
    assert_eq!(machines, ["pc1"], "a forged report was projected: {e:#?}");
    assert_eq!(e.execution.success_count, 1);
}

#[tokio::test]
async fn agent_side_fires_appear_as_executions_from_their_results() {
    let b = TestBackend::start().await;
    // One clock tick of an agent-side schedule: the agents share an exec id the backend never
    // issued; each result names the schedule.
    let exec_id = uuid::Uuid::new_v4().to_string();
    let local = |pc: &str, exit_code: i32| {
        let now = Utc::now();
        ExecResult {
            result_id: format!("{exec_id}-{pc}"),
            request_id: format!("req-{pc}"),
            exec_id: exec_id.clone(),
            pc_id: pc.to_owned(),
            job_id: "inventory".to_owned(),
            version: "3".to_owned(),
            exit_code,
            stdout: String::new(),
            stderr: String::new(),
            stdout_object: None,
            stderr_object: None,
            started_at: now,
            finished_at: now,
            skipped: false,
            schedule_id: Some("nightly".to_owned()),
        }
    };
    let first = local("pc1", 0);
    publish(&b, subject::results(&first.request_id), &first).await;
    wait_for("the execution row", Duration::from_secs(10), || async {
        let resp = b
            .http
            .get(b.url(&format!("/api/executions/{exec_id}")))
            .send()
            .await
            .unwrap();
        resp.status().is_success()
    })
    .await;
    // A redelivery counts nothing; a second machine joins the targets.
    publish(&b, subject::results(&first.request_id), &first).await;
    let second = local("pc2", 4);
    publish(&b, subject::results(&second.request_id), &second).await;
    wait_for("both machines counted", Duration::from_secs(10), || async {
        execution(&b, &exec_id).await.results.len() == 2
    })
    .await;
    let e = execution(&b, &exec_id).await;
    let x = &e.execution;
    assert_eq!(x.initiated_by, "agent:nightly");
    assert_eq!((x.job_id.as_str(), x.version.as_str()), ("inventory", "3"));
    assert_eq!(
        (
            x.target_count,
            x.success_count,
            x.failure_count,
            x.status.as_str()
        ),
        (2, 1, 1, "completed")
    );
    let listed: Page<kanade_protocol::api::ExecutionSummary> =
        b.get("/api/executions?job_id=inventory").await;
    assert!(
        listed.items.iter().any(|s| s.exec_id == exec_id),
        "{listed:?}"
    );

    // The targets stay the machines with a row, counted one machine at a time: a long run's
    // started event adds its machine, its result then adds nothing, and a retried run of a
    // machine already counted (another result id) adds nothing either.
    let started = |r: &ExecResult| EventStarted {
        result_id: r.result_id.clone(),
        request_id: r.request_id.clone(),
        exec_id: r.exec_id.clone(),
        pc_id: r.pc_id.clone(),
        job_id: r.job_id.clone(),
        version: r.version.clone(),
        started_at: r.started_at,
        timeout_secs: Some(600),
    };
    let third = local("pc3", 0);
    publish(
        &b,
        subject::events_started(&exec_id, "pc3"),
        &started(&third),
    )
    .await;
    wait_for("the long run's row", Duration::from_secs(10), || async {
        execution(&b, &exec_id).await.results.len() == 3
    })
    .await;
    assert_eq!(execution(&b, &exec_id).await.execution.target_count, 3);
    let mut retry = local("pc2", 0);
    retry.result_id = format!("{exec_id}-pc2-retry");
    publish(&b, subject::results(&retry.request_id), &retry).await;
    publish(&b, subject::results(&third.request_id), &third).await;
    wait_for("four runs", Duration::from_secs(10), || async {
        let e = execution(&b, &exec_id).await;
        e.results.len() == 4 && e.results.iter().all(|r| r.finished_at.is_some())
    })
    .await;
    assert_eq!(execution(&b, &exec_id).await.execution.target_count, 3);

    // A started event before the fire's first result is counted when the result creates it.
    let other = uuid::Uuid::new_v4().to_string();
    let mut early = local("pc5", 0);
    early.exec_id = other.clone();
    early.result_id = format!("{other}-pc5");
    let mut creating = local("pc6", 0);
    creating.exec_id = other.clone();
    creating.result_id = format!("{other}-pc6");
    publish(&b, subject::events_started(&other, "pc5"), &started(&early)).await;
    wait_for("the early row", Duration::from_secs(10), || async {
        b.query_i64(&format!(
            "SELECT COUNT(*) FROM execution_results WHERE exec_id = '{other}'"
        )) == 1
    })
    .await;
    publish(&b, subject::results(&creating.request_id), &creating).await;
    publish(&b, subject::results(&early.request_id), &early).await;
    wait_for("both runs of the second fire", Duration::from_secs(10), || async {
        b.query_i64(&format!(
            "SELECT COUNT(*) FROM execution_results WHERE exec_id = '{other}' AND finished_at IS NOT NULL"
        )) == 2
    })
    .await;
    let x = execution(&b, &other).await.execution;
    assert_eq!(
        (x.target_count, x.success_count, x.status.as_str()),
        (2, 2, "completed")
    );

    // A result naming a schedule for an execution the backend issued changes nothing of it.
    let fired = fire(&b, serde_json::json!({"pcs": ["pc1"]})).await;
    let mut spoof = result_for(&fired, "pc9", 0);
    spoof.schedule_id = Some("nightly".to_owned());
    publish(&b, subject::results(&fired.request_id), &spoof).await;
    wait_for("the stray result", Duration::from_secs(10), || async {
        execution(&b, &fired.exec_id).await.results.len() == 1
    })
    .await;
    let e = execution(&b, &fired.exec_id).await;
    assert_ne!(e.execution.initiated_by, "agent:nightly");
    assert_eq!(e.execution.target_count, 1);
}
