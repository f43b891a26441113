//! `GET /api/jetstream`: messages, bytes, consumers and copies of every kanade stream, bucket
//! and object store; `POST /api/jetstream/setup` (admin) creates or updates them, optionally
//! migrating them to another replica count.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use kanade_protocol::api::{JetstreamSetup, JetstreamSetupReport, StreamStatus};
use serde_json::json;

use crate::audit;
use crate::auth::{Admin, Require, Viewer};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status))
        .routes(routes!(setup))
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

#[utoipa::path(
    post,
    path = "/api/jetstream/setup",
    request_body(content = JetstreamSetup, content_type = "application/json"),
    responses(
        (status = 200, body = JetstreamSetupReport, description = "Every stream, bucket and object store is in place (with that many copies)"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "`replicas` is not 1, 3 or 5"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "The broker refused (e.g. fewer servers than replicas)"),
    ),
)]
async fn setup(
    State(state): State<AppState>,
    caller: Require<Admin>,
    body: Bytes,
) -> ApiResult<Json<JetstreamSetupReport>> {
    let req: JetstreamSetup = if body.is_empty() {
        JetstreamSetup::default()
    } else {
        parse_json(&body)?
    };
    if let Some(n) = req.replicas
        && !matches!(n, 1 | 3 | 5)
    {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("replicas: 1, 3 or 5 (a majority of an odd-sized group), not {n}"),
        );
        err.field = Some("replicas".to_owned());
        return Err(err);
    }
    let report = kanade_bus::resources::ensure_resources_replicated(&state.js, req.replicas)
        .await
        .map_err(|e| ApiError::unavailable("the broker refused the setup", format!("{e:#}")))?;
    audit::record(
        &state.js,
        &caller,
        "jetstream.setup",
        None,
        json!({ "replicas": req.replicas }),
    )
    .await;
    let configured = state.config.nats.replicas;
    let note = match (req.replicas, configured) {
        (Some(n), Some(c)) if n != c => Some(format!(
            "[nats] replicas = {c} in backend.toml: the next backend start migrates back to {c}; change it there too"
        )),
        _ => None,
    };
    Ok(Json(JetstreamSetupReport {
        streams: report.streams,
        buckets: report.buckets,
        object_stores: report.object_stores,
        note,
    }))
}
