//! The machine registry in KV: identities (`agent_identities`, keyed by pc id) and enrollment
//! tokens (`enrollment_tokens`, keyed by token id). Every change is compare-and-set
//! (`kanade_bus::kv::modify`), so two backend replicas answering connects at once cannot both
//! spend a token's last use, and an admin's decision is never lost to a connect's bookkeeping.

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use chrono::{DateTime, Duration, Utc};
use futures::TryStreamExt;
use kanade_protocol::enrollment::{
    self, EnrollmentToken, IdentityStatus, MachineIdentity, TokenRefusal,
};
use kanade_protocol::names;

use crate::auth::secrets;

/// The two buckets, opened once.
#[derive(Clone)]
pub struct Registry {
    identities: kv::Store,
    tokens: kv::Store,
    /// One lock per token: this backend spends a token's uses one at a time, so a burst of
    /// machines enrolling with one token does not turn into compare-and-set collisions (other
    /// replicas still can collide; the write retries with backoff).
    spending: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, SpendLock>>>,
}

type SpendLock = std::sync::Arc<tokio::sync::Mutex<()>>;

/// Why an admin's decision about a machine was not applied (nothing was written).
#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error("machine {0} has never asked to join")]
    Unknown(String),
    #[error("machine {pc_id} is {status}; {what}")]
    NotApplicable {
        pc_id: String,
        status: &'static str,
        what: &'static str,
    },
    #[error(transparent)]
    Broker(#[from] anyhow::Error),
}

/// What an admin decides about a machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Let it in (a pending machine, a pending new key, or one revoked or rejected before).
    Approve,
    /// Refuse a machine that was never approved.
    Reject,
    /// Cut off an approved machine.
    Revoke,
}

