//! Derived groups (`kanade_protocol::derived`): their definitions in KV `group_defs`, their
//! evaluation in the SQL sandbox (`store::derived`), and the materializer, the only writer of
//! KV `agent_groups_derived`. It re-evaluates every definition when a definition or the
//! inventory changed (checked every `CHECK_EVERY`) and at least every `REFRESH_EVERY`, writes
//! a machine's entry only when its set changed, keeps a group's last membership while its
//! condition fails, and kicks each machine whose set changed so it reconnects with a grant
//! naming its new group subjects (as a static group change does).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use futures::TryStreamExt;
use kanade_protocol::derived::DerivedGroup;
use kanade_protocol::ids::MAX_GROUPS_PER_MACHINE;
use kanade_protocol::names;
use kanade_protocol::wire::AgentGroups;

use crate::access::BrokerAccess;
use crate::store::Store;
use crate::store::derived::Refused;

/// How often the materializer looks for changed definitions or inventory.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// Longest time between two evaluations.
pub const REFRESH_EVERY: Duration = Duration::from_secs(60);

async fn bucket(js: &jetstream::Context, name: &str) -> anyhow::Result<jetstream::kv::Store> {
    js.get_key_value(name)
        .await
        .with_context(|| format!("opening KV {name}"))
}

/// Every definition, by name.
pub async fn definitions(js: &jetstream::Context) -> anyhow::Result<Vec<DerivedGroup>> {
    let kv = bucket(js, names::KV_GROUP_DEFS).await?;
    let keys: Vec<String> = match kv.keys().await {
        Ok(keys) => keys.try_collect().await.context("listing KV group_defs")?,
        Err(err) => return Err(anyhow::anyhow!(err).context("listing KV group_defs")),
    };
    let mut defs = Vec::with_capacity(keys.len());
    for key in keys {
        match kanade_bus::kv::read::<DerivedGroup>(&kv, &key).await {
            Ok((Some(def), _)) => defs.push(def),
            Ok((None, _)) => {}
            Err(err) => tracing::warn!(
                group = key,
                error = format!("{err:#}"),
                "skipping an unreadable group definition"
            ),
        }
    }
    defs.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(defs)
}

pub async fn put_definition(js: &jetstream::Context, def: &DerivedGroup) -> anyhow::Result<()> {
    let kv = bucket(js, names::KV_GROUP_DEFS).await?;
    kv.put(&def.name, serde_json::to_vec(def)?.into())
        .await
        .context("writing KV group_defs")?;
    Ok(())
}

/// Deletes a definition; false when there was none.
pub async fn delete_definition(js: &jetstream::Context, name: &str) -> anyhow::Result<bool> {
    let kv = bucket(js, names::KV_GROUP_DEFS).await?;
    let existed = kanade_bus::kv::read::<serde_json::Value>(&kv, name)
        .await?
        .0
        .is_some();
    if existed {
        kv.delete(name)
            .await
            .context("deleting from KV group_defs")?;
    }
    Ok(existed)
}

/// The machines matching `condition` now, evaluated in the sandbox.
pub async fn evaluate(
    store: &Store,
    condition: &str,
) -> anyhow::Result<Result<Vec<String>, Refused>> {
    let path = store.path().to_path_buf();
    let condition = condition.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = crate::store::derived::open(&path).context("opening the sandbox")?;
        Ok(crate::store::derived::members(&conn, &condition))
    })
    .await?
}

/// Tries `condition` once in the sandbox (even with no machine known): why it is refused.
pub async fn probe(store: &Store, condition: &str) -> anyhow::Result<Result<(), Refused>> {
    let path = store.path().to_path_buf();
    let condition = condition.to_owned();
    tokio::task::spawn_blocking(move || {
        let conn = crate::store::derived::open(&path).context("opening the sandbox")?;
        Ok(crate::store::derived::probe(&conn, &condition))
    })
    .await?
}

/// The newest change of `group_defs` (its stream's last sequence): one STREAM.INFO, so the
/// loop can look every second without listing the bucket.
async fn definitions_mark(js: &jetstream::Context) -> anyhow::Result<u64> {
    let name = format!("KV_{}", names::KV_GROUP_DEFS);
    let mut stream = js
        .get_stream(&name)
        .await
        .with_context(|| format!("opening stream {name}"))?;
    Ok(stream.info().await?.state.last_sequence)
}

/// The materializer's loop.
pub async fn run(
    js: jetstream::Context,
    store: Store,
    access: Arc<BrokerAccess>,
) -> anyhow::Result<()> {
    let mut last_mark = None;
    let mut last_run = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(CHECK_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let defs_mark = definitions_mark(&js).await?;
        let inventory = store
            .read(|c| crate::store::derived::inventory_mark(c))
            .await?;
        let mark = Some((defs_mark, inventory));
        if mark == last_mark && last_run.elapsed() < REFRESH_EVERY {
            continue;
        }
        let defs = definitions(&js).await?;
        once(&js, &store, &access, &defs).await?;
        last_mark = mark;
        last_run = tokio::time::Instant::now();
    }
}

/// One evaluation of every definition; returns the machines whose derived groups changed.
pub async fn once(
    js: &jetstream::Context,
    store: &Store,
    access: &BrokerAccess,
    defs: &[DerivedGroup],
) -> anyhow::Result<Vec<String>> {
    let kv = bucket(js, names::KV_AGENT_GROUPS_DERIVED).await?;
    let current: BTreeMap<String, BTreeSet<String>> =
        crate::desired::bucket_groups(js, names::KV_AGENT_GROUPS_DERIVED)
            .await?
            .into_iter()
            .map(|(pc, groups)| (pc, groups.into_iter().collect()))
            .collect();
    let mut wanted: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for def in defs {
        let members = match evaluate(store, &def.condition).await? {
            Ok(members) => members,
            Err(why) => {
                tracing::warn!(group = def.name, error = %why, "derived group not evaluated; keeping its members");
                current
                    .iter()
                    .filter(|(_, groups)| groups.contains(&def.name))
                    .map(|(pc, _)| pc.clone())
                    .collect()
            }
        };
        for pc in members {
            if kanade_protocol::ids::IdKind::Machine.check(&pc).is_err() {
                continue;
            }
            wanted.entry(pc).or_default().insert(def.name.clone());
        }
    }
    let mut changed = Vec::new();
    let machines: BTreeSet<&String> = current.keys().chain(wanted.keys()).collect();
    for pc in machines {
        let before = current.get(pc);
        let after = wanted.get(pc);
        if before == after {
            continue;
        }
        match after {
            Some(groups) => {
                let mut groups: Vec<String> = groups.iter().cloned().collect();
                if groups.len() > MAX_GROUPS_PER_MACHINE {
                    tracing::warn!(
                        pc_id = pc,
                        count = groups.len(),
                        "more derived groups than a machine may have; keeping the first"
                    );
                    groups.truncate(MAX_GROUPS_PER_MACHINE);
                }
                let doc = AgentGroups { groups };
                kv.put(pc, serde_json::to_vec(&doc)?.into())
                    .await
                    .context("writing KV agent_groups_derived")?;
            }
            None => {
                kv.delete(pc)
                    .await
                    .context("deleting from KV agent_groups_derived")?;
            }
        }
        tracing::info!(pc_id = pc, groups = ?after, "derived groups changed");
        access.kick(pc).await;
        changed.push(pc.clone());
    }
    Ok(changed)
}
