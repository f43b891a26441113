//! `/api/perf/*`: the fleet's CPU and memory now and over time, and machines ranked by a metric.

use axum::Json;
use axum::extract::State;
use chrono::Utc;
use kanade_protocol::api::{FleetPerf, TopEntry};
use serde::Deserialize;

use crate::api::agents::{PerfRange, range};
use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store::{self, perf::Metric};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(fleet))
        .routes(routes!(top))
}

#[utoipa::path(
    get,
    path = "/api/perf/fleet",
    params(PerfRange),
    responses(
        (status = 200, body = FleetPerf, description = "Fleet-wide performance series"),
    ),
)]
async fn fleet(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<PerfRange>,
) -> ApiResult<Json<FleetPerf>> {
    let (from, to, step) = range(&q)?;
    let now = Utc::now();
    Ok(Json(
        state
            .store
            .read(move |c| store::perf::fleet(c, from, to, step, now))
            .await?,
    ))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TopQuery {
    metric: Option<String>,
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/api/perf/top",
    params(TopQuery),
    responses(
        (status = 200, body = Vec<TopEntry>, description = "The machines with the highest value of a metric"),
    ),
)]
async fn top(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<TopQuery>,
) -> ApiResult<Json<Vec<TopEntry>>> {
    let metric = match q.metric.as_deref().unwrap_or("cpu") {
        "cpu" => Metric::Cpu,
        "mem" | "memory" => Metric::Mem,
        "disk" => Metric::Disk,
        "net" | "network" => Metric::Net,
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown metric `{other}`; use cpu, mem, disk or net"
            )));
        }
    };
    let limit = q.limit.unwrap_or(10).clamp(1, 1000);
    let now = Utc::now();
    Ok(Json(
        state
            .store
            .read(move |c| store::perf::top(c, metric, limit, now))
            .await?,
    ))
}
