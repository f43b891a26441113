//! Desired state the operators edit, all in KV: group membership (`agent_groups`), layered
//! agent config (`agent_config`), the fleet freeze (`fleet_config`) and job revocation
//! (`script_status`). Every edit is compare-and-set (`kanade_bus::kv::modify`), except the
//! freeze, whose new value never depends on the old one.

use anyhow::Context;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use kanade_protocol::config::{self, ConfigScope};
use kanade_protocol::ids::MAX_GROUPS_PER_MACHINE;
use kanade_protocol::names;
use kanade_protocol::wire::{AgentGroups, FREEZE_KEY, Freeze, SCRIPT_ACTIVE, SCRIPT_REVOKED};

async fn bucket(js: &jetstream::Context, name: &str) -> anyhow::Result<jetstream::kv::Store> {
    js.get_key_value(name)
        .await
        .with_context(|| format!("opening KV {name}"))
}

/// Every machine's groups, by machine: set by operators (`agent_groups`) and derived from
/// inventory (`agent_groups_derived`), united.
pub async fn all_groups(js: &jetstream::Context) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let mut by_pc: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for name in [names::KV_AGENT_GROUPS, names::KV_AGENT_GROUPS_DERIVED] {
        for (pc, groups) in bucket_groups(js, name).await? {
            by_pc.entry(pc).or_default().extend(groups);
        }
    }
    Ok(by_pc
        .into_iter()
        .map(|(pc, groups)| (pc, normalise(groups)))
        .collect())
}

/// Every entry of one groups bucket (`agent_groups` or `agent_groups_derived`).
pub async fn bucket_groups(
    js: &jetstream::Context,
    name: &str,
) -> anyhow::Result<Vec<(String, Vec<String>)>> {
    let kv = bucket(js, name).await?;
    let keys: Vec<String> = match kv.keys().await {
        Ok(keys) => keys
            .try_collect()
            .await
            .with_context(|| format!("listing KV {name}"))?,
        Err(err) => return Err(anyhow::anyhow!(err).context(format!("listing KV {name}"))),
    };
    let mut out = Vec::with_capacity(keys.len());
    for pc in keys {
        let (groups, _) = kanade_bus::kv::read::<AgentGroups>(&kv, &pc)
            .await
            .unwrap_or((None, None));
        out.push((pc, groups.map(|g| g.groups).unwrap_or_default()));
    }
    Ok(out)
}

/// A machine's groups as the broker grants them: its own plus those derived from inventory
/// (at most `MAX_GROUPS_PER_MACHINE`).
pub async fn effective_groups_of(
    js: &jetstream::Context,
    pc_id: &str,
) -> anyhow::Result<Vec<String>> {
    let mut groups = groups_of(js, pc_id).await?;
    let derived = bucket(js, names::KV_AGENT_GROUPS_DERIVED).await?;
    let (more, _) = kanade_bus::kv::read::<AgentGroups>(&derived, pc_id).await?;
    groups.extend(more.map(|g| g.groups).unwrap_or_default());
    let mut groups = normalise(groups);
    groups.truncate(MAX_GROUPS_PER_MACHINE);
    Ok(groups)
}

pub async fn groups_of(js: &jetstream::Context, pc_id: &str) -> anyhow::Result<Vec<String>> {
    let kv = bucket(js, names::KV_AGENT_GROUPS).await?;
    let (groups, _) = kanade_bus::kv::read::<AgentGroups>(&kv, pc_id).await?;
    Ok(groups.map(|g| g.groups).unwrap_or_default())
}

/// Sorted and de-duplicated, as agents and the API expect.
pub fn normalise(mut groups: Vec<String>) -> Vec<String> {
    groups.sort();
    groups.dedup();
    groups
}

/// An edit would leave a machine in more than `MAX_GROUPS_PER_MACHINE` groups (nothing was
/// written).
#[derive(Debug, thiserror::Error)]
#[error("a machine may belong to at most {MAX_GROUPS_PER_MACHINE} groups; this would make {0}")]
pub struct TooManyGroups(pub usize);

/// Changes a machine's groups with `edit`; an empty result deletes the entry, and more than
/// `MAX_GROUPS_PER_MACHINE` is refused with `TooManyGroups`.
pub async fn edit_groups(
    js: &jetstream::Context,
    pc_id: &str,
    mut edit: impl FnMut(Vec<String>) -> Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let kv = bucket(js, names::KV_AGENT_GROUPS).await?;
    let written = kanade_bus::kv::modify::<AgentGroups, _>(&kv, pc_id, |current| {
        let groups = normalise(edit(current.map(|g| g.groups).unwrap_or_default()));
        if groups.len() > MAX_GROUPS_PER_MACHINE {
            return Err(anyhow::Error::new(TooManyGroups(groups.len())));
        }
        Ok((!groups.is_empty()).then_some(AgentGroups { groups }))
    })
    .await?;
    Ok(written.map(|g| g.groups).unwrap_or_default())
}

