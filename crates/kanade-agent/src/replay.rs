//! Catch-up after being away: a durable pull consumer on `EXEC` filtered to this agent's
//! command subjects. Created with "deliver new" so a brand-new machine does not run old
//! broadcasts; reused (with updated filters) afterwards, so an agent returning from a restart
//! or an outage gets exactly the commands it missed (EXEC keeps the newest per subject).
//! `drain` hands each message's subject and stream sequence along, so the caller can pass over
//! a group's commands from before the machine joined it. `ensure_filtered` is the same
//! create-or-refilter logic for any stream (the notifications consumer uses it too).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{
    self,
    consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull},
};
use futures::StreamExt;
use kanade_protocol::names;

/// A consumer nobody pulled from for this long is removed by the broker, so retired
/// machines do not leave consumers behind. Longer than EXEC keeps commands (7 days).
const INACTIVE_THRESHOLD: Duration = Duration::from_secs(8 * 24 * 3600);
const BATCH: usize = 100;

/// Gets the agent's replay consumer, creating it ("deliver new") when missing and updating
/// its filter subjects when the agent's subjects changed.
pub async fn ensure_consumer(
    js: &jetstream::Context,
    pc_id: &str,
    subjects: &[String],
) -> anyhow::Result<PullConsumer> {
    ensure_filtered(
        js,
        Durable {
            stream: names::STREAM_EXEC,
            name: names::agent_replay_consumer(pc_id),
            description: format!("catch-up of commands for agent {pc_id}"),
            inactive_threshold: INACTIVE_THRESHOLD,
        },
        subjects,
    )
    .await
}

/// A durable pull consumer of one agent.
pub struct Durable {
    pub stream: &'static str,
    pub name: String,
    pub description: String,
    pub inactive_threshold: Duration,
}

/// Gets the consumer, creating it ("deliver new", explicit acks) when missing and updating
/// its filter subjects when they differ from `subjects`.
pub async fn ensure_filtered(
    js: &jetstream::Context,
    durable: Durable,
    subjects: &[String],
) -> anyhow::Result<PullConsumer> {
    let name = durable.name;
    let stream = js
        .get_stream(durable.stream)
        .await
        .with_context(|| format!("opening stream {}", durable.stream))?;
    let wanted = pull::Config {
        durable_name: Some(name.clone()),
        description: Some(durable.description),
        deliver_policy: DeliverPolicy::New,
        ack_policy: AckPolicy::Explicit,
        filter_subjects: subjects.to_vec(),
        inactive_threshold: durable.inactive_threshold,
        ..Default::default()
    };
    let consumer: PullConsumer = stream
        .get_or_create_consumer(&name, wanted.clone())
        .await
        .with_context(|| format!("getting or creating consumer {name}"))?;
    let current = &consumer.cached_info().config;
    let mut have: BTreeSet<&str> = current.filter_subjects.iter().map(String::as_str).collect();
    if !current.filter_subject.is_empty() {
        have.insert(current.filter_subject.as_str());
    }
    let want: BTreeSet<&str> = subjects.iter().map(String::as_str).collect();
    if have == want {
        return Ok(consumer);
    }
    tracing::info!(consumer = %name, subjects = ?subjects, "updating consumer filter subjects");
    // The delivery policy of an existing consumer cannot change; keep what it has.
    let updated = pull::Config {
        deliver_policy: current.deliver_policy,
        ..wanted
    };
    stream
        .update_consumer(updated)
        .await
        .with_context(|| format!("updating consumer {name}"))
}

/// Hands every pending message (subject, stream sequence, payload) to `accept`, acking each,
/// until nothing is left. Returns how many messages were handled.
pub async fn drain(
    consumer: &PullConsumer,
    mut accept: impl FnMut(&str, u64, &[u8]),
) -> anyhow::Result<usize> {
    let mut handled = 0;
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(BATCH)
            .messages()
            .await
            .context("fetching from the replay consumer")?;
        let mut in_batch = 0;
        while let Some(message) = batch.next().await {
            let message = match message {
                Ok(message) => message,
                Err(err) => {
                    tracing::debug!(error = %err, "replay fetch ended");
                    break;
                }
            };
            in_batch += 1;
            let sequence = message.info().map(|i| i.stream_sequence).unwrap_or(0);
            accept(&message.subject, sequence, &message.payload);
            if let Err(err) = message.ack().await {
                // Redelivery is harmless: the request id is already recorded.
                tracing::debug!(error = %err, "replay ack failed");
            }
        }
        handled += in_batch;
        if in_batch == 0 {
            return Ok(handled);
        }
    }
}
