//! Server settings in KV `server_settings` (`kanade_protocol::settings`): reading them (a
//! missing or unreadable document means "all unset"), the compare-and-set edit the API makes,
//! and where each one takes effect: the sign-in lifetime (`session_ttl_hours`, read at every
//! sign-in), the object store `result_output`'s age (`result_output_retention_days`, applied on
//! save and at start) and the pruning of silent machines (`agent_prune_days`, a periodic task).

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use chrono::Utc;
use kanade_protocol::names;
use kanade_protocol::settings::{self, ServerSettings};
use serde_json::{Map, Value};

use crate::store::Store;

async fn bucket(js: &jetstream::Context) -> anyhow::Result<jetstream::kv::Store> {
    js.get_key_value(names::KV_SERVER_SETTINGS)
        .await
        .context("opening KV server_settings")
}

/// The stored settings; absent = all unset.
pub async fn read(js: &jetstream::Context) -> anyhow::Result<ServerSettings> {
    let kv = bucket(js).await?;
    let (doc, _) = kanade_bus::kv::read::<ServerSettings>(&kv, settings::KEY).await?;
    Ok(doc.unwrap_or_default())
}

/// The stored settings, or all unset when they cannot be read (logged): a broker hiccup must
/// not stop sign-ins or housekeeping.
pub async fn read_or_default(js: &jetstream::Context) -> ServerSettings {
    match read(js).await {
        Ok(s) => s,
        Err(err) => {
            tracing::warn!(
                error = format!("{err:#}"),
                "server settings unreadable; using defaults"
            );
            ServerSettings::default()
        }
    }
}

/// Why a settings edit did not happen.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    #[error(transparent)]
    Invalid(#[from] settings::SettingError),
    #[error("{0:#}")]
    Broker(anyhow::Error),
}

/// Merges `patch` into the stored settings (compare-and-set), then applies what must be applied
/// to the broker. Nothing is written when a value is wrong.
pub async fn edit(
    js: &jetstream::Context,
    patch: &Map<String, Value>,
) -> Result<ServerSettings, EditError> {
    ServerSettings::default().merged(patch)?;
    let kv = bucket(js).await.map_err(EditError::Broker)?;
    let written = kanade_bus::kv::modify::<ServerSettings, _>(&kv, settings::KEY, |current| {
        let next = current.unwrap_or_default().merged(patch)?;
        Ok(Some(next))
    })
    .await
    .map_err(|err| match err.downcast::<settings::SettingError>() {
        Ok(invalid) => EditError::Invalid(invalid),
        Err(other) => EditError::Broker(other),
    })?
    .unwrap_or_default();
    apply_output_retention(js, &written)
        .await
        .map_err(EditError::Broker)?;
    Ok(written)
}

/// How long a sign-in made now lasts: the setting when set, else backend.toml's.
pub fn session_ttl(stored: &ServerSettings, configured: chrono::Duration) -> chrono::Duration {
    stored
        .session_ttl_hours
        .map(|h| chrono::Duration::hours(i64::from(h)))
        .unwrap_or(configured)
}

/// Gives object stores `result_output` and `collections` their configured ages (their backing
/// streams `OBJ_…`).
pub async fn apply_output_retention(
    js: &jetstream::Context,
    stored: &ServerSettings,
) -> anyhow::Result<()> {
    let ages = [
        (
            names::OBJ_RESULT_OUTPUT,
            stored
                .result_output_retention_days
                .unwrap_or(settings::DEFAULT_RESULT_OUTPUT_RETENTION_DAYS),
        ),
        (
            names::OBJ_COLLECTIONS,
            stored
                .collect_retention_days
                .unwrap_or(settings::DEFAULT_COLLECT_RETENTION_DAYS),
        ),
    ];
    for (store, days) in ages {
        let wanted = Duration::from_secs(u64::from(days) * 24 * 3600);
        let name = format!("OBJ_{store}");
        let mut stream = js
            .get_stream(&name)
            .await
            .with_context(|| format!("opening stream {name}"))?;
        let info = stream
            .info()
            .await
            .with_context(|| format!("reading {name}"))?;
        if info.config.max_age != wanted {
            let mut config = info.config.clone();
            config.max_age = wanted;
            js.update_stream(config)
                .await
                .with_context(|| format!("setting the age of {name}"))?;
            tracing::info!(store, days, "object store retention applied");
        }
    }
    Ok(())
}

/// Every `every`: drops machines silent for longer than `agent_prune_days` (when set).
pub async fn prune_loop(
    js: jetstream::Context,
    store: Store,
    every: Duration,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        prune_once(&js, &store).await?;
    }
}

/// One pruning pass; returns how many machines left the list.
pub async fn prune_once(js: &jetstream::Context, store: &Store) -> anyhow::Result<usize> {
    let Some(days) = read_or_default(js).await.agent_prune_days else {
        return Ok(0);
    };
    let before = Utc::now() - chrono::Duration::days(i64::from(days));
    let pruned = store
        .write(move |c| Ok(crate::store::agents::prune_silent(c, before)?))
        .await?;
    if pruned > 0 {
        tracing::info!(
            pruned,
            days,
            "machines silent past agent_prune_days dropped"
        );
    }
    Ok(pruned)
}