/// A config scope key (`global`, `groups.<g>`, `pcs.<pc_id>`) from what a user typed.
pub fn scope_key(scope: &str) -> Result<String, String> {
    if scope == config::GLOBAL_KEY {
        return Ok(scope.to_owned());
    }
    let (kind, name) = scope.split_once('.').ok_or_else(|| {
        format!("`{scope}` is not a scope; use global, groups.<name> or pcs.<machine>")
    })?;
    if !kanade_protocol::subject::is_valid_token(name) {
        return Err(format!("`{name}` is not a valid group or machine name"));
    }
    match kind {
        "groups" | "group" => Ok(config::group_key(name)),
        "pcs" | "pc" => Ok(config::pc_key(name)),
        _ => Err(format!(
            "`{scope}` is not a scope; use global, groups.<name> or pcs.<machine>"
        )),
    }
}

pub async fn read_scope(js: &jetstream::Context, key: &str) -> anyhow::Result<Option<ConfigScope>> {
    let kv = bucket(js, names::KV_AGENT_CONFIG).await?;
    Ok(kanade_bus::kv::read::<ConfigScope>(&kv, key).await?.0)
}

/// Merges `patch` (a JSON object; `null` unsets a field) into a scope and validates the result.
pub async fn patch_scope(
    js: &jetstream::Context,
    key: &str,
    patch: &serde_json::Map<String, serde_json::Value>,
) -> anyhow::Result<Option<ConfigScope>> {
    let kv = bucket(js, names::KV_AGENT_CONFIG).await?;
    kanade_bus::kv::modify::<ConfigScope, _>(&kv, key, |current| {
        let mut doc = serde_json::to_value(current.unwrap_or_default())?;
        let object = doc.as_object_mut().context("a scope is an object")?;
        for (field, value) in patch {
            match value {
                serde_json::Value::Null => {
                    object.remove(field);
                }
                other => {
                    object.insert(field.clone(), other.clone());
                }
            }
        }
        let scope: ConfigScope = serde_json::from_value(doc)?;
        Ok((scope != ConfigScope::default()).then_some(scope))
    })
    .await
}

/// The effective config of a machine and where each value came from.
pub async fn effective(
    js: &jetstream::Context,
    pc_id: &str,
) -> anyhow::Result<kanade_protocol::api::EffectiveConfigView> {
    let groups = groups_of(js, pc_id).await?;
    let global = read_scope(js, config::GLOBAL_KEY).await?;
    let mut group_scopes = Vec::new();
    for g in &groups {
        if let Some(scope) = read_scope(js, &config::group_key(g)).await? {
            group_scopes.push((g.clone(), scope));
        }
    }
    let pc = read_scope(js, &config::pc_key(pc_id)).await?;
    let (effective, sources) = config::resolve(
        global.as_ref(),
        &group_scopes,
        pc.as_ref().map(|s| (pc_id, s)),
    );
    Ok(kanade_protocol::api::EffectiveConfigView {
        pc_id: pc_id.to_owned(),
        groups,
        effective,
        sources,
    })
}

/// What each field of the scope `key` gets when it is unset there: the layers below it
/// resolved (built-in defaults; for a group also global; for a machine also global and its
/// groups), each value with the scope it comes from.
pub async fn inherited(
    js: &jetstream::Context,
    key: &str,
) -> anyhow::Result<Vec<kanade_protocol::config::Sourced>> {
    let global = match key == config::GLOBAL_KEY {
        true => None,
        false => read_scope(js, config::GLOBAL_KEY).await?,
    };
    let mut group_scopes = Vec::new();
    if let Some(pc_id) = key.strip_prefix("pcs.") {
        for g in groups_of(js, pc_id).await? {
            if let Some(scope) = read_scope(js, &config::group_key(&g)).await? {
                group_scopes.push((g, scope));
            }
        }
    }
    Ok(config::resolve(global.as_ref(), &group_scopes, None).1)
}

/// What KV `fleet_config[freeze]` holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreezeState {
    /// No freeze is set (or it was lifted).
    Absent,
    Set(Freeze),
    /// A value that does not decode. It counts as frozen (fail-safe: someone meant to stop
    /// the fleet); the text says what is wrong with it.
    Unreadable(String),
}

