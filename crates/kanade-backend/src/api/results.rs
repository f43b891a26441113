//! `/api/results`: per-machine runs (paged, filterable) and one run with its output.

use axum::Json;
use axum::extract::{Path, State};
use kanade_protocol::api::{Page, ResultDetail, ResultSummary};
use serde::Deserialize;

use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    exec_id: Option<String>,
    pc_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/results",
    params(ListQuery),
    responses(
        (status = 200, body = Page<ResultSummary>, description = "Results, newest first"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Json<Page<ResultSummary>>> {
    let paging = crate::api::Paging {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset) = (paging.limit(), paging.offset());
    let filter = store::results::Filter {
        exec_id: q.exec_id,
        pc_id: q.pc_id,
    };
    let page = state
        .store
        .read(move |c| store::results::list(c, &filter, limit, offset))
        .await?;
    Ok(Json(page))
}

#[utoipa::path(
    get,
    path = "/api/results/{result_id}",
    params(("result_id" = String, Path, description = "The result id")),
    responses(
        (status = 200, body = ResultDetail, description = "The result with its output"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(result_id): Path<String>,
) -> ApiResult<Json<ResultDetail>> {
    let id = result_id.clone();
    let found = state
        .store
        .read(move |c| store::results::get(c, &id))
        .await?;
    found
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("result {result_id}")))
}
