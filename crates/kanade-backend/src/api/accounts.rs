//! `/api/accounts` (admin only): list, create, change role / disabled / e-mail / password, delete.
//! A password reset, role change, disabling or deletion ends the account's sessions (except
//! the calling admin's own).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kanade_protocol::api::{self, Account, AccountPatch, NewAccount};
use serde_json::json;

use crate::accounts;
use crate::audit;
use crate::auth::{Admin, Refusal, Require, password};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(update, delete))
}

async fn hash(state: &AppState, password: String) -> Result<String, Refusal> {
    Ok(state
        .auth
        .hashing
        .run(move || password::hash(&password))
        .await?
        .map_err(|e| ApiError::internal("hashing", e))?)
}

#[utoipa::path(
    get,
    path = "/api/accounts",
    responses(
        (status = 200, body = Vec<Account>, description = "Every account"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Admin>,
) -> ApiResult<Json<Vec<Account>>> {
    let users = state.store.read(|c| store::users::list(c)).await?;
    Ok(Json(
        users.iter().map(store::users::User::to_account).collect(),
    ))
}

#[utoipa::path(
    post,
    path = "/api/accounts",
    request_body(content = NewAccount, content_type = "application/json"),
    responses(
        (status = 201, body = Account, description = "The account was created"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "The user name is taken"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The user name or password breaks a rule"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Require<Admin>,
    body: Bytes,
) -> Result<(StatusCode, Json<Account>), Refusal> {
    let req: NewAccount = parse_json(&body)?;
    if !api::is_valid_username(&req.username) {
        return Err(invalid(
            "username",
            "must be 1-64 characters of letters, digits, '.', '-', '_' or '@'",
        )
        .into());
    }
    api::check_password_policy(&req.password).map_err(ApiError::from)?;
    let hash = hash(&state, req.password.clone()).await?;
    let user = state
        .accounts
        .create(&accounts::NewUser {
            username: &req.username,
            password_hash: &hash,
            role: req.role,
            must_change_pw: true,
            email: req.email.as_deref(),
        })
        .await
        .map_err(ApiError::from)?;
    audit::record(
        &state.js,
        &caller,
        "account.create",
        Some(&req.username),
        json!({"role": req.role, "email": req.email}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(user.to_account())))
}

#[utoipa::path(
    patch,
    path = "/api/accounts/{username}",
    params(("username" = String, Path, description = "The user name")),
    request_body(content = AccountPatch, content_type = "application/json"),
    responses(
        (status = 200, body = Account, description = "The updated account"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "The change would leave no admin"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The password breaks the policy"),
    ),
)]
async fn update(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(username): Path<String>,
    body: Bytes,
) -> Result<Json<Account>, Refusal> {
    let req: AccountPatch = parse_json(&body)?;
    if let Some(p) = &req.password {
        api::check_password_policy(p).map_err(ApiError::from)?;
    }
    let password_hash = match req.password.clone() {
        Some(p) => Some(hash(&state, p).await?),
        None => None,
    };
    let patch = accounts::Patch {
        role: req.role,
        disabled: req.disabled,
        email: req.email.clone(),
        password_hash,
    };
    let keep = caller.session.clone().map(|s| s.0);
    let user = state
        .accounts
        .patch(&username, &patch, keep.as_deref())
        .await
        .map_err(ApiError::from)?;
    let payload = json!({"role": req.role, "disabled": req.disabled, "email": req.email, "password_reset": req.password.is_some()});
    audit::record(
        &state.js,
        &caller,
        "account.update",
        Some(&username),
        payload,
    )
    .await;
    Ok(Json(user.to_account()))
}

#[utoipa::path(
    delete,
    path = "/api/accounts/{username}",
    params(("username" = String, Path, description = "The user name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "The last admin cannot be deleted"),
    ),
)]
async fn delete(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    state.accounts.delete(&username).await?;
    audit::record(
        &state.js,
        &caller,
        "account.delete",
        Some(&username),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

fn invalid(field: &str, message: &str) -> ApiError {
    ApiError {
        status: StatusCode::UNPROCESSABLE_ENTITY,
        code: "validation_failed",
        message: format!("{field}: {message}"),
        field: Some(field.to_owned()),
    }
}
