//! Hostile input at the edge: malformed ids in every path and query parameter, durations past
//! the maximum, bodies larger than the HTTP limit or the broker's `max_payload`, and too many
//! groups per machine. Each answers a 4xx naming the field, never a 5xx, and the backend's
//! broker connection keeps working afterwards.

use kanade_protocol::api::ErrorBody;
use reqwest::{Method, StatusCode};

use crate::support::{HELLO, TestBackend};

/// Every route with a parameter; `{}` stands for the hostile id, the rest are well formed.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/api/jobs/{}"),
    ("DELETE", "/api/jobs/{}"),
    ("GET", "/api/jobs/{}/status"),
    ("POST", "/api/jobs/{}/revoke"),
    ("POST", "/api/jobs/{}/unrevoke"),
    ("POST", "/api/exec/{}"),
    ("GET", "/api/schedules/{}"),
    ("DELETE", "/api/schedules/{}"),
    ("POST", "/api/schedules/{}/enable"),
    ("POST", "/api/schedules/{}/disable"),
    ("GET", "/api/executions/{}"),
    ("POST", "/api/executions/{}/kill"),
    ("GET", "/api/executions/{}/rollout"),
    ("GET", "/api/results/{}"),
    ("GET", "/api/agents/{}"),
    ("POST", "/api/agents/{}/ping"),
    ("GET", "/api/agents/{}/perf"),
    ("GET", "/api/agents/{}/processes"),
    ("GET", "/api/agents/{}/checks"),
    ("GET", "/api/agents/{}/inventory"),
    ("GET", "/api/agents/{}/effective_config"),
    ("GET", "/api/agents/{}/groups"),
    ("PUT", "/api/agents/{}/groups"),
    ("PUT", "/api/agents/{}/groups/lab"),
    ("PUT", "/api/agents/pc1/groups/{}"),
    ("DELETE", "/api/agents/pc1/groups/{}"),
    ("GET", "/api/groups/{}/email"),
    ("PUT", "/api/groups/{}/email"),
    ("GET", "/api/compliance/{}"),
    ("GET", "/api/inventory/{}"),
    ("GET", "/api/config/{}"),
    ("PUT", "/api/config/{}"),
    ("PATCH", "/api/config/{}"),
    ("DELETE", "/api/config/{}"),
    ("GET", "/api/notifications/{}"),
    ("PATCH", "/api/accounts/{}"),
    ("DELETE", "/api/accounts/{}"),
    ("DELETE", "/api/agent-releases/{}"),
    ("DELETE", "/api/enrollment/tokens/{}"),
    ("POST", "/api/machines/identities/{}/approve"),
    ("POST", "/api/machines/identities/{}/reject"),
    ("POST", "/api/machines/identities/{}/revoke"),
    ("GET", "/api/results?pc_id={}"),
    ("GET", "/api/results?exec_id={}"),
    ("GET", "/api/inventory/history?pc_id={}"),
    ("GET", "/api/inventory/history?job_id={}"),
    ("GET", "/api/obs_events?pc_id={}"),
    ("GET", "/api/agents?group={}"),
];

fn hostile() -> Vec<String> {
    [
        "x".repeat(5000),
        "a\0b".to_owned(),
        "ünï-cödé".to_owned(),
        "*".to_owned(),
        ">".to_owned(),
        "../../etc".to_owned(),
        "a.b.>".to_owned(),
        String::new(),
    ]
    .into()
}

/// Every byte outside the unreserved set, percent-encoded (so `/` and `.` reach the server
/// as part of the id).
fn encode(id: &str) -> String {
    id.bytes()
        .map(
            |b| match b.is_ascii_alphanumeric() || b == b'-' || b == b'_' {
                true => (b as char).to_string(),
                false => format!("%{b:02X}"),
            },
        )
        .collect()
}

