//! What the local scheduler keeps on disk so it works while the broker is unreachable: the
//! agent-side schedules (`runs_on: agent`) with the jobs they run and the fleet freeze as last
//! read from KV (`local_schedules.json`), and the per-schedule memory of this machine's fires
//! and successes (`local_completions.json`). Both are written atomically (temp file + rename,
//! mode 0600); a file that does not decode is started over with a warning.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::Context;
use async_nats::jetstream;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use kanade_protocol::manifest::Manifest;
use kanade_protocol::names;
use kanade_protocol::schedule::{RunsOn, Schedule};
use kanade_protocol::wire::{FREEZE_KEY, Freeze};
use serde::{Deserialize, Serialize};

/// The agent-side schedules and what they need, as read from KV last.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    /// Every `runs_on: agent` schedule (the target is checked when evaluating, as groups change).
    pub schedules: Vec<Schedule>,
    /// The jobs those schedules run, by id.
    pub jobs: BTreeMap<String, Manifest>,
    /// `fleet_config[freeze]` as stored (`None`: no freeze).
    pub freeze: Option<String>,
    /// This machine's groups at the last read, for while the live ones are unknown.
    #[serde(default)]
    pub groups: BTreeSet<String>,
    pub synced_at: Option<DateTime<Utc>>,
}

impl Cache {
    /// Whether the fleet freeze holds fires at `now`. A freeze that does not decode holds
    /// them (fail-safe, as on the backend).
    pub fn frozen(&self, now: DateTime<Utc>) -> bool {
        match &self.freeze {
            None => false,
            Some(raw) => serde_json::from_str::<Freeze>(raw).map_or(true, |f| f.active(now)),
        }
    }
}

/// This machine's memory of one schedule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Memo {
    /// When this agent first saw the schedule: clock ticks before it never fire.
    pub first_seen: Option<DateTime<Utc>>,
    /// The newest clock tick dealt with (fired or passed over).
    pub last_tick: Option<DateTime<Utc>>,
    /// The last fire.
    pub last_fired: Option<DateTime<Utc>>,
    /// The last run that exited 0 (not skipped): only these count as done.
    pub last_success: Option<DateTime<Utc>>,
    /// The boot (`/proc/sys/kernel/random/boot_id`) a `startup` trigger last fired in.
    pub startup_boot: Option<String>,
}

pub type Memory = BTreeMap<String, Memo>;

pub fn cache_path(data_dir: &Path) -> PathBuf {
    data_dir.join("local_schedules.json")
}

pub fn memory_path(data_dir: &Path) -> PathBuf {
    data_dir.join("local_completions.json")
}

/// Reads a JSON file written by `save`; missing or broken files give the default.
pub fn load<T: for<'de> Deserialize<'de> + Default>(path: &Path) -> T {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
            tracing::warn!(file = %path.display(), error = %err, "cannot read; starting over");
            T::default()
        }),
        Err(_) => T::default(),
    }
}

/// Writes `value` as JSON atomically, mode 0600.
pub fn save<T: Serialize>(path: &Path, value: &T) -> anyhow::Result<()> {
    let bytes = serde_json::to_vec_pretty(value)?;
    let tmp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(crate::private::FILE_MODE);
    }
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::io::Write::write_all(&mut file, &bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

/// Reads the agent-side schedules, their jobs and the freeze from KV.
pub async fn read(js: &jetstream::Context, groups: BTreeSet<String>) -> anyhow::Result<Cache> {
    let schedules_kv = js
        .get_key_value(names::KV_SCHEDULES)
        .await
        .context("opening KV schedules")?;
    let keys: Vec<String> = match schedules_kv.keys().await {
        Ok(keys) => keys.try_collect().await.context("listing KV schedules")?,
        Err(err) => return Err(anyhow::anyhow!(err).context("listing KV schedules")),
    };
    let mut schedules = Vec::new();
    for key in keys {
        let Some(bytes) = schedules_kv
            .get(&key)
            .await
            .context("reading KV schedules")?
        else {
            continue;
        };
        match serde_json::from_slice::<Schedule>(&bytes) {
            Ok(s) if s.runs_on == RunsOn::Agent => schedules.push(s),
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(schedule = key, error = %err, "ignoring a schedule that does not decode")
            }
        }
    }
    let jobs_kv = js
        .get_key_value(names::KV_JOBS)
        .await
        .context("opening KV jobs")?;
    let mut jobs = BTreeMap::new();
    for job_id in schedules
        .iter()
        .map(|s| s.job_id.clone())
        .collect::<BTreeSet<_>>()
    {
        let Some(bytes) = jobs_kv.get(&job_id).await.context("reading KV jobs")? else {
            continue;
        };
        match serde_json::from_slice::<Manifest>(&bytes) {
            Ok(manifest) => {
                jobs.insert(job_id, manifest);
            }
            Err(err) => {
                tracing::warn!(job = job_id, error = %err, "ignoring a job that does not decode")
            }
        }
    }
    let fleet = js
        .get_key_value(names::KV_FLEET_CONFIG)
        .await
        .context("opening KV fleet_config")?;
    let freeze = fleet
        .get(FREEZE_KEY)
        .await
        .context("reading the fleet freeze")?
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    Ok(Cache {
        schedules,
        jobs,
        freeze,
        groups,
        synced_at: Some(Utc::now()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_freeze_that_does_not_decode_holds_fires() {
        let now = Utc::now();
        let mut cache = Cache::default();
        assert!(!cache.frozen(now));
        cache.freeze = Some("{not json".into());
        assert!(cache.frozen(now));
        let lifted = Freeze {
            from: None,
            until: Some(now - chrono::TimeDelta::minutes(1)),
            reason: None,
            set_by: None,
            set_at: now,
        };
        cache.freeze = Some(serde_json::to_string(&lifted).unwrap());
        assert!(!cache.frozen(now));
    }

    #[test]
    fn files_round_trip_and_broken_ones_start_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = memory_path(dir.path());
        let mut memory = Memory::new();
        memory.entry("s".into()).or_default().startup_boot = Some("b".into());
        save(&path, &memory).unwrap();
        assert_eq!(load::<Memory>(&path), memory);
        std::fs::write(&path, "{").unwrap();
        assert!(load::<Memory>(&path).is_empty());
    }
}
