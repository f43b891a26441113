//! Who the broker lets in: per-machine identities, enrollment tokens, the auth callout that
//! nats-server asks at every connect, and the kick that cuts a connection off at once.
//!
//! - `registry`: identities and tokens in KV (compare-and-set).
//! - `keys`: the issuer, backend and system nkeys (0600 seeds beside the database) and the
//!   nats-server configuration that names them (`kanade-backend broker-config`).
//! - `callout`: the service answering `$SYS.REQ.USER.AUTH` with a grant from
//!   `kanade_protocol::grants`, or a refusal.
//! - `kick`: closes a machine's connections through the system account (revoke, group change).
//!
//! `BrokerAccess` is what the API holds: decisions that also act on live connections.

pub mod callout;
pub mod keys;
pub mod kick;
pub mod registry;

use chrono::{DateTime, Utc};
use kanade_protocol::enrollment::MachineIdentity;

use crate::config::{BackendConfig, BrokerAuth};

pub use registry::{Decision, DecisionError, Registry};

/// The registry plus the broker's system connection (present when `[nats] auth = "callout"`).
#[derive(Clone)]
pub struct BrokerAccess {
    pub registry: Registry,
    pub kicker: Option<kick::Kicker>,
}

impl BrokerAccess {
    /// Applies an admin's decision; a revoked machine's connections are closed at once (the
    /// callout refuses its reconnects). Returns the record written and how many connections
    /// were closed.
    pub async fn decide(
        &self,
        pc_id: &str,
        decision: Decision,
        actor: &str,
        reason: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<(MachineIdentity, usize), DecisionError> {
        let identity = self
            .registry
            .decide(pc_id, decision, actor, reason, now)
            .await?;
        let kicked = match decision {
            Decision::Revoke => self.kick(pc_id).await,
            Decision::Approve | Decision::Reject => 0,
        };
        Ok((identity, kicked))
    }

    /// Closes every connection of machine `pc_id` (it reconnects and is asked about again:
    /// refused when revoked, granted its new groups after a membership change). Failures are
    /// logged, never returned: the KV record already decides the next connect.
    pub async fn kick(&self, pc_id: &str) -> usize {
        let Some(kicker) = &self.kicker else {
            return 0;
        };
        match kicker.kick_machine(pc_id).await {
            Ok(n) => {
                tracing::info!(
                    pc_id,
                    connections = n,
                    "closed the machine's broker connections"
                );
                n
            }
            Err(err) => {
                tracing::warn!(
                    pc_id,
                    error = format!("{err:#}"),
                    "could not close the machine's broker connections"
                );
                0
            }
        }
    }
}

/// The backend's broker connection: with `[nats] auth = "callout"` it proves the backend's
/// own nkey (made on first use), which the broker lets past the callout with full access.
/// Returns the keys too (the callout's issuer signs grants; the system key kicks).
pub async fn connect_backend(
    config: &BackendConfig,
) -> anyhow::Result<(async_nats::Client, Option<keys::BrokerKeys>)> {
    let keys = match config.nats.auth {
        BrokerAuth::Callout => Some(keys::BrokerKeys::load_or_create(&config.data_dir())?),
        BrokerAuth::None => None,
    };
    let access = access_as(config, keys.as_ref().map(|k| &k.backend))?;
    let client =
        kanade_bus::connect_with(kanade_bus::Role::Backend, &config.nats.url, &access).await?;
    Ok((client, keys))
}

/// The second connection, as the broker's system user, that lists and kicks connections.
pub async fn connect_system(
    config: &BackendConfig,
    keys: &keys::BrokerKeys,
) -> anyhow::Result<kick::Kicker> {
    let access = access_as(config, Some(&keys.system))?;
    let sys = kanade_bus::connect_with(kanade_bus::Role::BackendSystem, &config.nats.url, &access)
        .await?;
    Ok(kick::Kicker::new(sys))
}

fn access_as(
    config: &BackendConfig,
    key: Option<&nkeys::KeyPair>,
) -> anyhow::Result<kanade_bus::Access> {
    Ok(kanade_bus::Access {
        ca_file: config.nats.ca_file.clone(),
        nkey_seed: key
            .map(|k| {
                k.seed()
                    .map_err(|err| anyhow::anyhow!("encoding an nkey: {err}"))
            })
            .transpose()?,
        token: None,
    })
}

/// Makes an enrollment token with the backend's own broker credentials (no API session):
/// `kanade-backend enrollment-token`, for installers and `scripts/up`. Audited as
/// `kanade-backend (local)`. Returns the token text.
pub async fn issue_token_locally(
    config: &BackendConfig,
    group: Option<String>,
    expires_in: chrono::Duration,
    uses: u32,
) -> anyhow::Result<String> {
    if let Some(group) = &group {
        kanade_protocol::ids::IdKind::Group
            .check(group)
            .map_err(|err| anyhow::anyhow!("--group: {err}"))?;
    }
    anyhow::ensure!(uses >= 1, "--uses must be at least 1");
    let (client, _) = connect_backend(config).await?;
    let js = async_nats::jetstream::new(client);
    kanade_bus::ensure_resources(&js).await?;
    let registry = Registry::open(&js).await?;
    let (token, text) = registry
        .create_token(
            group,
            expires_in,
            uses,
            "kanade-backend (local)",
            Utc::now(),
        )
        .await?;
    let event = kanade_protocol::wire::AuditEvent {
        actor: "kanade-backend (local)".to_owned(),
        action: "enrollment.token_create".to_owned(),
        target: Some(token.id.clone()),
        payload: serde_json::json!({
            "group": token.group,
            "uses": token.uses_total,
            "expires_at": token.expires_at,
        }),
        occurred_at: Utc::now(),
        client_addr: None,
    };
    // Published here rather than through `crate::audit`, which speaks of API callers.
    js.publish(
        kanade_protocol::subject::audit(&event.action),
        serde_json::to_vec(&event)?.into(),
    )
    .await?
    .await?;
    Ok(text)
}
