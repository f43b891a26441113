//! Putting machines in groups needs the machine to exist: a machine never seen (no heartbeat,
//! no pending or approved enrollment) is 404 naming it and nothing is stored or audited, unless
//! `?allow_unknown=true` pre-stages it; a machine that sent a heartbeat or asked to join is
//! accepted without it.

use std::time::Duration;

use chrono::Utc;
use kanade_protocol::api::{AuditEntry, ErrorBody, GroupList, Page};
use kanade_protocol::enrollment::{IdentityStatus, MachineIdentity};
use kanade_protocol::names;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestBackend, beat, wait_for};

/// A machine that asked to join with `status`, as the auth callout records it.
async fn asked(b: &TestBackend, pc: &str, status: IdentityStatus) {
    let now = Utc::now();
    let record = MachineIdentity {
        pc_id: pc.to_owned(),
        nkey: format!("U{}", pc.to_uppercase()),
        status,
        pending_nkey: None,
        first_seen: now,
        last_seen: now,
        address: "10.0.0.7:50000".to_owned(),
        token_id: None,
        decided_by: None,
        decided_at: None,
        reason: None,
    };
    b.js.get_key_value(names::KV_AGENT_IDENTITIES)
        .await
        .unwrap()
        .put(pc, serde_json::to_vec(&record).unwrap().into())
        .await
        .unwrap();
}

async fn add(b: &TestBackend, path: &str) -> reqwest::Response {
    b.http.put(b.url(path)).send().await.unwrap()
}

async fn set(b: &TestBackend, path: &str, groups: &[&str]) -> reqwest::Response {
    b.http
        .put(b.url(path))
        .json(&json!({ "groups": groups }))
        .send()
        .await
        .unwrap()
}

async fn not_found(resp: reqwest::Response, pc: &str) {
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: ErrorBody = resp.json().await.unwrap();
    assert_eq!(body.error.code, "not_found");
    assert!(
        body.error
            .message
            .starts_with(&format!("machine {pc} was never seen")),
        "{}",
        body.error.message
    );
    assert!(body.error.message.contains("allow_unknown"), "{body:?}");
}

#[tokio::test]
async fn a_machine_never_seen_is_404_and_nothing_is_stored_unless_pre_staged() {
    let b = TestBackend::start().await;
    not_found(add(&b, "/api/agents/web-3/groups/lab").await, "web-3").await;
    not_found(set(&b, "/api/agents/web-3/groups", &["lab"]).await, "web-3").await;
    let now: GroupList = b.get("/api/agents/web-3/groups").await;
    assert!(now.groups.is_empty(), "{:?}", now.groups);
    // Bad ids and names are still 400/422 first; a bad query is 400.
    let resp = add(&b, "/api/agents/a.b.c.d.e/groups/lab").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = add(&b, "/api/agents/web-3/groups/lab?allow_unknown=maybe").await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Pre-staging on purpose is stored, by add and by replace.
    let resp = add(&b, "/api/agents/web-3/groups/lab?allow_unknown=true").await;
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = set(
        &b,
        "/api/agents/web-4/groups?allow_unknown=true",
        &["ops", "lab"],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let now: GroupList = b.get("/api/agents/web-3/groups").await;
    assert_eq!(now.groups, ["lab"]);
    let now: GroupList = b.get("/api/agents/web-4/groups").await;
    assert_eq!(now.groups, ["lab", "ops"]);

    // Only the two accepted writes reached the audit log.
    wait_for("the audit rows", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'groups.%'") >= 2
    })
    .await;
    let page: Page<AuditEntry> = b.get("/api/audit?limit=100").await;
    let groups: Vec<(&str, Option<&str>)> = page
        .items
        .iter()
        .filter(|e| e.action.starts_with("groups."))
        .map(|e| (e.action.as_str(), e.target.as_deref()))
        .rev()
        .collect();
    assert_eq!(
        groups,
        [("groups.add", Some("web-3")), ("groups.set", Some("web-4"))]
    );
}

#[tokio::test]
async fn machines_that_sent_a_heartbeat_or_asked_to_join_need_no_flag() {
    let b = TestBackend::start().await;
    beat(&b, "pc1", chrono::Duration::zero()).await;
    asked(&b, "pc-pending", IdentityStatus::Pending).await;
    asked(&b, "pc-approved", IdentityStatus::Approved).await;
    asked(&b, "pc-rejected", IdentityStatus::Rejected).await;
    for pc in ["pc1", "pc-pending", "pc-approved"] {
        let resp = add(&b, &format!("/api/agents/{pc}/groups/lab")).await;
        assert_eq!(resp.status(), StatusCode::OK, "{pc}");
        let resp = set(&b, &format!("/api/agents/{pc}/groups"), &["lab", "ops"]).await;
        assert_eq!(resp.status(), StatusCode::OK, "{pc}");
    }
    // A refused machine is no reason to stage groups for it.
    not_found(
        add(&b, "/api/agents/pc-rejected/groups/lab").await,
        "pc-rejected",
    )
    .await;
    let now: GroupList = b.get("/api/agents/pc1/groups").await;
    assert_eq!(now.groups, ["lab", "ops"]);
    // Taking an unknown machine out of a group stays harmless.
    let resp = b
        .http
        .delete(b.url("/api/agents/ghost/groups/lab"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}
