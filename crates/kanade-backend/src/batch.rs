//! All-or-nothing writes of several documents to a pair of KV buckets (the parsed JSON and the
//! text as written: `jobs`/`jobs_yaml`, `schedules`/`schedules_yaml`), behind
//! `POST /api/jobs:batch` and `POST /api/schedules:batch`. KV has no transactions, so every
//! key's current value is read first; when a write fails part way, the keys already written
//! are put back as they were (or deleted when they were new), newest first.

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use axum::http::StatusCode;
use bytes::Bytes;
use kanade_protocol::manifest::ManifestError;
use kanade_protocol::names;

use crate::error::{ApiError, ApiResult};

/// The two buckets a document lives in: its parsed form (JSON) and its text.
#[derive(Debug, Clone, Copy)]
pub struct Buckets {
    pub json: &'static str,
    pub text: &'static str,
}

pub const JOBS: Buckets = Buckets {
    json: names::KV_JOBS,
    text: names::KV_JOBS_YAML,
};

pub const SCHEDULES: Buckets = Buckets {
    json: names::KV_SCHEDULES,
    text: names::KV_SCHEDULES_YAML,
};

/// One document to store under `id`.
#[derive(Debug, Clone)]
pub struct Entry {
    pub id: String,
    pub json: Vec<u8>,
    pub text: String,
}

/// Why a batch was not (fully) written, and whether undoing it worked.
#[derive(Debug)]
pub struct Failure {
    /// The document whose write failed (`None` when reading the current values failed, so
    /// nothing was written).
    pub index: Option<usize>,
    pub error: anyhow::Error,
    /// Ids put back as they were before the batch.
    pub restored: Vec<String>,
    /// Ids that could not be put back, with why.
    pub not_restored: Vec<(String, anyhow::Error)>,
}

impl Failure {
    /// One sentence for the operator: what failed, and what state the keys are in now.
    pub fn describe(&self, entries: &[Entry], kind: &str) -> String {
        let Some(index) = self.index else {
            return format!(
                "could not read the current {kind}s, nothing was written: {:#}",
                self.error
            );
        };
        let id = entries.get(index).map_or("?", |e| e.id.as_str());
        let mut text = format!(
            "could not store {kind} `{id}` (documents[{index}]): {:#}; ",
            self.error
        );
        if self.not_restored.is_empty() {
            text.push_str(&format!(
                "the {} written before it were put back as they were, so nothing changed",
                self.restored.len()
            ));
        } else {
            let failed: Vec<String> = self
                .not_restored
                .iter()
                .map(|(id, err)| format!("`{id}` ({err:#})"))
                .collect();
            text.push_str(&format!(
                "putting back what was there before failed for {}; check them before retrying",
                failed.join(", ")
            ));
        }
        text
    }
}

struct Previous {
    json: Option<Bytes>,
    text: Option<Bytes>,
}

async fn open(js: &jetstream::Context, name: &str) -> anyhow::Result<kv::Store> {
    js.get_key_value(name)
        .await
        .with_context(|| format!("opening KV {name}"))
}

