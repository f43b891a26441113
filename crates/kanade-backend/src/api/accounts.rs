//! `/api/accounts` (admin only): list, create, change role / disabled / e-mail / password, delete.
//! A password reset, role change, disabling or deletion ends the account's sessions (except
//! the calling admin's own).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, patch};
use axum::{Json, Router};
use chrono::Utc;
use kanade_protocol::api::{self, Account, AccountPatch, NewAccount};
use serde_json::json;

use crate::audit;
use crate::auth::{Admin, Refusal, Require, password};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::store;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/api/accounts", get(list).post(create))
        .route("/api/accounts/{username}", patch(update).delete(delete))
}

async fn hash(state: &AppState, password: String) -> Result<String, Refusal> {
    Ok(state
        .auth
        .hashing
        .run(move || password::hash(&password))
        .await?
        .map_err(|e| ApiError::internal("hashing", e))?)
}

async fn list(
    State(state): State<AppState>,
    _caller: Require<Admin>,
) -> ApiResult<Json<Vec<Account>>> {
    let users = state.store.read(|c| store::users::list(c)).await?;
    Ok(Json(
        users.iter().map(store::users::User::to_account).collect(),
    ))
}

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
    let (name, role, email) = (req.username.clone(), req.role, req.email.clone());
    let user = state
        .store
        .write(move |c| {
            store::users::insert(
                c,
                &store::users::NewUser {
                    username: &name,
                    password_hash: &hash,
                    role,
                    must_change_pw: true,
                    email: email.as_deref(),
                    now: Utc::now(),
                },
            )?;
            store::users::get(c, &name)?.ok_or(store::StoreError::NotFound)
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
    let patch = store::users::Patch {
        role: req.role,
        disabled: req.disabled,
        email: req.email.clone(),
        password_hash,
    };
    let (name, keep) = (username.clone(), caller.session.clone().map(|s| s.0));
    let user = state
        .store
        .write(move |c| store::users::patch(c, &name, &patch, keep.as_deref(), Utc::now()))
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => ApiError::not_found(format!("account {username}")),
            other => other.into(),
        })?;
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

async fn delete(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    let name = username.clone();
    state
        .store
        .write(move |c| store::users::delete(c, &name))
        .await
        .map_err(|e| match e {
            store::StoreError::NotFound => ApiError::not_found(format!("account {username}")),
            other => other.into(),
        })?;
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