impl FreezeState {
    /// Whether scheduled fires are held at `now`. An unreadable value holds them.
    pub fn frozen(&self, now: DateTime<Utc>) -> bool {
        match self {
            FreezeState::Absent => false,
            FreezeState::Set(freeze) => freeze.active(now),
            FreezeState::Unreadable(_) => true,
        }
    }

    /// What a manual exec sent at `now` should tell the operator, if anything.
    pub fn exec_warning(&self, now: DateTime<Utc>, rollout: bool) -> Option<String> {
        match self {
            FreezeState::Absent => None,
            FreezeState::Set(freeze) if !freeze.active(now) => None,
            FreezeState::Set(freeze) => Some(kanade_protocol::api::frozen_exec_warning(
                Some(freeze),
                rollout,
            )),
            FreezeState::Unreadable(_) => {
                Some(kanade_protocol::api::frozen_exec_warning(None, rollout))
            }
        }
    }
}

/// Reads the fleet freeze. Err only when the broker cannot be asked; a value that does not
/// decode is `Unreadable`, never "not frozen".
pub async fn freeze(js: &jetstream::Context) -> anyhow::Result<FreezeState> {
    let kv = bucket(js, names::KV_FLEET_CONFIG).await?;
    let entry = kv
        .entry(FREEZE_KEY)
        .await
        .with_context(|| format!("reading KV {} key {FREEZE_KEY}", names::KV_FLEET_CONFIG))?;
    let Some(entry) = entry.filter(|e| e.operation == jetstream::kv::Operation::Put) else {
        return Ok(FreezeState::Absent);
    };
    Ok(match serde_json::from_slice::<Freeze>(&entry.value) {
        Ok(freeze) => FreezeState::Set(freeze),
        Err(err) => FreezeState::Unreadable(format!(
            "KV {} key {FREEZE_KEY} does not decode as a freeze ({err})",
            names::KV_FLEET_CONFIG
        )),
    })
}

/// Sets (`Some`) or lifts (`None`) the freeze. A plain put or delete rather than a
/// compare-and-set edit: the new value does not depend on the old one, and an unreadable old
/// value must be replaceable.
pub async fn set_freeze(js: &jetstream::Context, freeze: Option<Freeze>) -> anyhow::Result<()> {
    let kv = bucket(js, names::KV_FLEET_CONFIG).await?;
    match freeze {
        Some(freeze) => {
            kv.put(FREEZE_KEY, serde_json::to_vec(&freeze)?.into())
                .await
                .context("writing the freeze")?;
        }
        None => {
            kv.delete(FREEZE_KEY).await.context("deleting the freeze")?;
        }
    }
    Ok(())
}

/// Marks a job revoked (agents refuse it, including replayed commands) or active again.
pub async fn set_revoked(
    js: &jetstream::Context,
    job_id: &str,
    revoked: bool,
) -> anyhow::Result<()> {
    let kv = bucket(js, names::KV_SCRIPT_STATUS).await?;
    let value = if revoked {
        SCRIPT_REVOKED
    } else {
        SCRIPT_ACTIVE
    };
    kv.put(job_id, value.into())
        .await
        .context("writing KV script_status")?;
    Ok(())
}

pub async fn job_status(
    js: &jetstream::Context,
    job_id: &str,
) -> anyhow::Result<kanade_protocol::api::JobStatus> {
    let status = bucket(js, names::KV_SCRIPT_STATUS)
        .await?
        .get(job_id)
        .await
        .context("reading KV script_status")?;
    let pin = bucket(js, names::KV_SCRIPT_CURRENT)
        .await?
        .get(job_id)
        .await
        .context("reading KV script_current")?;
    Ok(kanade_protocol::api::JobStatus {
        id: job_id.to_owned(),
        revoked: status.is_some_and(|s| s.as_ref() == SCRIPT_REVOKED.as_bytes()),
        pinned_version: pin.map(|v| String::from_utf8_lossy(&v).into_owned()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_are_checked() {
        assert_eq!(scope_key("global").unwrap(), "global");
        assert_eq!(scope_key("groups.lab").unwrap(), "groups.lab");
        assert_eq!(scope_key("group.lab").unwrap(), "groups.lab");
        assert_eq!(scope_key("pcs.pc-1").unwrap(), "pcs.pc-1");
        for bad in ["", "lab", "groups.", "groups.a.b", "pcs.*", "users.x"] {
            assert!(scope_key(bad).is_err(), "{bad}");
        }
    }
}
