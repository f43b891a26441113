//! `GET /health` (is the backend, its database and its broker connection alive) and
//! `GET /api/version`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use kanade_protocol::api::{Health, VersionInfo};

use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(version))
}

#[utoipa::path(
    get,
    path = "/health",
    security(()),
    responses(
        (status = 200, body = Health, description = "The backend, its database and its broker connection are up"),
        (status = 503, body = Health, description = "The database is down"),
    ),
)]
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
            reason: None,
        }),
    )
}

#[utoipa::path(
    get,
    path = "/api/version",
    security(()),
    responses(
        (status = 200, body = VersionInfo, description = "The backend version"),
    ),
)]
async fn version() -> Json<VersionInfo> {
    Json(VersionInfo {
        version: kanade_protocol::VERSION.to_owned(),
    })
}
