//! The auth callout: nats-server asks (`$SYS.REQ.USER.AUTH`, a server-signed JWT) about every
//! client that is not the backend itself, and this service answers with a grant signed by the
//! issuer key, or a refusal. Every backend replica answers in one queue group.
//!
//! A machine connects as `kanade-agent/<pc_id>`, signing the server's nonce with its own nkey:
//! - approved with that key → its grant (`kanade_protocol::grants::agent`, with its groups);
//! - unknown: with a valid enrollment token → approved (a use spent, the token's group
//!   joined); without → recorded `pending` and refused until an admin approves;
//! - a different key for a known pc id → kept as `pending_nkey` for an admin, refused (no
//!   machine can take over another's id); pending, rejected or revoked → refused.
//!
//! An operator's break-glass CLI connects as `kanade-cli` with its API session token: an
//! operator or admin whose session is live gets `grants::operator`; anyone else is refused.

use std::sync::Arc;

use anyhow::Context;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kanade_bus::natsjwt::{self, AuthRequest, Grant, Permissions};
use kanade_protocol::api::Role;
use kanade_protocol::enrollment::{IdentityStatus, MachineIdentity, TokenRefusal};
use kanade_protocol::{grants, ids};
use nkeys::KeyPair;
use tokio::sync::Semaphore;

use super::keys::ACCOUNT;
use super::registry::{Registry, Spend};
use crate::auth::AuthSettings;
use crate::store::{self, Store};

/// A grant lasts this long; then the server drops the connection and asks again (which also
/// refreshes the machine's groups).
const GRANT_TTL: chrono::Duration = chrono::Duration::hours(12);
/// Requests answered at once; the rest wait (nats-server retries a client that timed out).
const CONCURRENCY: usize = 64;
/// A machine's `last_seen` is rewritten at most this often (connect storms stay cheap).
const SEEN_EVERY: chrono::Duration = chrono::Duration::minutes(10);
const QUEUE: &str = "kanade-auth-callout";

/// What the callout needs.
#[derive(Clone)]
pub struct Callout {
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub registry: Registry,
    pub issuer: Arc<KeyPair>,
    pub auth: Arc<AuthSettings>,
    pub store: Store,
}

/// Answers authorization requests until the subscription ends.
pub async fn run(callout: Callout) -> anyhow::Result<()> {
    let mut requests = callout
        .nats
        .queue_subscribe(natsjwt::AUTH_CALLOUT_SUBJECT, QUEUE.to_owned())
        .await
        .context("subscribing to the auth callout subject")?;
    tracing::info!("answering the broker's authorization requests");
    let gate = Arc::new(Semaphore::new(CONCURRENCY));
    while let Some(message) = requests.next().await {
        let Some(reply) = message.reply.clone() else {
            continue;
        };
        let permit = gate.clone().acquire_owned().await?;
        let callout = callout.clone();
        tokio::spawn(async move {
            let _permit = permit;
            let request = match AuthRequest::decode(&message.payload) {
                Ok(request) => request,
                Err(err) => {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "ignoring an authorization request that does not verify"
                    );
                    return;
                }
            };
            let answer = callout.decide(&request, Utc::now()).await;
            if let Err(reason) = &answer {
                tracing::info!(
                    client = request.name,
                    host = request.host,
                    reason,
                    "refused a broker connection"
                );
            }
            let signed = natsjwt::respond(
                &request,
                answer.as_ref().map_err(String::as_str),
                &callout.issuer,
            );
            match signed {
                Ok(body) => {
                    if let Err(err) = callout.nats.publish(reply, body.into()).await {
                        tracing::warn!(error = %err, "could not answer an authorization request");
                    }
                }
                Err(err) => tracing::error!(
                    error = format!("{err:#}"),
                    "could not sign an authorization answer"
                ),
            }
        });
    }
    anyhow::bail!("the auth callout subscription ended")
}

