//! `/api/jobs`: register (YAML or JSON body), list, read and delete job manifests.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use kanade_protocol::api::{JobDetail, JobSummary};
use kanade_protocol::manifest::{Manifest, ManifestError};
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::{audit, catalog};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/jobs", get(list).post(create))
        .route("/api/jobs/{id}", get(read).delete(delete))
}

/// Accepts the manifest as YAML or JSON (JSON is YAML). Nothing is written unless it parses
/// and validates. Creating an existing id replaces it (200), a new id answers 201.
async fn create(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<JobDetail>)> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    let manifest = Manifest::parse(text)?;
    if manifest.execute.script_file.is_some() {
        return Err(ApiError::from(ManifestError::Invalid {
            field: "execute.script_file".to_owned(),
            message:
                "the server cannot read your files; inline the script (`kanade job create` does)"
                    .to_owned(),
        }));
    }
    let replaced = catalog::put(&state.js, &manifest, text)
        .await
        .map_err(|e| ApiError::unavailable("could not store the job", format!("{e:#}")))?;
    let (status, action) = match replaced {
        true => (StatusCode::OK, "job.update"),
        false => (StatusCode::CREATED, "job.create"),
    };
    let payload = json!({"version": manifest.version, "shell": manifest.execute.shell.as_str()});
    audit::record(&state.js, &caller, action, Some(&manifest.id), payload).await;
    Ok((
        status,
        Json(JobDetail {
            manifest,
            yaml: Some(text.to_owned()),
        }),
    ))
}

async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<JobSummary>>> {
    let manifests = catalog::list(&state.js)
        .await
        .map_err(|e| ApiError::unavailable("could not list jobs", format!("{e:#}")))?;
    Ok(Json(manifests.iter().map(JobSummary::from).collect()))
}

async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobDetail>> {
    let job = catalog::get(&state.js, &id)
        .await
        .map_err(|e| ApiError::unavailable("could not read the job", format!("{e:#}")))?;
    job.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("job {id}")))
}

async fn delete(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let deleted = catalog::delete(&state.js, &id)
        .await
        .map_err(|e| ApiError::unavailable("could not delete the job", format!("{e:#}")))?;
    if !deleted {
        return Err(ApiError::not_found(format!("job {id}")));
    }
    audit::record(&state.js, &caller, "job.delete", Some(&id), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
