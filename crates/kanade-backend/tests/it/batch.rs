//! `POST /api/jobs:batch` and `POST /api/schedules:batch`: several documents registered all or
//! nothing. One bad document (or a clash inside the batch) answers 4xx naming `documents[i]`
//! and its field with KV untouched; a good batch writes every document as written and audits
//! each one as a single create would.

use kanade_protocol::api::{AuditEntry, BatchResponse, BatchWritten, ErrorBody, JobDetail, Page};
use kanade_protocol::names;
use kanade_protocol::schedule::ScheduleDetail;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{HELLO, TestBackend, wait_for};

fn job(id: &str) -> String {
    format!(
        "# job {id}\nid: {id}\nversion: '1'\nexecute:\n  shell: sh\n  script: echo {id}\n  timeout: 30s\n"
    )
}

fn schedule(id: &str, job: &str) -> String {
    format!(
        "# {id}\nid: {id}\njob_id: {job}\nwhen: {{calendar: {{at: '03:00'}}}}\ntarget: {{all: true}}\n"
    )
}

async fn post(b: &TestBackend, path: &str, documents: &[String]) -> reqwest::Response {
    b.http
        .post(b.url(path))
        .json(&json!({ "documents": documents }))
        .send()
        .await
        .unwrap()
}

async fn keys(b: &TestBackend, bucket: &str) -> Vec<String> {
    use futures::TryStreamExt;
    let kv = b.js.get_key_value(bucket).await.unwrap();
    let mut keys: Vec<String> = kv.keys().await.unwrap().try_collect().await.unwrap();
    keys.sort();
    keys
}

