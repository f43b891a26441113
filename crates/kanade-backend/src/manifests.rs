//! The manifest cache: every registered job (KV `jobs`) in memory, prewarmed at start and kept
//! current by a KV watch (reopened by the supervisor when it fails). The results projector
//! reads a job's hints from it; inventory search reads the explode specs. Whenever a job is
//! seen (start, watch, `POST /api/jobs`) its explode tables are reconciled with its specs.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use kanade_protocol::manifest::{ExplodeSpec, Manifest};
use kanade_protocol::names;

use crate::catalog;
use crate::store::{self, Store, StoreError};

/// Cheap to clone; every clone sees the same jobs.
#[derive(Clone, Default)]
pub struct ManifestCache(Arc<RwLock<HashMap<String, Arc<Manifest>>>>);

impl ManifestCache {
    pub fn get(&self, job_id: &str) -> Option<Arc<Manifest>> {
        self.read().get(job_id).cloned()
    }

    pub fn insert(&self, manifest: Manifest) -> Arc<Manifest> {
        let manifest = Arc::new(manifest);
        self.write().insert(manifest.id.clone(), manifest.clone());
        manifest
    }

    pub fn remove(&self, job_id: &str) {
        self.write().remove(job_id);
    }

    /// Every job, sorted by id.
    pub fn all(&self) -> Vec<Arc<Manifest>> {
        let mut all: Vec<Arc<Manifest>> = self.read().values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// The job and explode spec that own `table` (names compare case-insensitively, as
    /// SQLite's do).
    pub fn explode_table(&self, table: &str) -> Option<(String, ExplodeSpec)> {
        self.all().iter().find_map(|m| {
            m.explode_specs()
                .find(|(_, spec)| spec.table.eq_ignore_ascii_case(table))
                .map(|(_, spec)| (m.id.clone(), spec.clone()))
        })
    }

    /// An explode table of `manifest` that another job already owns: (field path, table,
    /// other job).
    pub fn table_taken(&self, manifest: &Manifest) -> Option<(String, String, String)> {
        manifest.explode_specs().find_map(|(path, spec)| {
            self.explode_table(&spec.table)
                .filter(|(owner, _)| owner != &manifest.id)
                .map(|(owner, _)| (format!("{path}.table"), spec.table.clone(), owner))
        })
    }

    /// The job, other than `job_id`, whose check is called `name` (check names are unique
    /// across jobs, as in the original: their rows and alerts are keyed by the name alone).
    pub fn check_owner(&self, name: &str, job_id: &str) -> Option<String> {
        self.all()
            .iter()
            .find(|m| m.id != job_id && m.check.as_ref().is_some_and(|c| c.name == name))
            .map(|m| m.id.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, Arc<Manifest>>> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, Arc<Manifest>>> {
        self.0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Caches `manifest` and brings its explode tables up to date with its specs.
pub async fn register(
    store: &Store,
    cache: &ManifestCache,
    manifest: Manifest,
) -> Result<(), StoreError> {
    let manifest = cache.insert(manifest);
    if manifest.explode_specs().next().is_none() {
        return Ok(());
    }
    store
        .write(move |conn| {
            let tx = conn.transaction()?;
            for (_, spec) in manifest.explode_specs() {
                store::explode::reconcile(&tx, spec)?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
}

/// Loads every registered job and creates its explode tables. A table that cannot be
/// reconciled is logged; the others still are.
pub async fn prewarm(
    js: &jetstream::Context,
    store: &Store,
    cache: &ManifestCache,
) -> anyhow::Result<()> {
    let manifests = catalog::list(js).await.context("loading the job catalog")?;
    let count = manifests.len();
    for manifest in manifests {
        let id = manifest.id.clone();
        if let Err(err) = register(store, cache, manifest).await {
            tracing::error!(job = %id, error = %err, "could not reconcile the job's explode tables");
        }
    }
    tracing::info!(jobs = count, "manifest cache warm");
    Ok(())
}

/// Follows KV `jobs`: the current value of every key first, then each change. Returns when the
/// watch ends or fails, so the supervisor reopens it.
pub async fn watch(
    js: jetstream::Context,
    store: Store,
    cache: ManifestCache,
) -> anyhow::Result<()> {
    let bucket = js
        .get_key_value(names::KV_JOBS)
        .await
        .context("opening KV jobs")?;
    let mut entries = bucket
        .watch_with_history(">")
        .await
        .context("watching KV jobs")?;
    while let Some(entry) = entries.next().await {
        let entry = entry.context("reading the KV jobs watch")?;
        match entry.operation {
            kv::Operation::Delete | kv::Operation::Purge => cache.remove(&entry.key),
            kv::Operation::Put => match serde_json::from_slice::<Manifest>(&entry.value) {
                Ok(manifest) => {
                    if let Err(err) = register(&store, &cache, manifest).await {
                        tracing::error!(job = %entry.key, error = %err, "could not reconcile the job's explode tables");
                    }
                }
                Err(err) => {
                    tracing::warn!(job = %entry.key, %err, "KV jobs holds a value that is not a manifest")
                }
            },
        }
    }
    Ok(())
}
