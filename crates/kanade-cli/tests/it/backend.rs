//! A small HTTP peer speaking the backend's API on a loopback port, just enough to drive the
//! client and `exec --wait`: jobs in memory, and an execution whose results arrive one per poll.
//! (The real backend is exercised by the end-to-end tests in kanade-testkit.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use kanade_protocol::api::{
    ErrorBody, ErrorDetail, ExecRequest, ExecResponse, ExecutionDetail, ExecutionSummary, Health,
    JobDetail, JobSummary, Page, ResultDetail, ResultSummary,
};
use kanade_protocol::manifest::Manifest;

/// How the fake fleet answers: `bad` exits 3, `ghost` never answers, anyone else exits 0.
/// An execution expires after `polls_to_expire` polls unless everyone answered.
#[derive(Default)]
struct Fake {
    token: Option<String>,
    jobs: BTreeMap<String, JobDetail>,
    executions: BTreeMap<String, (Vec<String>, usize)>,
    polls_to_expire: usize,
    seen_queries: Vec<BTreeMap<String, String>>,
}

#[derive(Clone)]
pub struct FakeBackend {
    pub url: String,
    state: Arc<Mutex<Fake>>,
}

type Shared = Arc<Mutex<Fake>>;

impl FakeBackend {
    /// Serves until the test's runtime ends. With `token`, `/api/*` wants that bearer token.
    pub async fn start(token: Option<&str>, polls_to_expire: usize) -> FakeBackend {
        let state = Arc::new(Mutex::new(Fake {
            token: token.map(str::to_owned),
            polls_to_expire,
            ..Fake::default()
        }));
        let app = axum::Router::new()
            .route("/health", get(health))
            .route("/api/jobs", get(list_jobs).post(create_job))
            .route("/api/jobs/{id}", get(get_job).delete(delete_job))
            .route("/api/exec/{job}", post(exec))
            .route("/api/executions/{id}", get(execution))
            .route("/api/results", get(list_results))
            .route("/api/results/{id}", get(result))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeBackend { url, state }
    }

    /// The query strings `GET /api/results` received.
    pub fn seen_queries(&self) -> Vec<BTreeMap<String, String>> {
        self.state.lock().unwrap().seen_queries.clone()
    }
}

fn error(status: StatusCode, message: &str, field: Option<&str>) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: status.as_str().to_owned(),
            message: message.to_owned(),
            field: field.map(str::to_owned),
        },
    };
    (status, Json(body)).into_response()
}

fn authorized(state: &Fake, headers: &HeaderMap) -> bool {
    let Some(token) = &state.token else {
        return true;
    };
    let sent = headers.get("authorization").and_then(|v| v.to_str().ok());
    sent == Some(format!("Bearer {token}").as_str())
}

async fn health() -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        nats: true,
        db: true,
    })
}

async fn create_job(State(state): State<Shared>, headers: HeaderMap, body: String) -> Response {
    let mut state = state.lock().unwrap();
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "sign in first", None);
    }
    let manifest = match Manifest::parse(&body) {
        Ok(manifest) if manifest.execute.script_file.is_some() => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                "inline it",
                Some("execute.script_file"),
            );
        }
        Ok(manifest) => manifest,
        Err(err) => {
            return error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &err.to_string(),
                err.field(),
            );
        }
    };
    let detail = JobDetail {
        manifest,
        yaml: Some(body),
    };
    state
        .jobs
        .insert(detail.manifest.id.clone(), detail.clone());
    (StatusCode::CREATED, Json(detail)).into_response()
}

async fn list_jobs(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let state = state.lock().unwrap();
    if !authorized(&state, &headers) {
        return error(StatusCode::UNAUTHORIZED, "sign in first", None);
    }
    let jobs: Vec<JobSummary> = state.jobs.values().map(|d| (&d.manifest).into()).collect();
    Json(jobs).into_response()
}

async fn get_job(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.lock().unwrap().jobs.get(&id) {
        Some(detail) => Json(detail.clone()).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("job `{id}` not found"),
            None,
        ),
    }
}

