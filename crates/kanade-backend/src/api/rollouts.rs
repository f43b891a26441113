//! `GET /api/executions/{exec_id}/rollout`: where an execution's wave rollout stands
//! (running, done, or halted by the health gate and why).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use kanade_protocol::schedule::RolloutProgress;

use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/executions/{exec_id}/rollout", get(read))
}

async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(exec_id): Path<String>,
) -> ApiResult<Json<RolloutProgress>> {
    let id = exec_id.clone();
    let progress = state
        .store
        .read(move |c| store::scheduler::rollout(c, &id))
        .await?;
    progress
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("rollout of execution {exec_id}")))
}
