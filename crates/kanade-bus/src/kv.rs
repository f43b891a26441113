//! Compare-and-set edits of JSON documents in KV buckets, so concurrent editors never lose
//! each other's changes: read the document with its revision, apply the edit, write only if
//! the revision is unchanged, and retry from a fresh read (after a short random backoff) when
//! it is not.

use anyhow::{Context, bail};
use async_nats::jetstream::kv::{self, Operation};
use serde::Serialize;
use serde::de::DeserializeOwned;

const ATTEMPTS: usize = 20;

/// The current value of `key` (`None` when missing or deleted) and the revision to expect.
pub async fn read<T: DeserializeOwned>(
    store: &kv::Store,
    key: &str,
) -> anyhow::Result<(Option<T>, Option<u64>)> {
    let entry = store
        .entry(key)
        .await
        .with_context(|| format!("reading KV key {key}"))?;
    match entry {
        Some(e) if e.operation == Operation::Put => {
            let value = serde_json::from_slice(&e.value)
                .with_context(|| format!("KV key {key} holds an unreadable document"))?;
            Ok((Some(value), Some(e.revision)))
        }
        Some(e) => Ok((None, Some(e.revision))),
        None => Ok((None, None)),
    }
}

/// Applies `edit` to the document at `key` atomically. `edit` gets the current value and
/// returns the new one (`None` deletes the key); it may run several times under contention.
/// Returns the value written.
pub async fn modify<T, F>(store: &kv::Store, key: &str, mut edit: F) -> anyhow::Result<Option<T>>
where
    T: Serialize + DeserializeOwned,
    F: FnMut(Option<T>) -> anyhow::Result<Option<T>>,
{
    for attempt in 0..ATTEMPTS {
        let (current, revision) = read::<T>(store, key).await?;
        let existed = current.is_some();
        let next = edit(current)?;
        let written = match (&next, revision) {
            (Some(value), Some(rev)) => {
                let bytes = serde_json::to_vec(value)?;
                store
                    .update(key, bytes.into(), rev)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() == kv::UpdateErrorKind::WrongLastRevision)
            }
            (Some(value), None) => {
                let bytes = serde_json::to_vec(value)?;
                store
                    .create(key, bytes.into())
                    .await
                    .map(|_| ())
                    .map_err(|e| e.kind() == kv::CreateErrorKind::AlreadyExists)
            }
            (None, Some(rev)) if existed => store
                .delete_expect_revision(key, Some(rev))
                .await
                .map_err(|_| true),
            (None, _) => Ok(()),
        };
        match written {
            Ok(()) => return Ok(next),
            Err(true) => {
                // Lost a race: back off a random, growing moment so many writers of one key
                // (a token spent by a burst of enrolling machines) do not keep colliding.
                let ceiling = 2u64 << attempt.min(6);
                tokio::time::sleep(std::time::Duration::from_millis(fastrand::u64(1..=ceiling)))
                    .await;
                continue;
            }
            Err(false) => bail!("writing KV key {key} failed"),
        }
    }
    bail!("KV key {key} kept changing under us; gave up after {ATTEMPTS} attempts")
}
