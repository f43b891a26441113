//! `/api/auth/*`: sign in (with throttling and optional TOTP), who am I, change password,
//! sign out, and MFA enrolment. Every check of a secret (password, TOTP code, current
//! password) goes through the shared throttle first, and every argon2 hash through the
//! bounded hashing gate.

use std::time::Instant;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::api::{
    self, ChangePasswordRequest, LoginRequest, LoginResponse, Me, MfaCode, MfaInit,
    MfaRecoveryCodes, Role,
};
use serde_json::json;

use crate::audit;
use crate::auth::throttle::Ticket;
use crate::auth::{
    Caller, ClientAddr, Refusal, Require, SignedIn, Viewer, password, recovery, totp,
};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(change_password))
        .routes(routes!(logout))
        .routes(routes!(mfa_init))
        .routes(routes!(mfa_verify))
        .routes(routes!(mfa_disable))
        .routes(routes!(mfa_recovery_codes))
}

fn failed() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
        "wrong user name or password",
    )
}

#[utoipa::path(
    post,
    path = "/api/auth/login",
    security(()),
    request_body(content = LoginRequest, content_type = "application/json"),
    responses(
        (status = 200, body = LoginResponse, description = "Signed in: the bearer token"),
        (status = 401, body = kanade_protocol::api::ErrorBody, description = "Wrong user name or password, or the TOTP code is missing or wrong"),
        (status = 429, body = kanade_protocol::api::ErrorBody, description = "Too many failed sign-ins; `Retry-After` says when to try again"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "Too many password checks at once (code `busy`); retry after `Retry-After`"),
    ),
)]
async fn login(
    State(state): State<AppState>,
    ClientAddr(address): ClientAddr,
    body: Bytes,
) -> Result<Json<LoginResponse>, Refusal> {
    let req: LoginRequest = parse_json(&body)?;
    let address = address.unwrap_or_default();
    // Reserved before any hashing; dropped unsettled (busy, code still needed) it is released.
    let ticket = state
        .auth
        .throttle
        .begin(&req.username, &address, Instant::now())?;
    let username = req.username.clone();
    let user = state
        .store
        .read(move |c| store::users::get(c, &username))
        .await
        .map_err(ApiError::from)?;
    let pw = req.password.clone();
    let verified = match user.clone() {
        Some(u) => {
            state
                .auth
                .hashing
                .run(move || password::verify(&pw, &u.password_hash) && !u.disabled)
                .await?
        }
        None => {
            state
                .auth
                .hashing
                .run(move || password::verify_dummy(&pw))
                .await?;
            false
        }
    };
    let Some(user) = user.filter(|_| verified) else {
        ticket.failed();
        audit_sign_in(&state, &req.username, &address, Some("invalid_credentials")).await;
        return Err(failed().into());
    };
    if let Some(secret) = &user.totp_secret {
        match req.totp.as_deref() {
            None => {
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "totp_required",
                    "enter the code from your authenticator app",
                )
                .into());
            }
            Some(code)
                if !totp::check(secret, &user.username, code)
                    && !recovery_code(&state, &user.username, &address, code).await? =>
            {
                ticket.failed();
                audit_sign_in(&state, &user.username, &address, Some("invalid_totp")).await;
                return Err(ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_totp",
                    "the authenticator code is wrong or expired",
                )
                .into());
            }
            Some(_) => {}
        }
    }
    ticket.succeeded();
    let now = Utc::now();
    // Server setting `session_ttl_hours` wins over backend.toml's `[auth] session_ttl`.
    let ttl = crate::settings::session_ttl(
        &crate::settings::read_or_default(&state.js).await,
        state.auth.session_ttl,
    );
    let (token, claims) = state
        .auth
        .keys
        .issue(&user.username, &user.account_id, ttl, now)
        .map_err(|e| ApiError::internal("could not sign a session", e))?;
    let (jti, expires_at) = (claims.jti.clone(), claims.expires_at());
    if !state
        .accounts
        .start_session(&user, &jti, expires_at)
        .await
        .map_err(ApiError::from)?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "account_changed",
            "the account changed while signing in; sign in again",
        )
        .into());
    }
    audit_sign_in(&state, &user.username, &address, None).await;
    tracing::info!(user = %user.username, "signed in");
    Ok(Json(LoginResponse {
        token,
        expires_at: claims.expires_at(),
        username: user.username,
        role: user.role,
        must_change_pw: user.must_change_pw,
    }))
}

