//! Live configuration: follows KV `agent_config` (only the keys `global`, `groups.<g>` for this
//! machine's groups and `pcs.<pc_id>`), `agent_groups[<pc_id>]` and the groups derived from its
//! inventory, `agent_groups_derived[<pc_id>]` (united with its own), resolves the effective
//! config and publishes it, with the group set, on `watch` channels the other loops follow.
//!
//! A sync opens the watches first and then reads every key, so a change between the read and
//! the watch cannot slip through; per-key revisions make late or repeated deliveries harmless.
//! When a watch ends or fails, or the client reconnects (broker restart), the supervisor syncs
//! again, with backoff while that fails. A group change re-syncs too, so the new groups'
//! scopes are read and watched. A value that does not decode is logged and the key keeps its
//! last good value. Command intake needs only the groups, so they are published even while
//! `agent_config` cannot be read. `[agent] heartbeat_interval` from agent.toml is the cadence
//! until a KV scope sets one.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use async_nats::connection::State;
use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use kanade_protocol::config::{self, ConfigScope, EffectiveConfig};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::names;
use kanade_protocol::subject::is_valid_token;
use kanade_protocol::wire::AgentGroups;
use tokio::sync::watch;

/// No interval from KV runs faster than this (a zero would spin).
pub const MIN_INTERVAL: Duration = Duration::from_millis(100);
/// Process perf lists at most this many processes.
pub const MAX_TOP_N: u32 = 200;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// How often the supervisor looks for a reconnect (after which it syncs again).
const RECONNECT_CHECK: Duration = Duration::from_secs(1);

/// The ends the agent's loops read.
#[derive(Clone)]
pub struct Live {
    pub config: watch::Receiver<EffectiveConfig>,
    /// `None` until the first sync: the groups are unknown then, not empty.
    pub groups: watch::Receiver<Option<BTreeSet<String>>>,
}

/// The ends the supervisor writes.
pub struct Publish {
    config: watch::Sender<EffectiveConfig>,
    groups: watch::Sender<Option<BTreeSet<String>>>,
}

/// The channels, holding what applies before the first sync: the built-in defaults with the
/// local heartbeat interval.
pub fn channels(local_heartbeat: Duration) -> (Publish, Live) {
    let initial = Desired::default().effective("", &BTreeSet::new(), local_heartbeat);
    let (config_tx, config_rx) = watch::channel(initial);
    let (groups_tx, groups_rx) = watch::channel(None);
    let publish = Publish {
        config: config_tx,
        groups: groups_tx,
    };
    let live = Live {
        config: config_rx,
        groups: groups_rx,
    };
    (publish, live)
}

