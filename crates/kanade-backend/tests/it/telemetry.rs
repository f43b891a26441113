//! Fleet telemetry through the real broker: liveness and its timeline events, performance
//! series and their downsampling, timelines, reaping of silent runs, retention, metrics.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kanade_protocol::api::{
    AgentRow, ExecResponse, ExecutionDetail, FleetPerf, KindCount, ObsEntry, Page, PerfSeries,
    PingResult, ProcessSnapshot, TopEntry, VersionCount,
};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::subject;
use kanade_protocol::wire::{
    EventStarted, ExecResult, Heartbeat, HostPerf, ObsEvent, ProcessPerf, ProcessSample,
};
use serde_json::json;

use crate::support::{HELLO, TestBackend, wait_for};

async fn start() -> TestBackend {
    let nats = kanade_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(crate::support::connect(&nats).await);
    let mut config = kanade_backend::BackendConfig::default();
    crate::support::use_broker(&mut config, &nats);
    config.db.sqlite_path = dir.path().join("backend.db");
    config.secrets.bootstrap_admin_password = Some(crate::support::ADMIN_PASSWORD.into());
    config.telemetry.offline_after = HumanDuration::from_secs(2);
    config.telemetry.watchdog_interval = HumanDuration(Duration::from_millis(200));
    TestBackend::with_config(nats, dir, js, config).await
}

async fn core(b: &TestBackend) -> async_nats::Client {
    b.nats_client().await
}

fn beat(pc: &str, version: &str) -> Heartbeat {
    Heartbeat {
        pc_id: pc.into(),
        at: Utc::now(),
        agent_version: version.into(),
        hostname: format!("{pc}.lan"),
        os_family: "linux".into(),
        os_version: "Debian 12".into(),
        agent_cpu_pct: Some(0.1),
        agent_rss_bytes: Some(9 << 20),
        quarantined_versions: vec![],
        ..Default::default()
    }
}

async fn send<T: serde::Serialize>(nats: &async_nats::Client, subject: String, msg: &T) {
    nats.publish(subject, serde_json::to_vec(msg).unwrap().into())
        .await
        .unwrap();
    nats.flush().await.unwrap();
}

async fn timeline(b: &TestBackend, pc: &str) -> Vec<String> {
    let page: Page<ObsEntry> = b.get(&format!("/api/obs_events?pc_id={pc}")).await;
    page.items.iter().rev().map(|e| e.kind.clone()).collect()
}

#[tokio::test]
async fn machines_go_offline_and_come_back_with_timeline_events() {
    let b = start().await;
    let nats = core(&b).await;
    for pc in ["a", "b", "c"] {
        send(&nats, subject::heartbeat(pc), &beat(pc, "0.1.0")).await;
    }
    wait_for("three online", Duration::from_secs(10), || async {
        let page: Page<AgentRow> = b.get("/api/agents?online=true").await;
        page.total == 3
    })
    .await;
    // a and b keep beating; c stops.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        for pc in ["a", "b"] {
            send(&nats, subject::heartbeat(pc), &beat(pc, "0.1.0")).await;
        }
        if timeline(&b, "c").await == ["agent_offline"] {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "c never went offline"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let offline: Page<AgentRow> = b.get("/api/agents?online=false").await;
    assert_eq!(
        offline
            .items
            .iter()
            .map(|a| a.pc_id.as_str())
            .collect::<Vec<_>>(),
        ["c"]
    );
    assert!(timeline(&b, "a").await.is_empty(), "a never went away");

    send(&nats, subject::heartbeat("c"), &beat("c", "0.1.0")).await;
    wait_for("agent_online", Duration::from_secs(10), || async {
        timeline(&b, "c").await == ["agent_offline", "agent_online"]
    })
    .await;
    let row: AgentRow = b.get("/api/agents/c").await;
    assert!(row.online);
    assert_eq!(
        (row.hostname.as_str(), row.os_version.as_str()),
        ("c.lan", "Debian 12")
    );
}

