//! Statuses that tell the truth: an execution's runs counted by outcome (ok, failed, timed
//! out, killed, skipped with its reason, running, waiting), coloured by the worst, the
//! machines still awaited by name, break-glass runs as executions by their user, and the OS
//! user in the `command.sign` audit entry.

use std::time::Duration;

use chrono::Utc;
use kanade_protocol::api::{ExecResponse, ExecutionDetail, ExecutionSummary, Page};
use kanade_protocol::outcome::Outcome;
use kanade_protocol::subject;
use kanade_protocol::wire::{AuditEvent, EventStarted};
use serde_json::json;

use crate::support::{HELLO, TestBackend, publish, result_for, wait_for};

async fn fire(b: &TestBackend, pcs: &[&str]) -> ExecResponse {
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
        .json(&json!({"target": {"pcs": pcs}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    resp.json().await.unwrap()
}

async fn detail(b: &TestBackend, exec_id: &str) -> ExecutionDetail {
    b.get(&format!("/api/executions/{exec_id}")).await
}

#[tokio::test]
async fn an_execution_counts_each_outcome_and_is_coloured_by_the_worst() {
    let b = TestBackend::start().await;
    let pcs = ["ok1", "bad", "slow", "stopped", "revoked", "busy", "gone"];
    let fired = fire(&b, &pcs).await;
    let mut slow = result_for(&fired, "slow", -1);
    slow.stderr = "partial\nkanade: timed out after 2s; process tree killed\n".into();
    let mut stopped = result_for(&fired, "stopped", -1);
    stopped.stderr = "kanade: killed by operator\n".into();
    let mut revoked = result_for(&fired, "revoked", 126);
    revoked.skipped = true;
    for r in [
        result_for(&fired, "ok1", 0),
        result_for(&fired, "bad", 3),
        slow,
        stopped,
        revoked,
    ] {
        publish(&b, subject::results(&fired.request_id), &r).await;
    }
    let busy = result_for(&fired, "busy", 0);
    let started = EventStarted {
        result_id: busy.result_id.clone(),
        request_id: busy.request_id.clone(),
        exec_id: busy.exec_id.clone(),
        pc_id: "busy".into(),
        job_id: "hello".into(),
        version: "1".into(),
        started_at: Utc::now(),
        timeout_secs: Some(30),
    };
    publish(
        &b,
        subject::events_started(&fired.exec_id, "busy"),
        &started,
    )
    .await;
    wait_for("six rows", Duration::from_secs(10), || async {
        let d = detail(&b, &fired.exec_id).await;
        d.results.len() == 6 && d.execution.outcomes.running == 1
    })
    .await;

    let d = detail(&b, &fired.exec_id).await;
    let c = &d.execution.outcomes;
    assert_eq!(
        (
            c.ok,
            c.failed,
            c.timed_out,
            c.killed,
            c.skipped,
            c.running,
            c.waiting,
            c.not_reported
        ),
        (1, 1, 1, 1, 1, 1, 1, 0),
        "{c:?}"
    );
    assert_eq!(c.skip_reasons.get("revoked"), Some(&1), "{c:?}");
    assert_eq!(d.execution.worst, Some(Outcome::Failed));
    assert!(!d.execution.rollout, "a plain exec is no rollout");
    let mut targets = d.execution.targets.clone();
    targets.sort();
    let mut want: Vec<String> = pcs.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(targets, want);
    // Who is still awaited, by name: the running one and the one never heard from.
    assert_eq!(d.waiting_for, ["busy", "gone"]);
    let note = |pc: &str| {
        let r = d.results.iter().find(|r| r.pc_id == pc).unwrap();
        (r.outcome, r.outcome_note.clone())
    };
    assert_eq!(
        note("slow"),
        (Outcome::TimedOut, "timed out after 2s".into())
    );
    assert_eq!(
        note("revoked"),
        (Outcome::Skipped, "skipped: revoked".into())
    );
    assert_eq!(note("stopped").0, Outcome::Killed);
    assert_eq!(note("bad"), (Outcome::Failed, "exit 3".into()));
    assert_eq!(note("busy").0, Outcome::Running);

    // The list says the same, newest first.
    let page: Page<ExecutionSummary> = b.get("/api/executions?job_id=hello").await;
    let listed = page
        .items
        .iter()
        .find(|e| e.exec_id == fired.exec_id)
        .unwrap();
    assert_eq!(&listed.outcomes, c);
    assert_eq!(listed.worst, Some(Outcome::Failed));
}

#[tokio::test]
async fn skips_alone_are_not_green_and_all_ok_is() {
    let b = TestBackend::start().await;
    let fired = fire(&b, &["a", "b"]).await;
    let mut skipped = result_for(&fired, "b", 125);
    skipped.skipped = true;
    publish(
        &b,
        subject::results(&fired.request_id),
        &result_for(&fired, "a", 0),
    )
    .await;
    publish(&b, subject::results(&fired.request_id), &skipped).await;
    wait_for("completed", Duration::from_secs(10), || async {
        detail(&b, &fired.exec_id).await.execution.status == "completed"
    })
    .await;
    let d = detail(&b, &fired.exec_id).await;
    assert_eq!(d.execution.worst, Some(Outcome::Skipped));
    assert_eq!(
        d.execution.outcomes.describe(),
        "1 ok, 1 skipped (start deadline passed)"
    );
    assert!(d.waiting_for.is_empty());

    let fired = fire(&b, &["a"]).await;
    publish(
        &b,
        subject::results(&fired.request_id),
        &result_for(&fired, "a", 0),
    )
    .await;
    wait_for("completed", Duration::from_secs(10), || async {
        detail(&b, &fired.exec_id).await.execution.status == "completed"
    })
    .await;
    assert_eq!(
        detail(&b, &fired.exec_id).await.execution.worst,
        Some(Outcome::Ok)
    );
}

/// A finalize step reports in the same execution but is not a machine's run: counted neither
/// as a second ok nor, when it is stopped, as a killed machine.
#[tokio::test]
async fn a_finalize_step_is_not_counted_as_a_machine() {
    let b = TestBackend::start().await;
    let fired = fire(&b, &["a", "b"]).await;
    let main = result_for(&fired, "a", 0);
    let mut step = result_for(&fired, "a", -1);
    step.result_id = format!("{}-finalize", main.result_id);
    step.job_id = format!("hello{}", kanade_protocol::collect::FINALIZE_SUFFIX);
    step.stderr = "kanade: killed by operator\n".into();
    let mut step = serde_json::to_value(&step).unwrap();
    step["parent_result_id"] = json!(main.result_id);
    publish(&b, subject::results(&fired.request_id), &main).await;
    publish(&b, subject::results(&fired.request_id), &step).await;
    wait_for("both rows", Duration::from_secs(10), || async {
        b.query_i64(&format!(
            "SELECT COUNT(*) FROM execution_results WHERE exec_id = '{}'",
            fired.exec_id
        )) == 2
    })
    .await;
    let c = detail(&b, &fired.exec_id).await.execution.outcomes;
    assert_eq!(
        (c.ok, c.killed, c.failed, c.running, c.waiting),
        (1, 0, 0, 0, 1),
        "one machine ok, one awaited: {c:?}"
    );
}

#[tokio::test]
async fn a_break_glass_run_is_an_execution_by_its_user() {
    let b = TestBackend::start().await;
    let (exec_id, request_id) = (uuid::Uuid::new_v4().to_string(), "req-bg".to_owned());
    let event = AuditEvent {
        actor: "cli:alice".into(),
        action: "run".into(),
        target: Some("pc-9".into()),
        payload: json!({"exec_id": exec_id, "request_id": request_id, "os_user": "alice"}),
        occurred_at: Utc::now(),
        client_addr: None,
    };
    publish(&b, subject::audit("run"), &event).await;
    wait_for("the run's execution", Duration::from_secs(10), || async {
        b.query_i64(&format!(
            "SELECT COUNT(*) FROM executions WHERE exec_id = '{exec_id}'"
        )) == 1
    })
    .await;
    let d = detail(&b, &exec_id).await;
    assert_eq!(
        (
            d.execution.job_id.as_str(),
            d.execution.initiated_by.as_str(),
            d.execution.target_count
        ),
        ("_adhoc", "cli:alice", 1)
    );
    assert_eq!(d.execution.targets, ["pc-9"]);
    assert_eq!(d.waiting_for, ["pc-9"]);
    // An event with a forged id is not turned into an execution.
    let mut bad = event.clone();
    bad.payload = json!({"exec_id": "a.>", "request_id": "r"});
    publish(&b, subject::audit("run"), &bad).await;
    wait_for("both audited", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'run'") == 2
    })
    .await;
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM executions WHERE job_id = '_adhoc'"),
        1
    );
}

#[tokio::test]
async fn the_sign_audit_entry_carries_the_os_user() {
    let b = TestBackend::start().await;
    let operator = b.account("otto", "operator").await;
    let command = json!({
        "id": "_adhoc", "version": "0", "request_id": "req-1", "exec_id": "exec-1",
        "shell": "sh", "script": "echo hi", "timeout_secs": 10, "emergency": true,
        "issued_at": Utc::now(),
    });
    let resp = operator
        .post(b.url("/api/commands/sign"))
        .json(
            &json!({"command": command, "target": "commands.pc.pc-1", "os_user": "root\u{1b}[31m"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_for("command.sign audited", Duration::from_secs(10), || async {
        b.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'command.sign'
             AND actor = 'otto' AND json_extract(payload, '$.os_user') = 'root[31m'",
        ) == 1
    })
    .await;
}

#[tokio::test]
async fn a_check_that_warns_is_not_all_pass() {
    let b = TestBackend::start().await;
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(
            "id: disk\nversion: 1\nexecute: {shell: sh, script: check-disk, timeout: 30s}\n\
             check:\n  name: disk-free\n",
        )
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let resp = b
        .http
        .post(b.url("/api/exec/disk"))
        .json(&json!({"target": {"pcs": ["a", "b"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let fired: ExecResponse = resp.json().await.unwrap();
    for (pc, status) in [("a", "ok"), ("b", "warn")] {
        let mut r = result_for(&fired, pc, 0);
        r.job_id = "disk".into();
        r.stdout = json!({"status": status, "detail": "x"}).to_string();
        publish(&b, subject::results(&fired.request_id), &r).await;
    }
    wait_for("both checks counted", Duration::from_secs(10), || async {
        let d = detail(&b, &fired.exec_id).await;
        d.execution.outcomes.checks.values().sum::<i64>() == 2
    })
    .await;
    let d = detail(&b, &fired.exec_id).await;
    assert_eq!(d.execution.outcomes.ok, 2);
    assert_eq!(d.execution.worst, Some(Outcome::Warn), "{d:?}");
    assert_eq!(
        d.execution.outcomes.describe(),
        "2 ok; checks: 1 ok, 1 warn"
    );
}
