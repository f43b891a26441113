//! Command signing keys: `GET /api/command-keys`; `POST /api/command-keys` (trust a
//! break-glass public key), `POST /api/command-keys/rotate` and
//! `DELETE /api/command-keys/{key_id}` (admin, audited); and `POST /api/commands/sign`, which
//! signs a break-glass command the CLI publishes itself (operator, audited).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::api::{
    AddCommandKeyRequest, CommandKeyRow, SignCommandRequest, SignCommandResponse,
};
use kanade_protocol::signing::script_digest;
use kanade_protocol::subject;
use serde_json::json;

use crate::audit;
use crate::auth::{Admin, Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::signer::{self, RetireError};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, add))
        .routes(routes!(rotate))
        .routes(routes!(retire))
        .routes(routes!(sign))
}

fn unavailable(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("could not reach KV command_keys", format!("{err:#}"))
}

#[utoipa::path(
    get,
    path = "/api/command-keys",
    responses(
        (status = 200, body = Vec<CommandKeyRow>, description = "Every key agents trust, and which one signs"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<CommandKeyRow>>> {
    let current = state.signer.current().key_id().to_owned();
    let keys = signer::list(&state.js).await.map_err(unavailable)?;
    Ok(Json(
        keys.into_iter()
            .map(|key| CommandKeyRow {
                current: key.key_id == current,
                key,
            })
            .collect(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/command-keys",
    request_body(content = AddCommandKeyRequest, content_type = "application/json"),
    responses(
        (status = 201, body = CommandKeyRow, description = "The key is trusted"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "Not an nkeys user public key"),
    ),
)]
async fn add(
    State(state): State<AppState>,
    caller: Require<Admin>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CommandKeyRow>)> {
    let req: AddCommandKeyRequest = parse_json(&body)?;
    let key = match state
        .signer
        .add_external(&state.js, &req.public_key, &caller.username, Utc::now())
        .await
        .map_err(unavailable)?
    {
        Ok(key) => key,
        Err(why) => return Err(invalid("public_key", format!("public_key: {why}"))),
    };
    audit::record(
        &state.js,
        &caller,
        "command_keys.add",
        Some(&key.key_id),
        json!({"key_id": key.key_id, "public_key": key.public_key}),
    )
    .await;
    let current = key.key_id == state.signer.current().key_id();
    Ok((StatusCode::CREATED, Json(CommandKeyRow { key, current })))
}

#[utoipa::path(
    post,
    path = "/api/command-keys/rotate",
    responses(
        (status = 200, body = CommandKeyRow, description = "The new key, which signs from now on"),
    ),
)]
async fn rotate(
    State(state): State<AppState>,
    caller: Require<Admin>,
) -> ApiResult<Json<CommandKeyRow>> {
    let previous = state.signer.current().key_id().to_owned();
    let key = state
        .signer
        .rotate(&state.js, &caller.username, Utc::now())
        .await
        .map_err(unavailable)?;
    audit::record(
        &state.js,
        &caller,
        "command_keys.rotate",
        Some(&key.key_id),
        json!({"key_id": key.key_id, "previous": previous}),
    )
    .await;
    Ok(Json(CommandKeyRow { key, current: true }))
}

#[utoipa::path(
    delete,
    path = "/api/command-keys/{key_id}",
    params(("key_id" = String, Path, description = "The key id")),
    responses(
        (status = 204, description = "Agents no longer trust the key"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such key"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "The key the backend signs with"),
    ),
)]
async fn retire(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(key_id): Path<String>,
) -> ApiResult<StatusCode> {
    match state.signer.retire(&state.js, &key_id).await {
        Ok(()) => {}
        Err(RetireError::Unknown(id)) => {
            return Err(ApiError::not_found(format!("command key {id}")));
        }
        Err(err @ RetireError::Current(_)) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                err.to_string(),
            ));
        }
        Err(RetireError::Broker(err)) => return Err(unavailable(err)),
    }
    audit::record(
        &state.js,
        &caller,
        "command_keys.retire",
        Some(&key_id),
        json!({"key_id": key_id}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

fn invalid(field: &str, message: String) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        message,
    );
    err.field = Some(field.to_owned());
    err
}

/// `commands.all`, `commands.group.<g>` or `commands.pc.<pc_id>` with a valid token.
fn is_command_subject(target: &str) -> bool {
    if target == subject::COMMANDS_ALL {
        return true;
    }
    ["commands.group.", "commands.pc."].iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(subject::is_valid_token)
    })
}

#[utoipa::path(
    post,
    path = "/api/commands/sign",
    request_body(content = SignCommandRequest, content_type = "application/json"),
    responses(
        (status = 200, body = SignCommandResponse, description = "The command with its signature"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The target is not a command subject, an id is not a subject token, or the machine is pending, rejected or revoked"),
    ),
)]
async fn sign(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<Json<SignCommandResponse>> {
    let req: SignCommandRequest = parse_json(&body)?;
    if !is_command_subject(&req.target) {
        return Err(invalid(
            "target",
            format!(
                "target: `{}` is not a command subject (commands.all, commands.group.<g>, \
                 commands.pc.<pc_id>)",
                req.target
            ),
        ));
    }
    let cmd = &req.command;
    for (field, value) in [
        ("command.request_id", &cmd.request_id),
        ("command.exec_id", &cmd.exec_id),
    ] {
        if !subject::is_valid_token(value) {
            return Err(invalid(
                field,
                format!("{field}: letters, digits, '-' and '_' only"),
            ));
        }
    }
    // A machine the broker will not let in cannot answer: say so now rather than let the
    // operator wait for a result that cannot come.
    if let Some(pc_id) = req.target.strip_prefix("commands.pc.")
        && let Some(identity) = state.access.registry.identity(pc_id).await.map_err(|err| {
            ApiError::unavailable("reading KV agent_identities", format!("{err:#}"))
        })?
        && identity.status != kanade_protocol::enrollment::IdentityStatus::Approved
    {
        return Err(invalid(
            "target",
            format!(
                "target: machine {pc_id} is {} and cannot take commands (kanade machines)",
                identity.status.as_str()
            ),
        ));
    }
    // What the client says, cut short and made printable: it is only a hint.
    let os_user: Option<String> = req
        .os_user
        .as_deref()
        .map(|u| u.chars().filter(|c| !c.is_control()).take(64).collect());
    let signed = state.signer.sign(cmd, &req.target, Utc::now());
    let key_id = signed
        .signature
        .as_ref()
        .map(|s| s.key_id.clone())
        .unwrap_or_default();
    audit::record(
        &state.js,
        &caller,
        "command.sign",
        Some(&req.target),
        json!({
            "target": req.target,
            "job_id": cmd.id,
            "version": cmd.version,
            "request_id": cmd.request_id,
            "exec_id": cmd.exec_id,
            "script_sha256": script_digest(&cmd.script),
            "emergency": cmd.emergency,
            "key_id": key_id,
            "os_user": os_user,
        }),
    )
    .await;
    Ok(Json(SignCommandResponse { command: signed }))
}
