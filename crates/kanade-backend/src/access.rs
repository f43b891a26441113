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
