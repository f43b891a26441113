//! `POST /api/exec` resolves its target first: machines never seen and groups without
//! members are 422 naming them (and nothing is recorded), machines known but offline are
//! accepted, and the answer lists each targeted machine with whether it is online.

use kanade_protocol::api::{ErrorBody, ExecResponse, TargetMachine};
use kanade_protocol::names;
use reqwest::StatusCode;

use crate::support::{HELLO, TestBackend, beat};

async fn start() -> TestBackend {
    let b = TestBackend::start().await;
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

async fn refused(b: &TestBackend, body: serde_json::Value) -> ErrorBody {
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn unknown_machines_and_empty_groups_are_refused_by_name() {
    let b = start().await;
    beat(&b, "pc-known", chrono::Duration::zero()).await;
    let groups = b.js.get_key_value(names::KV_AGENT_GROUPS).await.unwrap();
    groups
        .put("pc-known", r#"{"groups":["lab"]}"#.into())
        .await
        .unwrap();

    let err = refused(
        &b,
        serde_json::json!({"target": {"pcs": ["pc-known", "pc-ghost", "pc-typo"]}}),
    )
    .await;
    assert_eq!(err.error.field.as_deref(), Some("target.pcs"));
    let message = &err.error.message;
    assert!(
        message.contains("`pc-ghost`") && message.contains("`pc-typo`"),
        "{message}"
    );
    assert!(!message.contains("pc-known"), "{message}");

    let err = refused(
        &b,
        serde_json::json!({"target": {"groups": ["lab", "nobody-here"]}}),
    )
    .await;
    assert_eq!(err.error.field.as_deref(), Some("target.groups"));
    assert!(err.error.message.contains("`nobody-here`"), "{err:?}");
    assert!(!err.error.message.contains("`lab`"), "{err:?}");

    let err = refused(
        &b,
        serde_json::json!({"target": {}, "rollout": {"waves": [{"group": "lab"}, {"group": "empty", "delay": "1m"}]}}),
    )
    .await;
    assert_eq!(err.error.field.as_deref(), Some("rollout.waves"));
    assert!(err.error.message.contains("`empty`"), "{err:?}");

    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM executions"),
        0,
        "a refused exec records nothing"
    );
}

#[tokio::test]
async fn offline_machines_are_accepted_and_listed_as_offline() {
    let b = start().await;
    beat(&b, "pc-on", chrono::Duration::zero()).await;
    beat(&b, "pc-off", chrono::Duration::hours(2)).await;
    let groups = b.js.get_key_value(names::KV_AGENT_GROUPS).await.unwrap();
    groups
        .put("pc-off", r#"{"groups":["lab"]}"#.into())
        .await
        .unwrap();
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&serde_json::json!({"target": {"pcs": ["pc-on"], "groups": ["lab"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let fired: ExecResponse = resp.json().await.unwrap();
    assert_eq!(
        fired.machines,
        [
            TargetMachine {
                pc_id: "pc-off".into(),
                online: false
            },
            TargetMachine {
                pc_id: "pc-on".into(),
                online: true
            },
        ]
    );
    assert_eq!(fired.target_count, 2);
}

#[tokio::test]
async fn allow_unknown_sends_to_machines_never_seen() {
    let b = start().await;
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&serde_json::json!({"target": {"pcs": ["pc-new"], "groups": ["future"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let fired: ExecResponse = resp.json().await.unwrap();
    assert_eq!(
        fired.machines,
        [TargetMachine {
            pc_id: "pc-new".into(),
            online: false
        }]
    );
}
