//! Operator metadata of a machine (`GET`/`PUT /api/agents/{pc_id}/meta`, KV `agent_meta`):
//! operators replace the attributes, viewers only read them, bad names are 422 naming the
//! entry, an empty list clears them, and every change is audited.

use std::time::Duration;

use kanade_protocol::api::ErrorBody;
use kanade_protocol::meta::AgentMeta;
use kanade_protocol::names;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestBackend, wait_for};

#[tokio::test]
async fn operators_set_a_machines_attributes_and_viewers_read_them() {
    let b = TestBackend::start().await;
    let viewer = b.account("vera", "viewer").await;
    let operator = b.account("otto", "operator").await;
    let url = b.url("/api/agents/pc-7/meta");
    let body = json!({"entries": [
        {"key": "owner", "value": "alice"},
        {"key": "location", "value": "room 4, second floor"},
    ]});

    let resp = viewer.put(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = operator.put(&url).json(&body).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let meta: AgentMeta = resp.json().await.unwrap();
    assert_eq!(meta.entries[0].key, "location", "sorted by key");

    let resp = viewer.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let meta: AgentMeta = resp.json().await.unwrap();
    assert_eq!(meta.get("owner"), Some("alice"));
    // Stored in the broker, where an original backend would look.
    let kv = b.js.get_key_value(names::KV_AGENT_META).await.unwrap();
    let stored: AgentMeta =
        serde_json::from_slice(&kv.get("pc-7").await.unwrap().unwrap()).unwrap();
    assert_eq!(stored, meta);

    let bad =
        json!({"entries": [{"key": "owner", "value": "a"}, {"key": "asset tag", "value": "1"}]});
    let resp = operator.put(&url).json(&bad).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.field.as_deref(), Some("entries[1].key"));
    let resp = operator
        .put(&url)
        .json(&json!({"entries": [], "extra": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "unknown keys are refused"
    );
    let meta: AgentMeta = b.get("/api/agents/pc-7/meta").await;
    assert_eq!(meta.entries.len(), 2, "nothing changed");

    let resp = operator
        .put(&url)
        .json(&json!({"entries": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(kv.get("pc-7").await.unwrap().is_none(), "cleared");

    wait_for("the metadata changes in the audit log", Duration::from_secs(10), || async {
        b.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'agent.meta' AND target = 'pc-7' AND actor = 'otto'",
        ) == 2
    })
    .await;
}