async fn broker_still_works(b: &TestBackend) {
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "create after: {}",
        resp.status()
    );
    let resp = b.http.get(b.url("/api/jobs/hello")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = b
        .http
        .delete(b.url("/api/jobs/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
}

#[tokio::test]
async fn every_route_refuses_hostile_ids_with_400_or_404_and_the_broker_survives() {
    let b = TestBackend::start().await;
    let mut failures = Vec::new();
    for (method, template) in ROUTES {
        for id in hostile() {
            let path = template.replace("{}", &encode(&id));
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let mut req = b.http.request(method.clone(), b.url(&path));
            if method != Method::GET && method != Method::DELETE {
                req = req.json(&serde_json::json!({}));
            }
            let resp = req.send().await.unwrap();
            let status = resp.status();
            let shown: String = id.chars().take(12).collect();
            // An empty path segment matches no route; an empty query value is malformed.
            let ok = match id.is_empty() && !template.contains('?') {
                true => matches!(status.as_u16(), 400 | 404 | 405),
                false => status == StatusCode::BAD_REQUEST,
            };
            if !ok {
                failures.push(format!("{method} {template} with {shown:?}: {status}"));
                continue;
            }
            if status == StatusCode::BAD_REQUEST {
                let body: ErrorBody = resp.json().await.unwrap();
                assert!(
                    body.error.field.is_some(),
                    "{template}: {}",
                    body.error.message
                );
                assert!(
                    body.error.message.len() < 400,
                    "{template}: message too long"
                );
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    broker_still_works(&b).await;
}

#[tokio::test]
async fn well_formed_absent_ids_answer_404() {
    let b = TestBackend::start().await;
    for path in [
        "/api/jobs/no-such-job",
        "/api/schedules/no-such-schedule",
        "/api/executions/no-such-exec",
        "/api/results/no-such-result",
        "/api/notifications/no-such-notification",
        "/api/executions/no-such-exec/rollout",
        "/api/agents/no-such-pc",
        "/api/inventory/no-such-job",
    ] {
        let resp = b.http.get(b.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{path}");
    }
    for path in [
        "/api/accounts/no-such-user",
        "/api/schedules/no-such-schedule",
    ] {
        let resp = b.http.delete(b.url(path)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "DELETE {path}");
    }
}

async fn refused(
    b: &TestBackend,
    method: Method,
    path: &str,
    body: String,
) -> (StatusCode, ErrorBody) {
    let resp = b
        .http
        .request(method, b.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

#[tokio::test]
async fn durations_past_the_maximum_answer_422_naming_the_field() {
    let b = TestBackend::start().await;
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let job =
        r#"{"id":"big","version":"1","execute":{"shell":"sh","script":"true","timeout":1e20}}"#;
    let schedule = r#"{"id":"s","job_id":"hello","when":{"cron":"0 * * * * *"},"target":{"pcs":["pc1"]},"jitter":1e20}"#;
    let cases: Vec<(Method, &str, String, &str)> = vec![
        (Method::POST, "/api/jobs", job.to_owned(), "execute.timeout"),
        (
            Method::POST,
            "/api/exec/hello",
            r#"{"target":{"pcs":["pc1"]},"jitter":1e20}"#.to_owned(),
            "jitter",
        ),
        (
            Method::POST,
            "/api/schedules",
            schedule.to_owned(),
            "jitter",
        ),
        (
            Method::PUT,
            "/api/config/global",
            r#"{"heartbeat_interval":1e20}"#.to_owned(),
            "heartbeat_interval",
        ),
        (
            Method::PATCH,
            "/api/config/global",
            r#"{"target_version_jitter":"99999999999999999999s"}"#.to_owned(),
            "target_version_jitter",
        ),
        (
            Method::PATCH,
            "/api/config/groups.lab",
            r#"{"host_perf_interval":18446744073709551615}"#.to_owned(),
            "host_perf_interval",
        ),
    ];
    for (method, path, body, field) in cases {
        let (status, err) = refused(&b, method.clone(), path, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {path}: {}",
            err.error.message
        );
        assert_eq!(err.error.field.as_deref(), Some(field), "{path}");
        assert!(
            err.error.message.contains("3650 days"),
            "{}",
            err.error.message
        );
    }
    // Nothing was written, and the backend still answers.
    let resp = b.http.get(b.url("/api/jobs/big")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = b.http.get(b.url("/api/schedules/s")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    broker_still_works(&b).await;
}

fn job_with_script_of(bytes: usize) -> String {
    serde_json::json!({"id": "huge", "version": "1",
        "execute": {"shell": "sh", "script": format!("echo {}", "x".repeat(bytes)), "timeout": "1m"}})
    .to_string()
}

#[tokio::test]
async fn large_bodies_answer_413_in_the_api_shape_and_write_nothing() {
    let b = TestBackend::start().await;
    const MIB: usize = 1024 * 1024;
    for size in [MIB, 3 * MIB, 5 * MIB] {
        let resp = b
            .http
            .post(b.url("/api/jobs"))
            .body(job_with_script_of(size))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE, "{size} bytes");
        let err: ErrorBody = resp.json().await.unwrap();
        assert_eq!(err.error.code, "payload_too_large", "{}", err.error.message);
        assert!(!err.error.message.contains("see the server log"));
    }
    // A title is capped far below the broker's limit (422), so the body is what grows.
    let big_body = serde_json::json!({"title": "big", "body": "x".repeat(2 * MIB),
        "priority": "info", "target": {"all": true}});
    let (status, err) = refused(&b, Method::POST, "/api/notifications", big_body.to_string()).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        err.error.message
    );
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let big_schedule = serde_json::json!({"id": "wordy", "job_id": "hello",
        "description": "x".repeat(2 * MIB), "when": {"cron": "0 * * * * *"},
        "target": {"pcs": ["pc1"]}});
    let (status, err) = refused(&b, Method::POST, "/api/schedules", big_schedule.to_string()).await;
    assert_eq!(
        status,
        StatusCode::PAYLOAD_TOO_LARGE,
        "{}",
        err.error.message
    );
    assert!(
        err.error.message.contains("max_payload"),
        "{}",
        err.error.message
    );
    for gone in ["/api/jobs/huge", "/api/schedules/wordy"] {
        let resp = b.http.get(b.url(gone)).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{gone}");
    }
    let resp = b
        .http
        .delete(b.url("/api/jobs/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    broker_still_works(&b).await;
}

#[tokio::test]
async fn groups_per_machine_are_capped_and_names_checked() {
    let b = TestBackend::start().await;
    crate::support::beat(&b, "pc1", chrono::Duration::zero()).await;
    let max = kanade_protocol::ids::MAX_GROUPS_PER_MACHINE;
    let groups: Vec<String> = (0..=max).map(|i| format!("g{i}")).collect();
    let (status, err) = refused(
        &b,
        Method::PUT,
        "/api/agents/pc1/groups",
        serde_json::json!({ "groups": groups }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err.error.field.as_deref(), Some("groups"));

    // Exactly the cap is fine; one more by adding is refused and changes nothing.
    let resp = b
        .http
        .put(b.url("/api/agents/pc1/groups"))
        .json(&serde_json::json!({ "groups": groups[..max] }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let (status, err) = refused(
        &b,
        Method::PUT,
        "/api/agents/pc1/groups/one-too-many",
        String::new(),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{}",
        err.error.message
    );
    assert_eq!(err.error.field.as_deref(), Some("group"));
    let now: kanade_protocol::api::GroupList = b.get("/api/agents/pc1/groups").await;
    assert_eq!(now.groups.len(), max);

    let (status, err) = refused(
        &b,
        Method::PUT,
        "/api/agents/pc1/groups",
        r#"{"groups":["ok","no.dots"]}"#.to_owned(),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(err.error.field.as_deref(), Some("groups[1]"));
}
