//! `GET /api/jetstream`: messages, bytes and consumers of every kanade stream.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use kanade_protocol::api::StreamStatus;

use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/jetstream", get(status))
}

async fn status(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<StreamStatus>>> {
    let streams = kanade_bus::stream_status(&state.js)
        .await
        .map_err(|e| ApiError::unavailable("could not read stream state", format!("{e:#}")))?;
    Ok(Json(streams))
}