async fn delete_job(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    match state.lock().unwrap().jobs.remove(&id) {
        Some(_) => StatusCode::NO_CONTENT.into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            &format!("job `{id}` not found"),
            None,
        ),
    }
}

async fn exec(
    State(state): State<Shared>,
    Path(job): Path<String>,
    Json(request): Json<ExecRequest>,
) -> Response {
    let mut state = state.lock().unwrap();
    let exec_id = format!("exec-{}", state.executions.len() + 1);
    let pcs = request.target.pcs.clone();
    state.executions.insert(exec_id.clone(), (pcs.clone(), 0));
    let response = ExecResponse {
        exec_id,
        job_id: job,
        version: "1".into(),
        request_id: "req".into(),
        target_count: pcs.len() as i64,
        subjects: request.target.subjects(),
    };
    (StatusCode::ACCEPTED, Json(response)).into_response()
}

fn summary(exec_id: &str, pc: &str) -> ResultSummary {
    let now = Utc::now();
    ResultSummary {
        result_id: format!("{exec_id}.{pc}"),
        request_id: "req".into(),
        exec_id: exec_id.into(),
        pc_id: pc.into(),
        job_id: "hello".into(),
        version: "1".into(),
        exit_code: Some(if pc == "bad" { 3 } else { 0 }),
        started_at: Some(now - chrono::TimeDelta::milliseconds(1500)),
        finished_at: Some(now),
        recorded_at: Some(now),
        skipped: false,
        reaped: false,
    }
}

/// Each poll reveals one more answering machine.
async fn execution(State(state): State<Shared>, Path(id): Path<String>) -> Response {
    let mut state = state.lock().unwrap();
    let polls_to_expire = state.polls_to_expire;
    let Some((pcs, polls)) = state.executions.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, "no such execution", None);
    };
    *polls += 1;
    let answering: Vec<&String> = pcs.iter().filter(|pc| *pc != "ghost").collect();
    let results: Vec<ResultSummary> = answering
        .iter()
        .take(*polls)
        .map(|pc| summary(&id, pc))
        .collect();
    let failures = results.iter().filter(|r| r.exit_code != Some(0)).count() as i64;
    let status = match (results.len() == pcs.len(), *polls >= polls_to_expire) {
        (true, _) => "completed",
        (false, true) => "expired",
        (false, false) => "running",
    };
    let execution = ExecutionSummary {
        exec_id: id.clone(),
        job_id: "hello".into(),
        version: "1".into(),
        initiated_by: "test".into(),
        initiated_at: Utc::now(),
        target_count: pcs.len() as i64,
        success_count: results.len() as i64 - failures,
        failure_count: failures,
        skipped_count: 0,
        status: status.into(),
    };
    Json(ExecutionDetail { execution, results }).into_response()
}

async fn list_results(
    State(state): State<Shared>,
    Query(query): Query<BTreeMap<String, String>>,
) -> Response {
    let mut state = state.lock().unwrap();
    state.seen_queries.push(query.clone());
    let exec_id = query.get("exec_id").cloned().unwrap_or_default();
    let pcs = state
        .executions
        .get(&exec_id)
        .map(|(pcs, _)| pcs.clone())
        .unwrap_or_default();
    let items: Vec<ResultSummary> = pcs
        .iter()
        .filter(|pc| *pc != "ghost")
        .filter(|pc| query.get("pc_id").is_none_or(|want| want == *pc))
        .map(|pc| summary(&exec_id, pc))
        .collect();
    let total = items.len() as u64;
    Json(Page {
        items,
        total,
        limit: 500,
        offset: 0,
    })
    .into_response()
}

async fn result(Path(id): Path<String>) -> Response {
    let Some((exec_id, pc)) = id.split_once('.') else {
        return error(StatusCode::NOT_FOUND, "no such result", None);
    };
    let summary = summary(exec_id, pc);
    let failed = summary.exit_code != Some(0);
    Json(ResultDetail {
        summary,
        stdout: if failed {
            String::new()
        } else {
            format!("\nhello from {pc}\nmore\n")
        },
        stderr: if failed {
            "disk full\n".into()
        } else {
            String::new()
        },
        stdout_object: None,
        stderr_object: None,
    })
    .into_response()
}
