//! Exec under faults, reproduced for real: a broker that stores a command but never
//! acknowledges it (stream `no_ack`), and a database that cannot grow (`max_size_mib`).

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use kanade_protocol::api::{ErrorBody, ExecResponse, ExecutionDetail};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::ExecResult;
use reqwest::StatusCode;

use crate::support::{HELLO, TestBackend, wait_for};

async fn register(b: &TestBackend) {
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
}

/// Makes the EXEC stream store publishes without acknowledging them (or go back to normal).
async fn exec_acks(b: &TestBackend, acks: bool) {
    let mut stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    let mut config = stream.info().await.unwrap().config.clone();
    config.no_ack = !acks;
    b.js.update_stream(config).await.unwrap();
}

async fn messages_on(b: &TestBackend, subject: &str) -> u64 {
    let stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    let info = stream
        .info_with_subjects(subject)
        .await
        .unwrap()
        .next()
        .await;
    match info {
        Some(Ok((_, count))) => count as u64,
        _ => 0,
    }
}

fn result_for(fired: &ExecResponse, pc: &str) -> ExecResult {
    let now = Utc::now();
    ExecResult {
        result_id: format!("{}-{pc}", fired.exec_id),
        request_id: fired.request_id.clone(),
        exec_id: fired.exec_id.clone(),
        pc_id: pc.to_owned(),
        job_id: "hello".to_owned(),
        version: "1".to_owned(),
        exit_code: 0,
        stdout: format!("hello from {pc}\n"),
        stderr: String::new(),
        stdout_object: None,
        stderr_object: None,
        started_at: now,
        finished_at: now,
        skipped: false,
        schedule_id: None,
    }
}

async fn status_of(b: &TestBackend, exec_id: &str) -> ExecutionDetail {
    b.get(&format!("/api/executions/{exec_id}")).await
}

#[tokio::test]
async fn exec_whose_ack_times_out_is_kept_unconfirmed_and_its_results_count() {
    let b =
        TestBackend::start_with(|c| c.nats.ack_timeout = HumanDuration(Duration::from_millis(300)))
            .await;
    register(&b).await;
    exec_acks(&b, false).await;

    let body = serde_json::json!({"target": {"pcs": ["pc-a", "pc-b"]}, "allow_unknown": true});
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::ACCEPTED,
        "may have run: never 503"
    );
    let fired: ExecResponse = resp.json().await.unwrap();
    assert_eq!(fired.status, "unconfirmed");
    assert_eq!(
        status_of(&b, &fired.exec_id).await.execution.status,
        "unconfirmed"
    );
    assert_eq!(
        messages_on(&b, "commands.pc.pc-a").await,
        1,
        "the broker stored the unacknowledged command once, retries were dropped as duplicates"
    );

    // An agent that got the command reports: the result counts for the execution.
    let result = result_for(&fired, "pc-a");
    b.js.publish(
        subject::results(&fired.request_id),
        serde_json::to_vec(&result).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    wait_for(
        "pc-a's result to count",
        Duration::from_secs(20),
        || async { status_of(&b, &fired.exec_id).await.execution.success_count == 1 },
    )
    .await;
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM executions"), 1);

    // The broker acknowledges again: the retry settles the rest, each copy stored once.
    exec_acks(&b, true).await;
    wait_for(
        "pc-b's command to be stored",
        Duration::from_secs(30),
        || async { messages_on(&b, "commands.pc.pc-b").await == 1 },
    )
    .await;
    assert_eq!(messages_on(&b, "commands.pc.pc-a").await, 1);
    let result = result_for(&fired, "pc-b");
    b.js.publish(
        subject::results(&fired.request_id),
        serde_json::to_vec(&result).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
    wait_for(
        "the execution to complete",
        Duration::from_secs(20),
        || async { status_of(&b, &fired.exec_id).await.execution.status == "completed" },
    )
    .await;
    assert_eq!(
        status_of(&b, &fired.exec_id).await.execution.success_count,
        2
    );
}

#[tokio::test]
async fn unconfirmed_execution_becomes_pending_once_the_broker_acknowledges() {
    let b =
        TestBackend::start_with(|c| c.nats.ack_timeout = HumanDuration(Duration::from_millis(300)))
            .await;
    register(&b).await;
    exec_acks(&b, false).await;
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&serde_json::json!({"target": {"pcs": ["pc-a"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let fired: ExecResponse = resp.json().await.unwrap();
    assert_eq!(fired.status, "unconfirmed");
    exec_acks(&b, true).await;
    wait_for(
        "the retry to confirm the command",
        Duration::from_secs(30),
        || async { status_of(&b, &fired.exec_id).await.execution.status == "pending" },
    )
    .await;
    assert_eq!(messages_on(&b, "commands.pc.pc-a").await, 1);
}

#[tokio::test]
async fn exec_on_a_full_database_names_the_database_not_the_broker() {
    let b = TestBackend::start_with(|c| c.db.max_size_mib = Some(0)).await;
    register(&b).await;
    let mut accepted = 0;
    let mut refusal = None;
    // One machine per exec: the stream keeps one command per subject.
    for i in 0..300 {
        let resp = b
            .http
            .post(b.url("/api/exec/hello"))
            .json(
                &serde_json::json!({"target": {"pcs": [format!("pc-{i}")]}, "allow_unknown": true}),
            )
            .send()
            .await
            .unwrap();
        match resp.status() {
            StatusCode::ACCEPTED => accepted += 1,
            status => {
                refusal = Some((status, resp.json::<ErrorBody>().await.unwrap()));
                break;
            }
        }
    }
    let (status, err) = refusal.expect("the database never filled up");
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{err:?}");
    assert_eq!(err.error.code, "database_unavailable", "{err:?}");
    let db = b.db_path().display().to_string();
    assert!(err.error.message.contains(&db), "{}", err.error.message);
    assert!(err.error.message.contains("full"), "{}", err.error.message);
    assert!(
        !err.error.message.contains("publish"),
        "{}",
        err.error.message
    );
    let mut stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    assert_eq!(
        stream.info().await.unwrap().state.messages,
        accepted,
        "the refused exec published nothing"
    );
}

#[tokio::test]
async fn housekeeping_expires_an_unconfirmed_execution_nobody_reported_on() {
    let b =
        TestBackend::start_with(|c| c.nats.ack_timeout = HumanDuration(Duration::from_millis(300)))
            .await;
    register(&b).await;
    exec_acks(&b, false).await;
    let fired: ExecResponse = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&serde_json::json!({"target": {"pcs": ["pc-a"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fired.status, "unconfirmed");

    b.housekeep(|c| c.telemetry.pending_expiry = HumanDuration(Duration::ZERO))
        .await;
    assert_eq!(
        status_of(&b, &fired.exec_id).await.execution.status,
        "expired"
    );
}
