//! Accounts and sessions replicated through the broker, so any backend replica can sign anyone
//! in: KV `accounts` (one document per account, key = the user name in hex) and KV `sessions`
//! (key `<account id>.<session id>`) are the source of truth; SQLite `users` / `sessions` are
//! this replica's read model, kept by KV watches (`mirror`). Every change is a compare-and-set
//! write in KV followed by a wait until this replica's watch has applied it, so the writer
//! reads its own write; the other replicas apply it within moments.
//!
//! The rules of `ARCHITECTURE.md` hold across replicas: the account id is random at creation
//! and never reused, a password change, reset, role change, disable or delete ends the
//! account's sessions (deleting their keys in KV), and a sign-in whose account changed while
//! its session was being recorded is undone. The last-enabled-admin rule is checked against
//! the read model before the write (two admins demoted at the same moment on two replicas can
//! both pass; the audit trail shows it).

pub mod mirror;

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Utc};
use kanade_protocol::api::Role;
use kanade_protocol::names;
use tokio::sync::watch;

use crate::error::ApiError;
use crate::store::users::{Session, User};
use crate::store::{self, Store, StoreError};

/// How long a writer waits for its own change to reach its read model.
const APPLY_WAIT: Duration = Duration::from_secs(5);

/// The replicated accounts: KV buckets, the read model and how far the watches have applied.
pub struct Accounts {
    pub(crate) js: jetstream::Context,
    pub(crate) accounts: kv::Store,
    pub(crate) sessions: kv::Store,
    pub(crate) store: Store,
    /// The KV revision through which each read model is current (`None` before the first sync).
    pub(crate) applied_accounts: watch::Sender<Option<u64>>,
    pub(crate) applied_sessions: watch::Sender<Option<u64>>,
}

/// Why an account change was refused.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("account {0} not found")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the broker could not store the change: {0:#}")]
    Broker(anyhow::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<AccountError> for ApiError {
    fn from(err: AccountError) -> ApiError {
        match err {
            AccountError::NotFound(name) => ApiError::not_found(format!("account {name}")),
            AccountError::Conflict(msg) => {
                ApiError::new(axum::http::StatusCode::CONFLICT, "conflict", msg)
            }
            AccountError::Broker(err) => {
                ApiError::unavailable("the broker could not store the account", format!("{err:#}"))
            }
            AccountError::Store(err) => err.into(),
        }
    }
}

fn broker(err: impl Into<anyhow::Error>) -> AccountError {
    AccountError::Broker(err.into())
}

/// A new account's fields.
pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub must_change_pw: bool,
    pub email: Option<&'a str>,
}

/// An admin's change to an account.
pub struct Patch {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    /// `Some("")` clears it.
    pub email: Option<String>,
    /// A new hash; forces a password change at next sign-in.
    pub password_hash: Option<String>,
}

const LAST_ADMIN: &str = "this is the last enabled admin; make another admin first";

impl Accounts {
    /// Opens the buckets (made by `ensure_resources`).
    pub async fn open(js: &jetstream::Context, store: &Store) -> anyhow::Result<Arc<Accounts>> {
        let accounts = js.get_key_value(names::KV_ACCOUNTS).await?;
        let sessions = js.get_key_value(names::KV_SESSIONS).await?;
        Ok(Arc::new(Accounts {
            js: js.clone(),
            accounts,
            sessions,
            store: store.clone(),
            applied_accounts: watch::Sender::new(None),
            applied_sessions: watch::Sender::new(None),
        }))
    }

    /// Waits until the read model holds `rev` of the bucket (or gives up after a while: the
    /// watch applies it later).
    async fn wait(applied: &watch::Sender<Option<u64>>, rev: u64) {
        let mut rx = applied.subscribe();
        let reached =
            tokio::time::timeout(APPLY_WAIT, rx.wait_for(|a| a.is_some_and(|a| a >= rev))).await;
        if !matches!(reached, Ok(Ok(_))) {
            tracing::warn!(rev, "the account read model has not caught up with KV yet");
        }
    }

