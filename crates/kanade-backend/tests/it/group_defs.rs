//! Derived-group definitions (`/api/group-defs`): only admins define and delete them, viewers
//! list them; a condition that is not one read-only expression over inventory tables is 422
//! naming `where`, nothing stored; every change is audited.

use std::time::Duration;

use kanade_protocol::api::ErrorBody;
use kanade_protocol::derived::DerivedGroupView;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestBackend, wait_for};

#[tokio::test]
async fn only_admins_define_groups_and_only_safe_conditions_pass() {
    let b = TestBackend::start().await;
    let viewer = b.account("vera", "viewer").await;
    let operator = b.account("otto", "operator").await;
    let good = json!({"name": "all-known", "where": "machine.pc_id IS NOT NULL"});
    for client in [&viewer, &operator] {
        let resp = client
            .post(b.url("/api/group-defs"))
            .json(&good)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }
    for bad in [
        "EXISTS (SELECT 1 FROM users WHERE username = 'admin')",
        "EXISTS (SELECT 1 FROM sessions)",
        "1) UNION SELECT username FROM users WHERE (1",
        "1; DELETE FROM agents",
        "1 -- comment",
        "no_such_column = 1",
        "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n) > 0",
    ] {
        let resp = b
            .http
            .post(b.url("/api/group-defs"))
            .json(&json!({"name": "evil", "where": bad}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert_eq!(err.error.field.as_deref(), Some("where"), "{bad}");
    }
    let resp = b
        .http
        .post(b.url("/api/group-defs"))
        .json(&json!({"name": "bad name!", "where": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);

    let resp = b
        .http
        .post(b.url("/api/group-defs"))
        .json(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let listed: Vec<DerivedGroupView> = viewer
        .get(b.url("/api/group-defs"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "only the good one was stored");
    assert_eq!(listed[0].created_by.as_deref(), Some("admin"));

    let resp = operator
        .delete(b.url("/api/group-defs/all-known"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = b
        .http
        .delete(b.url("/api/group-defs/all-known"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = b
        .http
        .delete(b.url("/api/group-defs/all-known"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    wait_for("both changes audited", Duration::from_secs(10), || async {
        b.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action IN ('group.derive', 'group.underive') AND target = 'all-known'",
        ) == 2
    })
    .await;
}
