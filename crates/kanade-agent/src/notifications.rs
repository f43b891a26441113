//! Notifications for the people at the machine: one short-lived (ordered) consumer on stream
//! NOTIFICATIONS per subject — `notifications.all`, `notifications.group.<g>` (following live
//! membership) and `notifications.pc.<pc_id>` — each named, so its create names its subject and
//! the broker grant can allow this machine's subjects only. The last sequence received per
//! subject is kept in `<data_dir>/notification_marks.json`: a consumer starts right after it,
//! so a machine that was offline gets what it missed when it returns, and a subject never seen
//! before starts at the stream's end, so a brand-new machine does not get the backlog. No
//! durable consumer stays on the broker for a machine.
//!
//! Received notifications are kept in the `Inbox`, `<data_dir>/notifications.json` (rewritten
//! atomically; at most `MAX_KEPT`, none past its `expires_at` or older than `MAX_AGE`), which
//! the local socket (`local`) lists and acks from. The same notification reaches a machine
//! once per matching subject; the inbox keeps it once and it is shown on the desktop
//! (`desktop`) once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::connection::State;
use async_nats::jetstream;
use async_nats::jetstream::consumer::{DeliverPolicy, ReplayPolicy, push};
use chrono::{DateTime, TimeDelta, Utc};
use futures::StreamExt;
use kanade_protocol::names;
use kanade_protocol::subject::{self, is_valid_token};
use kanade_protocol::wire::Notification;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::desktop;
use crate::replay::Marks;

/// At most this many notifications are kept; the oldest received go first.
pub const MAX_KEPT: usize = 500;
/// Notifications issued longer ago than this are dropped (NOTIFICATIONS keeps 90 days).
pub const MAX_AGE: TimeDelta = TimeDelta::days(90);
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// One notification on this machine, as the local interface shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Kept {
    pub notification: Notification,
    pub received_at: DateTime<Utc>,
    /// The local accounts that confirmed it.
    #[serde(default)]
    pub acked_by: Vec<String>,
}

/// The notifications this machine received, persisted in `<data_dir>/notifications.json`.
pub struct Inbox {
    path: PathBuf,
    kept: Mutex<Vec<Kept>>,
}

