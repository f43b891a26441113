//! Getting messages to people: publishing a `Notification` on the subjects of its target
//! (JetStream, each publish acknowledged), and reading the e-mail contacts of groups from KV
//! `group_contacts`.

use std::collections::BTreeSet;

use async_nats::jetstream;
use bytes::Bytes;
use kanade_protocol::api::notification_subjects;
use kanade_protocol::names;
use kanade_protocol::wire::{GroupContacts, Notification};

/// Publishes `notification` on every subject of its target. Returns the subjects the broker
/// acknowledged; a subject that failed is logged and left out (partial delivery is allowed).
pub async fn publish(js: &jetstream::Context, notification: &Notification) -> Vec<String> {
    let payload = match serde_json::to_vec(notification) {
        Ok(bytes) => Bytes::from(bytes),
        Err(err) => {
            tracing::error!(%err, "could not encode a notification");
            return Vec::new();
        }
    };
    let mut landed = Vec::new();
    for subject in notification_subjects(&notification.target) {
        let ack = match js.publish(subject.clone(), payload.clone()).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(err) => Err(err.to_string()),
        };
        match ack {
            Ok(()) => landed.push(subject),
            Err(err) => {
                tracing::warn!(%subject, id = %notification.id, error = %err, "notification not delivered")
            }
        }
    }
    landed
}

/// The contacts of `group` (empty when none are set).
pub async fn group_emails(js: &jetstream::Context, group: &str) -> anyhow::Result<Vec<String>> {
    let kv = js.get_key_value(names::KV_GROUP_CONTACTS).await?;
    Ok(match kv.get(group).await? {
        Some(bytes) => serde_json::from_slice::<GroupContacts>(&bytes)?.emails,
        None => Vec::new(),
    })
}

/// The contacts of every group in `groups`, each address once. Groups that cannot be read
/// are logged and skipped.
pub async fn emails_of(js: &jetstream::Context, groups: &[String]) -> Vec<String> {
    let mut all = BTreeSet::new();
    for group in groups {
        match group_emails(js, group).await {
            Ok(emails) => all.extend(emails),
            Err(err) => {
                tracing::warn!(%group, error = format!("{err:#}"), "could not read the group's contacts")
            }
        }
    }
    all.into_iter().collect()
}
