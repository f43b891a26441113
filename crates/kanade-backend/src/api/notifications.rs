//! `/api/notifications`: send a notification to machines, groups or everyone (operator), and
//! the sent ones with who confirmed them (viewer). Sending publishes on the NOTIFICATIONS
//! stream; the list is its projection, so it survives a read-model wipe.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use chrono::Utc;
use kanade_protocol::api::{
    NotificationDetail, NotificationRequest, NotificationSent, NotificationSummary, Page,
};
use kanade_protocol::wire::Notification;
use serde_json::json;

use crate::api::Paging;
use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery, parse_json};
use crate::state::AppState;
use crate::{audit, notify, store};

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/notifications", get(list).post(send))
        .route("/api/notifications/{id}", get(read))
}

/// Answers 201 with the subjects the broker acknowledged (some may be missing: partial
/// delivery is reported, not hidden); 503 when none landed.
async fn send(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<NotificationSent>)> {
    let req: NotificationRequest = parse_json(&body)?;
    let now = Utc::now();
    req.validate(now)?;
    let notification = Notification {
        id: req.id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        priority: req.priority,
        require_ack: req.require_ack,
        title: req.title,
        body: req.body,
        issued_at: now,
        issued_by: Some(caller.username.clone()),
        expires_at: req.expires_at,
        target: req.target,
    };
    let size = serde_json::to_vec(&notification).map_or(0, |v| v.len());
    crate::edge::fits_broker(&state.nats, "the notification", size)?;
    let subjects = notify::publish(&state.js, &notification).await;
    if subjects.is_empty() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the broker acknowledged none of the notification's subjects",
        ));
    }
    let payload = json!({"title": notification.title, "subjects": subjects});
    audit::record(
        &state.js,
        &caller,
        "notification.send",
        Some(&notification.id),
        payload,
    )
    .await;
    Ok((
        StatusCode::CREATED,
        Json(NotificationSent {
            id: notification.id,
            subjects,
        }),
    ))
}

async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(paging): AppQuery<Paging>,
) -> ApiResult<Json<Page<NotificationSummary>>> {
    let (limit, offset) = (paging.limit(), paging.offset());
    Ok(Json(
        state
            .store
            .read(move |c| store::notifications::list(c, limit, offset))
            .await?,
    ))
}

async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Json<NotificationDetail>> {
    let key = id.clone();
    state
        .store
        .read(move |c| store::notifications::get(c, &key))
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("notification {id}")))
}
