//! Read marks of notifications in KV `notifications_read` (key `<pc>.<user>.<id>`, see
//! `names::notification_read_key`): the agent writes one when a person confirms a
//! notification (its only KV write, besides the ack event through the outbox) and reads them
//! when it lists notifications, so a confirmation outlives this machine's local inbox and is
//! shared with the original kanade's agents and clients. Best effort with short timeouts:
//! while the broker is away the local inbox alone answers.

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use kanade_protocol::names;
use kanade_protocol::wire::NotificationRead;

/// Longest a list or an ack waits for the broker.
const TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub struct ReadMarks {
    js: jetstream::Context,
    pc_id: String,
}

impl ReadMarks {
    pub fn new(client: async_nats::Client, pc_id: String) -> ReadMarks {
        ReadMarks {
            js: jetstream::new(client),
            pc_id,
        }
    }

    async fn bucket(&self) -> anyhow::Result<jetstream::kv::Store> {
        self.js
            .get_key_value(names::KV_NOTIFICATIONS_READ)
            .await
            .context("opening KV notifications_read")
    }

    /// Records that `user` confirmed `id` at `at`.
    pub async fn mark(&self, user: &str, id: &str, at: DateTime<Utc>) -> anyhow::Result<()> {
        let key = names::notification_read_key(&self.pc_id, user, id);
        let value = serde_json::to_vec(&NotificationRead {
            acked_at: at,
            acked_by: user.to_owned(),
        })?;
        tokio::time::timeout(TIMEOUT, async {
            self.bucket()
                .await?
                .put(&key, value.into())
                .await
                .with_context(|| format!("writing notifications_read {key}"))
        })
        .await
        .context("the broker did not answer")??;
        Ok(())
    }

    /// Which of `ids` `user` confirmed according to the broker; empty when it cannot be asked.
    pub async fn marked(&self, user: &str, ids: &[String]) -> BTreeSet<String> {
        let lookup = async {
            let kv = self.bucket().await?;
            let mut marked = BTreeSet::new();
            for id in ids {
                let key = names::notification_read_key(&self.pc_id, user, id);
                if kv.get(&key).await?.is_some() {
                    marked.insert(id.clone());
                }
            }
            anyhow::Ok(marked)
        };
        match tokio::time::timeout(TIMEOUT, lookup).await {
            Ok(Ok(marked)) => marked,
            Ok(Err(err)) => {
                tracing::debug!(
                    error = format!("{err:#}"),
                    "read marks unavailable; the local inbox answers"
                );
                BTreeSet::new()
            }
            Err(_) => BTreeSet::new(),
        }
    }
}
