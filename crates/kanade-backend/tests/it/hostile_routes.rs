//! The newer API routes tested as an attacker would: every role against every route
//! (anonymous, viewer, operator, admin, a disabled and a deleted account's token), hostile
//! bodies (wrong types, unknown fields, deep nesting, NUL bytes, huge strings, over 4 MiB)
//! answered 4xx naming what is wrong with nothing changed, another user's saved search,
//! traversal keys on collected bundles and hostile terminal session ids.

use kanade_protocol::api::ErrorBody;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::TestBackend;

/// (method, path, body, lowest role allowed). Bodies of changing requests are refused after
/// the role check, so an allowed caller changes nothing either.
const ROUTES: &[(&str, &str, &str, &str)] = &[
    ("GET", "/api/settings", "", "viewer"),
    ("PUT", "/api/settings", "[]", "admin"),
    ("GET", "/api/agents/pc-1/meta", "", "viewer"),
    ("PUT", "/api/agents/pc-1/meta", "[]", "operator"),
    ("GET", "/api/group-defs", "", "viewer"),
    ("POST", "/api/group-defs", "{}", "admin"),
    ("DELETE", "/api/group-defs/nope", "", "admin"),
    ("GET", "/api/saved-searches", "", "viewer"),
    ("POST", "/api/saved-searches", "{}", "operator"),
    ("DELETE", "/api/saved-searches/nope", "", "operator"),
    ("GET", "/api/collect/bundles", "", "operator"),
    ("GET", "/api/collect/bundles/pc-1/job/t.zip", "", "operator"),
    (
        "DELETE",
        "/api/collect/bundles/pc-1/job/t.zip",
        "",
        "operator",
    ),
    ("GET", "/api/terminal-sessions", "", "admin"),
    ("GET", "/api/terminal-sessions/abc/transcript", "", "admin"),
    ("GET", "/api/approvals", "", "viewer"),
    ("POST", "/api/executions/nope/approve", "", "operator"),
    ("POST", "/api/executions/nope/reject", "", "operator"),
    ("GET", "/api/notifications", "", "viewer"),
    ("POST", "/api/notifications", "{}", "operator"),
    ("POST", "/api/schedules:preview", "{}", "viewer"),
    ("GET", "/api/compliance/nope/trend", "", "viewer"),
    ("GET", "/api/config/global/inherited", "", "viewer"),
];

fn rank(role: &str) -> u8 {
    match role {
        "viewer" => 1,
        "operator" => 2,
        "admin" => 3,
        other => panic!("unknown role {other}"),
    }
}

