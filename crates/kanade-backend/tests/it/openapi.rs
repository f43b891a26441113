//! `GET /api/openapi.json`: public, OpenAPI 3.1, and in step with the router both ways: every
//! documented operation is routed, and no route can be registered outside the document.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::support::TestBackend;

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

async fn document(backend: &TestBackend) -> Value {
    let resp = backend
        .anon
        .get(backend.url("/api/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "the document needs no sign-in"
    );
    resp.json().await.unwrap()
}

#[tokio::test]
async fn the_document_is_public_openapi_3_1_with_bearer_auth_and_error_bodies() {
    let backend = TestBackend::start().await;
    let doc = document(&backend).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    let scheme = &doc["components"]["securitySchemes"]["bearer"];
    assert_eq!(scheme["type"], "http");
    assert_eq!(scheme["scheme"], "bearer");
    let error = &doc["components"]["schemas"]["ErrorBody"];
    assert!(error["properties"]["error"].is_object(), "{error}");
    let detail = &doc["components"]["schemas"]["ErrorDetail"];
    for key in ["code", "message", "field"] {
        assert!(
            detail["properties"][key].is_object(),
            "ErrorDetail.{key}: {detail}"
        );
    }

    let login = &doc["paths"]["/api/auth/login"]["post"];
    assert_eq!(
        login["security"],
        serde_json::json!([{}]),
        "login is public"
    );
    assert!(login["responses"]["429"].is_object());
    let jobs = &doc["paths"]["/api/jobs"]["post"];
    assert!(
        jobs["security"].is_null(),
        "jobs use the document's bearer security"
    );
    for status in ["201", "400", "401", "403", "422"] {
        let body = &jobs["responses"][status];
        assert!(body.is_object(), "POST /api/jobs documents {status}");
    }
    assert_eq!(
        jobs["responses"]["401"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/ErrorBody"
    );
}

/// Each documented operation answers something other than "no such route" (404 from the
/// fallback) or "method not allowed" when called without credentials; each declares its
/// path parameters; operation ids are unique.
#[tokio::test]
async fn every_documented_operation_is_routed() {
    let backend = TestBackend::start().await;
    let doc = document(&backend).await;
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() > 50, "only {} paths documented", paths.len());
    let mut ids = std::collections::BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            let Some(op) = item.get(method) else {
                continue;
            };
            let id = op["operationId"].as_str().unwrap().to_owned();
            assert!(ids.insert(id.clone()), "duplicate operationId {id}");
            let declared: Vec<&str> = op["parameters"]
                .as_array()
                .map(|ps| {
                    ps.iter()
                        .filter(|p| p["in"] == "path")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let mut url = path.clone();
            for segment in path.split('/').filter(|s| s.starts_with('{')) {
                let name = segment.trim_matches(['{', '}']);
                assert!(declared.contains(&name), "{method} {path} declares {name}");
                url = url.replace(segment, "x1");
            }
            if path == "/api/events/stream" {
                continue; // never ends; routed-ness is shown by its 401 below
            }
            let resp = backend
                .anon
                .request(
                    Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
                    backend.url(&url),
                )
                .send()
                .await
                .unwrap();
            let status = resp.status();
            let text = resp.text().await.unwrap_or_default();
            assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(
                !(status == StatusCode::NOT_FOUND && text.contains("route not found")),
                "{method} {path} is documented but not routed"
            );
        }
    }
    let resp = backend
        .anon
        .get(backend.url("/api/events/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

/// Routes are registered only through `routes!` of handlers with `#[utoipa::path]` (which puts
/// them in the document); a bare axum `.route(` would slip past it.
#[test]
fn no_route_is_registered_outside_the_document() {
    let api = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/api");
    let mut files: Vec<_> = std::fs::read_dir(&api)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.push(api.with_extension("rs"));
    assert!(files.len() > 20, "found only {} files", files.len());
    for file in files {
        let text = std::fs::read_to_string(&file)
            .unwrap()
            .replace("OpenApiRouter", "");
        for call in [
            ".route(",
            ".route_service(",
            ".nest(",
            ".nest_service(",
            "Router::new()",
        ] {
            assert!(
                !text.contains(call),
                "{} calls `{call}`: register routes with `.routes(routes!(handler))` so the \
                 OpenAPI document lists them",
                file.display()
            );
        }
    }
}

/// Found by scripts/api-fuzz: a job or schedule id ending with `.` passed the edge and the
/// broker refused it as a KV key (503). It is bad input: 400 naming the parameter.
#[tokio::test]
async fn an_id_ending_with_a_dot_is_bad_input_not_a_broker_fault() {
    let backend = TestBackend::start().await;
    for (method, path) in [
        (Method::POST, "/api/schedules/f./disable"),
        (Method::GET, "/api/schedules/f."),
        (Method::GET, "/api/jobs/hello."),
        (Method::POST, "/api/jobs/hello./revoke"),
    ] {
        let resp = backend
            .http
            .request(method.clone(), backend.url(path))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{method} {path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], "id", "{method} {path}: {body}");
    }
}
