//! How the backend authenticates callers: the JWT keys, the session lifetime, the sign-in
//! throttle and the argon2 gate, built once at start and shared through `AppState`.

use std::path::Path;

use chrono::Duration;

use crate::auth::{jwt, password, secrets, throttle};
use crate::config::AuthSecrets;

/// How the backend authenticates callers.
pub struct AuthSettings {
    /// `KANADE_AUTH_DISABLE=1`: every caller is an admin. Development only.
    pub disabled: bool,
    /// `KANADE_AUTH_STATIC_TOKEN`: a service identity with the admin role.
    pub static_token: Option<String>,
    pub keys: jwt::JwtKeys,
    pub session_ttl: Duration,
    pub throttle: throttle::Throttle,
    /// Bounds concurrent argon2 work (sign-ins, password changes, account creation).
    pub hashing: password::HashGate,
}

impl AuthSettings {
    /// Builds the settings; the JWT secret comes from the environment or a 0600 file in the
    /// data folder, created on first start.
    pub fn new(
        secrets: &AuthSecrets,
        data_dir: &Path,
        session_ttl: Duration,
    ) -> anyhow::Result<AuthSettings> {
        let jwt_secret = match &secrets.jwt_secret {
            Some(secret) if secret.len() >= 32 => secret.clone(),
            Some(_) => anyhow::bail!("KANADE_JWT_SECRET must be at least 32 characters"),
            None => secrets::load_or_create(&data_dir.join("jwt-secret"), secrets::random_key)?,
        };
        if secrets.auth_disable {
            tracing::warn!(
                "AUTHENTICATION IS DISABLED (KANADE_AUTH_DISABLE=1): every caller is an admin. Never do this outside development."
            );
        }
        Ok(AuthSettings {
            disabled: secrets.auth_disable,
            static_token: secrets.static_token.clone().filter(|t| !t.is_empty()),
            keys: jwt::JwtKeys::new(jwt_secret.as_bytes()),
            session_ttl,
            throttle: throttle::Throttle::default(),
            hashing: password::HashGate::for_this_host(),
        })
    }
}
