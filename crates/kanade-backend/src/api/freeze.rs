//! The fleet freeze: `GET/PUT/DELETE /api/freeze`. While active the scheduler fires nothing
//! and agents refuse new commands except emergency ones.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use kanade_protocol::api::{FreezeRequest, FreezeStatus};
use kanade_protocol::wire::Freeze;
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::{audit, desired};

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/freeze", get(read).put(set).delete(lift))
}

fn unavailable(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("could not reach the fleet config", format!("{err:#}"))
}

async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<FreezeStatus>> {
    let freeze = desired::freeze(&state.js).await.map_err(unavailable)?;
    Ok(Json(FreezeStatus {
        frozen: desired::frozen(freeze.as_ref(), Utc::now()),
        freeze,
    }))
}

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

async fn lift(State(state): State<AppState>, caller: Require<Operator>) -> ApiResult<StatusCode> {
    desired::set_freeze(&state.js, None)
        .await
        .map_err(unavailable)?;
    audit::record(&state.js, &caller, "freeze.off", None, json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
