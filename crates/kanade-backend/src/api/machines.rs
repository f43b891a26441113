//! Who the broker lets in: enrollment tokens (`GET/POST /api/enrollment/tokens`,
//! `DELETE /api/enrollment/tokens/{token_id}`, admin) and machine identities
//! (`GET /api/machines/identities`, operator; approve, reject and revoke, admin). Every change
//! is audited; a token's text is answered once and never kept.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::enrollment::{
    CreateTokenRequest, CreatedToken, DecisionRequest, DecisionResponse, IdentityStatus,
    MachineIdentity, TokenRow,
};
use serde::Deserialize;
use serde_json::json;

use crate::access::{Decision, DecisionError};
use crate::audit;
use crate::auth::{Admin, Caller, Operator, Require};
use crate::error::{ApiError, ApiResult, AppQuery, parse_json};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_tokens, create_token))
        .routes(routes!(delete_token))
        .routes(routes!(identities))
        .routes(routes!(approve))
        .routes(routes!(reject))
        .routes(routes!(revoke))
}

fn unavailable(bucket: &str, err: anyhow::Error) -> ApiError {
    ApiError::unavailable(&format!("could not reach KV {bucket}"), format!("{err:#}"))
}

#[utoipa::path(
    get,
    path = "/api/enrollment/tokens",
    responses(
        (status = 200, body = Vec<TokenRow>, description = "Every enrollment token, newest first (never a secret)"),
    ),
)]
async fn list_tokens(
    State(state): State<AppState>,
    _caller: Require<Admin>,
) -> ApiResult<Json<Vec<TokenRow>>> {
    let tokens = state
        .access
        .registry
        .tokens()
        .await
        .map_err(|e| unavailable("enrollment_tokens", e))?;
    Ok(Json(tokens.iter().map(TokenRow::from).collect()))
}

#[utoipa::path(
    post,
    path = "/api/enrollment/tokens",
    request_body(content = CreateTokenRequest, content_type = "application/json"),
    responses(
        (status = 201, body = CreatedToken, description = "The token, and its text shown this once"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A group, expiry or use count that breaks its rule"),
    ),
)]
async fn create_token(
    State(state): State<AppState>,
    caller: Require<Admin>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<CreatedToken>)> {
    let req: CreateTokenRequest = parse_json(&body)?;
    req.validate()?;
    let expires_in = chrono::Duration::from_std(req.expires.0)
        .map_err(|e| ApiError::bad_request(format!("expires: {e}")))?;
    let (token, text) = state
        .access
        .registry
        .create_token(
            req.group.clone(),
            expires_in,
            req.uses,
            &caller.username,
            Utc::now(),
        )
        .await
        .map_err(|e| unavailable("enrollment_tokens", e))?;
    let row = TokenRow::from(&token);
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
        }),
    )
    .await;
    Ok((StatusCode::CREATED, Json(CreatedToken { token: row, text })))
}

#[utoipa::path(
    delete,
    path = "/api/enrollment/tokens/{token_id}",
    params(("token_id" = String, Path, description = "The token id (16 lower-case hex digits)")),
    responses(
        (status = 204, description = "The token enrolls no more machines (those it enrolled stay)"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such token"),
    ),
)]
async fn delete_token(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(token_id): Path<String>,
) -> ApiResult<StatusCode> {
    let existed = state
        .access
        .registry
        .delete_token(&token_id)
        .await
        .map_err(|e| unavailable("enrollment_tokens", e))?;
    if !existed {
        return Err(ApiError::not_found(format!("enrollment token {token_id}")));
    }
    audit::record(
        &state.js,
        &caller,
        "enrollment.token_delete",
        Some(&token_id),
        json!({"token_id": token_id}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct IdentityQuery {
    /// Only machines in this state.
    status: Option<IdentityStatus>,
}

#[utoipa::path(
    get,
    path = "/api/machines/identities",
    params(IdentityQuery),
    responses(
        (status = 200, body = Vec<MachineIdentity>, description = "Every machine that asked to join, by pc id"),
    ),
)]
async fn identities(
    State(state): State<AppState>,
    _caller: Require<Operator>,
    AppQuery(q): AppQuery<IdentityQuery>,
) -> ApiResult<Json<Vec<MachineIdentity>>> {
    let mut all = state
        .access
        .registry
        .identities()
        .await
        .map_err(|e| unavailable("agent_identities", e))?;
    if let Some(status) = q.status {
        all.retain(|id| id.status == status);
    }
    Ok(Json(all))
}

/// The optional `{ "reason" }` body: empty means none.
fn reason_of(body: &[u8]) -> ApiResult<Option<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let req: DecisionRequest = parse_json(body)?;
    req.validate()?;
    Ok(req.reason.filter(|r| !r.trim().is_empty()))
}

