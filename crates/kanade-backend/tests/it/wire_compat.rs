//! The original's wire shapes (reference §3) through the real broker into the real backend:
//! heartbeats with logon / disk / protocol fields, host perf with numbers missing, results
//! and started events from agents that mint no result id.

use std::time::Duration;

use chrono::Utc;
use kanade_protocol::api::{
    AgentRow, ExecResponse, ExecutionDetail, Page, PerfSeries, ResultDetail,
};
use kanade_protocol::subject;
use serde_json::json;

use crate::support::{HELLO, TestBackend, wait_for};

const WAIT: Duration = Duration::from_secs(10);

async fn publish_core(b: &TestBackend, subject: String, body: serde_json::Value) {
    let nats = b.nats_client().await;
    nats.publish(subject, serde_json::to_vec(&body).unwrap().into())
        .await
        .unwrap();
    nats.flush().await.unwrap();
}

async fn publish_js(b: &TestBackend, subject: String, body: serde_json::Value) {
    b.js.publish(subject, serde_json::to_vec(&body).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// The reference's legacy id, computed here from its definition.
fn reference_legacy_id(request_id: &str, pc_id: &str) -> String {
    let name = format!("kanade-issue-19/legacy-result-id:{request_id}:{pc_id}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

#[tokio::test]
async fn original_heartbeats_keep_logon_disk_and_protocol_fields() {
    let b = TestBackend::start().await;
    let at = Utc::now();
    // Exactly the original's shape, fields it has and we do not included.
    publish_core(
        &b,
        subject::heartbeat("pc-w1"),
        json!({
            "pc_id": "pc-w1", "at": at, "agent_version": "0.31.0", "hostname": "PC-W1",
            "os_family": "windows", "agent_cpu_pct": 0.7, "agent_rss_bytes": 31_000_000u64,
            "agent_disk_read_bytes": 123_456u64, "agent_disk_written_bytes": 654_321u64,
            "quarantined_versions": [], "last_logon_user": "CORP\\hanako",
            "last_logon_display_name": "Hanako Yamada",
            "command_keys": ["k1"], "enforcing": true,
            "command_protocols": ["legacy", "kanade.command.v2"]
        }),
    )
    .await;
    wait_for("the heartbeat", WAIT, || async {
        b.query_i64("SELECT COUNT(*) FROM agents WHERE pc_id = 'pc-w1'") == 1
    })
    .await;
    let row: AgentRow = b.get("/api/agents/pc-w1").await;
    assert_eq!(row.last_logon_user.as_deref(), Some("CORP\\hanako"));
    assert_eq!(
        row.last_logon_display_name.as_deref(),
        Some("Hanako Yamada")
    );
    assert_eq!(row.agent_disk_read_bytes, Some(123_456));
    assert_eq!(row.agent_disk_written_bytes, Some(654_321));
    assert_eq!(
        row.command_protocols,
        Some(vec!["legacy".to_owned(), "kanade.command.v2".to_owned()])
    );
    let list: Page<AgentRow> = b.get("/api/agents").await;
    assert_eq!(
        list.items[0].last_logon_user.as_deref(),
        Some("CORP\\hanako")
    );

    // A later beat that does not say who is logged on keeps the last user and display name
    // (as the original), while the disk counters move on.
    publish_core(
        &b,
        subject::heartbeat("pc-w1"),
        json!({
            "pc_id": "pc-w1", "at": at + chrono::Duration::seconds(30),
            "agent_version": "0.31.0", "agent_disk_read_bytes": 200_000u64,
            "agent_disk_written_bytes": 700_000u64
        }),
    )
    .await;
    wait_for("the second heartbeat", WAIT, || async {
        b.get::<AgentRow>("/api/agents/pc-w1")
            .await
            .agent_disk_read_bytes
            == Some(200_000)
    })
    .await;
    let row: AgentRow = b.get("/api/agents/pc-w1").await;
    assert_eq!(row.last_logon_user.as_deref(), Some("CORP\\hanako"));
    assert_eq!(
        row.last_logon_display_name.as_deref(),
        Some("Hanako Yamada")
    );
    assert_eq!(row.agent_disk_written_bytes, Some(700_000));
    assert_eq!(row.command_protocols.map(|p| p.len()), Some(2));

    // A new user brings their own display name, or none.
    publish_core(
        &b,
        subject::heartbeat("pc-w1"),
        json!({
            "pc_id": "pc-w1", "at": at + chrono::Duration::seconds(60),
            "agent_version": "0.31.0", "last_logon_user": "CORP\\taro"
        }),
    )
    .await;
    wait_for("the new user", WAIT, || async {
        b.get::<AgentRow>("/api/agents/pc-w1")
            .await
            .last_logon_user
            .as_deref()
            == Some("CORP\\taro")
    })
    .await;
    let row: AgentRow = b.get("/api/agents/pc-w1").await;
    assert_eq!(row.last_logon_display_name, None);
}

#[tokio::test]
async fn host_perf_with_numbers_missing_is_stored() {
    let b = TestBackend::start().await;
    // The original's first tick: no cpu_pct and no rates yet.
    publish_core(
        &b,
        subject::host_perf("pc1"),
        json!({
            "pc_id": "pc1", "at": "2026-11-27T08:00:10Z", "cpu_count": 8,
            "mem_used_bytes": 4000u64, "mem_total_bytes": 16000u64
        }),
    )
    .await;
    publish_core(
        &b,
        subject::host_perf("pc1"),
        json!({
            "pc_id": "pc1", "at": "2026-11-27T08:01:10Z", "cpu_pct": 30.0, "cpu_count": 8,
            "mem_used_bytes": 6000u64, "mem_total_bytes": 16000u64,
            "disk_read_bytes_per_sec": 10.0
        }),
    )
    .await;
    wait_for("both samples", WAIT, || async {
        b.query_i64("SELECT COUNT(*) FROM host_perf_samples") == 2
    })
    .await;
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM host_perf_samples WHERE cpu_pct IS NULL"),
        1
    );
    let series: PerfSeries = b
        .get("/api/agents/pc1/perf?from=2026-11-27T08:00:00Z&to=2026-11-27T08:05:00Z&step=300")
        .await;
    assert_eq!(series.points.len(), 1);
    let p = &series.points[0];
    // The missing CPU % is left out of the average rather than counted as 0.
    assert_eq!((p.samples, p.cpu_pct, p.mem_used_bytes), (2, 30.0, 5000.0));
    assert_eq!(p.disk_read_bytes_per_sec, 10.0);
}

#[tokio::test]
async fn results_and_started_events_without_result_id_meet_on_the_derived_id() {
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
    // Exec targets only machines the backend has seen.
    for pc in ["pc1", "pc2"] {
        publish_core(
            &b,
            subject::heartbeat(pc),
            json!({"pc_id": pc, "at": Utc::now(), "agent_version": "0.31.0"}),
        )
        .await;
    }
    wait_for("both machines", WAIT, || async {
        b.query_i64("SELECT COUNT(*) FROM agents") == 2
    })
    .await;
    let fired: ExecResponse = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&json!({"target": {"pcs": ["pc1", "pc2"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let started_at = Utc::now();
    // pc1: the original's EventStarted with request id but no result id; pc2: its oldest
    // shape, without either (exec_id, pc_id, started_at, manifest_id, version).
    publish_js(
        &b,
        subject::events_started(&fired.exec_id, "pc1"),
        json!({
            "request_id": fired.request_id, "exec_id": fired.exec_id, "pc_id": "pc1",
            "started_at": started_at, "manifest_id": "hello", "version": "1"
        }),
    )
    .await;
    publish_js(
        &b,
        subject::events_started(&fired.exec_id, "pc2"),
        json!({
            "exec_id": fired.exec_id, "pc_id": "pc2", "started_at": started_at,
            "manifest_id": "hello", "version": "1"
        }),
    )
    .await;
    let id1 = reference_legacy_id(&fired.request_id, "pc1");
    let id2 = reference_legacy_id(&fired.request_id, "pc2");
    let (want_pc1, want_pc2) = (id1.clone(), id2.clone());
    wait_for("both in flight", WAIT, || async {
        b.query_i64(&format!(
            "SELECT COUNT(*) FROM execution_results WHERE result_id IN ('{id1}', '{id2}')
             AND finished_at IS NULL"
        )) == 2
    })
    .await;
    // The results of an older agent: no result_id, the original's field names; pc2's
    // carries the original's collect bundle key and finalize link.
    for pc in ["pc1", "pc2"] {
        let mut body = json!({
            "request_id": fired.request_id, "exec_id": fired.exec_id, "pc_id": pc,
            "manifest_id": "hello", "exit_code": 0, "stdout": "hello\n", "stderr": "",
            "started_at": started_at, "finished_at": Utc::now()
        });
        if pc == "pc2" {
            body["collect_object"] = json!("pc2/hello/2026-12-04T00:00:00Z.zip");
            body["parent_result_id"] = json!("r-parent");
        }
        publish_js(&b, subject::results(&fired.request_id), body).await;
    }
    wait_for("both results", WAIT, || async {
        b.get::<ExecutionDetail>(&format!("/api/executions/{}", fired.exec_id))
            .await
            .execution
            .success_count
            == 2
    })
    .await;
    let e: ExecutionDetail = b.get(&format!("/api/executions/{}", fired.exec_id)).await;
    let mut ids: Vec<String> = e.results.iter().map(|r| r.result_id.clone()).collect();
    ids.sort();
    let mut want = vec![id1, id2];
    want.sort();
    assert_eq!(ids, want, "one row per machine, keyed by the derived id");
    assert_eq!(e.execution.status, "completed");
    let with_links: ResultDetail = b.get(&format!("/api/results/{}", want_pc2)).await;
    assert_eq!(
        with_links.collect_object.as_deref(),
        Some("pc2/hello/2026-12-04T00:00:00Z.zip")
    );
    assert_eq!(with_links.parent_result_id.as_deref(), Some("r-parent"));
    let without: ResultDetail = b.get(&format!("/api/results/{}", want_pc1)).await;
    assert_eq!(
        (without.collect_object, without.parent_result_id),
        (None, None)
    );
}

#[tokio::test]
async fn run_as_and_cwd_travel_in_the_command() {
    let b = TestBackend::start().await;
    publish_core(
        &b,
        subject::heartbeat("pc1"),
        json!({"pc_id": "pc1", "at": Utc::now(), "agent_version": "0.31.0"}),
    )
    .await;
    wait_for("the machine", WAIT, || async {
        b.query_i64("SELECT COUNT(*) FROM agents") == 1
    })
    .await;
    let job = "id: as-user\nversion: 1\nexecute:\n  shell: sh\n  script: id -un\n  timeout: 30s\n  run_as: user\n  cwd: /tmp\n";
    let created = b
        .http
        .post(b.url("/api/jobs"))
        .body(job)
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );
    let nats = b.nats_client().await;
    let mut commands = nats.subscribe(subject::commands_pc("pc1")).await.unwrap();
    nats.flush().await.unwrap();
    let fired = b
        .http
        .post(b.url("/api/exec/as-user"))
        .json(&json!({"target": {"pcs": ["pc1"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert!(
        fired.status().is_success(),
        "{}",
        fired.text().await.unwrap()
    );
    let msg = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut commands))
        .await
        .expect("a command")
        .unwrap();
    let raw: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(raw["run_as"], "user", "{raw}");
    assert_eq!(raw["cwd"], "/tmp", "{raw}");
}

/// The original's process snapshot where a process has no disk rates yet (its first reading):
/// stored as unknown (NULL) and shown as `null`, not as 0.
#[tokio::test]
async fn process_disk_rates_missing_are_unknown_not_zero() {
    let b = TestBackend::start().await;
    publish_core(
        &b,
        subject::process_perf("pc1"),
        json!({
            "pc_id": "pc1", "at": Utc::now(),
            "processes": [
                {"pid": 1, "name": "init", "cpu_pct": 0.5, "rss_bytes": 1000u64},
                {"pid": 7, "name": "backup", "cpu_pct": 40.0, "rss_bytes": 9000u64,
                 "disk_read_bytes_per_sec": 2048.0, "disk_written_bytes_per_sec": 0.0}
            ]
        }),
    )
    .await;
    wait_for("the snapshot", WAIT, || async {
        b.query_i64("SELECT COUNT(*) FROM process_perf_samples") == 2
    })
    .await;
    assert_eq!(
        b.query_i64(
            "SELECT COUNT(*) FROM process_perf_samples
             WHERE pid = 1 AND disk_read_bytes_per_sec IS NULL AND disk_written_bytes_per_sec IS NULL"
        ),
        1
    );
    let body: serde_json::Value = b.get("/api/agents/pc1/processes").await;
    let text = body.to_string();
    assert!(
        text.contains(r#""disk_read_bytes_per_sec":null"#)
            && text.contains(r#""disk_read_bytes_per_sec":2048.0"#),
        "{text}"
    );
}
