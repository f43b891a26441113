//! `/api/notifications`: send a notification to machines, groups or everyone (operator), and
//! the sent ones with who confirmed them (viewer). Sending publishes on the NOTIFICATIONS
//! stream; the list is its projection, so it survives a read-model wipe.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
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
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, send))
        .routes(routes!(read))
}

/// Answers 201 with the subjects the broker acknowledged (some may be missing: partial
/// delivery is reported, not hidden); 503 when none landed.
#[utoipa::path(
    post,
    path = "/api/notifications",
    request_body(content = NotificationRequest, content_type = "application/json"),
    responses(
        (status = 201, body = NotificationSent, description = "The notification was published"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The request breaks a rule; `field` names it"),
    ),
)]
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
        toast: req.toast,
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

#[utoipa::path(
    get,
    path = "/api/notifications",
    params(crate::api::Paging),
    responses(
        (status = 200, body = Page<NotificationSummary>, description = "Notifications, newest first"),
    ),
)]
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

#[utoipa::path(
    get,
    path = "/api/notifications/{id}",
    params(("id" = String, Path, description = "The notification id")),
    responses(
        (status = 200, body = NotificationDetail, description = "The notification with its acknowledgements"),
    ),
)]
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
