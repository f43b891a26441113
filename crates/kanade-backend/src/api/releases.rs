//! `/api/agent-releases`: publish (admin; the raw binary as the body, `?version=&platform=`),
//! list (viewer) and delete (admin) agent binaries. Rolling a version out is a config change
//! (`target_version` in a scope of `/api/config`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::StatusCode;
use kanade_protocol::api::AgentRelease;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Admin, Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::{audit, releases};
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouterExt};
use utoipa_axum::routes;

/// Largest agent binary accepted.
const MAX_BINARY: usize = 256 * 1024 * 1024;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, publish).layer(DefaultBodyLimit::max(MAX_BINARY)))
        .routes(routes!(remove))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct PublishQuery {
    version: String,
    /// Defaults to the backend's own platform (e.g. `linux-x86_64`).
    platform: Option<String>,
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

#[utoipa::path(
    post,
    path = "/api/agent-releases",
    params(PublishQuery),
    request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "The agent binary"),
    responses(
        (status = 201, body = AgentRelease, description = "The release was stored"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The version or platform breaks a rule"),
    ),
)]
async fn publish(
    State(state): State<AppState>,
    caller: Require<Admin>,
    AppQuery(q): AppQuery<PublishQuery>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<AgentRelease>)> {
    let platform = q.platform.unwrap_or_else(kanade_protocol::names::platform);
    for (field, value) in [("version", &q.version), ("platform", &platform)] {
        if !is_token(value) {
            let mut err = ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "validation_failed",
                format!("{field}: `{value}` may use letters, digits, '.', '-' and '_' only"),
            );
            err.field = Some(field.to_owned());
            return Err(err);
        }
    }
    if body.is_empty() {
        return Err(ApiError::bad_request("the body must be the agent binary"));
    }
    let release = releases::publish(&state.js, &q.version, &platform, &body, &caller.username)
        .await
        .map_err(|e| ApiError::unavailable("could not store the release", format!("{e:#}")))?;
    audit::record(
        &state.js,
        &caller,
        "release.publish",
        Some(&release.key),
        json!({"sha256": release.sha256, "size": release.size}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(release)))
}

#[utoipa::path(
    get,
    path = "/api/agent-releases",
    responses(
        (status = 200, body = Vec<AgentRelease>, description = "Every stored release"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<AgentRelease>>> {
    let all = releases::list(&state.js)
        .await
        .map_err(|e| ApiError::unavailable("could not list releases", format!("{e:#}")))?;
    Ok(Json(all))
}

#[utoipa::path(
    delete,
    path = "/api/agent-releases/{key}",
    params(("key" = String, Path, description = "The release key")),
    responses(
        (status = 204, description = "Deleted"),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    let deleted = releases::delete(&state.js, &key)
        .await
        .map_err(|e| ApiError::unavailable("could not delete the release", format!("{e:#}")))?;
    if !deleted {
        return Err(ApiError::not_found(format!("release {key}")));
    }
    audit::record(&state.js, &caller, "release.delete", Some(&key), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