/// Records a checked sign-in, `failure` naming why it was refused. Throttled and busy refusals
/// checked nothing and are not recorded (a flood must not fill the trail).
async fn audit_sign_in(state: &AppState, username: &str, address: &str, failure: Option<&str>) {
    let mut name: String = username.chars().take(64).collect();
    if name.trim().is_empty() {
        // The audit trail needs an actor; a sign-in without a user name is still recorded.
        name = "(no user name)".to_owned();
    }
    let actor = Caller {
        username: name.clone(),
        role: Role::Viewer,
        must_change_pw: false,
        session: None,
        client_addr: Some(address.to_owned()).filter(|a| !a.is_empty()),
    };
    let (action, payload) = match failure {
        None => ("auth.login", json!({})),
        Some(reason) => ("auth.login_failed", json!({ "reason": reason })),
    };
    audit::record(&state.js, &actor, action, Some(&name), payload).await;
}

#[utoipa::path(
    get,
    path = "/api/auth/me",
    responses(
        (status = 200, body = Me, description = "The signed-in caller"),
    ),
)]
async fn me(State(state): State<AppState>, SignedIn(caller): SignedIn) -> ApiResult<Json<Me>> {
    let name = caller.username.clone();
    let user = state
        .store
        .read(move |c| store::users::get(c, &name))
        .await?;
    Ok(Json(Me {
        username: caller.username,
        role: caller.role,
        must_change_pw: caller.must_change_pw,
        mfa_enabled: user.as_ref().is_some_and(|u| u.totp_secret.is_some()),
        email: user.and_then(|u| u.email),
    }))
}

#[utoipa::path(
    post,
    path = "/api/auth/change-password",
    request_body(content = ChangePasswordRequest, content_type = "application/json"),
    responses(
        (status = 204, description = "The password was changed"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The new password breaks the policy"),
        (status = 429, body = kanade_protocol::api::ErrorBody, description = "Too many failed secret checks for this account or address; wait and retry"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "Too many password checks at once (code `busy`); retry after `Retry-After`"),
    ),
)]
async fn change_password(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
    body: Bytes,
) -> Result<StatusCode, Refusal> {
    let req: ChangePasswordRequest = parse_json(&body)?;
    api::check_password_policy(&req.new_password).map_err(|e| {
        let mut err = ApiError::from(e);
        err.field = Some("new_password".to_owned());
        err
    })?;
    if req.new_password == req.current_password {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "the new password must differ from the current one",
        )
        .into());
    }
    let name = caller.username.clone();
    let user = state
        .store
        .read(move |c| store::users::get(c, &name))
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "no_account",
                "this identity has no password to change",
            )
        })?;
    let ticket = begin(&state, &caller)?;
    let (current, stored) = (req.current_password.clone(), user.password_hash.clone());
    if !state
        .auth
        .hashing
        .run(move || password::verify(&current, &stored))
        .await?
    {
        ticket.failed();
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "invalid_credentials",
            "the current password is wrong",
        )
        .into());
    }
    ticket.succeeded();
    let new = req.new_password.clone();
    let hash = state
        .auth
        .hashing
        .run(move || password::hash(&new))
        .await?
        .map_err(|e| ApiError::internal("hashing", e))?;
    // This session stays valid; the account's other sessions end.
    let keep = caller.session.clone().map(|s| s.0);
    state
        .accounts
        .set_password(&caller.username, &hash, keep.as_deref())
        .await
        .map_err(ApiError::from)?;
    audit::record(
        &state.js,
        &caller,
        "account.password_change",
        Some(&caller.username),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/auth/logout",
    responses(
        (status = 204, description = "The session was ended"),
    ),
)]
async fn logout(
    State(state): State<AppState>,
    SignedIn(caller): SignedIn,
) -> ApiResult<StatusCode> {
    if let Some((jti, expires_at)) = caller.session.clone() {
        state.accounts.end_session(&jti, expires_at).await?;
    }
    audit::record(
        &state.js,
        &caller,
        "auth.logout",
        Some(&caller.username),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    post,
    path = "/api/auth/mfa/init",
    responses(
        (status = 200, body = MfaInit, description = "A pending TOTP secret to confirm with /api/auth/mfa/verify"),
    ),
)]
async fn mfa_init(
    State(state): State<AppState>,
    caller: Require<Viewer>,
) -> ApiResult<Json<MfaInit>> {
    let secret = totp::new_secret();
    let otpauth_url = totp::url(&secret, &caller.username)
        .ok_or_else(|| ApiError::internal("building the otpauth URL", "invalid secret"))?;
    state
        .accounts
        .set_totp_pending(&caller.username, Some(&secret))
        .await?;
    Ok(Json(MfaInit {
        secret,
        otpauth_url,
    }))
}

