//! The two-person rule over HTTP: `GET /api/approvals` lists requests (awaiting by default),
//! `POST /api/executions/{exec_id}/approve` and `/reject` decide one. Deciding takes an
//! operator (or admin); the requester cannot approve their own request (403).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::approval::{Approval, ApprovalState, DecisionRequest};

use crate::approval::{self, DecideError};
use crate::auth::{Caller, Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery, parse_json};
use crate::exec::{self, FireError};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(approve))
        .routes(routes!(reject))
}

/// `GET /api/approvals` filters.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApprovalQuery {
    /// `awaiting` (default), `approved`, `rejected`, `expired` or `all`.
    pub state: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/approvals",
    params(ApprovalQuery),
    responses(
        (status = 200, body = Vec<Approval>, description = "Requests of jobs with `require_approval`, newest first"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "`state` is not one of the states"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<ApprovalQuery>,
) -> ApiResult<Json<Vec<Approval>>> {
    let wanted = match q.state.as_deref() {
        None => Some(ApprovalState::Awaiting),
        Some("all") => None,
        Some(s) => Some(ApprovalState::parse(s).ok_or_else(|| {
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("state: `{s}` is not one of awaiting, approved, rejected, expired, all"),
            );
            err.field = Some("state".to_owned());
            err
        })?),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let found = state
        .store
        .read(move |c| store::approvals::list(c, wanted, limit))
        .await?;
    Ok(Json(found))
}

fn decision(body: &Bytes) -> ApiResult<DecisionRequest> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(DecisionRequest::default());
    }
    let req: DecisionRequest = parse_json(body)?;
    req.validate()?;
    Ok(req)
}

fn refused(err: DecideError) -> ApiError {
    match err {
        DecideError::NotFound(_) => {
            ApiError::new(StatusCode::NOT_FOUND, "not_found", err.to_string())
        }
        DecideError::Forbidden(message) => {
            ApiError::new(StatusCode::FORBIDDEN, "own_request", message)
        }
        DecideError::Conflict(message) => ApiError::new(StatusCode::CONFLICT, "conflict", message),
        DecideError::Fire(FireError::Store(err)) => ApiError::from(err),
        DecideError::Fire(FireError::Broker(err)) => {
            ApiError::unavailable("could not publish the command", format!("{err:#}"))
        }
    }
}

/// Approves a request of a job with `require_approval`: the commands go out now, signed, as
/// the request asked for them.
#[utoipa::path(
    post,
    path = "/api/executions/{exec_id}/approve",
    params(("exec_id" = String, Path, description = "The execution id")),
    request_body(content = DecisionRequest, content_type = "application/json", description = "Optional: a reason kept in the audit log"),
    responses(
        (status = 200, body = Approval, description = "Approved: the commands were published (the execution is `pending`, or `unconfirmed`)"),
        (status = 403, body = kanade_protocol::api::ErrorBody, description = "A viewer, or the requester approving their own request (code `own_request`)"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No request for this execution"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "Already decided or expired, the job changed since the request, or its deadline passed"),
    ),
)]
async fn approve(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(exec_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Approval>> {
    decide(&state, &caller, &exec_id, &body, true).await
}

/// Rejects a request: nothing is ever sent. The requester may withdraw their own request.
#[utoipa::path(
    post,
    path = "/api/executions/{exec_id}/reject",
    params(("exec_id" = String, Path, description = "The execution id")),
    request_body(content = DecisionRequest, content_type = "application/json", description = "Optional: why, kept in the audit log"),
    responses(
        (status = 200, body = Approval, description = "Rejected: the execution is `rejected`, nothing was sent"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No request for this execution"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "Already decided or expired"),
    ),
)]
async fn reject(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(exec_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<Approval>> {
    decide(&state, &caller, &exec_id, &body, false).await
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    exec_id: &str,
    body: &Bytes,
    approving: bool,
) -> ApiResult<Json<Approval>> {
    let req = decision(body)?;
    let fanout = exec::Fanout::of(state);
    let now = Utc::now();
    let decided = if approving {
        approval::approve(&fanout, exec_id, caller, req.reason, now).await
    } else {
        approval::reject(&fanout, exec_id, caller, req.reason, now).await
    };
    decided.map(Json).map_err(refused)
}
