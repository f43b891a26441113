//! Dotted machine ids (a host's FQDN, as the original allows): heartbeats register the
//! machine, the API and exec take the id, commands go out on its pc subject and its results
//! are projected, while a report naming it from a shorter id's subject is still dropped.

use std::time::Duration;

use futures::StreamExt;
use kanade_protocol::api::{ExecResponse, ExecutionDetail};
use kanade_protocol::subject;
use serde_json::json;

use crate::support::{HELLO, TestBackend, wait_for};

const PC: &str = "web01.corp.example";

async fn publish(b: &TestBackend, subject: String, body: serde_json::Value) {
    b.js.publish(subject, serde_json::to_vec(&body).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

fn result(fired: &ExecResponse, pc: &str) -> serde_json::Value {
    let now = chrono::Utc::now().to_rfc3339();
    json!({
        "result_id": format!("{}-{pc}", fired.exec_id),
        "request_id": fired.request_id,
        "exec_id": fired.exec_id,
        "pc_id": pc,
        "manifest_id": "hello",
        "version": "1",
        "exit_code": 0,
        "stdout": format!("hello from {pc}\n"),
        "stderr": "",
        "started_at": now,
        "finished_at": now,
    })
}

#[tokio::test]
async fn a_machine_with_a_dotted_id_heartbeats_runs_and_reports() {
    let b = TestBackend::start().await;
    let nats = b.nats_client().await;
    // The original's heartbeat, with one of its FQDN ids.
    let beat = json!({
        "pc_id": PC, "at": chrono::Utc::now().to_rfc3339(), "agent_version": "0.40.0",
        "hostname": PC, "os_family": "linux", "last_logon_user": "alice",
    });
    nats.publish(
        subject::heartbeat(PC),
        serde_json::to_vec(&beat).unwrap().into(),
    )
    .await
    .unwrap();
    nats.flush().await.unwrap();
    wait_for("the dotted machine", Duration::from_secs(10), || async {
        b.http
            .get(b.url(&format!("/api/agents/{PC}")))
            .send()
            .await
            .unwrap()
            .status()
            == 200
    })
    .await;

    // The command goes out on its own pc subject (one token per label).
    let mut commands = nats.subscribe(subject::commands_pc(PC)).await.unwrap();
    nats.flush().await.unwrap();
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
        .json(&json!({"target": {"pcs": [PC]}}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let fired: ExecResponse = resp.json().await.unwrap();
    let sent = tokio::time::timeout(Duration::from_secs(10), commands.next())
        .await
        .expect("no command on the dotted pc subject")
        .unwrap();
    assert_eq!(sent.subject.as_str(), "commands.pc.web01.corp.example");

    // `web01.corp` (its grant covers `results.web01.corp.*`) forges a report for it: dropped.
    publish(
        &b,
        subject::results_of("web01.corp", &fired.request_id),
        result(&fired, PC),
    )
    .await;
    publish(
        &b,
        subject::results_of(PC, &fired.request_id),
        result(&fired, PC),
    )
    .await;
    let path = format!("/api/executions/{}", fired.exec_id);
    wait_for(
        "the dotted machine's result",
        Duration::from_secs(10),
        || async {
            let e: ExecutionDetail = b.get(&path).await;
            e.execution.status == "completed"
        },
    )
    .await;
    let e: ExecutionDetail = b.get(&path).await;
    assert_eq!(e.results.len(), 1);
    assert_eq!(e.results[0].pc_id, PC);
    assert_eq!(e.execution.success_count, 1);
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM execution_results WHERE pc_id = 'web01.corp'"),
        0
    );

    // Five labels is one too many, as in the original (400 naming the rule).
    let resp = b
        .http
        .get(b.url("/api/agents/a.b.c.d.e/effective_config"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}
