//! The fleet freeze: `GET/PUT/DELETE /api/freeze`. While active the scheduler fires no
//! schedule and holds due rollout waves until the thaw; manual execs and break-glass runs
//! still go out (the exec answer warns), and agents run whatever they get. A stored value
//! that does not decode counts as frozen, and `GET` answers 500 `freeze_unreadable` rather
//! than "not frozen"; `PUT` and `DELETE` replace it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::api::{FreezeRequest, FreezeStatus};
use kanade_protocol::wire::Freeze;
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::desired::FreezeState;
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::{audit, desired};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, set, lift))
}

fn unavailable(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("could not reach the fleet config", format!("{err:#}"))
}

#[utoipa::path(
    get,
    path = "/api/freeze",
    responses(
        (status = 200, body = FreezeStatus, description = "Whether the fleet is frozen"),
        (status = 500, body = kanade_protocol::api::ErrorBody, description = "`freeze_unreadable`: the stored freeze does not decode; it counts as frozen (nothing scheduled fires) until set or lifted"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "The broker cannot be asked"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<FreezeStatus>> {
    let now = Utc::now();
    match desired::freeze(&state.js).await.map_err(unavailable)? {
        FreezeState::Absent => Ok(Json(FreezeStatus {
            frozen: false,
            freeze: None,
        })),
        FreezeState::Set(freeze) => Ok(Json(FreezeStatus {
            frozen: freeze.active(now),
            freeze: Some(freeze),
        })),
        FreezeState::Unreadable(why) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "freeze_unreadable",
            format!(
                "{why}: it counts as frozen (nothing scheduled fires); set or lift the freeze to replace it"
            ),
        )),
    }
}

#[utoipa::path(
    put,
    path = "/api/freeze",
    request_body(content = FreezeRequest, content_type = "application/json", description = "Empty body: frozen from now until lifted"),
    responses(
        (status = 200, body = FreezeStatus, description = "The freeze in force"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "`from` is not before `until`"),
    ),
)]
async fn set(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<Json<FreezeStatus>> {
    let req: FreezeRequest = if body.is_empty() {
        FreezeRequest::default()
    } else {
        parse_json(&body)?
    };
    if req
        .from
        .zip(req.until)
        .is_some_and(|(from, until)| from >= until)
    {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "until: must be after from",
        );
        err.field = Some("until".to_owned());
        return Err(err);
    }
    let now = Utc::now();
    let freeze = Freeze {
        from: req.from,
        until: req.until,
        reason: req.reason.clone(),
        set_by: Some(caller.username.clone()),
        set_at: now,
    };
    desired::set_freeze(&state.js, Some(freeze.clone()))
        .await
        .map_err(unavailable)?;
    audit::record(
        &state.js,
        &caller,
        "freeze.on",
        None,
        json!({"from": req.from, "until": req.until, "reason": req.reason}),
    )
    .await;
    Ok(Json(FreezeStatus {
        frozen: freeze.active(now),
        freeze: Some(freeze),
    }))
}

#[utoipa::path(
    delete,
    path = "/api/freeze",
    responses(
        (status = 204, description = "The freeze was lifted"),
    ),
)]
async fn lift(State(state): State<AppState>, caller: Require<Operator>) -> ApiResult<StatusCode> {
    desired::set_freeze(&state.js, None)
        .await
        .map_err(unavailable)?;
    audit::record(&state.js, &caller, "freeze.off", None, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