async fn decide(
    state: &AppState,
    caller: &Caller,
    pc_id: &str,
    decision: Decision,
    body: &[u8],
) -> ApiResult<Json<DecisionResponse>> {
    let reason = reason_of(body)?;
    let (identity, closed) = match state
        .access
        .decide(pc_id, decision, &caller.username, reason, Utc::now())
        .await
    {
        Ok(done) => done,
        Err(err @ DecisionError::Unknown(_)) => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                err.to_string(),
            ));
        }
        Err(err @ DecisionError::NotApplicable { .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                err.to_string(),
            ));
        }
        Err(DecisionError::Broker(err)) => return Err(unavailable("agent_identities", err)),
    };
    let (action, connections_closed) = match decision {
        Decision::Approve => ("machine.approve", None),
        Decision::Reject => ("machine.reject", None),
        Decision::Revoke => ("machine.revoke", Some(closed as u64)),
    };
    audit::record(
        &state.js,
        caller,
        action,
        Some(pc_id),
        json!({
            "pc_id": pc_id,
            "status": identity.status,
            "nkey": identity.nkey,
            "reason": identity.reason,
            "connections_closed": connections_closed,
        }),
    )
    .await;
    Ok(Json(DecisionResponse {
        identity,
        connections_closed,
    }))
}

#[utoipa::path(
    post,
    path = "/api/machines/identities/{pc_id}/approve",
    params(("pc_id" = String, Path, description = "The machine id")),
    request_body(content = Option<DecisionRequest>, content_type = "application/json"),
    responses(
        (status = 200, body = DecisionResponse, description = "Approved: the broker lets it in (a pending new key becomes its key)"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "The machine never asked to join"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "Already approved with nothing pending"),
    ),
)]
async fn approve(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(pc_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<DecisionResponse>> {
    decide(&state, &caller, &pc_id, Decision::Approve, &body).await
}

#[utoipa::path(
    post,
    path = "/api/machines/identities/{pc_id}/reject",
    params(("pc_id" = String, Path, description = "The machine id")),
    request_body(content = Option<DecisionRequest>, content_type = "application/json"),
    responses(
        (status = 200, body = DecisionResponse, description = "Rejected: a pending machine stays refused (a pending new key is dropped)"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "The machine never asked to join"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "Neither the machine nor a new key of it is pending"),
    ),
)]
async fn reject(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(pc_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<DecisionResponse>> {
    decide(&state, &caller, &pc_id, Decision::Reject, &body).await
}

#[utoipa::path(
    post,
    path = "/api/machines/identities/{pc_id}/revoke",
    params(("pc_id" = String, Path, description = "The machine id")),
    request_body(content = Option<DecisionRequest>, content_type = "application/json"),
    responses(
        (status = 200, body = DecisionResponse, description = "Revoked: its broker connections are closed and reconnects refused"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "The machine never asked to join"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "The machine is not approved"),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(pc_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<DecisionResponse>> {
    decide(&state, &caller, &pc_id, Decision::Revoke, &body).await
}