/// The signed-in caller's own account row.
async fn own_account(
    state: &AppState,
    caller: &crate::auth::Caller,
) -> ApiResult<store::users::User> {
    let name = caller.username.clone();
    state
        .store
        .read(move |c| store::users::get(c, &name))
        .await?
        .ok_or_else(|| ApiError::not_found("account"))
}

/// Reserves a secret check of the caller's own account in the shared throttle.
fn begin(state: &AppState, caller: &Caller) -> Result<Ticket, Refusal> {
    let address = caller.client_addr.clone().unwrap_or_default();
    Ok(state
        .auth
        .throttle
        .begin(&caller.username, &address, Instant::now())?)
}

/// 422 unless `code` is the current code of `secret`; throttled like a sign-in.
fn check_code(state: &AppState, caller: &Caller, secret: &str, code: &str) -> Result<(), Refusal> {
    let ticket = begin(state, caller)?;
    if totp::check(secret, &caller.username, code) {
        ticket.succeeded();
        return Ok(());
    }
    ticket.failed();
    Err(ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_totp",
        "the code does not match; check the clock of your device",
    )
    .into())
}

/// Makes `secret` the caller's active TOTP secret with fresh recovery codes (returned, to
/// show once), or turns MFA off with `None` (its recovery codes die with it); audits it.
async fn set_mfa(
    state: &AppState,
    caller: &crate::auth::Caller,
    secret: Option<String>,
    action: &str,
) -> ApiResult<Vec<String>> {
    let codes = match secret {
        Some(_) => fresh_codes()?,
        None => Vec::new(),
    };
    state
        .accounts
        .set_totp(&caller.username, secret.as_deref(), hashes(&codes))
        .await?;
    audit::record(&state.js, caller, action, Some(&caller.username), json!({})).await;
    Ok(codes)
}

fn fresh_codes() -> ApiResult<Vec<String>> {
    recovery::generate().map_err(|e| ApiError::internal("making recovery codes", e))
}

fn hashes(codes: &[String]) -> Vec<String> {
    codes.iter().filter_map(|c| recovery::hash(c)).collect()
}

/// At sign-in, `typed` in place of the TOTP code: true when it is one of the account's unused
/// recovery codes, which is spent now (and audited).
async fn recovery_code(
    state: &AppState,
    username: &str,
    address: &str,
    typed: &str,
) -> Result<bool, ApiError> {
    let Some(hash) = recovery::hash(typed) else {
        return Ok(false);
    };
    let spent = state.accounts.use_recovery_code(username, &hash).await?;
    if spent {
        let mut who = crate::auth::Caller::system(username);
        who.client_addr = Some(address.to_owned());
        audit::record(
            &state.js,
            &who,
            "account.mfa_recovery_code_used",
            Some(username),
            json!({}),
        )
        .await;
    }
    Ok(spent)
}

