//! JetStream into files and back: every stream's configuration (`<name>.json`) and every
//! message with its subject and headers (`<name>.jsonl`, one JSON object a line, payload in
//! base64). KV buckets and object stores are streams too (`KV_*`, `OBJ_*`), so this covers
//! them. The client has no stream snapshot call, so this reads with an ordered consumer and
//! restores by publishing again, in order: sequences and receive times are new, content and
//! order are the same.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{Context, bail};
use async_nats::HeaderMap;
use async_nats::jetstream::{self, stream};
use base64::Engine;
use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

/// Headers that describe one publish, not the message: kept, they would deduplicate or refuse
/// the re-publish.
const DROPPED_HEADERS: &[&str] = &["Nats-Msg-Id", "Nats-Expected-"];

/// Acks awaited together when publishing back.
const IN_FLIGHT: usize = 256;

/// One message on disk.
#[derive(Serialize, Deserialize)]
struct Saved {
    seq: u64,
    subject: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    headers: Vec<(String, String)>,
    data: String,
}

/// One stream in the manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StreamEntry {
    pub name: String,
    pub messages: u64,
}

/// Writes every stream of the account into `dir`.
pub async fn dump(js: &jetstream::Context, dir: &Path) -> anyhow::Result<Vec<StreamEntry>> {
    crate::private::ensure_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut names: Vec<String> = js
        .stream_names()
        .try_collect()
        .await
        .context("listing the broker's streams")?;
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let messages = dump_one(js, &name, dir)
            .await
            .with_context(|| format!("saving stream {name}"))?;
        out.push(StreamEntry { name, messages });
    }
    Ok(out)
}

async fn dump_one(js: &jetstream::Context, name: &str, dir: &Path) -> anyhow::Result<u64> {
    let mut stream = js.get_stream(name).await?;
    let info = stream.info().await?.clone();
    let config = serde_json::to_vec_pretty(&info.config)?;
    crate::auth::secrets::write_private(
        &dir.join(format!("{name}.json")),
        &String::from_utf8(config)?,
    )?;
    let path = dir.join(format!("{name}.jsonl"));
    crate::private::ensure_file(&path)?;
    let mut file = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut count = 0;
    if info.state.messages > 0 {
        let consumer = stream
            .create_consumer(jetstream::consumer::pull::OrderedConfig {
                deliver_policy: jetstream::consumer::DeliverPolicy::All,
                ..Default::default()
            })
            .await?;
        let mut messages = consumer.messages().await?;
        while let Some(message) = messages.next().await {
            let message = message?;
            let meta = message.info().map_err(|e| anyhow::anyhow!("{e}"))?;
            let (seq, pending) = (meta.stream_sequence, meta.pending);
            let headers = message
                .headers
                .as_ref()
                .map(|h| {
                    h.iter()
                        .flat_map(|(k, vs)| {
                            vs.iter()
                                .map(move |v| (k.to_string(), v.as_str().to_owned()))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let saved = Saved {
                seq,
                subject: message.subject.to_string(),
                headers,
                data: base64::engine::general_purpose::STANDARD.encode(&message.payload),
            };
            serde_json::to_writer(&mut file, &saved)?;
            file.write_all(b"\n")?;
            count += 1;
            if pending == 0 || seq >= info.state.last_sequence {
                break;
            }
        }
    }
    file.flush()?;
    file.get_ref().sync_all()?;
    Ok(count)
}

/// Checks that none of `streams` holds messages in the broker yet: a restore goes into an
/// empty broker (or one where only empty streams were made, by a backend start).
pub async fn ensure_empty(js: &jetstream::Context, streams: &[StreamEntry]) -> anyhow::Result<()> {
    for entry in streams {
        if let Ok(mut existing) = js.get_stream(&entry.name).await {
            let held = existing.info().await?.state.messages;
            if held > 0 {
                bail!(
                    "stream {} already holds {held} message(s); restore wants an empty broker \
                     (a new JetStream store_dir)",
                    entry.name
                );
            }
        }
    }
    Ok(())
}

/// Creates each stream (unless it exists) and publishes its messages back, in order. Mirrors
/// and sourced streams are created but not published into: they fill themselves.
pub async fn load(
    js: &jetstream::Context,
    dir: &Path,
    streams: &[StreamEntry],
) -> anyhow::Result<u64> {
    let mut total = 0;
    for entry in streams {
        total += load_one(js, dir, &entry.name)
            .await
            .with_context(|| format!("restoring stream {}", entry.name))?;
    }
    Ok(total)
}

async fn load_one(js: &jetstream::Context, dir: &Path, name: &str) -> anyhow::Result<u64> {
    let config_path = dir.join(format!("{name}.json"));
    let text = std::fs::read_to_string(&config_path)
        .with_context(|| format!("reading {}", config_path.display()))?;
    let config: stream::Config = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a stream configuration", config_path.display()))?;
    let fills_itself = config.mirror.is_some() || config.sources.is_some();
    if js.get_stream(name).await.is_err() {
        js.create_stream(config).await?;
    }
    if fills_itself {
        return Ok(0);
    }
    let path = dir.join(format!("{name}.jsonl"));
    let file = std::fs::File::open(&path).with_context(|| format!("reading {}", path.display()))?;
    let mut acks = Vec::with_capacity(IN_FLIGHT);
    let mut count = 0;
    for (index, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let saved: Saved = serde_json::from_str(&line)
            .with_context(|| format!("{} line {}", path.display(), index + 1))?;
        let payload = base64::engine::general_purpose::STANDARD
            .decode(saved.data.as_bytes())
            .with_context(|| format!("{} line {}: data", path.display(), index + 1))?;
        let mut headers = HeaderMap::new();
        for (key, value) in &saved.headers {
            if DROPPED_HEADERS.iter().any(|d| key.starts_with(d)) {
                continue;
            }
            headers.append(key.as_str(), value.as_str());
        }
        acks.push(
            js.publish_with_headers(saved.subject, headers, payload.into())
                .await?,
        );
        count += 1;
        if acks.len() >= IN_FLIGHT {
            for ack in acks.drain(..) {
                ack.await?;
            }
        }
    }
    for ack in acks.drain(..) {
        ack.await?;
    }
    Ok(count)
}
