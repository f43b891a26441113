//! Every operation in `/api/openapi.json`, called as an attacker: anonymous and with a
//! deleted account's token each is 401; only the documented public routes (sign-in, health,
//! the API description and version, agent binaries) answer otherwise; a viewer's non-GET
//! request is 403 except on their own account, the schedule preview and ping.

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestBackend;

const METHODS: &[&str] = &["get", "post", "put", "patch", "delete"];

/// Operations documented as open to anyone: signing in, health, the API's own description
/// and version, and agent binaries (a machine without an account fetches them at install).
const PUBLIC: &[&str] = &[
    "POST /api/auth/login",
    "GET /health",
    "GET /api/openapi.json",
    "GET /api/version",
    "GET /api/agent-releases/{key}/binary",
];

/// Every documented operation as (method, path with each parameter filled in).
async fn operations(b: &TestBackend) -> Vec<(Method, String, String)> {
    let doc: Value = b
        .anon
        .get(b.url("/api/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in METHODS {
            if item.get(*method).is_none() || path == "/api/events/stream" {
                continue;
            }
            let mut url = path.clone();
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                // Well-formed ids, so the id check (which runs first) lets the request on.
                let value = match segment {
                    "{scope}" => "global",
                    "{bundle_key}" => "pc-1/job/t.zip",
                    "{token_id}" => "0123456789abcdef",
                    _ => "x1",
                };
                url = url.replace(segment, value);
            }
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            out.push((method, path.clone(), url));
        }
    }
    out
}

#[tokio::test]
async fn hostile_sweep_every_operation_refuses_anonymous_and_deleted_callers() {
    let b = TestBackend::start().await;
    let deleted = b.account("dave", "admin").await;
    let resp = b
        .http
        .delete(b.url("/api/accounts/dave"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let mut report = Vec::new();
    for (method, path, url) in operations(&b).await {
        if PUBLIC.contains(&format!("{method} {path}").as_str()) {
            continue;
        }
        for (who, client) in [("anonymous", &b.anon), ("deleted", &deleted)] {
            let status = client
                .request(method.clone(), b.url(&url))
                .send()
                .await
                .unwrap()
                .status();
            if status != StatusCode::UNAUTHORIZED {
                report.push(format!("{who} {method} {path}: {status}"));
            }
        }
    }
    assert!(report.is_empty(), "{report:#?}");
}

/// Non-GET operations a viewer may call: on their own account, session and MFA; the schedule
/// preview (which saves nothing); and ping ("everyone may ping", README).
const VIEWER_MAY_CHANGE: &[&str] = &[
    "POST /api/auth/login",
    "POST /api/auth/logout",
    "POST /api/auth/change-password",
    "POST /api/auth/mfa/init",
    "POST /api/auth/mfa/verify",
    "POST /api/auth/mfa/disable",
    "POST /api/auth/mfa/recovery-codes",
    "POST /api/schedules:preview",
    "POST /api/agents/{pc_id}/ping",
];

#[tokio::test]
async fn hostile_sweep_a_viewer_changes_nothing_anywhere() {
    let b = TestBackend::start().await;
    let viewer = b.account("vera", "viewer").await;
    let mut report = Vec::new();
    for (method, path, url) in operations(&b).await {
        let op = format!("{method} {path}");
        if method == Method::GET || VIEWER_MAY_CHANGE.contains(&op.as_str()) {
            continue;
        }
        let status = viewer
            .request(method.clone(), b.url(&url))
            .send()
            .await
            .unwrap()
            .status();
        if status != StatusCode::FORBIDDEN {
            report.push(format!("viewer {op}: {status}"));
        }
    }
    assert!(report.is_empty(), "{report:#?}");
}