#[tokio::test]
async fn the_fleet_table_filters_sorts_and_counts_versions() {
    let b = TestBackend::start().await;
    let nats = core(&b).await;
    for (pc, v) in [("web-1", "0.1.0"), ("web-2", "0.2.0"), ("db-1", "0.2.0")] {
        send(&nats, subject::heartbeat(pc), &beat(pc, v)).await;
    }
    wait_for("agents", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM agents") == 3
    })
    .await;
    let groups =
        b.js.get_key_value(kanade_protocol::names::KV_AGENT_GROUPS)
            .await
            .unwrap();
    groups
        .put("db-1", r#"{"groups":["databases"]}"#.into())
        .await
        .unwrap();

    let page: Page<AgentRow> = b.get("/api/agents?q=WEB&sort=pc_id&order=desc").await;
    assert_eq!(
        page.items
            .iter()
            .map(|a| a.pc_id.as_str())
            .collect::<Vec<_>>(),
        ["web-2", "web-1"]
    );
    let page: Page<AgentRow> = b.get("/api/agents?version=0.2.0&limit=1").await;
    assert_eq!((page.total, page.items.len()), (2, 1));
    let page: Page<AgentRow> = b.get("/api/agents?group=databases").await;
    assert_eq!(
        page.items
            .iter()
            .map(|a| a.pc_id.as_str())
            .collect::<Vec<_>>(),
        ["db-1"]
    );
    let detail: AgentRow = b.get("/api/agents/db-1").await;
    assert_eq!(detail.groups, ["databases"]);
    let versions: Vec<VersionCount> = b.get("/api/agents/versions").await;
    assert_eq!(
        versions,
        vec![
            VersionCount {
                agent_version: "0.2.0".into(),
                machines: 2,
                online: 2
            },
            VersionCount {
                agent_version: "0.1.0".into(),
                machines: 1,
                online: 1
            },
        ]
    );
    let bad = b
        .http
        .get(b.url("/api/agents?sort=password_hash"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let missing = b.http.get(b.url("/api/agents/nope")).send().await.unwrap();
    assert_eq!(missing.status(), reqwest::StatusCode::NOT_FOUND);

    // Nobody answers pings on this broker.
    let ping: PingResult = b
        .http
        .post(b.url("/api/agents/web-1/ping"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!ping.answered);
    // A responder answers with a heartbeat, and the round trip is measured.
    let mut sub = nats.subscribe(subject::ping("web-1")).await.unwrap();
    let responder = nats.clone();
    tokio::spawn(async move {
        use futures::StreamExt;
        if let Some(msg) = sub.next().await {
            let reply = msg.reply.unwrap();
            responder
                .publish(
                    reply,
                    serde_json::to_vec(&beat("web-1", "0.1.0")).unwrap().into(),
                )
                .await
                .unwrap();
        }
    });
    nats.flush().await.unwrap();
    let ping: PingResult = b
        .http
        .post(b.url("/api/agents/web-1/ping"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(ping.answered && ping.rtt_ms.is_some());
    assert_eq!(ping.heartbeat.unwrap().pc_id, "web-1");
}

fn sample(pc: &str, at: DateTime<Utc>, cpu: f32) -> HostPerf {
    HostPerf {
        pc_id: pc.into(),
        at,
        cpu_pct: Some(cpu),
        cpu_count: Some(4),
        mem_used_bytes: Some(2_000),
        mem_total_bytes: Some(8_000),
        swap_used_bytes: Some(0),
        swap_total_bytes: Some(0),
        disk_read_bytes_per_sec: Some(100.0),
        disk_written_bytes_per_sec: Some(50.0),
        net_rx_bytes_per_sec: Some(10.0),
        net_tx_bytes_per_sec: Some(5.0),
    }
}

#[tokio::test]
async fn perf_series_are_averaged_per_step() {
    let b = TestBackend::start().await;
    let nats = core(&b).await;
    // Ten samples a minute apart starting on a whole hour: cpu 0, 10, ..., 90.
    let base = DateTime::parse_from_rfc3339("2026-11-27T08:00:00Z")
        .unwrap()
        .with_timezone(&Utc);
    for i in 0..10 {
        send(
            &nats,
            subject::host_perf("pc1"),
            &sample("pc1", base + chrono::Duration::minutes(i), (i * 10) as f32),
        )
        .await;
    }
    // The same sample again is ignored.
    send(&nats, subject::host_perf("pc1"), &sample("pc1", base, 0.0)).await;
    wait_for("samples", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM host_perf_samples") == 10
    })
    .await;
    let series: PerfSeries = b
        .get("/api/agents/pc1/perf?from=2026-11-27T08:00:00Z&to=2026-11-27T08:10:00Z&step=300")
        .await;
    assert_eq!(series.step_secs, 300);
    let got: Vec<(String, u32, f64)> = series
        .points
        .iter()
        .map(|p| (p.at.to_rfc3339(), p.samples, p.cpu_pct))
        .collect();
    assert_eq!(
        got,
        vec![
            ("2026-11-27T08:00:00+00:00".to_owned(), 5, 20.0),
            ("2026-11-27T08:05:00+00:00".to_owned(), 5, 70.0)
        ]
    );
    assert_eq!(series.points[0].mem_used_bytes, 2000.0);
    // A week asked in 1-second steps is widened to at most ~1000 points.
    let wide: PerfSeries = b
        .get("/api/agents/pc1/perf?from=2026-11-20T08:00:00Z&to=2026-11-27T08:00:00Z&step=1")
        .await;
    assert_eq!(wide.step_secs, 605);
    let bad = b
        .http
        .get(b.url("/api/agents/pc1/perf?from=2026-11-27T09:00:00Z&to=2026-11-27T08:00:00Z"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn fleet_percentiles_top_machines_and_processes() {
    let b = TestBackend::start().await;
    let nats = core(&b).await;
    let now = Utc::now();
    for (i, pc) in ["p1", "p2", "p3", "p4"].iter().enumerate() {
        send(
            &nats,
            subject::host_perf(pc),
            &sample(pc, now, (i as f32 + 1.0) * 20.0),
        )
        .await;
    }
    let snapshot = ProcessPerf {
        pc_id: "p4".into(),
        at: now,
        processes: vec![
            ProcessSample {
                pid: 1,
                name: "init".into(),
                cpu_pct: 0.5,
                rss_bytes: 1000,
                disk_read_bytes_per_sec: Some(0.0),
                disk_written_bytes_per_sec: Some(0.0),
            },
            ProcessSample {
                pid: 42,
                name: "hog".into(),
                cpu_pct: 95.0,
                rss_bytes: 9000,
                disk_read_bytes_per_sec: Some(1.0),
                disk_written_bytes_per_sec: Some(2.0),
            },
        ],
    };
    send(&nats, subject::process_perf("p4"), &snapshot).await;
    wait_for("samples", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM host_perf_samples") == 4
            && b.query_i64("SELECT COUNT(*) FROM process_perf_samples") == 2
    })
    .await;
    let fleet: FleetPerf = b.get("/api/perf/fleet").await;
    assert_eq!(
        (fleet.machines, fleet.cpu_p50, fleet.cpu_p99),
        (4, 40.0, 80.0)
    );
    assert_eq!(fleet.mem_pct_p50, 25.0);
    assert_eq!(fleet.series.iter().map(|p| p.machines).sum::<u64>(), 4);
    let top: Vec<TopEntry> = b.get("/api/perf/top?metric=cpu&limit=2").await;
    assert_eq!(
        top.iter()
            .map(|t| (t.pc_id.as_str(), t.value))
            .collect::<Vec<_>>(),
        [("p4", 80.0), ("p3", 60.0)]
    );
    let bad = b
        .http
        .get(b.url("/api/perf/top?metric=vibes"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), reqwest::StatusCode::BAD_REQUEST);
    let procs: ProcessSnapshot = b.get("/api/agents/p4/processes").await;
    assert_eq!(
        procs
            .processes
            .iter()
            .map(|p| p.name.as_str())
            .collect::<Vec<_>>(),
        ["hog", "init"]
    );
}

#[tokio::test]
async fn timeline_events_are_idempotent_on_their_record_id() {
    let b = TestBackend::start().await;
    let event = ObsEvent {
        pc_id: "pc1".into(),
        at: Utc::now(),
        kind: "logon".into(),
        source: "job:sessions".into(),
        event_record_id: Some("4624:1".into()),
        payload: json!({"user": "alice"}),
    };
    for _ in 0..3 {
        b.js.publish(
            subject::obs("pc1"),
            serde_json::to_vec(&event).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    let other = ObsEvent {
        kind: "logoff".into(),
        event_record_id: None,
        ..event.clone()
    };
    b.js.publish(
        subject::obs("pc1"),
        serde_json::to_vec(&other).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    wait_for("events", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM obs_events") == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM obs_events"), 2);
    let page: Page<ObsEntry> = b.get("/api/obs_events?pc_id=pc1&kind=logon").await;
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].payload["user"], "alice");
    let kinds: Vec<KindCount> = b.get("/api/obs_events/kinds").await;
    assert_eq!(
        kinds,
        vec![
            KindCount {
                kind: "logoff".into(),
                events: 1
            },
            KindCount {
                kind: "logon".into(),
                events: 1
            }
        ]
    );
}

#[tokio::test]
async fn silent_runs_are_reaped_and_a_late_result_replaces_them() {
    let b = TestBackend::start().await;
    assert!(
        b.http
            .post(b.url("/api/jobs"))
            .body(HELLO)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let fired: ExecResponse = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&json!({"target": {"pcs": ["pc1"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let started_at = Utc::now() - chrono::Duration::hours(1);
    let started = EventStarted {
        result_id: "r-1".into(),
        request_id: fired.request_id.clone(),
        exec_id: fired.exec_id.clone(),
        pc_id: "pc1".into(),
        job_id: "hello".into(),
        version: "1".into(),
        started_at,
        timeout_secs: Some(30),
    };
    b.js.publish(
        subject::events_started(&fired.exec_id, "pc1"),
        serde_json::to_vec(&started).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    wait_for("in flight", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM execution_results") == 1
    })
    .await;

    b.housekeep(|_| {}).await;
    let e: ExecutionDetail = b.get(&format!("/api/executions/{}", fired.exec_id)).await;
    assert_eq!(
        (e.execution.status.as_str(), e.execution.failure_count),
        ("completed", 1)
    );
    assert!(e.results[0].reaped && e.results[0].exit_code == Some(-1));

    let late = ExecResult {
        result_id: "r-1".into(),
        request_id: fired.request_id.clone(),
        exec_id: fired.exec_id.clone(),
        pc_id: "pc1".into(),
        job_id: "hello".into(),
        version: "1".into(),
        exit_code: 0,
        stdout: "hello\n".into(),
        stderr: String::new(),
        stdout_object: None,
        stderr_object: None,
        started_at,
        finished_at: Utc::now(),
        skipped: false,
        schedule_id: None,
    };
    for _ in 0..2 {
        b.js.publish(
            subject::results(&fired.request_id),
            serde_json::to_vec(&late).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    wait_for("late result", Duration::from_secs(10), || async {
        b.get::<ExecutionDetail>(&format!("/api/executions/{}", fired.exec_id))
            .await
            .execution
            .success_count
            == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let e: ExecutionDetail = b.get(&format!("/api/executions/{}", fired.exec_id)).await;
    assert_eq!(
        (e.execution.success_count, e.execution.failure_count),
        (1, 0),
        "moved, not double counted"
    );
    assert!(!e.results[0].reaped);

    // A second pass finds nothing more to reap.
    b.housekeep(|_| {}).await;
    let e: ExecutionDetail = b.get(&format!("/api/executions/{}", fired.exec_id)).await;
    assert_eq!(
        (e.execution.success_count, e.execution.failure_count),
        (1, 0)
    );
}

#[tokio::test]
async fn retention_deletes_only_what_is_older_than_its_window() {
    let b = TestBackend::start().await;
    let nats = core(&b).await;
    let now = Utc::now();
    for (age_days, pc) in [(31, "old"), (29, "young")] {
        send(
            &nats,
            subject::host_perf(pc),
            &sample(pc, now - chrono::Duration::days(age_days), 1.0),
        )
        .await;
    }
    for (age_days, id) in [(91, "old"), (89, "young")] {
        let at = now - chrono::Duration::days(age_days);
        let r = ExecResult {
            result_id: id.into(),
            request_id: "q".into(),
            exec_id: "e".into(),
            pc_id: "pc".into(),
            job_id: "j".into(),
            version: "1".into(),
            exit_code: 0,
            stdout: String::new(),
            stderr: String::new(),
            stdout_object: None,
            stderr_object: None,
            started_at: at,
            finished_at: at,
            skipped: false,
            schedule_id: None,
        };
        b.js.publish(
            subject::results("q"),
            serde_json::to_vec(&r).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    for (age_days, action) in [(366, "ancient"), (364, "recent")] {
        let ev = kanade_protocol::wire::AuditEvent {
            actor: "someone".into(),
            action: action.into(),
            target: None,
            payload: json!({}),
            occurred_at: now - chrono::Duration::days(age_days),
            client_addr: None,
        };
        b.js.publish(
            subject::audit(action),
            serde_json::to_vec(&ev).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    wait_for("rows", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM host_perf_samples") == 2
            && b.query_i64("SELECT COUNT(*) FROM execution_results") == 2
            && b.query_i64("SELECT COUNT(*) FROM audit_log WHERE actor = 'someone'") == 2
    })
    .await;
    b.housekeep(|_| {}).await;
    let left = |sql: &str| {
        let conn = rusqlite::Connection::open(b.db_path()).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(0))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
    };
    assert_eq!(left("SELECT pc_id FROM host_perf_samples"), ["young"]);
    assert_eq!(left("SELECT result_id FROM execution_results"), ["young"]);
    assert_eq!(
        left("SELECT action FROM audit_log WHERE actor = 'someone' ORDER BY action"),
        ["recent"]
    );
}

#[tokio::test]
async fn metrics_describe_projectors_agents_and_http() {
    let b = TestBackend::start().await;
    let nats = core(&b).await;
    send(&nats, subject::heartbeat("m1"), &beat("m1", "0.1.0")).await;
    wait_for("agent", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM agents") == 1
    })
    .await;
    let _: Vec<kanade_protocol::api::JobSummary> = b.get("/api/jobs").await;
    let unauthenticated = b.anon.get(b.url("/metrics")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), reqwest::StatusCode::UNAUTHORIZED);
    let text = b.get_text("/metrics").await;
    for needle in [
        "kanade_projector_messages_total{projector=\"heartbeat\"} 1",
        "kanade_agents{state=\"online\"} 1",
        "kanade_agents{state=\"offline\"} 0",
        "kanade_http_requests_total{method=\"GET\",route=\"/api/jobs\",status=\"200\"} 1",
        "kanade_http_request_duration_seconds_bucket{",
        "kanade_consumer_pending_messages{consumer=\"backend_results_projector\"} 0",
        "kanade_projector_batch_size_bucket{",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
}

#[tokio::test]
async fn live_updates_stream_committed_changes() {
    let b = TestBackend::start().await;
    let unauthenticated = b
        .anon
        .get(b.url("/api/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthenticated.status(), reqwest::StatusCode::UNAUTHORIZED);
    let mut stream = b
        .http
        .get(b.url("/api/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    assert!(
        b.http
            .post(b.url("/api/jobs"))
            .body(HELLO)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let fired: ExecResponse = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&json!({"target": {"pcs": ["pc1"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let now = Utc::now();
    let result = ExecResult {
        result_id: "live-1".into(),
        request_id: fired.request_id.clone(),
        exec_id: fired.exec_id.clone(),
        pc_id: "pc1".into(),
        job_id: "hello".into(),
        version: "1".into(),
        exit_code: 0,
        stdout: String::new(),
        stderr: String::new(),
        stdout_object: None,
        stderr_object: None,
        started_at: now,
        finished_at: now,
        skipped: false,
        schedule_id: None,
    };
    b.js.publish(
        subject::results(&fired.request_id),
        serde_json::to_vec(&result).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !(seen.contains("event: result") && seen.contains("\"result_id\":\"live-1\"")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("live events in time")
            .unwrap()
            .unwrap();
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("event: execution"), "{seen}");
    assert!(
        seen.contains(&format!("\"exec_id\":\"{}\"", fired.exec_id)),
        "{seen}"
    );
}
