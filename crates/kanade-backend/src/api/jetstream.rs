//! `GET /api/jetstream`: messages, bytes and consumers of every kanade stream.

use axum::Json;
use axum::extract::State;
use kanade_protocol::api::StreamStatus;

use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(status))
}

#[utoipa::path(
    get,
    path = "/api/jetstream",
    responses(
        (status = 200, body = Vec<StreamStatus>, description = "The broker streams and their consumers"),
    ),
)]
async fn status(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<StreamStatus>>> {
    let streams = kanade_bus::stream_status(&state.js)
        .await
        .map_err(|e| ApiError::unavailable("could not read stream state", format!("{e:#}")))?;
    Ok(Json(streams))
}
