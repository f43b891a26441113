//! Who may call what. Handlers state their requirement in their signature with the extractors
//! `Require<Viewer>`, `Require<Operator>`, `Require<Admin>` (and `SignedIn` for the few routes
//! a caller who must still change the password may use). The caller's role and disabled flag
//! are re-read from SQLite on every request, so demoting or disabling takes effect at once.
//! A session token names its session (`jti`) and the immutable account id; the session must
//! still be recorded in `sessions` (sign-out, password change, role change, disable and delete
//! remove rows there).

pub mod jwt;
pub mod password;
pub mod recovery;
pub mod secrets;
pub mod settings;
pub mod throttle;
pub mod totp;

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use kanade_protocol::api::Role;
use subtle::ConstantTimeEq;

use crate::config::AuthSecrets;
use crate::error::ApiError;
use crate::state::AppState;
use crate::store;
pub use settings::AuthSettings;

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub username: String,
    pub role: Role,
    pub must_change_pw: bool,
    /// The session id, for sign-out; `None` for the static token and disabled auth.
    pub session: Option<(String, chrono::DateTime<Utc>)>,
    pub client_addr: Option<String>,
}

impl Caller {
    /// An actor for events the backend itself causes (`scheduler`, `scheduler:<id>`,
    /// approval expiry): an admin without a session.
    pub fn system(name: &str) -> Caller {
        Caller {
            username: name.to_owned(),
            role: Role::Admin,
            must_change_pw: false,
            session: None,
            client_addr: None,
        }
    }
}

pub trait MinRole {
    const ROLE: Role;
}

pub struct Viewer;
pub struct Operator;
pub struct Admin;

impl MinRole for Viewer {
    const ROLE: Role = Role::Viewer;
}
impl MinRole for Operator {
    const ROLE: Role = Role::Operator;
}
impl MinRole for Admin {
    const ROLE: Role = Role::Admin;
}

/// A caller whose role is at least `R` and who has no pending password change.
pub struct Require<R: MinRole>(pub Caller, PhantomData<R>);

impl<R: MinRole> std::ops::Deref for Require<R> {
    type Target = Caller;

    fn deref(&self) -> &Caller {
        &self.0
    }
}

impl<R: MinRole + Send + Sync> FromRequestParts<AppState> for Require<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let caller = authenticate(parts, state).await?;
        if caller.must_change_pw {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "password_change_required",
                "change your password first (POST /api/auth/change-password)",
            ));
        }
        if caller.role < R::ROLE {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "this needs the {} role; you are {}",
                    R::ROLE.as_str(),
                    caller.role.as_str()
                ),
            ));
        }
        Ok(Require(caller, PhantomData))
    }
}

/// Any signed-in caller, even one who must still change the password.
pub struct SignedIn(pub Caller);

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        authenticate(parts, state).await.map(SignedIn)
    }
}

/// The client's address, when the server was started with connection info.
pub struct ClientAddr(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(client_addr(parts)))
    }
}

/// The client's address as the socket saw it.
pub fn client_addr(parts: &Parts) -> Option<String> {
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_string())
}

fn unauthorized(message: &str) -> ApiError {
    ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
}

async fn authenticate(parts: &Parts, state: &AppState) -> Result<Caller, ApiError> {
    let auth = &state.auth;
    let client_addr = client_addr(parts);
    if auth.disabled {
        tracing::warn!(path = %parts.uri.path(), "AUTH DISABLED: request served without authentication");
        return Ok(Caller {
            username: "dev".into(),
            role: Role::Admin,
            must_change_pw: false,
            session: None,
            client_addr,
        });
    }
    let token = bearer_token(parts)
        .ok_or_else(|| unauthorized("sign in first (kanade login, or POST /api/auth/login)"))?;
    let is_service = auth
        .static_token
        .as_ref()
        .is_some_and(|s| bool::from(s.as_bytes().ct_eq(token.as_bytes())));
    if is_service {
        return Ok(Caller {
            username: "service".into(),
            role: Role::Admin,
            must_change_pw: false,
            session: None,
            client_addr,
        });
    }
    let claims = auth
        .keys
        .verify(token)
        .ok_or_else(|| unauthorized("the session is invalid or expired; sign in again"))?;
    let (account_id, jti) = (claims.aid.clone(), claims.jti.clone());
    let found = state
        .store
        .read(move |c| store::users::session_state(c, &account_id, &jti, Utc::now()))
        .await
        .map_err(ApiError::from)?;
    match found {
        Some(s) if s.disabled => Err(unauthorized("this account is disabled")),
        Some(s) => Ok(Caller {
            username: s.username,
            role: s.role,
            must_change_pw: s.must_change_pw,
            session: Some((claims.jti.clone(), claims.expires_at())),
            client_addr,
        }),
        None => Err(unauthorized(
            "the session is no longer valid; sign in again",
        )),
    }
}