/// Keeps the published config in step with the broker. Runs until aborted.
pub async fn run(
    client: async_nats::Client,
    pc_id: String,
    local_heartbeat: Duration,
    publish: Publish,
) {
    let js = jetstream::new(client.clone());
    let mut desired = Desired::default();
    let mut backoff = Duration::ZERO;
    loop {
        if !backoff.is_zero() {
            tokio::time::sleep(backoff).await;
        }
        while client.connection_state() != State::Connected {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let connects = client.statistics().connects.load(Ordering::Relaxed);
        let ended = match sync(&js, &pc_id, &mut desired).await {
            Ok(mut watches) => {
                if !backoff.is_zero() {
                    tracing::info!("live configuration is in sync again");
                }
                backoff = Duration::ZERO;
                desired.publish(&pc_id, local_heartbeat, &publish);
                let mut follower = Follower {
                    client: &client,
                    connects,
                    pc_id: &pc_id,
                    local_heartbeat,
                    publish: &publish,
                };
                follower.follow(&mut watches, &mut desired).await
            }
            Err(err) => Ended::Failed(err),
        };
        match ended {
            Ended::GroupsChanged => {
                // Publish the groups at once so commands reach the machine; the config follows
                // after the new groups' scopes are read.
                desired.publish_groups(&publish);
            }
            Ended::Reconnected => tracing::debug!("reconnected; syncing the configuration again"),
            Ended::Failed(err) => {
                // Commands need only the groups: a broken `agent_config` must not hold them up.
                if desired.groups_known {
                    desired.publish_groups(&publish);
                }
                let error = format!("{err:#}");
                if backoff.is_zero() {
                    tracing::warn!(error, "live configuration out of sync; retrying");
                } else {
                    tracing::debug!(error, "configuration sync failed again");
                }
                backoff = (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF);
            }
        }
    }
}

/// Sleeps until `last + interval(config)`, following live changes of the interval, so a new
/// cadence applies at once rather than after the old interval ran out.
pub async fn next_tick(
    config: &mut watch::Receiver<EffectiveConfig>,
    last: tokio::time::Instant,
    interval: impl Fn(&EffectiveConfig) -> Duration,
) {
    loop {
        let due = last + interval(&config.borrow_and_update());
        tokio::select! {
            _ = tokio::time::sleep_until(due) => return,
            changed = config.changed() => {
                if changed.is_err() {
                    // The supervisor is gone: keep the last cadence.
                    tokio::time::sleep_until(due).await;
                    return;
                }
            }
        }
    }
}

struct Watches {
    groups: crate::key_watch::Changes,
    /// Never yields when the broker has no `agent_groups_derived` (an older backend).
    derived: crate::key_watch::Changes,
    config: crate::key_watch::Changes,
}

enum Ended {
    GroupsChanged,
    Reconnected,
    Failed(anyhow::Error),
}

/// Opens the watches, then reads every key (see the module docs for why in this order).
async fn sync(
    js: &jetstream::Context,
    pc_id: &str,
    desired: &mut Desired,
) -> anyhow::Result<Watches> {
    let groups_kv = js
        .get_key_value(names::KV_AGENT_GROUPS)
        .await
        .context("opening KV agent_groups")?;
    let config_kv = js
        .get_key_value(names::KV_AGENT_CONFIG)
        .await
        .context("opening KV agent_config")?;
    // Watched key by key, so the broker grant can name exactly this machine's keys.
    let groups = crate::key_watch::watch(js, names::KV_AGENT_GROUPS, &[pc_id.to_owned()])
        .await
        .context("watching agent_groups")?;
    let entry = groups_kv
        .entry(pc_id)
        .await
        .context("reading this machine's groups")?;
    desired.read_groups(entry.as_ref().map(Seen::from));
    let derived = match js.get_key_value(names::KV_AGENT_GROUPS_DERIVED).await {
        Ok(derived_kv) => {
            let watch =
                crate::key_watch::watch(js, names::KV_AGENT_GROUPS_DERIVED, &[pc_id.to_owned()])
                    .await
                    .context("watching agent_groups_derived")?;
            let entry = derived_kv
                .entry(pc_id)
                .await
                .context("reading this machine's derived groups")?;
            desired.read_derived(entry.as_ref().map(Seen::from));
            watch
        }
        Err(err) => {
            tracing::debug!(error = %err, "no agent_groups_derived bucket; only own groups apply");
            desired.read_derived(None);
            Box::pin(futures::stream::pending())
        }
    };
    let keys = desired.scope_keys(pc_id);
    let config = crate::key_watch::watch(js, names::KV_AGENT_CONFIG, &keys)
        .await
        .context("watching agent_config")?;
    for key in &keys {
        let entry = config_kv
            .entry(key.as_str())
            .await
            .with_context(|| format!("reading agent_config {key}"))?;
        desired.read_scope(key, entry.as_ref().map(Seen::from));
    }
    desired.scopes.retain(|key, _| keys.contains(key));
    Ok(Watches {
        groups,
        derived,
        config,
    })
}

struct Follower<'a> {
    client: &'a async_nats::Client,
    connects: u64,
    pc_id: &'a str,
    local_heartbeat: Duration,
    publish: &'a Publish,
}

impl Follower<'_> {
    /// Applies watched changes until a re-sync is needed.
    async fn follow(&mut self, watches: &mut Watches, desired: &mut Desired) -> Ended {
        let mut ticks = tokio::time::interval(RECONNECT_CHECK);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                entry = watches.groups.next() => match entry {
                    Some(Ok(entry)) => {
                        if desired.watched_groups(Seen::from(&entry)) {
                            return Ended::GroupsChanged;
                        }
                    }
                    Some(Err(err)) => {
                        return Ended::Failed(err.context("watching agent_groups"));
                    }
                    None => {
                        return Ended::Failed(anyhow::anyhow!("the watch of agent_groups ended"));
                    }
                },
                entry = watches.derived.next() => match entry {
                    Some(Ok(entry)) => {
                        if desired.watched_derived(Seen::from(&entry)) {
                            return Ended::GroupsChanged;
                        }
                    }
                    Some(Err(err)) => {
                        return Ended::Failed(err.context("watching agent_groups_derived"));
                    }
                    None => {
                        return Ended::Failed(anyhow::anyhow!("the watch of agent_groups_derived ended"));
                    }
                },
                entry = watches.config.next() => match entry {
                    Some(Ok(entry)) => {
                        if desired.watched_scope(Seen::from(&entry)) {
                            desired.publish(self.pc_id, self.local_heartbeat, self.publish);
                        }
                    }
                    Some(Err(err)) => {
                        return Ended::Failed(err.context("watching agent_config"));
                    }
                    None => {
                        return Ended::Failed(anyhow::anyhow!("the watch of agent_config ended"));
                    }
                },
                _ = ticks.tick() => {
                    if self.client.statistics().connects.load(Ordering::Relaxed) != self.connects {
                        return Ended::Reconnected;
                    }
                }
            }
        }
    }
}

