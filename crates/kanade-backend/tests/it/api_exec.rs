//! `POST /api/exec/{job}`: pins the version, publishes one command per subject, records the
//! execution; bad requests change nothing.

use kanade_protocol::api::{ErrorBody, ExecResponse, ExecutionDetail, ExecutionSummary, Page};
use kanade_protocol::names;
use kanade_protocol::wire::Command;
use reqwest::StatusCode;

use crate::support::{HELLO, TestBackend};

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

#[tokio::test]
async fn exec_pins_publishes_and_records() {
    let b = TestBackend::start().await;
    register(&b).await;
    let body = serde_json::json!({"target": {"pcs": ["pc-a", "pc-b"], "groups": ["lab"]}, "jitter": "5s", "allow_unknown": true});
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let fired: ExecResponse = resp.json().await.unwrap();
    assert_eq!(
        fired.subjects,
        vec!["commands.group.lab", "commands.pc.pc-a", "commands.pc.pc-b"]
    );
    assert_eq!(
        fired.target_count, 2,
        "two named machines; group lab has no members yet"
    );

    let pins = b.js.get_key_value(names::KV_SCRIPT_CURRENT).await.unwrap();
    assert_eq!(pins.get("hello").await.unwrap().unwrap().as_ref(), b"1");

    let stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    let msg = stream
        .get_last_raw_message_by_subject("commands.pc.pc-a")
        .await
        .unwrap();
    let command: Command = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(
        (command.exec_id.as_str(), command.request_id.as_str()),
        (fired.exec_id.as_str(), fired.request_id.as_str())
    );
    assert_eq!(
        (
            command.script.as_str(),
            command.timeout_secs,
            command.jitter_secs
        ),
        ("echo hello", 30, Some(5))
    );

    let detail: ExecutionDetail = b.get(&format!("/api/executions/{}", fired.exec_id)).await;
    assert_eq!(detail.execution.status, "pending");
    assert_eq!(detail.execution.target_count, 2);
    assert!(detail.results.is_empty());
    let page: Page<ExecutionSummary> = b.get("/api/executions").await;
    assert_eq!(page.total, 1);
}

#[tokio::test]
async fn group_members_are_counted() {
    let b = TestBackend::start().await;
    register(&b).await;
    let groups = b.js.get_key_value(names::KV_AGENT_GROUPS).await.unwrap();
    for (pc, g) in [
        ("pc1", r#"{"groups":["lab"]}"#),
        ("pc2", r#"{"groups":["lab","ops"]}"#),
        ("pc3", r#"{"groups":["ops"]}"#),
    ] {
        groups.put(pc, g.into()).await.unwrap();
    }
    let body = serde_json::json!({"target": {"groups": ["lab"], "pcs": ["pc2", "pc9"]}, "allow_unknown": true});
    let fired: ExecResponse = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&body)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        fired.target_count, 3,
        "pc1, pc2 (group and named once) and pc9"
    );
}

#[tokio::test]
async fn bad_exec_requests_change_nothing() {
    let b = TestBackend::start().await;
    register(&b).await;
    let cases = [
        (
            serde_json::json!({"target": {}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("target"),
        ),
        (
            serde_json::json!({"target": {"pcs": ["a.b.c.d.e"]}}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("target.pcs[0]"),
        ),
        (
            serde_json::json!({"target": {"all": true}, "colour": 1}),
            StatusCode::BAD_REQUEST,
            Some("colour"),
        ),
        (
            serde_json::json!({"target": {"all": "yes"}}),
            StatusCode::BAD_REQUEST,
            Some("target.all"),
        ),
        (
            serde_json::json!({"target": {"all": true}, "deadline_at": "2001-01-01T00:00:00Z"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("deadline_at"),
        ),
    ];
    for (body, status, field) in cases {
        let resp = b
            .http
            .post(b.url("/api/exec/hello"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{body}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert_eq!(
            err.error.field.as_deref(),
            field,
            "{body}: {}",
            err.error.message
        );
    }
    let resp = b
        .http
        .post(b.url("/api/exec/nope"))
        .json(&serde_json::json!({"target": {"all": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);

    assert_eq!(b.query_i64("SELECT COUNT(*) FROM executions"), 0);
    let mut exec = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    assert_eq!(exec.info().await.unwrap().state.messages, 0);
    let pins = b.js.get_key_value(names::KV_SCRIPT_CURRENT).await.unwrap();
    assert!(pins.get("hello").await.unwrap().is_none());
}

#[tokio::test]
async fn exec_can_ask_machines_to_retry_failures() {
    let b = TestBackend::start().await;
    register(&b).await;
    let body = serde_json::json!({"target": {"pcs": ["pc-r"]}, "retry": {"max": 2, "backoff": "30s"}, "allow_unknown": true});
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    let msg = stream
        .get_last_raw_message_by_subject("commands.pc.pc-r")
        .await
        .unwrap();
    let command: Command = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(
        command.retry,
        Some(kanade_protocol::wire::RetrySpec {
            max: 2,
            backoff_secs: 30
        })
    );
    for (retry, field) in [
        (serde_json::json!({"max": 0}), "retry.max"),
        (
            serde_json::json!({"max": 2, "backoff": "0s"}),
            "retry.backoff",
        ),
    ] {
        let body = serde_json::json!({"target": {"pcs": ["pc-r"]}, "retry": retry});
        let resp = b
            .http
            .post(b.url("/api/exec/hello"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            resp.json::<ErrorBody>()
                .await
                .unwrap()
                .error
                .field
                .as_deref(),
            Some(field)
        );
    }
}