/// The token of an `Authorization: Bearer <token>` header; the scheme is case-insensitive
/// (RFC 7235).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim_start().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// An error that may tell the client when to try again (`Retry-After`): throttled secret
/// checks (429) and a full hashing queue (503).
#[derive(Debug)]
pub struct Refusal {
    pub error: ApiError,
    pub retry_after: Option<std::time::Duration>,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Refusal {
        Refusal {
            error,
            retry_after: None,
        }
    }
}

impl From<throttle::Refused> for Refusal {
    fn from(refused: throttle::Refused) -> Refusal {
        let (code, wait, whom) = match refused {
            throttle::Refused::Address(wait) => ("too_many_attempts", wait, "from your address"),
            throttle::Refused::Account(wait) => ("account_locked", wait, "for this account"),
        };
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1);
        Refusal {
            error: ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                format!("too many failed attempts {whom}; try again in {secs} seconds"),
            ),
            retry_after: Some(std::time::Duration::from_secs(secs)),
        }
    }
}

impl From<password::Busy> for Refusal {
    fn from(busy: password::Busy) -> Refusal {
        Refusal {
            error: ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "too many sign-ins are being checked right now; try again in a moment",
            ),
            retry_after: Some(busy.retry_after),
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = self.error.into_response();
        if let Some(wait) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&wait.as_secs().max(1).to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        response
    }
}

/// Seeds `admin` when there are no accounts (in KV: run after the read model's first sync).
/// The password comes from `KANADE_BOOTSTRAP_ADMIN_PASSWORD`, else it is generated, written
/// to a 0600 file in the data folder (whose path, never the password, is logged) and must be
/// changed at first login. Another replica seeding it at the same moment wins quietly.
pub async fn bootstrap_admin(
    accounts: &crate::accounts::Accounts,
    secrets: &AuthSecrets,
    data_dir: &Path,
) -> anyhow::Result<()> {
    if accounts.store.read(|c| store::users::count(c)).await? > 0 {
        forget_used_one_time_password(accounts, data_dir).await?;
        return Ok(());
    }
    let (password, must_change) = match &secrets.bootstrap_admin_password {
        Some(p) if !p.is_empty() => (p.clone(), false),
        _ => {
            let password = secrets::random_password(24)?;
            let file = data_dir.join("admin-password");
            secrets::write_private(&file, &password)?;
            tracing::warn!(file = %file.display(), "created account `admin`; its one-time password is in this file (change it at first sign-in)");
            (password, true)
        }
    };
    let hash = tokio::task::spawn_blocking(move || password::hash(&password)).await??;
    let created = accounts
        .create(&crate::accounts::NewUser {
            username: "admin",
            password_hash: &hash,
            role: Role::Admin,
            must_change_pw: must_change,
            email: None,
        })
        .await;
    match created {
        Ok(_) => tracing::info!("bootstrap admin account created"),
        Err(crate::accounts::AccountError::Conflict(_)) => {
            tracing::info!("bootstrap admin account created by another replica")
        }
        Err(err) => return Err(err.into()),
    }
    Ok(())
}

/// Removes the bootstrap admin's one-time password file once that password has been changed
/// (or the account is gone): it no longer lets anyone in and only misleads whoever finds it.
async fn forget_used_one_time_password(
    accounts: &crate::accounts::Accounts,
    data_dir: &Path,
) -> anyhow::Result<()> {
    let file = data_dir.join("admin-password");
    if !file.exists() {
        return Ok(());
    }
    let admin = accounts
        .store
        .read(|c| store::users::get(c, "admin"))
        .await?;
    if admin.is_none_or(|u| !u.must_change_pw) {
        std::fs::remove_file(&file)?;
        tracing::info!(file = %file.display(), "removed the one-time admin password file: that password was changed");
    }
    Ok(())
}

pub type SharedAuth = Arc<AuthSettings>;
