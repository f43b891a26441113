//! Installing the agent on a new machine: `POST /api/enrollment/install-command` (admin: it
//! makes a single-use enrollment token) answers one shell command, and
//! `GET /api/agent-releases/{key}/binary` (no sign-in: a machine without an account fetches it;
//! it is only the published binary, checked by the command against its SHA-256) serves it.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use chrono::Utc;
use kanade_protocol::install::{InstallCommand, InstallCommandRequest};
use kanade_protocol::manifest::ManifestError;
use serde_json::json;

use crate::audit;
use crate::auth::{Admin, Require};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(install_command))
        .routes(routes!(download))
}

fn unavailable(what: &str, err: anyhow::Error) -> ApiError {
    ApiError::unavailable(&format!("could not reach {what}"), format!("{err:#}"))
}

#[utoipa::path(
    post,
    path = "/api/enrollment/install-command",
    request_body(content = InstallCommandRequest, content_type = "application/json"),
    responses(
        (status = 201, body = InstallCommand, description = "The command, the script it runs and the single-use token it carries"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A field breaks its rule, or no agent release fits"),
    ),
)]
async fn install_command(
    State(state): State<AppState>,
    caller: Require<Admin>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<InstallCommand>)> {
    let mut req: InstallCommandRequest = parse_json(&body)?;
    req.validate()?;
    let config = &state.config;
    // The defaults are this backend's own addresses; they go into a shell script, so they
    // pass the same checks as values the caller sent.
    req.nats_url.get_or_insert_with(|| config.nats.url.clone());
    if req.backend_url.is_none() {
        let scheme = match config.server.tls_cert {
            Some(_) => "https",
            None => "http",
        };
        let host = headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| config.server.bind.clone());
        req.backend_url = Some(
            config
                .server
                .public_url
                .clone()
                .unwrap_or_else(|| format!("{scheme}://{host}")),
        );
    }
    req.validate()?;
    let releases = crate::releases::list(&state.js)
        .await
        .map_err(|e| unavailable("object store agent_releases", e))?;
    let platform = format!("linux-{}", std::env::consts::ARCH);
    let release = match &req.release {
        Some(key) => releases.iter().find(|r| &r.key == key),
        None => releases
            .iter()
            .filter(|r| r.platform == platform)
            .max_by_key(|r| (r.version == kanade_protocol::VERSION, r.key.clone())),
    }
    .ok_or_else(|| {
        ApiError::from(ManifestError::Invalid {
            field: "release".to_owned(),
            message: match &req.release {
                Some(key) => format!("no agent release {key} is published"),
                None => format!(
                    "no agent release for {platform} is published: publish one first \
                     (`kanade agent publish`)"
                ),
            },
        })
    })?
    .clone();
    let ca_pem = match &config.nats.ca_file {
        Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
            ApiError::unavailable(
                "could not read the broker's CA",
                format!("{}: {e}", path.display()),
            )
        })?),
        None => None,
    };
    let (token, text) = state
        .access
        .registry
        .create_token(
            req.group.clone(),
            chrono::Duration::seconds(req.expires.as_secs() as i64),
            1,
            &caller.username,
            Utc::now(),
        )
        .await
        .map_err(|e| unavailable("KV enrollment_tokens", e))?;
    let row = kanade_protocol::enrollment::TokenRow::from(&token);
    audit::record(
        &state.js,
        &caller,
        "enrollment.token_create",
        Some(&row.id),
        json!({
            "token_id": row.id,
            "group": row.group,
            "expires_at": row.expires_at,
            "uses": row.uses_total,
            "for": "install-command",
            "release": release.key,
        }),
    )
    .await;
    let backend_url = req.backend_url.unwrap_or_default();
    let download_url = format!(
        "{}/api/agent-releases/{}/binary",
        backend_url.trim_end_matches('/'),
        release.key
    );
    let script = crate::install::script(&crate::install::Params {
        download_url: &download_url,
        sha256: &release.sha256,
        nats_url: req.nats_url.as_deref().unwrap_or_default(),
        ca_pem: ca_pem.as_deref(),
        token: &text,
        release: &release.key,
    });
    Ok((
        StatusCode::CREATED,
        Json(InstallCommand {
            command: crate::install::command(&script),
            script,
            release: release.key,
            sha256: release.sha256,
            download_url,
            token: row,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/api/agent-releases/{key}/binary",
    security(()),
    params(("key" = String, Path, description = "The release key, `<version>-<platform>`")),
    responses(
        (status = 200, content_type = "application/octet-stream", description = "The agent binary; its SHA-256 is in the X-Kanade-Sha256 header"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such release"),
    ),
)]
async fn download(
    State(state): State<AppState>,
    Path(key): Path<String>,
) -> ApiResult<impl IntoResponse> {
    if !kanade_protocol::ids::IdKind::Release.is_valid(&key) {
        return Err(ApiError::not_found(format!("agent release {key}")));
    }
    let (bytes, sha) = crate::install::binary(&state.js, &key)
        .await
        .map_err(|e| unavailable("object store agent_releases", e))?
        .ok_or_else(|| ApiError::not_found(format!("agent release {key}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                "attachment; filename=\"kanade-agent\"".to_owned(),
            ),
            (header::HeaderName::from_static("x-kanade-sha256"), sha),
        ],
        bytes,
    ))
}
