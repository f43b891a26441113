//! `/api/schedules`: register (YAML or JSON body; the same id replaces), list with the next
//! fire time, read with the text as written, delete, enable/disable, and the upcoming fires
//! across all schedules. The scheduler picks every change up from KV within moments.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::manifest::ManifestError;
use kanade_protocol::schedule::{Schedule, ScheduleDetail, ScheduleSummary, UpcomingFire};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::scheduler::policy;
use crate::state::AppState;
use crate::{audit, catalog, schedules};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(upcoming))
        .routes(routes!(read, delete))
        .routes(routes!(enable))
        .routes(routes!(disable))
}

fn unavailable(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("could not reach the schedules", format!("{err:#}"))
}

/// Nothing is written unless the schedule parses, validates and names a registered job.
#[utoipa::path(
    post,
    path = "/api/schedules",
    request_body(content = Schedule, content_type = "application/json", description = "The schedule as JSON (YAML is accepted too)"),
    responses(
        (status = 200, body = ScheduleDetail, description = "An existing schedule was replaced"),
        (status = 201, body = ScheduleDetail, description = "The schedule was created"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The schedule breaks a rule; `field` names it"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ScheduleDetail>)> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    let schedule = Schedule::parse(text)?;
    let job = catalog::get(&state.js, &schedule.job_id)
        .await
        .map_err(|e| ApiError::unavailable("could not read the job", format!("{e:#}")))?;
    if job.is_none() {
        return Err(ApiError::from(ManifestError::Invalid {
            field: "job_id".to_owned(),
            message: format!("no job `{}` is registered", schedule.job_id),
        }));
    }
    let stored = serde_json::to_vec(&schedule).map_or(0, |v| v.len());
    crate::edge::fits_broker(&state.nats, "the schedule", stored.max(text.len()))?;
    let replaced = schedules::put(&state.js, &schedule, text)
        .await
        .map_err(unavailable)?;
    let (status, action) = match replaced {
        true => (StatusCode::OK, "schedule.update"),
        false => (StatusCode::CREATED, "schedule.create"),
    };
    let payload = json!({"job_id": schedule.job_id, "when": schedule.when.describe(), "enabled": schedule.enabled});
    audit::record(&state.js, &caller, action, Some(&schedule.id), payload).await;
    let next_fire = next_fire(&schedule);
    let detail = ScheduleDetail {
        schedule,
        yaml: Some(text.to_owned()),
        next_fire,
    };
    Ok((status, Json(detail)))
}

#[utoipa::path(
    get,
    path = "/api/schedules",
    responses(
        (status = 200, body = Vec<ScheduleSummary>, description = "Every schedule"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<ScheduleSummary>>> {
    let all = schedules::list(&state.js).await.map_err(unavailable)?;
    Ok(Json(all.iter().map(|s| s.summary(next_fire(s))).collect()))
}

#[utoipa::path(
    get,
    path = "/api/schedules/{id}",
    params(("id" = String, Path, description = "The schedule id")),
    responses(
        (status = 200, body = ScheduleDetail, description = "The schedule"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleDetail>> {
    let (schedule, yaml) = schedules::get(&state.js, &id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::not_found(format!("schedule {id}")))?;
    let next_fire = next_fire(&schedule);
    Ok(Json(ScheduleDetail {
        schedule,
        yaml,
        next_fire,
    }))
}

#[utoipa::path(
    delete,
    path = "/api/schedules/{id}",
    params(("id" = String, Path, description = "The schedule id")),
    responses(
        (status = 204, description = "Deleted"),
    ),
)]
async fn delete(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    if !schedules::delete(&state.js, &id)
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::not_found(format!("schedule {id}")));
    }
    audit::record(&state.js, &caller, "schedule.delete", Some(&id), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    method(patch, post),
    path = "/api/schedules/{id}/enable",
    params(("id" = String, Path, description = "The schedule id")),
    responses(
        (status = 200, body = ScheduleSummary, description = "The schedule fires again"),
    ),
)]
async fn enable(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleSummary>> {
    switch(state, caller, id, true).await
}

#[utoipa::path(
    method(patch, post),
    path = "/api/schedules/{id}/disable",
    params(("id" = String, Path, description = "The schedule id")),
    responses(
        (status = 200, body = ScheduleSummary, description = "The schedule no longer fires"),
    ),
)]
async fn disable(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(id): Path<String>,
) -> ApiResult<Json<ScheduleSummary>> {
    switch(state, caller, id, false).await
}

async fn switch(
    state: AppState,
    caller: Require<Operator>,
    id: String,
    enabled: bool,
) -> ApiResult<Json<ScheduleSummary>> {
    let schedule = schedules::set_enabled(&state.js, &id, enabled)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| ApiError::not_found(format!("schedule {id}")))?;
    let action = match enabled {
        true => "schedule.enable",
        false => "schedule.disable",
    };
    audit::record(
        &state.js,
        &caller,
        action,
        Some(&id),
        json!({"job_id": schedule.job_id}),
    )
    .await;
    Ok(Json(schedule.summary(next_fire(&schedule))))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct UpcomingQuery {
    limit: Option<usize>,
}

/// The next fire times across every enabled clock schedule, soonest first (default 20, at
/// most 500).
#[utoipa::path(
    get,
    path = "/api/schedules/upcoming",
    params(UpcomingQuery),
    responses(
        (status = 200, body = Vec<UpcomingFire>, description = "The next fire times of the enabled schedules"),
    ),
)]
async fn upcoming(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(query): AppQuery<UpcomingQuery>,
) -> ApiResult<Json<Vec<UpcomingFire>>> {
    let limit = query.limit.unwrap_or(20).clamp(1, 500);
    let now = Utc::now();
    let all = schedules::list(&state.js).await.map_err(unavailable)?;
    let mut fires: Vec<UpcomingFire> = all
        .iter()
        .flat_map(|s| {
            policy::upcoming(s, now, limit)
                .into_iter()
                .map(|at| UpcomingFire {
                    schedule_id: s.id.clone(),
                    job_id: s.job_id.clone(),
                    at,
                })
        })
        .collect();
    fires.sort_by(|a, b| (a.at, &a.schedule_id).cmp(&(b.at, &b.schedule_id)));
    fires.truncate(limit);
    Ok(Json(fires))
}

fn next_fire(schedule: &Schedule) -> Option<chrono::DateTime<Utc>> {
    policy::upcoming(schedule, Utc::now(), 1).into_iter().next()
}