impl Callout {
    /// The grant for `request`, or why it is refused (the reason is logged, not sent: the
    /// client only learns "authorization violation").
    pub async fn decide(&self, request: &AuthRequest, now: DateTime<Utc>) -> Result<Grant, String> {
        let grant = |name: String, permissions: grants::Permissions| Grant {
            account: ACCOUNT.to_owned(),
            name,
            permissions: Permissions {
                publish: permissions.publish,
                subscribe: permissions.subscribe,
                responses: permissions.responses,
            },
            expires: now + GRANT_TTL,
        };
        if let Some(pc_id) = request.name.strip_prefix("kanade-agent/") {
            let groups = self.admit_machine(pc_id, request, now).await?;
            return Ok(grant(
                format!("agent/{pc_id}"),
                grants::agent(pc_id, &groups),
            ));
        }
        if request.name == "kanade-cli" {
            let user = self.admit_operator(request, now).await?;
            return Ok(grant(format!("operator/{user}"), grants::operator()));
        }
        Err(format!("unknown client name `{}`", request.name))
    }

    /// Lets machine `pc_id` in (returning its groups) or says why not.
    async fn admit_machine(
        &self,
        pc_id: &str,
        request: &AuthRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, String> {
        ids::IdKind::Machine
            .check(pc_id)
            .map_err(|err| format!("bad machine id: {err}"))?;
        let key = match (&request.client_nkey, request.nonce_verified) {
            (Some(key), true) => key.clone(),
            _ => return Err(format!("{pc_id} did not prove a machine key")),
        };
        let broker = |err: anyhow::Error| format!("registry unavailable: {err:#}");
        let known = self.registry.identity(pc_id).await.map_err(broker)?;
        match known {
            Some(id) if id.status == IdentityStatus::Approved && id.nkey == key => {
                if now - id.last_seen > SEEN_EVERY {
                    self.seen(pc_id, &request.host, now).await;
                }
                crate::desired::effective_groups_of(&self.js, pc_id)
                    .await
                    .map_err(broker)
            }
            Some(id) if id.status == IdentityStatus::Approved => {
                self.record(pc_id, &key, request, now, None).await;
                Err(format!(
                    "{pc_id} presented a key other than its approved one; an admin must approve the new key"
                ))
            }
            Some(id) if id.status == IdentityStatus::Rejected => {
                Err(format!("{pc_id} was rejected by {}", who(&id)))
            }
            Some(id) if id.status == IdentityStatus::Revoked => {
                Err(format!("{pc_id} was revoked by {}", who(&id)))
            }
            _ => self.enroll(pc_id, &key, request, now).await,
        }
    }

    /// A machine not yet approved: a valid token approves it, else it waits as pending.
    async fn enroll(
        &self,
        pc_id: &str,
        key: &str,
        request: &AuthRequest,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, String> {
        let Some(text) = &request.token else {
            self.record(pc_id, key, request, now, None).await;
            return Err(format!("{pc_id} awaits approval (no enrollment token)"));
        };
        let token = match self.registry.spend_token(text, now).await {
            Ok(token) => token,
            Err(Spend::Refused(refusal)) => {
                self.record(pc_id, key, request, now, Some(refusal)).await;
                return Err(format!("{pc_id} awaits approval: {refusal}"));
            }
            Err(Spend::Broker(err)) => return Err(format!("registry unavailable: {err:#}")),
        };
        if let Some(group) = &token.group {
            let group = group.clone();
            crate::desired::edit_groups(&self.js, pc_id, |mut groups| {
                groups.push(group.clone());
                groups
            })
            .await
            .map_err(|err| format!("could not add {pc_id} to its token's group: {err:#}"))?;
        }
        let (host, key, token_id) = (request.host.clone(), key.to_owned(), token.id.clone());
        self.registry
            .edit_identity(pc_id, |current| {
                let mut id = current.unwrap_or_else(|| fresh(pc_id, &key, &host, now));
                id.nkey = key.clone();
                id.pending_nkey = None;
                id.status = IdentityStatus::Approved;
                id.token_id = Some(token_id.clone());
                id.decided_by = Some(format!("token:{token_id}"));
                id.decided_at = Some(now);
                id.reason = None;
                id.last_seen = now;
                id.address = host.clone();
                Ok(Some(id))
            })
            .await
            .map_err(|err| format!("registry unavailable: {err:#}"))?;
        tracing::info!(pc_id, token = token.id, "machine enrolled with a token");
        crate::desired::effective_groups_of(&self.js, pc_id)
            .await
            .map_err(|err| format!("registry unavailable: {err:#}"))
    }

    /// Records a machine that is not let in: new ones as pending, a different key of a known
    /// machine as its `pending_nkey`. Failures are logged; the refusal stands either way.
    async fn record(
        &self,
        pc_id: &str,
        key: &str,
        request: &AuthRequest,
        now: DateTime<Utc>,
        refusal: Option<TokenRefusal>,
    ) {
        let (host, key) = (request.host.clone(), key.to_owned());
        let written = self
            .registry
            .edit_identity(pc_id, |current| {
                let mut id = match current {
                    None => fresh(pc_id, &key, &host, now),
                    Some(mut id) => {
                        if id.nkey != key {
                            if id.pending_nkey.as_deref() == Some(key.as_str())
                                && now - id.last_seen < SEEN_EVERY
                            {
                                return Ok(Some(id));
                            }
                            id.pending_nkey = Some(key.clone());
                        } else if now - id.last_seen < SEEN_EVERY {
                            return Ok(Some(id));
                        }
                        id
                    }
                };
                id.last_seen = now;
                id.address = host.clone();
                if let Some(refusal) = refusal {
                    id.reason = Some(refusal.to_string());
                }
                Ok(Some(id))
            })
            .await;
        if let Err(err) = written {
            tracing::warn!(
                pc_id,
                error = format!("{err:#}"),
                "could not record a machine asking to join"
            );
        }
    }

    async fn seen(&self, pc_id: &str, host: &str, now: DateTime<Utc>) {
        let written = self
            .registry
            .edit_identity(pc_id, |current| {
                Ok(current.map(|mut id| {
                    id.last_seen = now;
                    id.address = host.to_owned();
                    id
                }))
            })
            .await;
        if let Err(err) = written {
            tracing::debug!(
                pc_id,
                error = format!("{err:#}"),
                "could not update last_seen"
            );
        }
    }

    /// An operator's CLI: its API session token must be live, its role operator or admin.
    async fn admit_operator(
        &self,
        request: &AuthRequest,
        now: DateTime<Utc>,
    ) -> Result<String, String> {
        let token = request
            .token
            .as_deref()
            .ok_or("the CLI presented no session token (kanade login first)")?;
        let claims = self
            .auth
            .keys
            .verify(token)
            .ok_or("the session token is invalid or expired")?;
        let (account_id, jti) = (claims.aid.clone(), claims.jti.clone());
        let state = self
            .store
            .read(move |c| store::users::session_state(c, &account_id, &jti, now))
            .await
            .map_err(|err| format!("the account database is unavailable: {err}"))?
            .ok_or("the session is no longer valid")?;
        if state.disabled {
            return Err(format!("account {} is disabled", state.username));
        }
        if state.must_change_pw {
            return Err(format!("{} must change the password first", state.username));
        }
        match state.role {
            Role::Operator | Role::Admin => Ok(state.username),
            Role::Viewer => Err(format!(
                "{} is a viewer; break-glass needs the operator role",
                state.username
            )),
        }
    }
}

fn fresh(pc_id: &str, key: &str, host: &str, now: DateTime<Utc>) -> MachineIdentity {
    MachineIdentity {
        pc_id: pc_id.to_owned(),
        nkey: key.to_owned(),
        status: IdentityStatus::Pending,
        pending_nkey: None,
        first_seen: now,
        last_seen: now,
        address: host.to_owned(),
        token_id: None,
        decided_by: None,
        decided_at: None,
        reason: None,
    }
}

fn who(id: &MachineIdentity) -> String {
    id.decided_by
        .clone()
        .unwrap_or_else(|| "an admin".to_owned())
}
