//! `/api/executions`: fan-outs newest first, and one with its per-machine rows (and its
//! two-person approval, for a job with `require_approval`).

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use kanade_protocol::api::{ExecutionDetail, ExecutionSummary, Page};

use crate::api::Paging;
use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
        .routes(routes!(kill))
}

/// `GET /api/executions` filters; all optional.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExecutionQuery {
    /// Only this job's executions.
    pub job_id: Option<String>,
    /// Only executions in this status (pending, running, completed, expired, unconfirmed;
    /// awaiting_approval, rejected for jobs with `require_approval`).
    pub status: Option<String>,
    /// Started at or after this RFC 3339 instant.
    pub since: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/executions",
    params(ExecutionQuery),
    responses(
        (status = 200, body = Page<ExecutionSummary>, description = "Executions, newest first"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<ExecutionQuery>,
) -> ApiResult<Json<Page<ExecutionSummary>>> {
    let paging = Paging {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset) = (paging.limit(), paging.offset());
    let filter = store::executions::ListFilter {
        job_id: q.job_id,
        status: q.status,
        since: q.since,
    };
    let page = state
        .store
        .read(move |c| store::executions::list(c, &filter, limit, offset))
        .await?;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/api/executions/{exec_id}",
    params(("exec_id" = String, Path, description = "The execution id")),
    responses(
        (status = 200, body = ExecutionDetail, description = "The execution with its counters"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(exec_id): Path<String>,
) -> ApiResult<Json<ExecutionDetail>> {
    let id = exec_id.clone();
    let found = state
        .store
        .read(move |c| {
            let Some(execution) = store::executions::get(c, &id)? else {
                return Ok(None);
            };
            let results = store::results::for_execution(c, &id)?;
            let approval = store::approvals::get(c, &id)?.map(|(a, _)| a);
            Ok(Some(ExecutionDetail {
                execution,
                results,
                approval,
                waiting_for: Vec::new(),
            }))
        })
        .await?;
    let mut detail = found.ok_or_else(|| ApiError::not_found(format!("execution {exec_id}")))?;
    let outcomes = &detail.execution.outcomes;
    if outcomes.waiting + outcomes.running > 0 {
        detail.waiting_for = waiting_for(&state, &detail).await;
    }
    Ok(Json(detail))
}

/// The targeted machines (named, or members of the targeted groups now) without a finished
/// result, running ones included; for `all` only the running ones.
async fn waiting_for(state: &AppState, detail: &ExecutionDetail) -> Vec<String> {
    let targets = &detail.execution.targets;
    let mut pcs: Vec<String> = targets
        .iter()
        .filter(|t| !t.starts_with("group:") && t.as_str() != "all")
        .cloned()
        .collect();
    let groups: Vec<&str> = targets
        .iter()
        .filter_map(|t| t.strip_prefix("group:"))
        .collect();
    if !groups.is_empty() {
        match crate::desired::all_groups(&state.js).await {
            Ok(all) => pcs.extend(
                all.into_iter()
                    .filter(|(_, of)| of.iter().any(|g| groups.contains(&g.as_str())))
                    .map(|(pc, _)| pc),
            ),
            Err(err) => tracing::debug!(error = %format!("{err:#}"), "reading group members"),
        }
    }
    let running = detail.results.iter().filter(|r| r.exit_code.is_none());
    pcs.extend(running.map(|r| r.pc_id.clone()));
    pcs.sort();
    pcs.dedup();
    pcs.retain(|pc| {
        !detail
            .results
            .iter()
            .any(|r| &r.pc_id == pc && r.exit_code.is_some())
    });
    pcs
}

/// Publishes `kill.<exec_id>`: every machine running that execution kills the whole process
/// tree and reports exit -1.
#[utoipa::path(
    post,
    path = "/api/executions/{exec_id}/kill",
    params(("exec_id" = String, Path, description = "The execution id")),
    responses(
        (status = 202, description = "The kill order was published"),
    ),
)]
async fn kill(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(exec_id): Path<String>,
) -> ApiResult<axum::http::StatusCode> {
    if !kanade_protocol::subject::is_valid_token(&exec_id) {
        return Err(ApiError::bad_request(format!(
            "`{exec_id}` is not a valid execution id"
        )));
    }
    let published = async {
        state
            .nats
            .publish(
                kanade_protocol::subject::kill(&exec_id),
                bytes::Bytes::new(),
            )
            .await?;
        state.nats.flush().await?;
        anyhow::Ok(())
    };
    published
        .await
        .map_err(|e| ApiError::unavailable("could not publish the kill", format!("{e:#}")))?;
    crate::audit::record(
        &state.js,
        &caller,
        "kill",
        Some(&exec_id),
        serde_json::json!({}),
    )
    .await;
    Ok(axum::http::StatusCode::ACCEPTED)
}