async fn call(
    b: &TestBackend,
    client: &reqwest::Client,
    method: &str,
    path: &str,
    body: &str,
) -> StatusCode {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client.request(method, b.url(path));
    if !body.is_empty() {
        req = req
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    req.send().await.unwrap().status()
}

#[tokio::test]
async fn hostile_callers_meet_the_documented_role_on_every_newer_route() {
    let b = TestBackend::start().await;
    let viewer = b.account("vera", "viewer").await;
    let operator = b.account("otto", "operator").await;
    let disabled = b.account("dora", "admin").await;
    let deleted = b.account("dave", "admin").await;
    let resp = b
        .http
        .patch(b.url("/api/accounts/dora"))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "disable: {}", resp.status());
    let resp = b
        .http
        .delete(b.url("/api/accounts/dave"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);

    let mut failures = Vec::new();
    for (method, path, body, least) in ROUTES {
        for (who, client) in [
            ("anonymous", &b.anon),
            ("disabled admin", &disabled),
            ("deleted admin", &deleted),
        ] {
            let status = call(&b, client, method, path, body).await;
            if status != StatusCode::UNAUTHORIZED {
                failures.push(format!("{who} {method} {path}: {status}, not 401"));
            }
        }
        for (who, client) in [
            ("viewer", &viewer),
            ("operator", &operator),
            ("admin", &b.http),
        ] {
            let status = call(&b, client, method, path, body).await;
            let allowed = rank(who) >= rank(least);
            let ok = match allowed {
                true => !matches!(status.as_u16(), 401 | 403) && !status.is_server_error(),
                false => status == StatusCode::FORBIDDEN,
            };
            if !ok {
                failures.push(format!("{who} {method} {path}: {status} (needs {least})"));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Bodies every JSON route must refuse with a 4xx and its error shape.
fn hostile_bodies() -> Vec<(&'static str, Vec<u8>)> {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let mut over = b"{\"title\":\"".to_vec();
    over.extend(std::iter::repeat_n(b'x', 5 * 1024 * 1024));
    over.extend(b"\"}");
    vec![
        ("an array", b"[]".to_vec()),
        ("a string", b"\"hello\"".to_vec()),
        ("a number", b"42".to_vec()),
        ("null", b"null".to_vec()),
        ("truncated JSON", b"{\"name\": ".to_vec()),
        ("deeply nested JSON", deep.into_bytes()),
        ("a raw NUL byte", b"{\"name\":\"a\0b\"}".to_vec()),
        ("invalid UTF-8", b"{\"name\":\"\xff\xfe\"}".to_vec()),
        ("an unknown field", b"{\"no_such_field\": 1}".to_vec()),
        ("over 4 MiB", over),
    ]
}

/// Routes taking a JSON body, as the admin (so only the body can be at fault).
const BODY_ROUTES: &[(&str, &str)] = &[
    ("PUT", "/api/settings"),
    ("PUT", "/api/agents/pc-1/meta"),
    ("POST", "/api/group-defs"),
    ("POST", "/api/saved-searches"),
    ("POST", "/api/notifications"),
    ("POST", "/api/executions/nope/approve"),
    ("POST", "/api/executions/nope/reject"),
    ("POST", "/api/schedules:preview"),
];

/// What the routes above could have changed, as the admin reads it.
async fn snapshot(b: &TestBackend) -> Value {
    let mut out = serde_json::Map::new();
    for path in [
        "/api/settings",
        "/api/agents/pc-1/meta",
        "/api/group-defs",
        "/api/saved-searches",
        "/api/notifications",
        "/api/approvals?state=all",
    ] {
        let mut value: Value = b.get(path).await;
        if path == "/api/group-defs" {
            for def in value.as_array_mut().into_iter().flatten() {
                def.as_object_mut().unwrap().remove("updated_at");
            }
        }
        out.insert(path.to_owned(), value);
    }
    Value::Object(out)
}

#[tokio::test]
async fn hostile_bodies_get_a_4xx_in_the_error_shape_and_change_nothing() {
    let b = TestBackend::start().await;
    let before = snapshot(&b).await;
    let mut failures = Vec::new();
    for (method, path) in BODY_ROUTES {
        for (what, body) in hostile_bodies() {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let resp = b
                .http
                .request(method.clone(), b.url(path))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            let status = resp.status();
            // The preview accepts YAML too, so a bare string or number is a YAML document.
            if !matches!(status.as_u16(), 400 | 404 | 413 | 422) {
                failures.push(format!("{method} {path} with {what}: {status}"));
                continue;
            }
            match resp.json::<ErrorBody>().await {
                Ok(err) if !err.error.message.is_empty() => {}
                other => failures.push(format!("{method} {path} with {what}: body {other:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        snapshot(&b).await,
        before,
        "a refused request changed something"
    );
}

/// Sends `body` as the admin and returns the status and error (a success has none).
async fn send(b: &TestBackend, method: Method, path: &str, body: Value) -> (u16, Option<String>) {
    let resp = b
        .http
        .request(method, b.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    match status < 300 {
        true => (status, None),
        false => {
            let err: ErrorBody = resp.json().await.unwrap();
            assert!(!err.error.message.is_empty());
            (status, err.error.field)
        }
    }
}

#[tokio::test]
async fn hostile_field_values_are_refused_naming_the_field() {
    let b = TestBackend::start().await;
    let before = snapshot(&b).await;
    let huge = "x".repeat(1_000_000);
    let cases: Vec<(Method, &str, Value, &str)> = vec![
        (
            Method::PUT,
            "/api/settings",
            json!({"session_ttl_hours": "twelve"}),
            "session_ttl_hours",
        ),
        (
            Method::PUT,
            "/api/settings",
            json!({"session_ttl_hours": -1}),
            "session_ttl_hours",
        ),
        (
            Method::PUT,
            "/api/settings",
            json!({"session_ttl_hours": 1e300}),
            "session_ttl_hours",
        ),
        (
            Method::PUT,
            "/api/settings",
            json!({"session_ttl_hours": 1.5}),
            "session_ttl_hours",
        ),
        (
            Method::PUT,
            "/api/settings",
            json!({"session_ttl_hours": [1]}),
            "session_ttl_hours",
        ),
        (
            Method::PUT,
            "/api/settings",
            json!({"no\u{0}such": 1}),
            "no\u{0}such",
        ),
        (
            Method::PUT,
            "/api/settings",
            json!({ huge.clone(): 1 }),
            &huge,
        ),
        (
            Method::PUT,
            "/api/agents/pc-1/meta",
            json!({"entries": [{"key": "a\u{0}b", "value": "v"}]}),
            "",
        ),
        (
            Method::PUT,
            "/api/agents/pc-1/meta",
            json!({"entries": [{"key": "owner", "value": huge}]}),
            "",
        ),
        (
            Method::PUT,
            "/api/agents/pc-1/meta",
            json!({"entries": [{"key": "owner"}]}),
            "",
        ),
        (
            Method::PUT,
            "/api/agents/pc-1/meta",
            json!({"entries": [{"key": 1, "value": "v"}]}),
            "",
        ),
        (
            Method::PUT,
            "/api/agents/pc-1/meta",
            json!({"entries": (0..5000).map(|i| json!({"key": format!("k{i}"), "value": "v"})).collect::<Vec<_>>()}),
            "",
        ),
        (
            Method::POST,
            "/api/group-defs",
            json!({"name": "a\u{0}b", "where": "1"}),
            "name",
        ),
        (
            Method::POST,
            "/api/group-defs",
            json!({"name": huge, "where": "1"}),
            "name",
        ),
        (
            Method::POST,
            "/api/group-defs",
            json!({"name": "ok", "where": "1 = '\u{0}'"}),
            "where",
        ),
        (
            Method::POST,
            "/api/group-defs",
            json!({"name": "ok", "where": huge}),
            "where",
        ),
        (Method::POST, "/api/group-defs", json!({"name": "ok"}), ""),
        (
            Method::POST,
            "/api/saved-searches",
            json!({"name": "a\u{0}b", "query": "table=inv_apps"}),
            "name",
        ),
        (
            Method::POST,
            "/api/saved-searches",
            json!({"name": "\u{1b}[2J", "query": "table=inv_apps"}),
            "name",
        ),
        (
            Method::POST,
            "/api/saved-searches",
            json!({"name": huge, "query": "table=inv_apps"}),
            "name",
        ),
        (
            Method::POST,
            "/api/saved-searches",
            json!({"name": "big", "query": huge}),
            "query",
        ),
        (
            Method::POST,
            "/api/saved-searches",
            json!({"name": "  ", "query": "table=inv_apps"}),
            "name",
        ),
        (
            Method::POST,
            "/api/saved-searches",
            json!({"name": "x", "query": "table=inv_apps", "shared": "yes"}),
            "shared",
        ),
        (
            Method::POST,
            "/api/notifications",
            json!({"title": "a\u{0}b", "target": {"all": true}}),
            "title",
        ),
        (
            Method::POST,
            "/api/notifications",
            json!({"title": huge, "target": {"all": true}}),
            "title",
        ),
        (
            Method::POST,
            "/api/notifications",
            json!({"title": "hi", "body": "\u{1b}[2J", "target": {"all": true}}),
            "body",
        ),
        (
            Method::POST,
            "/api/notifications",
            json!({"title": "hi", "target": {}}),
            "",
        ),
        (
            Method::POST,
            "/api/notifications",
            json!({"title": "hi", "target": {"pcs": ["../x"]}}),
            "",
        ),
        (
            Method::POST,
            "/api/notifications",
            json!({"id": "a.b.>", "title": "hi", "target": {"all": true}}),
            "",
        ),
        (
            Method::POST,
            "/api/notifications",
            json!({"title": "hi", "target": {"all": true}, "toast": "yes"}),
            "toast",
        ),
        (
            Method::POST,
            "/api/notifications",
            json!({"title": "hi", "target": {"all": true}, "expires_at": "2001-01-01T00:00:00Z"}),
            "",
        ),
        (
            Method::POST,
            "/api/executions/nope/approve",
            json!({"reason": huge}),
            "",
        ),
        (
            Method::POST,
            "/api/executions/nope/approve",
            json!({"reason": 5}),
            "reason",
        ),
        (
            Method::POST,
            "/api/schedules:preview?count=100000",
            json!({}),
            "count",
        ),
        (
            Method::POST,
            "/api/schedules:preview",
            json!({"id": "s", "job_id": "j", "when": {"cron": "* * * * * * * * *"}}),
            "",
        ),
    ];
    let mut failures = Vec::new();
    for (method, path, body, field) in cases {
        let (status, got) = send(&b, method.clone(), path, body.clone()).await;
        let shown: String = body.to_string().chars().take(80).collect();
        if !matches!(status, 400 | 404 | 413 | 422) {
            failures.push(format!("{method} {path} {shown}: {status}"));
        } else if !field.is_empty() && got.as_deref() != Some(field) {
            let got: Option<String> = got.map(|g| g.chars().take(40).collect());
            failures.push(format!("{method} {path} {shown}: field {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
    assert_eq!(
        snapshot(&b).await,
        before,
        "a refused request changed something"
    );
}