    /// Waits until the read model holds everything written to `bucket` so far.
    async fn settle(&self, bucket: &str) {
        let applied = if bucket == names::KV_ACCOUNTS {
            &self.applied_accounts
        } else {
            &self.applied_sessions
        };
        match self.js.get_stream(format!("KV_{bucket}")).await {
            Ok(stream) => Self::wait(applied, stream.cached_info().state.last_sequence).await,
            Err(err) => tracing::warn!(error = %err, bucket, "could not read the bucket's state"),
        }
    }

    /// Both read models have had their first full sync from KV.
    pub async fn synced(&self) {
        for applied in [&self.applied_accounts, &self.applied_sessions] {
            let _ = applied.subscribe().wait_for(Option::is_some).await;
        }
    }

    /// Creates an account with a fresh account id; 409 when the name is taken.
    pub async fn create(&self, new: &NewUser<'_>) -> Result<User, AccountError> {
        let now = Utc::now();
        let user = User {
            username: new.username.to_owned(),
            password_hash: new.password_hash.to_owned(),
            role: new.role,
            disabled: false,
            must_change_pw: new.must_change_pw,
            email: new.email.map(str::to_owned),
            totp_secret: None,
            totp_pending: None,
            created_at: now,
            updated_at: now,
            account_id: uuid::Uuid::new_v4().simple().to_string(),
            recovery_codes: Vec::new(),
        };
        let bytes = serde_json::to_vec(&user).map_err(broker)?;
        match self
            .accounts
            .create(names::account_key(new.username), bytes.into())
            .await
        {
            Ok(rev) => {
                Self::wait(&self.applied_accounts, rev).await;
                Ok(user)
            }
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => Err(
                AccountError::Conflict(format!("account {} already exists", new.username)),
            ),
            Err(err) => Err(broker(err)),
        }
    }

    /// Edits the account by compare-and-set; `edit` may run several times under contention
    /// and returns the new document (`None` deletes it). Returns the document before and after.
    async fn edit<F>(
        &self,
        username: &str,
        mut edit: F,
    ) -> Result<(User, Option<User>), AccountError>
    where
        F: FnMut(User) -> Result<Option<User>, AccountError>,
    {
        let mut before = None;
        let written = kanade_bus::kv::modify::<User, _>(
            &self.accounts,
            &names::account_key(username),
            |current| {
                let current = current.ok_or_else(|| AccountError::NotFound(username.to_owned()))?;
                before = Some(current.clone());
                Ok(edit(current)?)
            },
        )
        .await
        .map_err(|err| match err.downcast::<AccountError>() {
            Ok(refused) => refused,
            Err(other) => broker(other),
        })?;
        self.settle(names::KV_ACCOUNTS).await;
        let before = before.ok_or_else(|| AccountError::NotFound(username.to_owned()))?;
        Ok((before, written))
    }

    async fn other_enabled_admins(&self, username: &str) -> Result<i64, AccountError> {
        let name = username.to_owned();
        Ok(self
            .store
            .read(move |c| store::users::other_enabled_admins(c, &name))
            .await?)
    }

