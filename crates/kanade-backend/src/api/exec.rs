//! `POST /api/exec/{job_id}`: fire a registered job at machines, groups or the whole fleet.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use kanade_protocol::api::{ExecRequest, ExecResponse};
use kanade_protocol::wire::ExecutionRecord;

use crate::auth::{Operator, Require};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::{audit, catalog, exec};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/exec/{job_id}", post(fire))
}

async fn fire(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(job_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ExecResponse>)> {
    let req: ExecRequest = parse_json(&body)?;
    let now = Utc::now();
    req.validate(now)?;
    let job = catalog::get(&state.js, &job_id)
        .await
        .map_err(|e| ApiError::unavailable("could not read the job", format!("{e:#}")))?
        .ok_or_else(|| ApiError::not_found(format!("job {job_id}")))?;
    let fired = exec::fire(
        &state.js,
        &state.store,
        &job.manifest,
        &req,
        &caller.username,
        now,
        state.online_window(),
    )
    .await
    .map_err(|e| ApiError::unavailable("could not publish the command", format!("{e:#}")))?;
    // The audit record is also what rebuilds this execution after a read-model wipe.
    let record = ExecutionRecord {
        exec_id: fired.exec_id.clone(),
        job_id: fired.job_id.clone(),
        version: fired.version.clone(),
        request_id: fired.request_id.clone(),
        initiated_by: caller.username.clone(),
        initiated_at: now,
        target_count: fired.target_count,
        subjects: fired.subjects.clone(),
        deadline_at: req.deadline_at,
    };
    let payload = serde_json::to_value(&record).unwrap_or_default();
    audit::record(&state.js, &caller, "exec", Some(&job_id), payload).await;
    state.live.send(kanade_protocol::api::LiveEvent::Execution {
        exec_id: fired.exec_id.clone(),
        job_id: fired.job_id.clone(),
    });
    Ok((StatusCode::ACCEPTED, Json(fired)))
}
