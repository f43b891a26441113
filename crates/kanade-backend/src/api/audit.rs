//! `GET /api/audit`: operator actions, newest first, filterable by actor, action and time.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use kanade_protocol::api::{AuditEntry, Page};
use serde::Deserialize;

use crate::api::Paging;
use crate::auth::{Require, Viewer};
use crate::error::{ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    actor: Option<String>,
    action: Option<String>,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/audit",
    params(AuditQuery),
    responses(
        (status = 200, body = Page<AuditEntry>, description = "Audit entries, newest first"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<AuditQuery>,
) -> ApiResult<Json<Page<AuditEntry>>> {
    let paging = Paging {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset) = (paging.limit(), paging.offset());
    let filter = store::audit::Filter {
        actor: q.actor,
        action: q.action,
        since: q.since,
        until: q.until,
    };
    let page = state
        .store
        .read(move |c| store::audit::list(c, &filter, limit, offset))
        .await?;
    Ok(Json(page))
}
