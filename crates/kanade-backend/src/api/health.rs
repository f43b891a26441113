//! `GET /health` (is the backend, its database and its broker connection alive) and
//! `GET /api/version`.

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use kanade_protocol::api::{Health, VersionInfo};

use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health))
        .route("/api/version", get(version))
}

async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let db = state.store.ping().await;
    let nats = state.nats.connection_state() == async_nats::connection::State::Connected;
    let status = if db {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let text = match (db, nats) {
        (true, true) => "ok",
        (true, false) => "degraded",
        _ => "down",
    };
    (
        status,
        Json(Health {
            status: text.to_owned(),
            nats,
            db,
        }),
    )
}

async fn version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: kanade_protocol::VERSION.to_owned(),
    })
}
