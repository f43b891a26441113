//! The job catalog: manifests in KV `jobs` (JSON) with the text they were written as in
//! `jobs_yaml`. The broker is the source of truth; nothing here touches SQLite.

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::TryStreamExt;
use kanade_protocol::api::JobDetail;
use kanade_protocol::manifest::Manifest;
use kanade_protocol::names;

pub async fn get(js: &jetstream::Context, id: &str) -> anyhow::Result<Option<JobDetail>> {
    let jobs = js
        .get_key_value(names::KV_JOBS)
        .await
        .context("opening KV jobs")?;
    let Some(bytes) = jobs.get(id).await.context("reading KV jobs")? else {
        return Ok(None);
    };
    let manifest: Manifest = serde_json::from_slice(&bytes)
        .with_context(|| format!("KV jobs[{id}] holds something that is not a manifest"))?;
    let yaml_kv = js
        .get_key_value(names::KV_JOBS_YAML)
        .await
        .context("opening KV jobs_yaml")?;
    let yaml = yaml_kv
        .get(id)
        .await
        .context("reading KV jobs_yaml")?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(Some(JobDetail { manifest, yaml }))
}

/// Stores a validated manifest and its text. Returns true when it replaced an existing job.
pub async fn put(js: &jetstream::Context, manifest: &Manifest, text: &str) -> anyhow::Result<bool> {
    let jobs = js
        .get_key_value(names::KV_JOBS)
        .await
        .context("opening KV jobs")?;
    let existed = jobs
        .get(&manifest.id)
        .await
        .context("reading KV jobs")?
        .is_some();
    let yaml_kv = js
        .get_key_value(names::KV_JOBS_YAML)
        .await
        .context("opening KV jobs_yaml")?;
    yaml_kv
        .put(&manifest.id, Bytes::from(text.to_owned()))
        .await
        .context("writing KV jobs_yaml")?;
    jobs.put(&manifest.id, Bytes::from(serde_json::to_vec(manifest)?))
        .await
        .context("writing KV jobs")?;
    Ok(existed)
}

/// Deletes a job. Returns false when there was none.
pub async fn delete(js: &jetstream::Context, id: &str) -> anyhow::Result<bool> {
    let jobs = js
        .get_key_value(names::KV_JOBS)
        .await
        .context("opening KV jobs")?;
    if jobs.get(id).await.context("reading KV jobs")?.is_none() {
        return Ok(false);
    }
    jobs.delete(id).await.context("deleting from KV jobs")?;
    let yaml_kv = js
        .get_key_value(names::KV_JOBS_YAML)
        .await
        .context("opening KV jobs_yaml")?;
    yaml_kv
        .delete(id)
        .await
        .context("deleting from KV jobs_yaml")?;
    Ok(true)
}

/// Every registered manifest, sorted by id. Entries that do not decode are skipped with a warning.
pub async fn list(js: &jetstream::Context) -> anyhow::Result<Vec<Manifest>> {
    let jobs = js
        .get_key_value(names::KV_JOBS)
        .await
        .context("opening KV jobs")?;
    let mut keys: Vec<String> = match jobs.keys().await {
        Ok(keys) => keys.try_collect().await.context("listing KV jobs")?,
        Err(err) => return Err(anyhow::anyhow!(err).context("listing KV jobs")),
    };
    keys.sort();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        let Some(bytes) = jobs.get(&key).await.context("reading KV jobs")? else {
            continue;
        };
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(m) => out.push(m),
            Err(err) => {
                tracing::warn!(job = %key, %err, "skipping an undecodable manifest in KV jobs")
            }
        }
    }
    Ok(out)
}

pub async fn put_text(store: &kv::Store, key: &str, value: &str) -> anyhow::Result<()> {
    store
        .put(key, Bytes::from(value.to_owned()))
        .await
        .with_context(|| format!("writing KV key {key}"))?;
    Ok(())
}
