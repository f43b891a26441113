//! `ApiClient` methods of signing in and accounts: login, the caller, password and MFA
//! changes, accounts (admin), and the audit log.

use chrono::{DateTime, SecondsFormat, Utc};
use kanade_protocol::api::{
    Account, AccountPatch, AuditEntry, ChangePasswordRequest, LoginRequest, LoginResponse, Me,
    MfaCode, MfaInit, NewAccount, Page,
};
use reqwest::Method;

use super::{ApiClient, AuditQuery, ClientError};

impl ApiClient {
    /// `POST /api/auth/login`. Needs no token; the answer carries one.
    pub async fn login(&self, request: &LoginRequest) -> Result<LoginResponse, ClientError> {
        let request = self
            .request(Method::POST, &["api", "auth", "login"])
            .json(request);
        self.send(request).await
    }

    /// `GET /api/auth/me`.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.send(self.request(Method::GET, &["api", "auth", "me"]))
            .await
    }

    /// `POST /api/auth/change-password`.
    pub async fn change_password(
        &self,
        request: &ChangePasswordRequest,
    ) -> Result<(), ClientError> {
        let request = self
            .request(Method::POST, &["api", "auth", "change-password"])
            .json(request);
        self.send_empty(request).await
    }

    /// `POST /api/auth/logout`: revokes the token this client carries.
    pub async fn logout(&self) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::POST, &["api", "auth", "logout"]))
            .await
    }

    /// `POST /api/auth/mfa/init`: a new secret, pending until `mfa_verify`.
    pub async fn mfa_init(&self) -> Result<MfaInit, ClientError> {
        self.send(self.request(Method::POST, &["api", "auth", "mfa", "init"]))
            .await
    }

    /// `POST /api/auth/mfa/verify`: enables MFA with the pending secret; its one-time recovery
    /// codes (none from a backend older than them, which answers 204).
    pub async fn mfa_verify(&self, code: &MfaCode) -> Result<Vec<String>, ClientError> {
        let request = self
            .request(Method::POST, &["api", "auth", "mfa", "verify"])
            .json(code);
        let (_, _, bytes) = self.send_raw(request).await?;
        Ok(
            serde_json::from_slice::<kanade_protocol::api::MfaRecoveryCodes>(&bytes)
                .map(|r| r.recovery_codes)
                .unwrap_or_default(),
        )
    }

    /// `POST /api/auth/mfa/recovery-codes`: new recovery codes (the old ones stop working).
    pub async fn mfa_recovery_codes(&self, code: &MfaCode) -> Result<Vec<String>, ClientError> {
        let request = self
            .request(Method::POST, &["api", "auth", "mfa", "recovery-codes"])
            .json(code);
        let codes: kanade_protocol::api::MfaRecoveryCodes = self.send(request).await?;
        Ok(codes.recovery_codes)
    }

    /// `POST /api/auth/mfa/disable`.
    pub async fn mfa_disable(&self, code: &MfaCode) -> Result<(), ClientError> {
        let request = self
            .request(Method::POST, &["api", "auth", "mfa", "disable"])
            .json(code);
        self.send_empty(request).await
    }

    /// `GET /api/accounts`.
    pub async fn list_accounts(&self) -> Result<Vec<Account>, ClientError> {
        self.send(self.request(Method::GET, &["api", "accounts"]))
            .await
    }

    /// `POST /api/accounts`.
    pub async fn create_account(&self, account: &NewAccount) -> Result<Account, ClientError> {
        let request = self
            .request(Method::POST, &["api", "accounts"])
            .json(account);
        self.send(request).await
    }

    /// `PATCH /api/accounts/{username}`.
    pub async fn update_account(
        &self,
        username: &str,
        patch: &AccountPatch,
    ) -> Result<Account, ClientError> {
        let request = self
            .request(Method::PATCH, &["api", "accounts", username])
            .json(patch);
        self.send(request).await
    }

    /// `DELETE /api/accounts/{username}`.
    pub async fn delete_account(&self, username: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &["api", "accounts", username]))
            .await
    }

    /// `GET /api/audit?actor=&action=&since=&until=&limit=&offset=` (unset filters are left
    /// out; times go as RFC 3339 in UTC).
    pub async fn list_audit(&self, query: &AuditQuery) -> Result<Page<AuditEntry>, ClientError> {
        let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
        let pairs = [
            ("actor", query.actor.clone()),
            ("action", query.action.clone()),
            ("since", query.since.as_ref().map(time)),
            ("until", query.until.as_ref().map(time)),
            ("limit", query.limit.map(|n| n.to_string())),
            ("offset", query.offset.map(|n| n.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "audit"], &pairs);
        self.send(request).await
    }
}