    /// Applies an admin's patch, refusing to leave the fleet without an enabled admin. A
    /// password reset, a role change or disabling ends the account's sessions (all but
    /// `keep`, the caller's).
    pub async fn patch(
        &self,
        username: &str,
        p: &Patch,
        keep: Option<&str>,
    ) -> Result<User, AccountError> {
        let others = self.other_enabled_admins(username).await?;
        let (before, after) = self
            .edit(username, |mut u| {
                let loses_admin = u.role == Role::Admin
                    && !u.disabled
                    && (p.role.is_some_and(|r| r != Role::Admin) || p.disabled == Some(true));
                if loses_admin && others == 0 {
                    return Err(AccountError::Conflict(LAST_ADMIN.to_owned()));
                }
                if let Some(role) = p.role {
                    u.role = role;
                }
                if let Some(disabled) = p.disabled {
                    u.disabled = disabled;
                }
                match p.email.as_deref() {
                    None => {}
                    Some("") => u.email = None,
                    Some(email) => u.email = Some(email.to_owned()),
                }
                if let Some(hash) = &p.password_hash {
                    u.password_hash = hash.clone();
                    u.must_change_pw = true;
                }
                u.updated_at = Utc::now();
                Ok(Some(u))
            })
            .await?;
        let after = after.ok_or_else(|| AccountError::NotFound(username.to_owned()))?;
        if p.password_hash.is_some() || after.role != before.role || after.disabled {
            self.end_sessions(&before.account_id, keep).await?;
        }
        Ok(after)
    }

    /// Sets the account's own new password and ends its other sessions; `keep` stays valid.
    pub async fn set_password(
        &self,
        username: &str,
        hash: &str,
        keep: Option<&str>,
    ) -> Result<(), AccountError> {
        let (before, _) = self
            .edit(username, |mut u| {
                u.password_hash = hash.to_owned();
                u.must_change_pw = false;
                u.updated_at = Utc::now();
                Ok(Some(u))
            })
            .await?;
        self.end_sessions(&before.account_id, keep).await
    }

    /// Sets (or clears) the TOTP secret waiting for its first code.
    pub async fn set_totp_pending(
        &self,
        username: &str,
        secret: Option<&str>,
    ) -> Result<(), AccountError> {
        self.edit(username, |mut u| {
            u.totp_pending = secret.map(str::to_owned);
            u.updated_at = Utc::now();
            Ok(Some(u))
        })
        .await
        .map(drop)
    }

    /// Turns the pending secret into the active one with `recovery` (hashes) as its recovery
    /// codes, or clears MFA and its recovery codes with `None`.
    pub async fn set_totp(
        &self,
        username: &str,
        secret: Option<&str>,
        recovery: Vec<String>,
    ) -> Result<(), AccountError> {
        self.edit(username, |mut u| {
            u.totp_secret = secret.map(str::to_owned);
            u.totp_pending = None;
            u.recovery_codes = if secret.is_some() {
                recovery.clone()
            } else {
                Vec::new()
            };
            u.updated_at = Utc::now();
            Ok(Some(u))
        })
        .await
        .map(drop)
    }

    /// Replaces the recovery codes (hashes) of an account with MFA on.
    pub async fn set_recovery_codes(
        &self,
        username: &str,
        hashes: Vec<String>,
    ) -> Result<(), AccountError> {
        self.edit(username, |mut u| {
            if u.totp_secret.is_none() {
                return Err(AccountError::Conflict("MFA is not enabled".to_owned()));
            }
            u.recovery_codes = hashes.clone();
            u.updated_at = Utc::now();
            Ok(Some(u))
        })
        .await
        .map(drop)
    }

