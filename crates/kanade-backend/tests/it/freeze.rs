//! The fleet freeze holds only scheduled fires: a rollout wave that comes due while frozen is
//! held (the rollout API says so) and goes out after the thaw with the later waves' spacing
//! kept; a manual exec goes out at once with a `fleet_frozen` warning and is audited; a
//! corrupt freeze counts as frozen and `GET /api/freeze` reports it as an error.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kanade_protocol::api::{ErrorBody, ExecResponse, FreezeStatus, WARNING_FLEET_FROZEN};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::names;
use kanade_protocol::schedule::RolloutProgress;
use kanade_protocol::wire::FREEZE_KEY;
use reqwest::StatusCode;

use crate::support::{HELLO, TestBackend, wait_for};

async fn start() -> TestBackend {
    let b = TestBackend::start_with(|config| {
        config.scheduler.lease_ttl = HumanDuration::from_secs(2);
        config.scheduler.reconcile_every = HumanDuration(Duration::from_millis(300));
    })
    .await;
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    b
}

async fn exec(b: &TestBackend, body: serde_json::Value) -> ExecResponse {
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    resp.json().await.unwrap()
}

/// When the broker stored the newest command on `subject`, if any.
async fn sent_at(b: &TestBackend, subject: &str) -> Option<DateTime<Utc>> {
    let stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    let msg = stream.get_last_raw_message_by_subject(subject).await.ok()?;
    Some(DateTime::<Utc>::from(std::time::SystemTime::from(msg.time)))
}

async fn rollout(b: &TestBackend, exec_id: &str) -> RolloutProgress {
    b.get(&format!("/api/executions/{exec_id}/rollout")).await
}

