//! `GET /api/executions/{exec_id}/rollout`: where an execution's wave rollout stands
//! (running, held by the fleet freeze and which wave waits, done, or halted by the health
//! gate and why).

use axum::Json;
use axum::extract::{Path, State};
use kanade_protocol::schedule::RolloutProgress;

use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::scheduler::waves;
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read))
}

#[utoipa::path(
    get,
    path = "/api/executions/{exec_id}/rollout",
    params(("exec_id" = String, Path, description = "The execution id")),
    responses(
        (status = 200, body = RolloutProgress, description = "The waves of a rollout and how far it got; `held` while a due wave waits for the fleet freeze to end"),
    ),
)]
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
    let progress =
        progress.ok_or_else(|| ApiError::not_found(format!("rollout of execution {exec_id}")))?;
    if progress.status != "running" {
        return Ok(Json(progress));
    }
    // Whether a wave waits for the thaw is in the plan the scheduler drives, not in SQLite.
    let plan = waves::plan(&state.js, &exec_id)
        .await
        .map_err(|e| ApiError::unavailable("could not read the rollout plan", format!("{e:#}")))?;
    Ok(Json(match plan {
        Some(plan) => waves::held(progress, &plan),
        None => progress,
    }))
}
