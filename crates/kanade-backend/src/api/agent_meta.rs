//! Operator metadata of a machine: `GET /api/agents/{pc_id}/meta` (viewer) and
//! `PUT /api/agents/{pc_id}/meta` (operator; replaces every attribute, an empty list clears
//! them; 422 naming the entry at fault), audited as `agent.meta`. Stored in KV `agent_meta`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kanade_protocol::meta::AgentMeta;
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, replace))
}

fn unavailable(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("could not reach the machine metadata", format!("{err:#}"))
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/meta",
    params(("pc_id" = String, Path, description = "Machine id")),
    responses(
        (status = 200, body = AgentMeta, description = "The machine's attributes (empty when none)"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "The broker cannot be asked"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
) -> ApiResult<Json<AgentMeta>> {
    let meta = crate::agent_meta::read(&state.js, &pc_id)
        .await
        .map_err(unavailable)?;
    Ok(Json(meta))
}

#[utoipa::path(
    put,
    path = "/api/agents/{pc_id}/meta",
    params(("pc_id" = String, Path, description = "Machine id")),
    request_body(content = AgentMeta, content_type = "application/json", description = "Every attribute the machine keeps"),
    responses(
        (status = 200, body = AgentMeta, description = "The attributes now stored (sorted by key)"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "An attribute name or value breaks the rules (the entry is named)"),
    ),
)]
async fn replace(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(pc_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<AgentMeta>> {
    // serde reads a struct from an array too, so `[]` would clear every attribute.
    if !body.trim_ascii_start().starts_with(b"{") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "invalid JSON: the body must be an object such as {\"entries\": []}",
        ));
    }
    let meta: AgentMeta = parse_json(&body)?;
    let meta = meta.validated().map_err(|err| {
        let mut api = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            err.to_string(),
        );
        api.field = Some(err.field.clone());
        api
    })?;
    let written = crate::agent_meta::replace(&state.js, &pc_id, meta)
        .await
        .map_err(unavailable)?;
    crate::audit::record(
        &state.js,
        &caller,
        "agent.meta",
        Some(&pc_id),
        json!({"entries": written.entries}),
    )
    .await;
    Ok(Json(written))
}