impl Inbox {
    /// Reads the file; a missing or unreadable one starts an empty inbox (logged).
    pub fn load(data_dir: &Path) -> Inbox {
        let path = data_dir.join("notifications.json");
        let kept = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                tracing::warn!(path = %path.display(), error = %err,
                    "notifications file is corrupt; starting with an empty one");
                let _ = std::fs::rename(&path, path.with_extension("json.bad"));
                Vec::new()
            }),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err, "cannot read the notifications file");
                Vec::new()
            }
        };
        Inbox {
            path,
            kept: Mutex::new(kept),
        }
    }

    /// Keeps `notification`; false when it was already here or is already expired.
    pub fn add(&self, notification: Notification, now: DateTime<Utc>) -> anyhow::Result<bool> {
        let mut kept = self.lock();
        prune(&mut kept, now);
        if kept.iter().any(|k| k.notification.id == notification.id) || expired(&notification, now)
        {
            return Ok(false);
        }
        kept.push(Kept {
            notification,
            received_at: now,
            acked_by: Vec::new(),
        });
        prune(&mut kept, now);
        self.persist(&kept)?;
        Ok(true)
    }

    /// Everything current, newest first.
    pub fn list(&self, now: DateTime<Utc>) -> Vec<Kept> {
        let mut kept = self.lock();
        prune(&mut kept, now);
        let mut out = kept.clone();
        out.sort_by(|a, b| {
            (b.notification.issued_at, b.received_at)
                .cmp(&(a.notification.issued_at, a.received_at))
        });
        out
    }

    /// The current notification `id`, if any.
    pub fn get(&self, id: &str, now: DateTime<Utc>) -> Option<Notification> {
        let mut kept = self.lock();
        prune(&mut kept, now);
        kept.iter()
            .find(|k| k.notification.id == id)
            .map(|k| k.notification.clone())
    }

    /// Records that `user` confirmed `id`.
    pub fn mark_acked(&self, id: &str, user: &str) -> anyhow::Result<()> {
        let mut kept = self.lock();
        let Some(entry) = kept.iter_mut().find(|k| k.notification.id == id) else {
            return Ok(());
        };
        if !entry.acked_by.iter().any(|u| u == user) {
            entry.acked_by.push(user.to_owned());
            self.persist(&kept)?;
        }
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Kept>> {
        match self.kept.lock() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn persist(&self, kept: &[Kept]) -> anyhow::Result<()> {
        let bytes = serde_json::to_vec(kept)?;
        crate::outbox::write_atomic(&self.path, &bytes)
            .with_context(|| format!("writing {}", self.path.display()))
    }
}

fn expired(notification: &Notification, now: DateTime<Utc>) -> bool {
    notification.expires_at.is_some_and(|at| at <= now) || notification.issued_at + MAX_AGE < now
}

fn prune(kept: &mut Vec<Kept>, now: DateTime<Utc>) {
    kept.retain(|k| !expired(&k.notification, now));
    if kept.len() > MAX_KEPT {
        kept.sort_by_key(|k| k.received_at);
        let excess = kept.len() - MAX_KEPT;
        kept.drain(..excess);
    }
}

/// The subjects this machine's notifications arrive on.
pub fn subjects(pc_id: &str, groups: &BTreeSet<String>) -> Vec<String> {
    let mut subjects = vec![
        subject::NOTIFICATIONS_ALL.to_owned(),
        subject::notifications_pc(pc_id),
    ];
    subjects.extend(groups.iter().map(|g| subject::notifications_group(g)));
    subjects
}

/// Receives notifications into `inbox` and shows new ones on the desktop. Runs until aborted.
pub async fn run(
    client: async_nats::Client,
    pc_id: String,
    mut groups: watch::Receiver<Option<BTreeSet<String>>>,
    inbox: Arc<Inbox>,
) {
    let js = jetstream::new(client.clone());
    let mut marks = Marks::load(inbox.path.with_file_name("notification_marks.json"));
    let _ = groups.wait_for(Option::is_some).await;
    let mut backoff = Duration::ZERO;
    loop {
        if !backoff.is_zero() {
            tokio::time::sleep(backoff).await;
        }
        while client.connection_state() != State::Connected {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let wanted = subjects(
            &pc_id,
            &groups.borrow_and_update().clone().unwrap_or_default(),
        );
        match follow(&js, &pc_id, &wanted, &mut groups, &inbox, &mut marks).await {
            Ok(()) => backoff = Duration::ZERO,
            Err(err) => {
                let error = format!("{err:#}");
                if backoff.is_zero() {
                    tracing::warn!(error, "receiving notifications failed; retrying");
                } else {
                    tracing::debug!(error, "receiving notifications failed again");
                }
                backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
            }
        }
    }
}

/// Consumes `subjects` until the groups change (Ok) or a consumer fails.
async fn follow(
    js: &jetstream::Context,
    pc_id: &str,
    filter: &[String],
    groups: &mut watch::Receiver<Option<BTreeSet<String>>>,
    inbox: &Inbox,
    marks: &mut Marks,
) -> anyhow::Result<()> {
    let mut stream = js
        .get_stream(names::STREAM_NOTIFICATIONS)
        .await
        .context("opening stream NOTIFICATIONS")?;
    let end = stream
        .info()
        .await
        .context("reading stream NOTIFICATIONS")?
        .state
        .last_sequence;
    let mut messages = futures::stream::SelectAll::new();
    for subject in filter {
        // Never seen: from the end (no backlog); seen: right after the last one received.
        let after = match marks.get(subject) {
            Some(sequence) => sequence,
            None => {
                marks.set(subject, end);
                end
            }
        };
        let consumer = stream
            .create_consumer(push::OrderedConfig {
                name: Some(format!("n{}", uuid::Uuid::new_v4().simple())),
                deliver_subject: js.client().new_inbox(),
                description: Some(format!("notifications for the people at {pc_id}")),
                filter_subject: subject.clone(),
                deliver_policy: DeliverPolicy::ByStartSequence {
                    start_sequence: after + 1,
                },
                replay_policy: ReplayPolicy::Instant,
                ..Default::default()
            })
            .await
            .with_context(|| format!("consuming {subject}"))?;
        let subject = subject.clone();
        messages.push(
            consumer
                .messages()
                .await
                .with_context(|| format!("consuming {subject}"))?
                .map(move |message| (subject.clone(), message))
                .boxed(),
        );
    }
    tracing::debug!(?filter, "receiving notifications");
    loop {
        tokio::select! {
            message = messages.next() => {
                let (subject, message) = match message {
                    Some((subject, Ok(message))) => (subject, message),
                    Some((_, Err(err))) => bail!("notification stream: {err}"),
                    None => bail!("the notification streams ended"),
                };
                receive(&message.payload, inbox)?;
                if let Ok(info) = message.info() {
                    marks.set(&subject, info.stream_sequence);
                }
            }
            changed = groups.changed() => {
                if changed.is_err() {
                    std::future::pending::<()>().await;
                }
                let now = groups.borrow_and_update().clone().unwrap_or_default();
                if subjects(pc_id, &now) != filter {
                    return Ok(());
                }
            }
        }
    }
}

/// Keeps one delivered notification; Err (not acked, so delivered again) only when it cannot
/// be written down.
fn receive(payload: &[u8], inbox: &Inbox) -> anyhow::Result<()> {
    let notification: Notification = match serde_json::from_slice(payload) {
        Ok(notification) => notification,
        Err(err) => {
            tracing::warn!(error = %err, "ignoring a notification that does not decode");
            return Ok(());
        }
    };
    if !is_valid_token(&notification.id) {
        tracing::warn!(
            id = notification.id,
            "ignoring a notification whose id cannot be a subject token"
        );
        return Ok(());
    }
    let id = notification.id.clone();
    if inbox.add(notification.clone(), Utc::now())? {
        tracing::info!(id, title = notification.title, "notification received");
        tokio::spawn(async move { desktop::show(&notification).await });
    } else {
        tracing::debug!(id, "notification already here or expired");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notification(id: &str, issued_at: DateTime<Utc>) -> Notification {
        Notification {
            id: id.to_owned(),
            priority: Default::default(),
            require_ack: false,
            title: format!("title {id}"),
            body: String::new(),
            issued_at,
            issued_by: None,
            expires_at: None,
            target: Default::default(),
            toast: false,
        }
    }

    #[test]
    fn the_inbox_keeps_each_notification_once_and_drops_expired_ones() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let inbox = Inbox::load(dir.path());
        assert!(inbox.add(notification("a", now), now).unwrap());
        assert!(
            !inbox.add(notification("a", now), now).unwrap(),
            "same id twice"
        );
        let mut short = notification("b", now);
        short.expires_at = Some(now + TimeDelta::minutes(5));
        assert!(inbox.add(short, now).unwrap());
        let mut gone = notification("c", now);
        gone.expires_at = Some(now - TimeDelta::seconds(1));
        assert!(!inbox.add(gone, now).unwrap(), "already expired");
        assert!(
            !inbox
                .add(notification("old", now - MAX_AGE - TimeDelta::days(1)), now)
                .unwrap()
        );
        inbox.mark_acked("a", "ann").unwrap();
        inbox.mark_acked("a", "ann").unwrap();

        let reloaded = Inbox::load(dir.path());
        let ids = |list: Vec<Kept>| {
            list.into_iter()
                .map(|k| k.notification.id)
                .collect::<Vec<_>>()
        };
        let mut now_ids = ids(reloaded.list(now));
        now_ids.sort();
        assert_eq!(now_ids, ["a", "b"]);
        assert_eq!(
            reloaded.list(now)[0].acked_by.len() + reloaded.list(now)[1].acked_by.len(),
            1
        );
        assert_eq!(ids(reloaded.list(now + TimeDelta::minutes(6))), ["a"]);
        assert!(reloaded.get("b", now + TimeDelta::minutes(6)).is_none());
    }

    #[test]
    fn the_inbox_is_bounded_dropping_the_oldest_received() {
        let dir = tempfile::tempdir().unwrap();
        let inbox = Inbox::load(dir.path());
        let start = Utc::now();
        for i in 0..(MAX_KEPT + 3) {
            let at = start + TimeDelta::milliseconds(i as i64);
            assert!(inbox.add(notification(&format!("n{i}"), at), at).unwrap());
        }
        let list = inbox.list(start + TimeDelta::seconds(1));
        assert_eq!(list.len(), MAX_KEPT);
        assert!(inbox.get("n0", start).is_none());
        assert!(inbox.get(&format!("n{}", MAX_KEPT + 2), start).is_some());
    }

    #[test]
    fn subjects_follow_the_groups() {
        let groups: BTreeSet<String> = ["lab".to_owned()].into();
        assert_eq!(
            subjects("pc1", &groups),
            [
                "notifications.all",
                "notifications.pc.pc1",
                "notifications.group.lab"
            ]
        );
    }
}
