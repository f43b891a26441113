//! The command signing keys this agent trusts: KV `command_keys` (key id → public key), read
//! whole at start and after every reconnect, then followed by a watch (a retired key is
//! deleted there and stops being trusted). A command signed by a key not seen yet makes the
//! intake ask KV for that one key before refusing, so a rotation never races the watch.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use kanade_protocol::names;
use kanade_protocol::signing::CommandKey;

/// A shared, live view of the trusted keys.
#[derive(Clone, Default)]
pub struct Keyring {
    keys: Arc<RwLock<BTreeMap<String, String>>>,
    store: Arc<Mutex<Option<kv::Store>>>,
}

impl Keyring {
    /// Key id → nkeys public key.
    pub fn snapshot(&self) -> BTreeMap<String, String> {
        match self.keys.read() {
            Ok(keys) => keys.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    pub fn ids(&self) -> Vec<String> {
        self.snapshot().into_keys().collect()
    }

    fn update(&self, change: impl FnOnce(&mut BTreeMap<String, String>)) {
        match self.keys.write() {
            Ok(mut keys) => change(&mut keys),
            Err(poisoned) => change(&mut poisoned.into_inner()),
        }
    }

    fn apply(&self, entry: &kv::Entry) {
        match entry.operation {
            kv::Operation::Put => match decode(&entry.key, &entry.value) {
                Some(public_key) => self.update(|keys| {
                    keys.insert(entry.key.clone(), public_key);
                }),
                None => self.update(|keys| {
                    keys.remove(&entry.key);
                }),
            },
            kv::Operation::Delete | kv::Operation::Purge => {
                tracing::info!(key_id = entry.key, "a command signing key was retired");
                self.update(|keys| {
                    keys.remove(&entry.key);
                });
            }
        }
    }

    /// Reads `key_id` from KV now (the watch may not have delivered it yet). True when it is
    /// trusted afterwards.
    pub async fn fetch(&self, key_id: &str) -> bool {
        let store = match self.store.lock() {
            Ok(store) => store.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        let Some(store) = store else {
            return false;
        };
        if !kanade_protocol::subject::is_valid_token(key_id) {
            return false;
        }
        match store.get(key_id).await {
            Ok(Some(value)) => match decode(key_id, &value) {
                Some(public_key) => {
                    self.update(|keys| {
                        keys.insert(key_id.to_owned(), public_key);
                    });
                    true
                }
                None => false,
            },
            Ok(None) => false,
            Err(err) => {
                tracing::debug!(error = %err, key_id, "cannot read KV command_keys");
                false
            }
        }
    }
}

/// The public key of a `command_keys` value whose id matches its key.
fn decode(key: &str, value: &[u8]) -> Option<String> {
    match serde_json::from_slice::<CommandKey>(value) {
        Ok(entry) if entry.key_id == key => Some(entry.public_key),
        Ok(_) => {
            tracing::warn!(
                key,
                "a command_keys entry names another key id; ignoring it"
            );
            None
        }
        Err(err) => {
            tracing::warn!(key, error = %err, "a command_keys entry does not decode; ignoring it");
            None
        }
    }
}

/// Keeps `keyring` current until aborted.
pub async fn follow(client: async_nats::Client, keyring: Keyring) {
    let js = jetstream::new(client.clone());
    let mut delay = Duration::from_millis(250);
    loop {
        let connects = client.statistics().connects.load(Ordering::Relaxed);
        match sync_and_watch(&client, &js, &keyring, connects).await {
            Ok(()) => delay = Duration::from_millis(250),
            Err(err) => {
                tracing::debug!(
                    error = format!("{err:#}"),
                    "command_keys watch ended; resyncing"
                );
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Loads the whole bucket, then applies the watch until it ends or the client reconnects.
async fn sync_and_watch(
    client: &async_nats::Client,
    js: &jetstream::Context,
    keyring: &Keyring,
    connects: u64,
) -> anyhow::Result<()> {
    let store = js
        .get_key_value(names::KV_COMMAND_KEYS)
        .await
        .context("opening KV command_keys")?;
    match keyring.store.lock() {
        Ok(mut slot) => *slot = Some(store.clone()),
        Err(poisoned) => *poisoned.into_inner() = Some(store.clone()),
    }
    let mut watch = store
        .watch_all()
        .await
        .context("watching KV command_keys")?;
    let mut fresh = BTreeMap::new();
    let mut ids = store.keys().await.context("listing KV command_keys")?;
    while let Some(id) = ids.next().await {
        let id = id.context("listing KV command_keys")?;
        if let Some(value) = store.get(&id).await.context("reading KV command_keys")?
            && let Some(public_key) = decode(&id, &value)
        {
            fresh.insert(id, public_key);
        }
    }
    tracing::debug!(keys = ?fresh.keys().collect::<Vec<_>>(), "command signing keys loaded");
    keyring.update(|keys| *keys = fresh);
    let mut ticks = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            entry = watch.next() => match entry {
                Some(Ok(entry)) => keyring.apply(&entry),
                Some(Err(err)) => return Err(anyhow::Error::new(err).context("watch failed")),
                None => anyhow::bail!("the watch ended"),
            },
            _ = ticks.tick() => {
                if client.statistics().connects.load(Ordering::Relaxed) != connects {
                    anyhow::bail!("reconnected");
                }
            }
        }
    }
}
