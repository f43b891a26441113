//! `/api/executions`: fan-outs newest first, and one with its per-machine rows.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use kanade_protocol::api::{ExecutionDetail, ExecutionSummary, Page};

use crate::api::Paging;
use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/executions", get(list))
        .route("/api/executions/{exec_id}", get(read))
}

async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(paging): AppQuery<Paging>,
) -> ApiResult<Json<Page<ExecutionSummary>>> {
    let (limit, offset) = (paging.limit(), paging.offset());
    let page = state
        .store
        .read(move |c| store::executions::list(c, limit, offset))
        .await?;
    Ok(Json(page))
}

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
            Ok(Some(ExecutionDetail { execution, results }))
        })
        .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("execution {exec_id}")))
}
