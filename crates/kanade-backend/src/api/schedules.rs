//! `/api/schedules`: register (YAML or JSON body; the same id replaces; several at once, all or
//! nothing, through `/api/schedules:batch`), list with the next fire time, read with the text
//! as written, delete, enable/disable, the upcoming fires across all schedules, and a draft's
//! next fires (`/api/schedules:preview`, nothing saved). The scheduler picks every change up from KV within moments.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::api::{BatchRequest, BatchResponse, BatchWritten};
use kanade_protocol::manifest::ManifestError;
use kanade_protocol::schedule::{
    Schedule, ScheduleDetail, SchedulePreview, ScheduleSummary, UpcomingFire,
};
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::scheduler::policy;
use crate::state::AppState;
use crate::{audit, batch, catalog, schedules};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(batch))
        .routes(routes!(upcoming))
        .routes(routes!(preview))
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
    let schedule = check(&state, text).await?;
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

/// What every registration checks before anything is written: the schedule parses and
/// validates, names a registered job that does not require approval (the two-person rule
/// never runs unattended), and fits in a broker message.
async fn check(state: &AppState, text: &str) -> ApiResult<Schedule> {
    let schedule = Schedule::parse(text)?;
    let job = catalog::get(&state.js, &schedule.job_id)
        .await
        .map_err(|e| ApiError::unavailable("could not read the job", format!("{e:#}")))?;
    let Some(job) = job else {
        return Err(ApiError::from(ManifestError::Invalid {
            field: "job_id".to_owned(),
            message: format!("no job `{}` is registered", schedule.job_id),
        }));
    };
    if job.manifest.require_approval {
        return Err(ApiError::from(ManifestError::Invalid {
            field: "job_id".to_owned(),
            message: format!(
                "job `{}` has require_approval: true, so every run waits for a second operator \
                 and cannot be scheduled; run it with `kanade exec` and have another operator approve it",
                schedule.job_id
            ),
        }));
    }
    let stored = serde_json::to_vec(&schedule).map_or(0, |v| v.len());
    crate::edge::fits_broker(&state.nats, "the schedule", stored.max(text.len()))?;
    Ok(schedule)
}

/// Registers several schedules all or nothing: each document is checked as
/// `POST /api/schedules` checks one (its job must be registered) and ids must differ; on any
/// error the answer names `documents[i]` and its field and nothing is written. A broker failure
/// part way puts back what was written (503 saying so). Each schedule is audited as a single
/// create.
#[utoipa::path(
    post,
    path = "/api/schedules:batch",
    request_body(content = BatchRequest, description = "The schedules, one YAML (or JSON) text each, stored as written"),
    responses(
        (status = 200, body = BatchResponse, description = "Every schedule was created or replaced"),
        (status = 400, body = kanade_protocol::api::ErrorBody, description = "A document does not parse; `field` is `documents[i].<path>`"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A document breaks a rule or names no registered job; `field` is `documents[i].<field>`; nothing was written"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "The broker failed part way; what was written has been put back"),
    ),
)]
async fn batch(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<Json<BatchResponse>> {
    let request: BatchRequest = crate::error::parse_json(&body)?;
    batch::check_size(&request.documents)?;
    let mut all: Vec<Schedule> = Vec::with_capacity(request.documents.len());
    for (index, text) in request.documents.iter().enumerate() {
        let schedule = check(&state, text)
            .await
            .map_err(|err| batch::in_document(index, err))?;
        if let Some(first) = all.iter().position(|s| s.id == schedule.id) {
            return Err(batch::in_document(
                index,
                ApiError::from(ManifestError::Invalid {
                    field: "id".to_owned(),
                    message: format!("schedule `{}` is also documents[{first}]", schedule.id),
                }),
            ));
        }
        all.push(schedule);
    }
    let entries: Vec<batch::Entry> = all
        .iter()
        .zip(&request.documents)
        .map(|(schedule, text)| batch::Entry {
            id: schedule.id.clone(),
            json: serde_json::to_vec(schedule).unwrap_or_default(),
            text: text.clone(),
        })
        .collect();
    let replaced = batch::write_all(&state.js, batch::SCHEDULES, &entries)
        .await
        .map_err(|failure| batch::failed(&failure.describe(&entries, "schedule")))?;
    let mut written = Vec::with_capacity(all.len());
    for (schedule, replaced) in all.into_iter().zip(replaced) {
        let action = match replaced {
            true => "schedule.update",
            false => "schedule.create",
        };
        let payload = json!({"job_id": schedule.job_id, "when": schedule.when.describe(), "enabled": schedule.enabled});
        audit::record(&state.js, &caller, action, Some(&schedule.id), payload).await;
        written.push(BatchWritten {
            id: schedule.id,
            replaced,
        });
    }
    Ok(Json(BatchResponse { written }))
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
    let last = state
        .store
        .read(|c| crate::store::executions::last_fires(c))
        .await?;
    Ok(Json(
        all.iter()
            .map(|s| ScheduleSummary {
                last_fire: last.get(&s.id).copied(),
                ..s.summary(next_fire(s))
            })
            .collect(),
    ))
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

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PreviewQuery {
    /// How many fires (1 to 50; default 5).
    count: Option<usize>,
}

/// The most fires a preview lists.
const MAX_PREVIEW: usize = 50;

/// A draft schedule's next fires, as if enabled; nothing is saved and the job need not exist
/// yet (registering checks that). The form of the schedule editor shows them as you type.
#[utoipa::path(
    post,
    path = "/api/schedules:preview",
    params(PreviewQuery),
    request_body(content = Schedule, content_type = "application/json", description = "The draft as JSON (YAML is accepted too)"),
    responses(
        (status = 200, body = SchedulePreview, description = "The draft's next fires"),
        (status = 400, body = kanade_protocol::api::ErrorBody, description = "`count` is out of range"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The schedule breaks a rule; `field` names it"),
    ),
)]
async fn preview(
    _caller: Require<Viewer>,
    AppQuery(query): AppQuery<PreviewQuery>,
    body: Bytes,
) -> ApiResult<Json<SchedulePreview>> {
    let count = query.count.unwrap_or(5);
    if !(1..=MAX_PREVIEW).contains(&count) {
        let mut err = ApiError::bad_request(format!(
            "count must be from 1 to {MAX_PREVIEW}, not {count}"
        ));
        err.field = Some("count".to_owned());
        return Err(err);
    }
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    let mut schedule = Schedule::parse(text)?;
    let enabled = schedule.enabled;
    schedule.enabled = true;
    Ok(Json(SchedulePreview {
        when: schedule.when.describe(),
        enabled,
        next_fires: policy::upcoming(&schedule, Utc::now(), count),
    }))
}

fn next_fire(schedule: &Schedule) -> Option<chrono::DateTime<Utc>> {
    policy::upcoming(schedule, Utc::now(), 1).into_iter().next()
}