async fn freeze_on(b: &TestBackend, reason: &str) {
    let resp = b
        .http
        .put(b.url("/api/freeze"))
        .json(&serde_json::json!({"reason": reason}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

async fn freeze_off(b: &TestBackend) {
    let resp = b.http.delete(b.url("/api/freeze")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn a_due_wave_is_held_while_frozen_and_goes_out_after_the_thaw() {
    let b = start().await;
    let fired = exec(
        &b,
        serde_json::json!({"target": {}, "allow_unknown": true, "rollout": {"waves": [{"group": "A"}, {"group": "B", "delay": "2s"}]}}),
    )
    .await;
    wait_for("wave A out", Duration::from_secs(30), || async {
        sent_at(&b, "commands.group.A").await.is_some()
    })
    .await;
    freeze_on(&b, "quarter close").await;

    // Wave B comes due 2 s after the start and waits; the API says so.
    wait_for("wave B held", Duration::from_secs(20), || async {
        rollout(&b, &fired.exec_id).await.status == "held"
    })
    .await;
    let held = rollout(&b, &fired.exec_id).await;
    assert_eq!(held.waves_published, 1);
    let note = held.note.unwrap_or_default();
    assert!(
        note.starts_with("wave 2 of 2 (group B) came due at ") && note.contains("frozen"),
        "{note}"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        sent_at(&b, "commands.group.B").await,
        None,
        "sent while frozen"
    );
    assert_eq!(rollout(&b, &fired.exec_id).await.status, "held");

    let thaw = Utc::now();
    freeze_off(&b).await;
    wait_for(
        "wave B out after the thaw",
        Duration::from_secs(20),
        || async { sent_at(&b, "commands.group.B").await.is_some() },
    )
    .await;
    let b_at = sent_at(&b, "commands.group.B").await.unwrap();
    assert!(
        b_at >= thaw - chrono::TimeDelta::milliseconds(500),
        "{b_at} {thaw}"
    );
    wait_for("rollout done", Duration::from_secs(10), || async {
        let p = rollout(&b, &fired.exec_id).await;
        p.status == "done" && p.waves_published == 2
    })
    .await;
}

#[tokio::test]
async fn the_waves_after_a_held_one_keep_their_spacing() {
    let b = start().await;
    freeze_on(&b, "hold everything").await;
    let fired = exec(
        &b,
        serde_json::json!({"target": {}, "allow_unknown": true, "rollout": {"waves": [{"group": "A"}, {"group": "B", "delay": "3s"}]}}),
    )
    .await;
    let warning = &fired.warnings[0];
    assert_eq!(warning.code, WARNING_FLEET_FROZEN);
    assert!(
        warning
            .message
            .ends_with("this rollout's waves wait until the freeze ends"),
        "{}",
        warning.message
    );
    wait_for("wave A held", Duration::from_secs(20), || async {
        rollout(&b, &fired.exec_id).await.status == "held"
    })
    .await;
    // Held past wave B's own delay: after the thaw B still waits 3 s after A.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        sent_at(&b, "commands.group.A").await,
        None,
        "sent while frozen"
    );
    freeze_off(&b).await;
    wait_for("both waves out", Duration::from_secs(30), || async {
        sent_at(&b, "commands.group.B").await.is_some()
    })
    .await;
    let a = sent_at(&b, "commands.group.A").await.unwrap();
    let b_at = sent_at(&b, "commands.group.B").await.unwrap();
    assert!(
        b_at - a >= chrono::TimeDelta::milliseconds(2500),
        "wave B {b_at} only {} after wave A {a}",
        b_at - a
    );
}

#[tokio::test]
async fn a_manual_exec_while_frozen_goes_out_now_with_a_warning_and_is_audited() {
    let b = start().await;
    freeze_on(&b, "quarter close").await;
    let fired = exec(
        &b,
        serde_json::json!({"target": {"pcs": ["pc-frozen"]}, "allow_unknown": true}),
    )
    .await;
    assert_eq!(fired.warnings.len(), 1, "{fired:#?}");
    assert_eq!(fired.warnings[0].code, WARNING_FLEET_FROZEN);
    assert_eq!(
        fired.warnings[0].message,
        "the fleet is frozen (reason: quarter close; until lifted): scheduled fires and rollout waves are held; this manual run goes out now"
    );
    assert!(
        sent_at(&b, "commands.pc.pc-frozen").await.is_some(),
        "the command is in the broker"
    );
    wait_for("the exec audited", Duration::from_secs(10), || async {
        b.query_i64(&format!(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'exec' AND payload LIKE '%{}%'",
            fired.exec_id
        )) == 1
    })
    .await;

    // Thawed: no warning, and the answer does not carry the field at all.
    freeze_off(&b).await;
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&serde_json::json!({"target": {"pcs": ["pc-frozen"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(body.get("warnings").is_none(), "{body}");
}

#[tokio::test]
async fn a_corrupt_freeze_counts_as_frozen_and_is_reported_as_an_error() {
    let b = start().await;
    let fleet = b.js.get_key_value(names::KV_FLEET_CONFIG).await.unwrap();
    fleet.put(FREEZE_KEY, "{not json".into()).await.unwrap();
    let resp = b.http.get(b.url("/api/freeze")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let body: ErrorBody = resp.json().await.unwrap();
    assert_eq!(body.error.code, "freeze_unreadable");
    assert!(
        body.error.message.contains("counts as frozen"),
        "{}",
        body.error.message
    );

    // The scheduler holds waves; a manual exec goes out with the warning.
    let fired = exec(
        &b,
        serde_json::json!({"target": {}, "allow_unknown": true, "rollout": {"waves": [{"group": "A"}]}}),
    )
    .await;
    assert!(
        fired.warnings[0]
            .message
            .starts_with("the fleet freeze record is unreadable and counts as frozen"),
        "{:?}",
        fired.warnings
    );
    wait_for("wave A held", Duration::from_secs(20), || async {
        rollout(&b, &fired.exec_id).await.status == "held"
    })
    .await;

    // Lifting replaces the corrupt value; the held wave then goes out.
    freeze_off(&b).await;
    let status: FreezeStatus = b.get("/api/freeze").await;
    assert!(!status.frozen);
    wait_for("wave A out", Duration::from_secs(20), || async {
        sent_at(&b, "commands.group.A").await.is_some()
    })
    .await;
}
