//! The schedule catalog: schedules in KV `schedules` (JSON) with the text they were written as
//! in `schedules_yaml`. The scheduler watches `schedules`, so every change here takes effect
//! within moments on whichever backend runs it. Nothing here touches SQLite.

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use futures::TryStreamExt;
use kanade_protocol::names;
use kanade_protocol::schedule::Schedule;

async fn bucket(js: &jetstream::Context, name: &str) -> anyhow::Result<kv::Store> {
    js.get_key_value(name)
        .await
        .with_context(|| format!("opening KV {name}"))
}

/// A schedule and the text it was written as.
pub async fn get(
    js: &jetstream::Context,
    id: &str,
) -> anyhow::Result<Option<(Schedule, Option<String>)>> {
    let kv = bucket(js, names::KV_SCHEDULES).await?;
    let (schedule, _) = kanade_bus::kv::read::<Schedule>(&kv, id).await?;
    let Some(schedule) = schedule else {
        return Ok(None);
    };
    let yaml = bucket(js, names::KV_SCHEDULES_YAML)
        .await?
        .get(id)
        .await
        .context("reading KV schedules_yaml")?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(Some((schedule, yaml)))
}

/// Stores a validated schedule and its text (the text first, so a watcher of `schedules`
/// never sees a schedule without it). Returns true when it replaced an existing one.
pub async fn put(js: &jetstream::Context, schedule: &Schedule, text: &str) -> anyhow::Result<bool> {
    let kv = bucket(js, names::KV_SCHEDULES).await?;
    let existed = kv
        .get(&schedule.id)
        .await
        .context("reading KV schedules")?
        .is_some();
    bucket(js, names::KV_SCHEDULES_YAML)
        .await?
        .put(&schedule.id, Bytes::from(text.to_owned()))
        .await
        .context("writing KV schedules_yaml")?;
    kv.put(&schedule.id, Bytes::from(serde_json::to_vec(schedule)?))
        .await
        .context("writing KV schedules")?;
    Ok(existed)
}

/// Deletes a schedule. Returns false when there was none.
pub async fn delete(js: &jetstream::Context, id: &str) -> anyhow::Result<bool> {
    let kv = bucket(js, names::KV_SCHEDULES).await?;
    if kv.get(id).await.context("reading KV schedules")?.is_none() {
        return Ok(false);
    }
    kv.delete(id).await.context("deleting from KV schedules")?;
    bucket(js, names::KV_SCHEDULES_YAML)
        .await?
        .delete(id)
        .await
        .context("deleting from KV schedules_yaml")?;
    Ok(true)
}

/// Every schedule, sorted by id. Entries that do not decode are skipped with a warning.
pub async fn list(js: &jetstream::Context) -> anyhow::Result<Vec<Schedule>> {
    let kv = bucket(js, names::KV_SCHEDULES).await?;
    let mut keys: Vec<String> = match kv.keys().await {
        Ok(keys) => keys.try_collect().await.context("listing KV schedules")?,
        Err(err) => return Err(anyhow::anyhow!(err).context("listing KV schedules")),
    };
    keys.sort();
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        match kanade_bus::kv::read::<Schedule>(&kv, &key).await {
            Ok((Some(schedule), _)) => out.push(schedule),
            Ok((None, _)) => {}
            Err(err) => {
                tracing::warn!(schedule = %key, error = format!("{err:#}"), "skipping an undecodable schedule")
            }
        }
    }
    Ok(out)
}

/// Switches a schedule on or off (compare-and-set). `None` when there is no such schedule.
pub async fn set_enabled(
    js: &jetstream::Context,
    id: &str,
    enabled: bool,
) -> anyhow::Result<Option<Schedule>> {
    let kv = bucket(js, names::KV_SCHEDULES).await?;
    kanade_bus::kv::modify::<Schedule, _>(&kv, id, |current| {
        Ok(current.map(|mut s| {
            s.enabled = enabled;
            s
        }))
    })
    .await
}

/// Disables every enabled schedule of `job_id` (for "deleting a job disables its
/// schedules"). Returns the ids it disabled.
pub async fn disable_for_job(js: &jetstream::Context, job_id: &str) -> anyhow::Result<Vec<String>> {
    let mut disabled = Vec::new();
    for schedule in list(js).await? {
        if schedule.job_id != job_id || !schedule.enabled {
            continue;
        }
        if set_enabled(js, &schedule.id, false).await?.is_some() {
            disabled.push(schedule.id);
        }
    }
    Ok(disabled)
}
