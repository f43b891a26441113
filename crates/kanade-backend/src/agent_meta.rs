//! Operator metadata of machines in KV `agent_meta` (`kanade_protocol::meta`): read one, and
//! replace one (compare-and-set; an empty document deletes the key). Agents never see it.

use anyhow::Context;
use async_nats::jetstream;
use kanade_protocol::meta::AgentMeta;
use kanade_protocol::names;

async fn bucket(js: &jetstream::Context) -> anyhow::Result<jetstream::kv::Store> {
    js.get_key_value(names::KV_AGENT_META)
        .await
        .context("opening KV agent_meta")
}

/// The attributes of `pc_id` (none: an empty document).
pub async fn read(js: &jetstream::Context, pc_id: &str) -> anyhow::Result<AgentMeta> {
    let kv = bucket(js).await?;
    Ok(kanade_bus::kv::read::<AgentMeta>(&kv, pc_id)
        .await?
        .0
        .unwrap_or_default())
}

/// Replaces the attributes of `pc_id` with `meta` (already validated).
pub async fn replace(
    js: &jetstream::Context,
    pc_id: &str,
    meta: AgentMeta,
) -> anyhow::Result<AgentMeta> {
    let kv = bucket(js).await?;
    let written = kanade_bus::kv::modify::<AgentMeta, _>(&kv, pc_id, |_| {
        Ok((!meta.entries.is_empty()).then(|| meta.clone()))
    })
    .await?;
    Ok(written.unwrap_or_default())
}
