//! `/api/compliance`: each check across the fleet, one check per machine, one check's daily
//! trend, and one machine's checks.

use axum::Json;
use axum::extract::{Path, State};
use kanade_protocol::api::{CheckRow, CheckTrend, ComplianceSummary, Page};
use kanade_protocol::hints::CheckStatus;
use serde::Deserialize;

use crate::api::Paging;
use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(summary))
        .routes(routes!(for_check))
        .routes(routes!(trend))
        .routes(routes!(for_pc))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct SummaryQuery {
    /// Also list gate-only checks (`check.fleet: false`), which the fleet view leaves out.
    #[serde(default)]
    include_non_fleet: bool,
}

#[utoipa::path(
    get,
    path = "/api/compliance",
    params(SummaryQuery),
    responses(
        (status = 200, body = Vec<ComplianceSummary>, description = "Per check: how many machines pass, warn or fail (gate-only checks only with include_non_fleet=true)"),
    ),
)]
async fn summary(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<SummaryQuery>,
) -> ApiResult<Json<Vec<ComplianceSummary>>> {
    let mut all = state.store.read(|c| store::checks::summary(c)).await?;
    if !q.include_non_fleet {
        let gate_only: Vec<String> = state
            .manifests
            .all()
            .iter()
            .filter_map(|m| m.check.as_ref().filter(|c| !c.fleet))
            .map(|c| c.name.clone())
            .collect();
        all.retain(|s| !gate_only.contains(&s.check_name));
    }
    Ok(Json(all))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct CheckQuery {
    /// ok, warn, fail or unknown.
    status: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/compliance/{check}",
    params(("check" = String, Path, description = "The check (job) id"), CheckQuery),
    responses(
        (status = 200, body = Page<CheckRow>, description = "The machines' results of one check"),
    ),
)]
async fn for_check(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(check): Path<String>,
    AppQuery(q): AppQuery<CheckQuery>,
) -> ApiResult<Json<Page<CheckRow>>> {
    let status = match q.status.as_deref() {
        None => None,
        Some(text) => Some(CheckStatus::parse(text).ok_or_else(|| {
            ApiError::bad_request(format!(
                "status must be ok, warn, fail or unknown, not `{text}`"
            ))
        })?),
    };
    let paging = Paging {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset, name) = (paging.limit(), paging.offset(), check.clone());
    let page = state
        .store
        .read(move |c| store::checks::for_check(c, &name, status, limit, offset))
        .await?;
    if page.total == 0 && status.is_none() {
        return Err(ApiError::not_found(format!("check {check}")));
    }
    Ok(Json(page))
}

/// The longest trend asked for, in days.
const MAX_TREND_DAYS: u32 = 366;

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TrendQuery {
    /// How many days back, today included (1 to 366; default 30).
    days: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/compliance/{check}/trend",
    params(("check" = String, Path, description = "The check (job) id"), TrendQuery),
    responses(
        (status = 200, body = CheckTrend, description = "Per UTC day: machines by their last result that day (days without results left out)"),
        (status = 400, body = kanade_protocol::api::ErrorBody, description = "`days` is out of range"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No machine ever reported the check"),
    ),
)]
async fn trend(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(check): Path<String>,
    AppQuery(q): AppQuery<TrendQuery>,
) -> ApiResult<Json<CheckTrend>> {
    let days = q.days.unwrap_or(30);
    if !(1..=MAX_TREND_DAYS).contains(&days) {
        let mut err = ApiError::bad_request(format!(
            "days must be from 1 to {MAX_TREND_DAYS}, not {days}"
        ));
        err.field = Some("days".to_owned());
        return Err(err);
    }
    // Whole UTC days: from the start of the first day shown.
    let today = chrono::Utc::now().date_naive();
    let first = today - chrono::Days::new(u64::from(days - 1));
    let since = first.and_time(chrono::NaiveTime::MIN).and_utc();
    let name = check.clone();
    let (known, points) = state
        .store
        .read(move |c| {
            Ok((
                store::checks::known(c, &name)?,
                store::checks::trend(c, &name, since)?,
            ))
        })
        .await?;
    if !known {
        return Err(ApiError::not_found(format!("check {check}")));
    }
    Ok(Json(CheckTrend {
        check_name: check,
        days,
        points,
    }))
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/checks",
    params(("pc_id" = String, Path, description = "The machine id")),
    responses(
        (status = 200, body = Vec<CheckRow>, description = "The machine's latest result of every check"),
    ),
)]
async fn for_pc(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
) -> ApiResult<Json<Vec<CheckRow>>> {
    Ok(Json(
        state
            .store
            .read(move |c| store::checks::for_pc(c, &pc_id))
            .await?,
    ))
}