impl Registry {
    pub async fn open(js: &jetstream::Context) -> anyhow::Result<Registry> {
        let open = |name: &'static str| async move {
            js.get_key_value(name)
                .await
                .with_context(|| format!("opening KV {name}"))
        };
        Ok(Registry {
            identities: open(names::KV_AGENT_IDENTITIES).await?,
            tokens: open(names::KV_ENROLLMENT_TOKENS).await?,
            spending: Default::default(),
        })
    }

    pub async fn identity(&self, pc_id: &str) -> anyhow::Result<Option<MachineIdentity>> {
        Ok(kanade_bus::kv::read(&self.identities, pc_id).await?.0)
    }

    /// Every machine that ever asked to join, sorted by pc id.
    pub async fn identities(&self) -> anyhow::Result<Vec<MachineIdentity>> {
        let mut out: Vec<MachineIdentity> = list(&self.identities, "agent_identities").await?;
        out.sort_by(|a, b| a.pc_id.cmp(&b.pc_id));
        Ok(out)
    }

    /// Changes one identity atomically; `edit` may run more than once.
    pub async fn edit_identity<F>(
        &self,
        pc_id: &str,
        edit: F,
    ) -> anyhow::Result<Option<MachineIdentity>>
    where
        F: FnMut(Option<MachineIdentity>) -> anyhow::Result<Option<MachineIdentity>>,
    {
        kanade_bus::kv::modify(&self.identities, pc_id, edit).await
    }

    /// Applies an admin's decision. Approving a machine that presented a new key makes that
    /// key its identity.
    pub async fn decide(
        &self,
        pc_id: &str,
        decision: Decision,
        actor: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<MachineIdentity, DecisionError> {
        let result = self
            .edit_identity(pc_id, |current| {
                let Some(mut id) = current else {
                    return Err(anyhow::Error::new(DecisionError::Unknown(pc_id.to_owned())));
                };
                let refuse = |what: &'static str| {
                    Err(anyhow::Error::new(DecisionError::NotApplicable {
                        pc_id: pc_id.to_owned(),
                        status: id.status.as_str(),
                        what,
                    }))
                };
                match decision {
                    Decision::Approve => {
                        if id.status == IdentityStatus::Approved && id.pending_nkey.is_none() {
                            return refuse("nothing to approve");
                        }
                        if let Some(key) = id.pending_nkey.take() {
                            id.nkey = key;
                        }
                        id.status = IdentityStatus::Approved;
                    }
                    Decision::Reject => {
                        if id.status == IdentityStatus::Approved && id.pending_nkey.is_some() {
                            // Refuses the new key; the approved one stays.
                            id.pending_nkey = None;
                        } else if id.status != IdentityStatus::Pending {
                            return refuse("only a pending machine or key can be rejected");
                        } else {
                            id.status = IdentityStatus::Rejected;
                        }
                    }
                    Decision::Revoke => {
                        if id.status != IdentityStatus::Approved {
                            return refuse("only an approved machine can be revoked");
                        }
                        id.status = IdentityStatus::Revoked;
                        id.pending_nkey = None;
                    }
                }
                id.decided_by = Some(actor.to_owned());
                id.decided_at = Some(now);
                id.reason = reason.clone();
                Ok(Some(id))
            })
            .await;
        match result {
            Ok(Some(id)) => Ok(id),
            Ok(None) => Err(DecisionError::Unknown(pc_id.to_owned())),
            Err(err) => match err.downcast::<DecisionError>() {
                Ok(decision) => Err(decision),
                Err(err) => Err(DecisionError::Broker(err)),
            },
        }
    }

    /// Makes a token; returns its record and the text to hand out (shown once: only the
    /// secret's SHA-256 is kept).
    pub async fn create_token(
        &self,
        group: Option<String>,
        expires_in: Duration,
        uses: u32,
        actor: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(EnrollmentToken, String)> {
        let id = hex(&secrets::random_bytes(enrollment::TOKEN_ID_LEN / 2)?);
        let secret = hex(&secrets::random_bytes(enrollment::TOKEN_SECRET_LEN / 2)?);
        let token = EnrollmentToken {
            id: id.clone(),
            secret_sha256: enrollment::secret_sha256(&secret),
            group,
            expires_at: now + expires_in,
            uses_left: uses,
            uses_total: uses,
            created_by: actor.to_owned(),
            created_at: now,
        };
        let bytes = serde_json::to_vec(&token)?;
        self.tokens
            .create(&id, bytes.into())
            .await
            .context("writing KV enrollment_tokens")?;
        Ok((token, enrollment::token_text(&id, &secret)))
    }

    /// Every token, newest first.
    pub async fn tokens(&self) -> anyhow::Result<Vec<EnrollmentToken>> {
        let mut out: Vec<EnrollmentToken> = list(&self.tokens, "enrollment_tokens").await?;
        out.sort_by_key(|t| std::cmp::Reverse(t.created_at));
        Ok(out)
    }

    /// Deletes a token; false when there was none.
    pub async fn delete_token(&self, id: &str) -> anyhow::Result<bool> {
        let existed = kanade_bus::kv::read::<EnrollmentToken>(&self.tokens, id)
            .await?
            .0
            .is_some();
        if existed {
            self.tokens
                .purge(id)
                .await
                .context("deleting from KV enrollment_tokens")?;
        }
        Ok(existed)
    }

    /// Spends one use of the token in `text` (compare-and-set), or says why it cannot.
    pub async fn spend_token(
        &self,
        text: &str,
        now: DateTime<Utc>,
    ) -> Result<EnrollmentToken, Spend> {
        let (id, secret) = enrollment::parse_token(text).map_err(Spend::Refused)?;
        let lock = {
            let mut locks = self.spending.lock().unwrap_or_else(|p| p.into_inner());
            if locks.len() > 1024 {
                locks.retain(|_, lock| std::sync::Arc::strong_count(lock) > 1);
            }
            locks.entry(id.to_owned()).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        let spent = kanade_bus::kv::modify::<EnrollmentToken, _>(&self.tokens, id, |current| {
            let Some(mut token) = current else {
                return Err(anyhow::Error::new(Refusal(TokenRefusal::Unknown)));
            };
            if !token.matches(secret) {
                // The id is public in logs; a wrong secret reads like an unknown token.
                return Err(anyhow::Error::new(Refusal(TokenRefusal::Unknown)));
            }
            token
                .usable(now)
                .map_err(|r| anyhow::Error::new(Refusal(r)))?;
            token.uses_left -= 1;
            Ok(Some(token))
        })
        .await;
        match spent {
            Ok(Some(token)) => Ok(token),
            Ok(None) => Err(Spend::Refused(TokenRefusal::Unknown)),
            Err(err) => match err.downcast::<Refusal>() {
                Ok(Refusal(r)) => Err(Spend::Refused(r)),
                Err(err) => Err(Spend::Broker(err)),
            },
        }
    }
}

/// Why a token was not spent.
#[derive(Debug)]
pub enum Spend {
    Refused(TokenRefusal),
    Broker(anyhow::Error),
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Refusal(TokenRefusal);

async fn list<T: serde::de::DeserializeOwned>(
    store: &kv::Store,
    bucket: &str,
) -> anyhow::Result<Vec<T>> {
    let keys: Vec<String> = match store.keys().await {
        Ok(keys) => keys
            .try_collect()
            .await
            .with_context(|| format!("listing KV {bucket}"))?,
        Err(err) => return Err(anyhow::anyhow!(err).context(format!("listing KV {bucket}"))),
    };
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        match kanade_bus::kv::read::<T>(store, &key).await {
            Ok((Some(value), _)) => out.push(value),
            Ok((None, _)) => {}
            Err(err) => tracing::warn!(
                bucket,
                key,
                error = format!("{err:#}"),
                "skipping an unreadable entry"
            ),
        }
    }
    Ok(out)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
