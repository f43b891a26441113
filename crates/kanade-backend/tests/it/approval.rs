//! The two-person rule (`require_approval: true`): an exec sends nothing until another
//! operator approves; the requester cannot approve, a viewer cannot decide, rejected and
//! expired requests never send, schedules of such jobs are refused, and a wipe rebuilds
//! requests and decisions from the audit stream.

use std::time::Duration;

use kanade_protocol::api::{ExecResponse, ExecutionDetail};
use kanade_protocol::approval::{Approval, ApprovalState};
use kanade_protocol::names;
use kanade_protocol::wire::Command;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestBackend, wait_for};

const GUARDED: &str = "
id: guarded
version: 1
execute:
  shell: sh
  script: echo guarded
  timeout: 30s
require_approval: true
";

async fn register(b: &TestBackend, text: &str) {
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "register: {}", resp.status());
}

async fn request(client: &reqwest::Client, b: &TestBackend, pc: &str) -> ExecResponse {
    let resp = client
        .post(b.url("/api/exec/guarded"))
        .json(&json!({"target": {"pcs": [pc]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    resp.json().await.unwrap()
}

async fn decide(
    client: &reqwest::Client,
    b: &TestBackend,
    exec_id: &str,
    verb: &str,
    body: Value,
) -> (StatusCode, Value) {
    let resp = client
        .post(b.url(&format!("/api/executions/{exec_id}/{verb}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    (resp.status(), resp.json().await.unwrap_or(Value::Null))
}

/// The command stored for `pc`, if any.
async fn command_for(b: &TestBackend, pc: &str) -> Option<Command> {
    let stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    let msg = stream
        .get_last_raw_message_by_subject(&format!("commands.pc.{pc}"))
        .await
        .ok()?;
    Some(serde_json::from_slice(&msg.payload).unwrap())
}

async fn status(b: &TestBackend, exec_id: &str) -> ExecutionDetail {
    b.get(&format!("/api/executions/{exec_id}")).await
}

#[tokio::test]
async fn only_another_operator_can_approve_and_approval_sends_the_signed_command() {
    let b = TestBackend::start().await;
    register(&b, GUARDED).await;
    let olga = b.account("olga", "operator").await;
    let vera = b.account("vera", "viewer").await;

    let asked = request(&olga, &b, "pc-a").await;
    assert_eq!(asked.status, "awaiting_approval");
    assert!(
        asked
            .warnings
            .iter()
            .any(|w| w.code == "awaiting_approval" && w.message.contains(&asked.exec_id)),
        "{asked:?}"
    );
    assert!(command_for(&b, "pc-a").await.is_none(), "nothing sent yet");
    let detail = status(&b, &asked.exec_id).await;
    assert_eq!(detail.execution.status, "awaiting_approval");
    let approval = detail.approval.expect("the request is shown");
    assert_eq!(
        (approval.state, approval.requested_by.as_str()),
        (ApprovalState::Awaiting, "olga")
    );
    let pending: Vec<Approval> = b.get("/api/approvals").await;
    assert_eq!(pending.len(), 1);
    let (code, _) = decide(&vera, &b, &asked.exec_id, "approve", json!({})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "a viewer cannot approve");
    let (code, _) = decide(&vera, &b, &asked.exec_id, "reject", json!({})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "a viewer cannot reject");

    let (code, body) = decide(&olga, &b, &asked.exec_id, "approve", json!({})).await;
    assert_eq!(code, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"]["code"], "own_request");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("cannot approve"),
        "{body}"
    );
    assert!(command_for(&b, "pc-a").await.is_none());

    let (code, body) = decide(
        &b.http,
        &b,
        &asked.exec_id,
        "approve",
        json!({"reason": "change ticket 42"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "approved");
    assert_eq!(body["decided_by"], "admin");
    let command = command_for(&b, "pc-a").await.expect("sent on approval");
    assert_eq!(
        (command.exec_id.as_str(), command.request_id.as_str()),
        (asked.exec_id.as_str(), asked.request_id.as_str())
    );
    assert!(command.signature.is_some(), "signed like any exec");
    assert_eq!(status(&b, &asked.exec_id).await.execution.status, "pending");

    let (code, body) = decide(&b.http, &b, &asked.exec_id, "approve", json!({})).await;
    assert_eq!(code, StatusCode::CONFLICT, "decided once: {body}");
    wait_for("audited", Duration::from_secs(10), || async {
        b.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE (action = 'approval.request' AND actor = 'olga')
                 OR (action = 'approval.approve' AND actor = 'admin'
                     AND payload LIKE '%change ticket 42%')",
        ) == 2
    })
    .await;
    let none: Vec<Approval> = b.get("/api/approvals").await;
    assert!(none.is_empty(), "nothing awaits any more");
}

#[tokio::test]
async fn a_rejected_request_never_sends() {
    let b = TestBackend::start().await;
    register(&b, GUARDED).await;
    let olga = b.account("olga", "operator").await;
    let asked = request(&b.http, &b, "pc-r").await;
    let (code, body) = decide(
        &olga,
        &b,
        &asked.exec_id,
        "reject",
        json!({"reason": "not during the audit"}),
    )
    .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "rejected");
    assert_eq!(body["reason"], "not during the audit");
    let (code, _) = decide(&olga, &b, &asked.exec_id, "approve", json!({})).await;
    assert_eq!(
        code,
        StatusCode::CONFLICT,
        "a rejected request stays rejected"
    );
    assert_eq!(
        status(&b, &asked.exec_id).await.execution.status,
        "rejected"
    );
    assert!(command_for(&b, "pc-r").await.is_none());
    let (code, body) = decide(
        &olga,
        &b,
        &asked.exec_id,
        "reject",
        json!({"reason": "x", "colour": 1}),
    )
    .await;
    assert_eq!(code, StatusCode::BAD_REQUEST, "unknown keys named: {body}");
}

#[tokio::test]
async fn an_expired_request_never_sends() {
    let b = TestBackend::start_with(|c| {
        c.approval.expires_after = kanade_protocol::duration::HumanDuration::from_secs(1);
        c.approval.check_every = kanade_protocol::duration::HumanDuration::from_secs(1);
    })
    .await;
    register(&b, GUARDED).await;
    let olga = b.account("olga", "operator").await;
    let asked = request(&b.http, &b, "pc-x").await;
    wait_for("expired", Duration::from_secs(15), || async {
        status(&b, &asked.exec_id).await.execution.status == "expired"
    })
    .await;
    let (code, body) = decide(&olga, &b, &asked.exec_id, "approve", json!({})).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert!(command_for(&b, "pc-x").await.is_none());
    wait_for("expiry audited", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'approval.expire'") == 1
    })
    .await;
}

#[tokio::test]
async fn a_job_changed_since_the_request_is_not_approved() {
    let b = TestBackend::start().await;
    register(&b, GUARDED).await;
    let olga = b.account("olga", "operator").await;
    let asked = request(&b.http, &b, "pc-c").await;
    register(
        &b,
        &GUARDED
            .replace("version: 1", "version: 2")
            .replace("echo guarded", "rm -rf /tmp/x"),
    )
    .await;
    let (code, body) = decide(&olga, &b, &asked.exec_id, "approve", json!({})).await;
    assert_eq!(code, StatusCode::CONFLICT, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changed since the request"),
        "{body}"
    );
    assert!(command_for(&b, "pc-c").await.is_none());
}

#[tokio::test]
async fn a_schedule_of_a_job_that_requires_approval_is_refused() {
    let b = TestBackend::start().await;
    register(&b, GUARDED).await;
    let resp = b
        .http
        .post(b.url("/api/schedules"))
        .body("id: nightly\njob_id: guarded\nwhen: {cron: '0 3 * * *'}\ntarget: {all: true}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["field"], "job_id");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("require_approval"),
        "{body}"
    );
}

#[tokio::test]
async fn a_wipe_rebuilds_requests_and_decisions_from_the_audit_stream() {
    let mut b = TestBackend::start().await;
    register(&b, GUARDED).await;
    let olga = b.account("olga", "operator").await;
    let approved = request(&olga, &b, "pc-1").await;
    let rejected = request(&olga, &b, "pc-2").await;
    let waiting = request(&olga, &b, "pc-3").await;
    assert_eq!(
        decide(&b.http, &b, &approved.exec_id, "approve", json!({}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        decide(
            &b.http,
            &b,
            &rejected.exec_id,
            "reject",
            json!({"reason": "no"})
        )
        .await
        .0,
        StatusCode::OK
    );
    wait_for("audited", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'approval.%'") == 5
    })
    .await;
    let sql = [
        "SELECT exec_id, job_id, requested_by, requested_at, expires_at, state, decided_by, reason, record FROM approvals ORDER BY exec_id",
        "SELECT exec_id, status, target_count, request_id, initiated_by, subjects FROM executions ORDER BY exec_id",
    ];
    let dump = |b: &TestBackend, sql: &str| -> Vec<String> {
        let conn = rusqlite::Connection::open(b.db_path()).unwrap();
        let mut stmt = conn.prepare(sql).unwrap();
        let n = stmt.column_count();
        stmt.query_map([], |row| {
            (0..n)
                .map(|i| {
                    row.get::<_, rusqlite::types::Value>(i)
                        .map(|v| format!("{v:?}"))
                })
                .collect::<rusqlite::Result<Vec<_>>>()
                .map(|c| c.join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    let before: Vec<Vec<String>> = sql.iter().map(|s| dump(&b, s)).collect();
    assert_eq!(before[0].len(), 3);

    b.kill().await;
    kanade_backend::wipe::wipe(&b.db_path()).unwrap();
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM approvals"), 0);
    b.boot().await;
    wait_for("replay", Duration::from_secs(20), || async {
        b.query_i64("SELECT COUNT(*) FROM approvals WHERE state <> 'awaiting'") == 2
            && b.query_i64("SELECT COUNT(*) FROM executions") == 3
    })
    .await;
    let after: Vec<Vec<String>> = sql.iter().map(|s| dump(&b, s)).collect();
    // decided_at is left out: replayed, it is the audit event's time, a moment after the decision.
    assert_eq!(after, before, "requests, decisions and statuses rebuilt");
    for (id, want) in [
        (&approved.exec_id, "pending"),
        (&rejected.exec_id, "rejected"),
        (&waiting.exec_id, "awaiting_approval"),
    ] {
        assert_eq!(status(&b, id).await.execution.status, want, "{id}");
    }
    // The waiting request is still approvable from what the audit stream kept.
    let (code, body) = decide(&b.http, &b, &waiting.exec_id, "approve", json!({})).await;
    assert_eq!(code, StatusCode::OK, "{body}");
    let command = command_for(&b, "pc-3").await.expect("sent after the wipe");
    assert_eq!(command.request_id, waiting.request_id);
}

#[tokio::test]
async fn housekeeping_leaves_a_waiting_request_alone_and_retention_removes_it_with_its_execution() {
    let b = TestBackend::start().await;
    register(&b, GUARDED).await;
    let asked = request(&b.http, &b, "pc-h").await;
    // The audit projector re-creates an execution and its approval from their audit events;
    // retention must run after it did, or it deletes rows that are then written again.
    let sql = format!(
        "SELECT COUNT(*) FROM audit_log WHERE action = 'approval.request' AND payload LIKE '%{}%'",
        asked.exec_id
    );
    wait_for(
        "the request's audit event projected",
        Duration::from_secs(10),
        || {
            let n = b.query_i64(&sql);
            async move { n == 1 }
        },
    )
    .await;
    let never = kanade_protocol::duration::HumanDuration::from_secs(0);
    b.housekeep(|c| c.telemetry.pending_expiry = never).await;
    assert_eq!(
        status(&b, &asked.exec_id).await.execution.status,
        "awaiting_approval",
        "not expired as a pending execution nobody picked up"
    );
    b.housekeep(|c| {
        c.telemetry.pending_expiry = never;
        c.retention.executions = never;
    })
    .await;
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM approvals"), 0);
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM executions"), 0);
}

#[tokio::test]
async fn a_scheduled_job_that_gains_require_approval_fires_requests_that_wait() {
    let b = TestBackend::start().await;
    register(&b, &GUARDED.replace("require_approval: true\n", "")).await;
    let resp = b
        .http
        .post(b.url("/api/schedules"))
        .body("id: tick\njob_id: guarded\nwhen: {cron: '* * * * * *'}\ntarget: {pcs: [pc-s]}\n")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    wait_for("a plain fire", Duration::from_secs(20), || async {
        b.query_i64("SELECT COUNT(*) FROM executions WHERE initiated_by = 'scheduler:tick'") >= 1
    })
    .await;
    register(&b, &GUARDED.replace("version: 1", "version: 2")).await;
    wait_for("a fire that waits", Duration::from_secs(20), || async {
        b.query_i64(
            "SELECT COUNT(*) FROM approvals a JOIN executions e USING (exec_id)
             WHERE a.requested_by = 'scheduler:tick' AND e.status = 'awaiting_approval'
                 AND e.version = '2'",
        ) >= 1
    })
    .await;
    assert_eq!(
        b.query_i64(
            "SELECT COUNT(*) FROM executions WHERE version = '2' AND status <> 'awaiting_approval'"
        ),
        0,
        "no fire of the guarded version went out"
    );
    let stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    let last = stream
        .get_last_raw_message_by_subject("commands.pc.pc-s")
        .await
        .unwrap();
    let command: Command = serde_json::from_slice(&last.payload).unwrap();
    assert_eq!(
        command.version, "1",
        "the last command sent is the unguarded one"
    );
}