/// One KV entry, as much of it as the supervisor needs.
#[derive(Debug, Clone, Copy)]
pub struct Seen<'a> {
    pub key: &'a str,
    pub revision: u64,
    pub operation: kv::Operation,
    pub value: &'a [u8],
}

impl<'a> From<&'a kv::Entry> for Seen<'a> {
    fn from(entry: &'a kv::Entry) -> Seen<'a> {
        Seen {
            key: &entry.key,
            revision: entry.revision,
            operation: entry.operation,
            value: &entry.value,
        }
    }
}

impl<'a> From<&'a crate::key_watch::Change> for Seen<'a> {
    fn from(change: &'a crate::key_watch::Change) -> Seen<'a> {
        Seen {
            key: &change.key,
            revision: change.revision,
            operation: change.operation,
            value: &change.value,
        }
    }
}

/// The newest revision seen of one key and its last value that decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Slot<T> {
    revision: u64,
    value: Option<T>,
}

impl<T> Default for Slot<T> {
    fn default() -> Slot<T> {
        Slot {
            revision: 0,
            value: None,
        }
    }
}

impl<T: PartialEq> Slot<T> {
    /// Applies one entry; true when the value changed. A watched entry not newer than what
    /// is known is stale and ignored; a read (`authoritative`) always applies, so a bucket
    /// that was recreated (revisions start again at 1) is followed too.
    fn apply(
        &mut self,
        entry: &Seen<'_>,
        authoritative: bool,
        decode: impl FnOnce(&[u8]) -> Option<T>,
    ) -> bool {
        if !authoritative && entry.revision <= self.revision {
            return false;
        }
        self.revision = entry.revision;
        let new = match entry.operation {
            kv::Operation::Put => match decode(entry.value) {
                Some(value) => Some(value),
                // Keep the last good value.
                None => return false,
            },
            kv::Operation::Delete | kv::Operation::Purge => None,
        };
        if self.value == new {
            return false;
        }
        self.value = new;
        true
    }

    /// A read found no entry at all.
    fn absent(&mut self) -> bool {
        let changed = self.value.is_some();
        self.value = None;
        changed
    }
}

/// What the buckets say about this machine, key by key: the pure core of the supervisor.
#[derive(Debug, Default)]
pub struct Desired {
    groups: Slot<BTreeSet<String>>,
    /// Groups derived from inventory (`agent_groups_derived`), united with `groups`.
    derived: Slot<BTreeSet<String>>,
    /// Whether `agent_groups` was read at least once.
    groups_known: bool,
    scopes: BTreeMap<String, Slot<ConfigScope>>,
}

impl Desired {
    /// The machine's groups (its own and the derived ones); none when both keys are missing.
    pub fn groups(&self) -> BTreeSet<String> {
        let mut groups = self.groups.value.clone().unwrap_or_default();
        groups.extend(self.derived.value.iter().flatten().cloned());
        groups
    }

    /// Applies a read of `agent_groups_derived[pc_id]` (`None`: no entry); true when it changed.
    pub fn read_derived(&mut self, entry: Option<Seen<'_>>) -> bool {
        match entry {
            Some(entry) => self.derived.apply(&entry, true, decode_groups),
            None => self.derived.absent(),
        }
    }

    /// Applies a watched entry of `agent_groups_derived[pc_id]`; true when it changed.
    pub fn watched_derived(&mut self, entry: Seen<'_>) -> bool {
        self.derived.apply(&entry, false, decode_groups)
    }

    /// The `agent_config` keys that apply to this machine.
    pub fn scope_keys(&self, pc_id: &str) -> Vec<String> {
        let mut keys = vec![config::GLOBAL_KEY.to_owned()];
        keys.extend(self.groups().iter().map(|g| config::group_key(g)));
        keys.push(config::pc_key(pc_id));
        keys
    }