/// Writes every entry (text first, then JSON, like a single create, so a watcher of the JSON
/// bucket never sees a document without its text). Returns, per entry, whether it replaced one.
pub async fn write_all(
    js: &jetstream::Context,
    buckets: Buckets,
    entries: &[Entry],
) -> Result<Vec<bool>, Failure> {
    let nothing_written = |error: anyhow::Error| Failure {
        index: None,
        error,
        restored: Vec::new(),
        not_restored: Vec::new(),
    };
    let json_kv = open(js, buckets.json).await.map_err(nothing_written)?;
    let text_kv = open(js, buckets.text).await.map_err(nothing_written)?;
    let mut previous = Vec::with_capacity(entries.len());
    for entry in entries {
        let json = json_kv
            .get(&entry.id)
            .await
            .with_context(|| format!("reading KV {}[{}]", buckets.json, entry.id))
            .map_err(nothing_written)?;
        let text = text_kv
            .get(&entry.id)
            .await
            .with_context(|| format!("reading KV {}[{}]", buckets.text, entry.id))
            .map_err(nothing_written)?;
        previous.push(Previous { json, text });
    }
    for (index, entry) in entries.iter().enumerate() {
        if let Err(error) = write_one(&json_kv, &text_kv, buckets, entry).await {
            // The failed entry may be half written (its text without its JSON): undo it too.
            let (restored, not_restored) =
                undo(&json_kv, &text_kv, &entries[..=index], &previous[..=index]).await;
            return Err(Failure {
                index: Some(index),
                error,
                restored: restored.into_iter().filter(|id| id != &entry.id).collect(),
                not_restored,
            });
        }
    }
    Ok(previous.iter().map(|p| p.json.is_some()).collect())
}

async fn write_one(
    json_kv: &kv::Store,
    text_kv: &kv::Store,
    buckets: Buckets,
    entry: &Entry,
) -> anyhow::Result<()> {
    text_kv
        .put(&entry.id, Bytes::from(entry.text.clone()))
        .await
        .with_context(|| format!("writing KV {}", buckets.text))?;
    json_kv
        .put(&entry.id, Bytes::from(entry.json.clone()))
        .await
        .with_context(|| format!("writing KV {}", buckets.json))?;
    Ok(())
}

/// Puts back what each key held before the batch, newest write first.
async fn undo(
    json_kv: &kv::Store,
    text_kv: &kv::Store,
    entries: &[Entry],
    previous: &[Previous],
) -> (Vec<String>, Vec<(String, anyhow::Error)>) {
    let mut restored = Vec::new();
    let mut not_restored = Vec::new();
    for (entry, before) in entries.iter().zip(previous).rev() {
        let result = async {
            // The JSON first: what watchers act on goes back before its text does.
            restore(json_kv, &entry.id, &before.json).await?;
            restore(text_kv, &entry.id, &before.text).await
        }
        .await;
        match result {
            Ok(()) => restored.push(entry.id.clone()),
            Err(err) => {
                tracing::error!(id = %entry.id, error = format!("{err:#}"), "could not undo a batch write");
                not_restored.push((entry.id.clone(), err));
            }
        }
    }
    (restored, not_restored)
}

async fn restore(store: &kv::Store, key: &str, value: &Option<Bytes>) -> anyhow::Result<()> {
    match value {
        Some(bytes) => store
            .put(key, bytes.clone())
            .await
            .map(|_| ())
            .with_context(|| format!("putting back KV {}[{key}]", store.name)),
        None => store
            .delete(key)
            .await
            .with_context(|| format!("deleting KV {}[{key}]", store.name)),
    }
}

/// A batch carries at least one and at most `MAX_BATCH_DOCUMENTS` documents.
pub fn check_size(documents: &[String]) -> ApiResult<()> {
    let max = kanade_protocol::api::MAX_BATCH_DOCUMENTS;
    if documents.is_empty() || documents.len() > max {
        return Err(ApiError::from(ManifestError::Invalid {
            field: "documents".to_owned(),
            message: format!("must hold 1 to {max} documents, not {}", documents.len()),
        }));
    }
    Ok(())
}

/// `err` about document `index`: its field becomes `documents[i].<field>` and its message
/// starts with `documents[i]: `, so the caller can tell which document to fix.
pub fn in_document(index: usize, mut err: ApiError) -> ApiError {
    let at = format!("documents[{index}]");
    err.field = Some(match err.field.take() {
        Some(field) => format!("{at}.{field}"),
        None => at.clone(),
    });
    err.message = format!("{at}: {}", err.message);
    err
}

/// The broker failed part way through the writes (503, with what was put back).
pub fn failed(message: &str) -> ApiError {
    tracing::warn!("{message}");
    ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
}
