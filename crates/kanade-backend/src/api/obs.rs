//! `/api/obs_events`: the machines' timelines (filter by machine, kind, source, time), and
//! the kinds seen so far.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use kanade_protocol::api::{KindCount, ObsEntry, Page};
use serde::Deserialize;

use crate::api::Paging;
use crate::auth::{Require, Viewer};
use crate::error::{ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(kinds))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ObsQuery {
    pc_id: Option<String>,
    kind: Option<String>,
    source: Option<String>,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/obs_events",
    params(ObsQuery),
    responses(
        (status = 200, body = Page<ObsEntry>, description = "Observed events, newest first"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<ObsQuery>,
) -> ApiResult<Json<Page<ObsEntry>>> {
    let paging = Paging {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset) = (paging.limit(), paging.offset());
    let filter = store::obs::Filter {
        pc_id: q.pc_id,
        kind: q.kind,
        source: q.source,
        from: q.from,
        to: q.to,
    };
    Ok(Json(
        state
            .store
            .read(move |c| store::obs::list(c, &filter, limit, offset))
            .await?,
    ))
}

#[utoipa::path(
    get,
    path = "/api/obs_events/kinds",
    responses(
        (status = 200, body = Vec<KindCount>, description = "How many events of each kind"),
    ),
)]
async fn kinds(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<KindCount>>> {
    Ok(Json(state.store.read(|c| store::obs::kinds(c)).await?))
}