    /// Applies a read of `agent_groups[pc_id]` (`None`: no entry); true when the set changed.
    pub fn read_groups(&mut self, entry: Option<Seen<'_>>) -> bool {
        self.groups_known = true;
        match entry {
            Some(entry) => self.groups.apply(&entry, true, decode_groups),
            None => self.groups.absent(),
        }
    }

    /// Applies a watched entry of `agent_groups[pc_id]`; true when the set changed.
    pub fn watched_groups(&mut self, entry: Seen<'_>) -> bool {
        self.groups.apply(&entry, false, decode_groups)
    }

    /// Applies a read of one `agent_config` key (`None`: no entry); true when it changed.
    pub fn read_scope(&mut self, key: &str, entry: Option<Seen<'_>>) -> bool {
        let slot = self.scopes.entry(key.to_owned()).or_default();
        match entry {
            Some(entry) => slot.apply(&entry, true, |v| decode_scope(key, v)),
            None => slot.absent(),
        }
    }

    /// Applies a watched entry of `agent_config`; true when the scope changed. Keys this
    /// machine does not follow are ignored.
    pub fn watched_scope(&mut self, entry: Seen<'_>) -> bool {
        let Some(slot) = self.scopes.get_mut(entry.key) else {
            return false;
        };
        slot.apply(&entry, false, |v| decode_scope(entry.key, v))
    }

    /// Resolves defaults → global → groups (alphabetical) → pc, with the local heartbeat
    /// interval standing in for the built-in default, and clamps values that would stall
    /// or spin the agent.
    pub fn effective(
        &self,
        pc_id: &str,
        groups: &BTreeSet<String>,
        local_heartbeat: Duration,
    ) -> EffectiveConfig {
        let scope = |key: &str| self.scopes.get(key).and_then(|slot| slot.value.as_ref());
        let group_scopes: Vec<(String, ConfigScope)> = groups
            .iter()
            .filter_map(|g| scope(&config::group_key(g)).map(|s| (g.clone(), s.clone())))
            .collect();
        let pc = scope(&config::pc_key(pc_id)).map(|s| (pc_id, s));
        let (mut effective, sources) =
            config::resolve(scope(config::GLOBAL_KEY), &group_scopes, pc);
        let heartbeat_from_kv = sources
            .iter()
            .any(|s| s.field == "heartbeat_interval" && s.scope != "default");
        if !heartbeat_from_kv {
            effective.heartbeat_interval = HumanDuration(local_heartbeat);
        }
        for interval in [
            &mut effective.heartbeat_interval,
            &mut effective.host_perf_interval,
            &mut effective.process_perf_interval,
        ] {
            interval.0 = interval.0.max(MIN_INTERVAL);
        }
        effective.max_local_concurrent = effective.max_local_concurrent.max(1);
        effective.process_perf_top_n = effective.process_perf_top_n.clamp(1, MAX_TOP_N);
        effective
    }

    fn publish(&self, pc_id: &str, local_heartbeat: Duration, publish: &Publish) {
        let groups = self.groups();
        let effective = self.effective(pc_id, &groups, local_heartbeat);
        publish.config.send_if_modified(|current| {
            if *current == effective {
                return false;
            }
            tracing::info!(config = ?effective, "effective configuration");
            *current = effective;
            true
        });
        self.publish_groups(publish);
    }

    fn publish_groups(&self, publish: &Publish) {
        let groups = self.groups();
        publish.groups.send_if_modified(|current| {
            if current.as_ref() == Some(&groups) {
                return false;
            }
            tracing::info!(?groups, "group membership");
            *current = Some(groups);
            true
        });
    }
}

/// `AgentGroups` JSON; names that cannot be a subject token are skipped with a warning.
fn decode_groups(value: &[u8]) -> Option<BTreeSet<String>> {
    let groups: AgentGroups = match serde_json::from_slice(value) {
        Ok(groups) => groups,
        Err(err) => {
            tracing::warn!(error = %err, "agent_groups entry does not decode; keeping the last good one");
            return None;
        }
    };
    let mut valid = BTreeSet::new();
    for group in groups.groups {
        if is_valid_token(&group) {
            valid.insert(group);
        } else {
            tracing::warn!(
                group,
                "ignoring a group name that cannot be a subject token"
            );
        }
    }
    Some(valid)
}

fn decode_scope(key: &str, value: &[u8]) -> Option<ConfigScope> {
    match serde_json::from_slice(value) {
        Ok(scope) => Some(scope),
        Err(err) => {
            tracing::warn!(key, error = %err,
                "agent_config entry does not decode; keeping the last good one");
            None
        }
    }
}

#[cfg(test)]
mod tests;