    /// Spends the recovery code hashing to `hash`: true when the account had it unused (it is
    /// gone now, by compare-and-set, so two sign-ins racing with one code cannot both win).
    pub async fn use_recovery_code(
        &self,
        username: &str,
        hash: &str,
    ) -> Result<bool, AccountError> {
        const UNKNOWN: &str = "no such unused recovery code";
        let spent = self
            .edit(username, |mut u| {
                let before = u.recovery_codes.len();
                u.recovery_codes.retain(|h| h != hash);
                if u.recovery_codes.len() == before || u.totp_secret.is_none() {
                    return Err(AccountError::Conflict(UNKNOWN.to_owned()));
                }
                u.updated_at = Utc::now();
                Ok(Some(u))
            })
            .await;
        match spent {
            Ok(_) => Ok(true),
            Err(AccountError::Conflict(msg)) if msg == UNKNOWN => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// Deletes the account (never the last enabled admin) and ends all its sessions.
    pub async fn delete(&self, username: &str) -> Result<(), AccountError> {
        let others = self.other_enabled_admins(username).await?;
        let (before, _) = self
            .edit(username, |u| {
                if u.role == Role::Admin && !u.disabled && others == 0 {
                    return Err(AccountError::Conflict(LAST_ADMIN.to_owned()));
                }
                Ok(None)
            })
            .await?;
        self.end_sessions(&before.account_id, None).await
    }

    /// Ends every session of the account except `keep`, on every replica.
    pub async fn end_sessions(
        &self,
        account_id: &str,
        keep: Option<&str>,
    ) -> Result<(), AccountError> {
        let (aid, keep) = (account_id.to_owned(), keep.map(str::to_owned));
        let ended = self
            .store
            .read(move |c| store::users::sessions_of(c, &aid, keep.as_deref()))
            .await?;
        self.delete_sessions(&ended).await
    }

    async fn delete_sessions(&self, keys: &[(String, String)]) -> Result<(), AccountError> {
        if keys.is_empty() {
            return Ok(());
        }
        for (aid, jti) in keys {
            self.sessions
                .delete(names::session_key(aid, jti))
                .await
                .map_err(broker)?;
        }
        self.settle(names::KV_SESSIONS).await;
        Ok(())
    }

    /// Records a session just issued to `user` (as read at sign-in). `Ok(false)` when the
    /// account changed meanwhile (password, disable, deletion on any replica): the session is
    /// removed again and the sign-in must be repeated.
    pub async fn start_session(
        &self,
        user: &User,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<bool, AccountError> {
        let now = Utc::now();
        let session = Session {
            issued_at: now,
            expires_at,
        };
        let key = names::session_key(&user.account_id, jti);
        let bytes = serde_json::to_vec(&session).map_err(broker)?;
        let rev = self
            .sessions
            .put(&key, bytes.into())
            .await
            .map_err(broker)?;
        // Read after the write: a change that ended the account's sessions before this write
        // existed is visible now.
        let (current, _) =
            kanade_bus::kv::read::<User>(&self.accounts, &names::account_key(&user.username))
                .await
                .map_err(AccountError::Broker)?;
        let unchanged = current.is_some_and(|c| {
            c.account_id == user.account_id && c.password_hash == user.password_hash && !c.disabled
        });
        if !unchanged {
            self.sessions.delete(&key).await.map_err(broker)?;
            return Ok(false);
        }
        Self::wait(&self.applied_sessions, rev).await;
        self.drop_expired(now).await;
        Ok(true)
    }

    /// Signs session `jti` out everywhere (and records it locally).
    pub async fn end_session(
        &self,
        jti: &str,
        expires_at: DateTime<Utc>,
    ) -> Result<(), AccountError> {
        let id = jti.to_owned();
        let account = self
            .store
            .read(move |c| store::users::session_account(c, &id))
            .await?;
        if let Some(aid) = account {
            self.delete_sessions(&[(aid, jti.to_owned())]).await?;
        }
        let id = jti.to_owned();
        self.store
            .write(move |c| store::users::revoke_session(c, &id, expires_at, Utc::now()))
            .await?;
        Ok(())
    }

    /// Removes a few expired sessions from KV (each sign-in tidies up after older ones).
    async fn drop_expired(&self, now: DateTime<Utc>) {
        let expired = self
            .store
            .read(move |c| store::users::expired_sessions(c, now, 50))
            .await;
        match expired {
            Ok(keys) => {
                for (aid, jti) in keys {
                    if let Err(err) = self.sessions.purge(names::session_key(&aid, &jti)).await {
                        tracing::warn!(error = %err, "could not remove an expired session");
                        return;
                    }
                }
            }
            Err(err) => tracing::warn!(error = %err, "could not list expired sessions"),
        }
    }
}