#[utoipa::path(
    post,
    path = "/api/auth/mfa/verify",
    request_body(content = MfaCode, content_type = "application/json"),
    responses(
        (status = 200, body = MfaRecoveryCodes, description = "MFA is on; its ten one-time recovery codes, shown this once"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "The account is gone"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "No enrolment was started"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The code does not match"),
        (status = 429, body = kanade_protocol::api::ErrorBody, description = "Too many failed secret checks for this account or address; wait and retry"),
    ),
)]
async fn mfa_verify(
    State(state): State<AppState>,
    caller: Require<Viewer>,
    body: Bytes,
) -> Result<Json<MfaRecoveryCodes>, Refusal> {
    let req: MfaCode = parse_json(&body)?;
    let user = own_account(&state, &caller).await?;
    let pending = user.totp_pending.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "no_enrolment",
            "start with POST /api/auth/mfa/init",
        )
    })?;
    check_code(&state, &caller, &pending, &req.code)?;
    let recovery_codes = set_mfa(&state, &caller, Some(pending), "account.mfa_enable").await?;
    Ok(Json(MfaRecoveryCodes { recovery_codes }))
}

#[utoipa::path(
    post,
    path = "/api/auth/mfa/disable",
    request_body(content = MfaCode, content_type = "application/json"),
    responses(
        (status = 204, description = "MFA is off"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "The account is gone"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "MFA is not enabled"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The code does not match"),
        (status = 429, body = kanade_protocol::api::ErrorBody, description = "Too many failed secret checks for this account or address; wait and retry"),
    ),
)]
async fn mfa_disable(
    State(state): State<AppState>,
    caller: Require<Viewer>,
    body: Bytes,
) -> Result<StatusCode, Refusal> {
    let req: MfaCode = parse_json(&body)?;
    let user = own_account(&state, &caller).await?;
    let secret = enabled_secret(user.totp_secret)?;
    check_code(&state, &caller, &secret, &req.code)?;
    set_mfa(&state, &caller, None, "account.mfa_disable").await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The account's authenticator secret, or 409 `mfa_not_enabled`.
fn enabled_secret(secret: Option<String>) -> Result<String, ApiError> {
    secret.ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "mfa_not_enabled",
            "MFA is not enabled",
        )
    })
}

/// New recovery codes for the caller (the old ones stop working), after a current
/// authenticator code; throttled like a sign-in.
#[utoipa::path(
    post,
    path = "/api/auth/mfa/recovery-codes",
    request_body(content = MfaCode, content_type = "application/json"),
    responses(
        (status = 200, body = MfaRecoveryCodes, description = "Ten new one-time recovery codes, shown this once; the old ones no longer work"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "The account is gone"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "MFA is not enabled"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The code does not match"),
        (status = 429, body = kanade_protocol::api::ErrorBody, description = "Too many failed secret checks for this account or address; wait and retry"),
    ),
)]
async fn mfa_recovery_codes(
    State(state): State<AppState>,
    caller: Require<Viewer>,
    body: Bytes,
) -> Result<Json<MfaRecoveryCodes>, Refusal> {
    let req: MfaCode = parse_json(&body)?;
    let user = own_account(&state, &caller).await?;
    let secret = enabled_secret(user.totp_secret)?;
    check_code(&state, &caller, &secret, &req.code)?;
    let recovery_codes = fresh_codes()?;
    state
        .accounts
        .set_recovery_codes(&caller.username, hashes(&recovery_codes))
        .await
        .map_err(ApiError::from)?;
    audit::record(
        &state.js,
        &caller,
        "account.mfa_recovery_codes",
        Some(&caller.username),
        json!({}),
    )
    .await;
    Ok(Json(MfaRecoveryCodes { recovery_codes }))
}
