//! Publishing a command to JetStream honestly: every subject's copy carries a message id
//! derived from the execution and subject, so a retry is stored once (the stream's duplicate
//! window), and an acknowledgement that never comes means "may be stored", not "not sent".
//! This is the one place the backend's commands are signed: each subject's copy for its
//! subject, as it goes out (so a wave is signed when it is published, not when planned).

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, context::PublishErrorKind};
use bytes::Bytes;
use chrono::Utc;
use kanade_protocol::wire::Command;

use crate::signer::Signer;
use crate::store::{self, Store};

/// Attempts per subject before a publish counts as unconfirmed.
pub const PUBLISH_ATTEMPTS: u32 = 3;
/// How long an unconfirmed execution keeps being re-published; well inside the streams'
/// 120 s duplicate window, so a copy the broker did store is never stored twice.
pub const SETTLE_FOR: Duration = Duration::from_secs(90);
const SETTLE_EVERY: Duration = Duration::from_secs(1);

/// How a command publish ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The broker acknowledged every subject's copy: the command is stored.
    Stored,
    /// Some acknowledgement never came: the command may be stored, and may run.
    Unconfirmed,
}

impl Delivery {
    /// The execution status this delivery leaves behind.
    pub fn status(self) -> &'static str {
        match self {
            Delivery::Stored => "pending",
            Delivery::Unconfirmed => "unconfirmed",
        }
    }
}

/// The `Nats-Msg-Id` of `command`'s copy on `subject`: the same on every retry.
pub fn message_id(command: &Command, subject: &str) -> String {
    format!("{}:{subject}", command.exec_id)
}

/// Publishes `command` on each subject and waits up to `ack_timeout` for the broker to store
/// each, retrying a missing acknowledgement under the same message id. A refusal (no stream,
/// too large, a JetStream error) is an error: nothing of that subject was stored. When an
/// acknowledgement is still missing after `PUBLISH_ATTEMPTS`, the rest is not tried and the
/// answer is `Unconfirmed` (a later retry covers every subject; duplicates are dropped).
pub async fn publish_command(
    js: &jetstream::Context,
    signer: &Signer,
    command: &Command,
    subjects: &[String],
    ack_timeout: Duration,
) -> anyhow::Result<Delivery> {
    for subject in subjects {
        let signed = signer.sign(command, subject, Utc::now());
        let payload = Bytes::from(serde_json::to_vec(&signed)?);
        let id = message_id(command, subject);
        if publish_one(js, subject, &id, &payload, ack_timeout).await? == Delivery::Unconfirmed {
            return Ok(Delivery::Unconfirmed);
        }
    }
    Ok(Delivery::Stored)
}

async fn publish_one(
    js: &jetstream::Context,
    subject: &str,
    id: &str,
    payload: &Bytes,
    ack_timeout: Duration,
) -> anyhow::Result<Delivery> {
    for attempt in 1..=PUBLISH_ATTEMPTS {
        let message = jetstream::message::PublishMessage::build()
            .payload(payload.clone())
            .message_id(id);
        let ack = match js.send_publish(subject.to_owned(), message).await {
            Ok(ack) => ack,
            Err(err) if may_be_stored(err.kind()) => {
                tracing::warn!(subject, attempt, error = %err, "command publish not sent in time; retrying");
                continue;
            }
            Err(err) => return Err(err).with_context(|| format!("publishing to {subject}")),
        };
        match tokio::time::timeout(ack_timeout, ack).await {
            Ok(Ok(_)) => return Ok(Delivery::Stored),
            Ok(Err(err)) if !may_be_stored(err.kind()) => {
                return Err(err).with_context(|| format!("the broker refused {subject}"));
            }
            Ok(Err(err)) => {
                tracing::warn!(subject, attempt, error = %err, "no acknowledgement for a command; retrying");
            }
            Err(_) => {
                tracing::warn!(subject, attempt, timeout = ?ack_timeout, "no acknowledgement for a command in time; retrying");
            }
        }
    }
    Ok(Delivery::Unconfirmed)
}

/// A timeout or a dropped connection leaves the message possibly stored.
fn may_be_stored(kind: PublishErrorKind) -> bool {
    matches!(
        kind,
        PublishErrorKind::TimedOut | PublishErrorKind::BrokenPipe
    )
}

/// Keeps re-publishing an unconfirmed execution's command (same message ids) for up to
/// `SETTLE_FOR`; once the broker acknowledges every copy the execution becomes `pending`
/// (unless results moved it on already). Past that, housekeeping expires it if no machine
/// ever reports.
pub fn settle_later(
    js: jetstream::Context,
    signer: std::sync::Arc<Signer>,
    store: Store,
    command: Command,
    subjects: Vec<String>,
    ack_timeout: Duration,
) {
    tokio::spawn(async move {
        let until = tokio::time::Instant::now() + SETTLE_FOR;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(SETTLE_EVERY).await;
            match publish_command(&js, &signer, &command, &subjects, ack_timeout).await {
                Ok(Delivery::Stored) => {
                    let id = command.exec_id.clone();
                    match store
                        .write(move |c| store::executions::confirm(c, &id))
                        .await
                    {
                        Ok(()) => {
                            tracing::info!(exec_id = %command.exec_id, "the broker confirmed an unconfirmed command")
                        }
                        Err(err) => {
                            tracing::error!(exec_id = %command.exec_id, error = %err, "could not record a confirmed command")
                        }
                    }
                    return;
                }
                Ok(Delivery::Unconfirmed) => {}
                Err(err) => {
                    tracing::warn!(exec_id = %command.exec_id, error = format!("{err:#}"), "retrying an unconfirmed command failed")
                }
            }
        }
        tracing::warn!(
            exec_id = %command.exec_id,
            "the broker never confirmed the command; it stays unconfirmed until results arrive or housekeeping expires it"
        );
    });
}
