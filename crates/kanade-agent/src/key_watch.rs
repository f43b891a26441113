//! Watching KV keys with consumers the broker can check. The client's own KV watch creates
//! its consumer with the filter in the request body, which nats-server cannot match against a
//! grant; these consumers are named, so each create names its filter in the subject
//! (`$JS.API.CONSUMER.CREATE.KV_<bucket>.<name>.$KV.<bucket>.<key>`) and the machine's grant
//! can allow exactly its own keys (`kanade_protocol::grants`). One ordered push consumer per
//! key, new changes only (a sync reads the current values right after opening them).

use std::pin::Pin;

use anyhow::Context;
use async_nats::jetstream::consumer::{DeliverPolicy, ReplayPolicy, push};
use async_nats::jetstream::{self, kv};
use futures::{Stream, StreamExt};

/// One change of a watched key.
#[derive(Debug, Clone)]
pub struct Change {
    pub key: String,
    pub revision: u64,
    pub operation: kv::Operation,
    pub value: bytes::Bytes,
}

/// The changes of every watched key, merged.
pub type Changes = Pin<Box<dyn Stream<Item = anyhow::Result<Change>> + Send>>;

/// Watches `keys` of `bucket`, one named ordered consumer each.
pub async fn watch(
    js: &jetstream::Context,
    bucket: &str,
    keys: &[String],
) -> anyhow::Result<Changes> {
    let stream_name = format!("KV_{bucket}");
    let stream = js
        .get_stream_no_info(&stream_name)
        .await
        .with_context(|| format!("opening stream {stream_name}"))?;
    let prefix = format!("$KV.{bucket}.");
    let mut all = futures::stream::SelectAll::new();
    for key in keys {
        let name = format!("w{}", uuid::Uuid::new_v4().simple());
        let consumer = stream
            .create_consumer(push::OrderedConfig {
                name: Some(name),
                deliver_subject: js.client().new_inbox(),
                description: Some("kanade agent key watch".to_owned()),
                filter_subject: format!("{prefix}{key}"),
                deliver_policy: DeliverPolicy::New,
                replay_policy: ReplayPolicy::Instant,
                ..Default::default()
            })
            .await
            .with_context(|| format!("watching {bucket} {key}"))?;
        let messages = consumer
            .messages()
            .await
            .with_context(|| format!("watching {bucket} {key}"))?;
        let prefix = prefix.clone();
        all.push(
            messages
                .map(move |message| {
                    let message = message.map_err(|err| anyhow::anyhow!("watch failed: {err}"))?;
                    change(&prefix, &message)
                })
                .boxed(),
        );
    }
    Ok(Box::pin(all))
}

fn change(prefix: &str, message: &jetstream::Message) -> anyhow::Result<Change> {
    let key = message
        .subject
        .strip_prefix(prefix)
        .context("a watched message outside its bucket")?
        .to_owned();
    let info = message
        .info()
        .map_err(|err| anyhow::anyhow!("a watched message without its sequence: {err}"))?;
    let operation = match message
        .headers
        .as_ref()
        .and_then(|h| h.get("KV-Operation"))
        .map(|v| v.as_str())
    {
        Some("DEL") => kv::Operation::Delete,
        Some("PURGE") => kv::Operation::Purge,
        _ => kv::Operation::Put,
    };
    Ok(Change {
        key,
        revision: info.stream_sequence,
        operation,
        value: message.payload.clone(),
    })
}
