//! `POST /api/exec/{job_id}`: fire a registered job at machines, groups or the whole fleet.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::post;
use axum::{Json, Router};
use chrono::Utc;
use kanade_protocol::api::{ExecRequest, ExecResponse};

use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::{catalog, exec};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/exec/{job_id}", post(fire))
}

async fn fire(
    State(state): State<AppState>,
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
    let response = exec::fire(
        &state.js,
        &state.store,
        &job.manifest,
        &req,
        "operator",
        now,
    )
    .await
    .map_err(|e| ApiError::unavailable("could not publish the command", format!("{e:#}")))?;
    tracing::info!(job = %job_id, exec_id = %response.exec_id, target_count = response.target_count, "exec fired");
    Ok((StatusCode::ACCEPTED, Json(response)))
}