async fn refused(resp: reqwest::Response, status: StatusCode) -> ErrorBody {
    assert_eq!(resp.status(), status);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_job_batch_is_written_all_or_nothing_and_audited() {
    let b = TestBackend::start().await;

    // One bad document: nothing written, the answer names its index and field.
    let bad = job("c").replace("  timeout: 30s\n", "  timeout: 30s\n  colour: red\n");
    let err = refused(
        post(&b, "/api/jobs:batch", &[job("a"), job("b"), bad]).await,
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert_eq!(
        err.error.field.as_deref(),
        Some("documents[2].execute.colour")
    );
    assert!(err.error.message.starts_with("documents[2]: "), "{err:?}");
    let invalid = job("c").replace("timeout: 30s", "timeout: 0s");
    let err = refused(
        post(&b, "/api/jobs:batch", &[job("a"), invalid]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err.error.field.as_deref(),
        Some("documents[1].execute.timeout")
    );
    let err = refused(
        post(&b, "/api/jobs:batch", &[job("a"), job("b"), job("a")]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err.error.field.as_deref(), Some("documents[2].id"));
    assert!(err.error.message.contains("documents[0]"), "{err:?}");
    let script_file = job("s").replace("script: echo s", "script_file: s.sh");
    let err = refused(
        post(&b, "/api/jobs:batch", &[script_file]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err.error.field.as_deref(),
        Some("documents[0].execute.script_file")
    );
    let err = refused(
        post(&b, "/api/jobs:batch", &[]).await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err.error.field.as_deref(), Some("documents"));
    let err = refused(
        b.http
            .post(b.url("/api/jobs:batch"))
            .json(&json!({"documents": [job("a")], "extra": 1}))
            .send()
            .await
            .unwrap(),
        StatusCode::BAD_REQUEST,
    )
    .await;
    assert!(err.error.message.contains("extra"), "{err:?}");
    assert!(keys(&b, names::KV_JOBS).await.is_empty(), "nothing written");
    assert!(keys(&b, names::KV_JOBS_YAML).await.is_empty());

    // Two jobs may not claim one explode table, whatever the case of its name.
    let with_table = |id: &str, table: &str| {
        format!(
            "{}inventory:\n  explode:\n    - field: apps\n      table: {table}\n      primary_key: [name]\n      columns: [{{field: name, type: text}}]\n",
            job(id)
        )
    };
    let err = refused(
        post(
            &b,
            "/api/jobs:batch",
            &[with_table("t1", "inv_apps"), with_table("t2", "INV_APPS")],
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(
        err.error.field.as_deref(),
        Some("documents[1].inventory.explode[0].table")
    );
    assert!(keys(&b, names::KV_JOBS).await.is_empty(), "nothing written");

    // All good: every job written as its text, an existing one replaced.
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let hello_again = HELLO.replace("version: 1", "version: 2");
    let resp = post(
        &b,
        "/api/jobs:batch",
        &[job("a"), hello_again.clone(), job("b")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let written: BatchResponse = resp.json().await.unwrap();
    assert_eq!(
        written.written,
        vec![
            BatchWritten {
                id: "a".into(),
                replaced: false
            },
            BatchWritten {
                id: "hello".into(),
                replaced: true
            },
            BatchWritten {
                id: "b".into(),
                replaced: false
            },
        ]
    );
    assert_eq!(keys(&b, names::KV_JOBS).await, ["a", "b", "hello"]);
    let a: JobDetail = b.get("/api/jobs/a").await;
    assert_eq!(a.yaml.as_deref(), Some(job("a").as_str()));
    let hello: JobDetail = b.get("/api/jobs/hello").await;
    assert_eq!(hello.manifest.version, "2");
    assert_eq!(hello.yaml.as_deref(), Some(hello_again.as_str()));
    // The cache saw them at once (the list answers from it).
    let list: Vec<kanade_protocol::api::JobSummary> = b.get("/api/jobs").await;
    assert_eq!(list.len(), 3);

    wait_for("audit rows", std::time::Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'job.%'") >= 4
    })
    .await;
    let page: Page<AuditEntry> = b.get("/api/audit?actor=admin&limit=100").await;
    let mut jobs: Vec<(String, String)> = page
        .items
        .iter()
        .filter(|e| e.action.starts_with("job."))
        .map(|e| (e.action.clone(), e.target.clone().unwrap_or_default()))
        .collect();
    jobs.sort();
    let want = [
        ("job.create", "a"),
        ("job.create", "b"),
        ("job.create", "hello"),
        ("job.update", "hello"),
    ];
    assert_eq!(
        jobs,
        want.map(|(a, t)| (a.to_owned(), t.to_owned())).to_vec()
    );
}

#[tokio::test]
async fn a_schedule_batch_is_written_all_or_nothing_and_audited() {
    let b = TestBackend::start().await;
    let resp = post(&b, "/api/jobs:batch", &[job("a")]).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let err = refused(
        post(
            &b,
            "/api/schedules:batch",
            &[schedule("s1", "a"), schedule("s2", "nope")],
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err.error.field.as_deref(), Some("documents[1].job_id"));
    assert!(err.error.message.contains("no job `nope`"), "{err:?}");
    let err = refused(
        post(
            &b,
            "/api/schedules:batch",
            &[
                schedule("s1", "a"),
                schedule("s2", "a").replace("03:00", "25:00"),
            ],
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert!(
        err.error
            .field
            .as_deref()
            .is_some_and(|f| f.starts_with("documents[1].when")),
        "{err:?}"
    );
    let err = refused(
        post(
            &b,
            "/api/schedules:batch",
            &[schedule("s1", "a"), schedule("s1", "a")],
        )
        .await,
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await;
    assert_eq!(err.error.field.as_deref(), Some("documents[1].id"));
    assert!(
        keys(&b, names::KV_SCHEDULES).await.is_empty(),
        "nothing written"
    );
    assert!(keys(&b, names::KV_SCHEDULES_YAML).await.is_empty());

    let resp = post(
        &b,
        "/api/schedules:batch",
        &[schedule("s1", "a"), schedule("s2", "a")],
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let written: BatchResponse = resp.json().await.unwrap();
    assert_eq!(written.written.len(), 2);
    assert!(written.written.iter().all(|w| !w.replaced));
    let s2: ScheduleDetail = b.get("/api/schedules/s2").await;
    assert_eq!(s2.yaml.as_deref(), Some(schedule("s2", "a").as_str()));
    assert_eq!(keys(&b, names::KV_SCHEDULES).await, ["s1", "s2"]);

    wait_for("audit rows", std::time::Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'schedule.create'") >= 2
    })
    .await;
    let page: Page<AuditEntry> = b.get("/api/audit?action=schedule.create").await;
    let mut targets: Vec<String> = page.items.iter().filter_map(|e| e.target.clone()).collect();
    targets.sort();
    assert_eq!(targets, ["s1", "s2"]);
}
