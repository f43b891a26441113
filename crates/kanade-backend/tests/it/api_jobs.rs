//! `/api/jobs`: registering manifests as YAML or JSON, reading them back as written, and
//! refusing bad documents with a 4xx that names the field while writing nothing.

use kanade_protocol::api::{ErrorBody, JobDetail, JobSummary};
use kanade_protocol::names;
use reqwest::StatusCode;

use crate::support::{HELLO, TestBackend};

#[tokio::test]
async fn create_list_get_delete() {
    let b = TestBackend::start().await;
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .header("content-type", "application/yaml")
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: JobDetail = resp.json().await.unwrap();
    assert_eq!(created.manifest.id, "hello");
    assert_eq!(created.manifest.version, "1");

    // Replacing with JSON answers 200 and keeps the new text.
    let json = serde_json::json!({"id": "hello", "version": "2",
        "execute": {"shell": "bash", "script": "echo hi", "timeout": "1m"}});
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .json(&json)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);

    let list: Vec<JobSummary> = b.get("/api/jobs").await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        (
            list[0].version.as_str(),
            list[0].shell.as_str(),
            list[0].timeout.as_secs()
        ),
        ("2", "bash", 60)
    );

    let detail: JobDetail = b.get("/api/jobs/hello").await;
    assert_eq!(detail.yaml.as_deref(), Some(json.to_string().as_str()));

    let resp = b
        .http
        .delete(b.url("/api/jobs/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = b.http.get(b.url("/api/jobs/hello")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = b
        .http
        .delete(b.url("/api/jobs/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_documents_get_a_named_4xx_and_write_nothing() {
    let b = TestBackend::start().await;
    let cases = [
        ("id: [broken", StatusCode::BAD_REQUEST, None),
        (
            &*HELLO.replace("shell: sh", "shell: sh\n  colour: red"),
            StatusCode::BAD_REQUEST,
            Some("execute.colour"),
        ),
        (
            &*HELLO.replace("  timeout: 30s\n", ""),
            StatusCode::BAD_REQUEST,
            Some("execute"),
        ),
        (
            &*HELLO.replace("30s", "0s"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("execute.timeout"),
        ),
        (
            &*HELLO.replace("id: hello", "id: 'he llo'"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("id"),
        ),
    ];
    for (body, status, field) in cases {
        let resp = b
            .http
            .post(b.url("/api/jobs"))
            .body(body.to_owned())
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
        assert!(!err.error.message.is_empty());
    }
    let missing_timeout: ErrorBody = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO.replace("  timeout: 30s\n", ""))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        missing_timeout
            .error
            .message
            .contains("missing field `timeout`"),
        "{}",
        missing_timeout.error.message
    );

    let jobs = b.js.get_key_value(names::KV_JOBS).await.unwrap();
    let yaml = b.js.get_key_value(names::KV_JOBS_YAML).await.unwrap();
    assert!(
        jobs.get("hello").await.unwrap().is_none(),
        "nothing written"
    );
    assert!(
        yaml.get("hello").await.unwrap().is_none(),
        "nothing written"
    );
    let list: Vec<JobSummary> = b.get("/api/jobs").await;
    assert!(list.is_empty());
}

#[tokio::test]
async fn health_version_and_unknown_routes() {
    let b = TestBackend::start().await;
    let health: kanade_protocol::api::Health = b.get("/health").await;
    assert_eq!(
        (health.status.as_str(), health.db, health.nats),
        ("ok", true, true)
    );
    let version: kanade_protocol::api::VersionInfo = b.get("/api/version").await;
    assert_eq!(version.version, kanade_protocol::VERSION);
    let resp = b.http.get(b.url("/api/nope")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.code, "not_found");
}

/// A check name is unique across jobs, as in the original (its rows and alerts are keyed by
/// the name): a second job naming another job's check is refused, naming both.
#[tokio::test]
async fn a_check_name_belongs_to_one_job() {
    let b = TestBackend::start().await;
    let job = |id: &str| {
        format!(
            "id: {id}\nversion: '1'\nexecute: {{shell: sh, script: echo ok, timeout: 30s}}\n\
             check: {{name: disk-free, label: Disk}}\n"
        )
    };
    let post = |path: &'static str, body: String| {
        let b = &b;
        async move { b.http.post(b.url(path)).body(body).send().await.unwrap() }
    };
    assert_eq!(post("/api/jobs", job("disk")).await.status(), 201);
    // The same job again keeps its check.
    assert_eq!(post("/api/jobs", job("disk")).await.status(), 200);
    let resp = post("/api/jobs", job("disk-2")).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.field.as_deref(), Some("check.name"));
    assert!(
        err.error
            .message
            .contains("`disk-free` belongs to job `disk`"),
        "{}",
        err.error.message
    );
    // In a batch too, against a registered job and within the batch.
    let batch = serde_json::json!({"documents": [job("disk-3")]}).to_string();
    let resp = post("/api/jobs:batch", batch).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.field.as_deref(), Some("documents[0].check.name"));
    let batch = serde_json::json!({"documents": [
        job("disk").replace("disk-free", "disk-old"),
        job("disk-4"),
        job("disk-5"),
    ]})
    .to_string();
    let resp = post("/api/jobs:batch", batch).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.field.as_deref(), Some("documents[2].check.name"));
    assert!(
        err.error.message.contains("disk-4"),
        "{}",
        err.error.message
    );
    let jobs: Vec<JobSummary> = b.get("/api/jobs").await;
    assert_eq!(jobs.len(), 1, "nothing of a refused batch is written");
}
