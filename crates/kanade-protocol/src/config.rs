//! Layered agent configuration (KV `agent_config`): partial scopes under the keys `global`,
//! `groups.<g>` and `pcs.<pc_id>`, resolved built-in defaults → global → groups (alphabetical)
//! → pc. Each resolved value remembers the scope it came from.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;

pub const GLOBAL_KEY: &str = "global";

pub fn group_key(group: &str) -> String {
    format!("groups.{group}")
}

pub fn pc_key(pc_id: &str) -> String {
    format!("pcs.{pc_id}")
}

/// A partial config: only the fields that are set override lower scopes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ConfigScope {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heartbeat_interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_perf_interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_perf_enabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_perf_expires_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_perf_interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process_perf_top_n: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_local_concurrent: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_version_jitter: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_signatures: Option<SignatureMode>,
    /// Whether an admin may open a remote terminal on the machine (`allow`, the default,
    /// `consent`: only once the user signed in there accepts, or `deny`); checked by the
    /// backend before opening and by the agent again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal: Option<TerminalPolicy>,
    /// How long `terminal: consent` waits for the signed-in user's answer (default 30s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_consent_timeout: Option<HumanDuration>,
    /// A remote terminal session without input this long is closed by the agent (default
    /// 15m, between [`IDLE_TIMEOUT_MIN_SECS`] and [`IDLE_TIMEOUT_MAX_SECS`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminal_idle_timeout: Option<HumanDuration>,
}

impl ConfigScope {
    /// Refuses values out of their range: the field and why. Checked by the API before a
    /// scope is written; the agent clamps what it reads as well.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(v) = self.terminal_idle_timeout {
            let range = std::time::Duration::from_secs(IDLE_TIMEOUT_MIN_SECS)
                ..=std::time::Duration::from_secs(IDLE_TIMEOUT_MAX_SECS);
            if !range.contains(&v.0) {
                return Err((
                    "terminal_idle_timeout",
                    format!(
                        "terminal_idle_timeout: must be between {IDLE_TIMEOUT_MIN_SECS}s and 24h, not {v}"
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// Whether remote terminals may be opened on a machine.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TerminalPolicy {
    #[default]
    Allow,
    /// The user signed in at the machine is asked first and must accept.
    Consent,
    Deny,
}

/// What an agent does with a command whose signature does not verify: `report` logs it and
/// runs it (while a fleet upgrades), `enforce` refuses it with exit 123.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignatureMode {
    Report,
    #[default]
    Enforce,
}

/// The config an agent runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveConfig {
    pub heartbeat_interval: HumanDuration,
    pub host_perf_interval: HumanDuration,
    pub process_perf_enabled: bool,
    pub process_perf_expires_at: Option<DateTime<Utc>>,
    pub process_perf_interval: HumanDuration,
    pub process_perf_top_n: u32,
    pub max_local_concurrent: u32,
    pub target_version: Option<String>,
    pub target_version_jitter: HumanDuration,
    #[serde(default)]
    pub command_signatures: SignatureMode,
    #[serde(default)]
    pub terminal: TerminalPolicy,
    #[serde(default = "default_terminal_consent_timeout")]
    pub terminal_consent_timeout: HumanDuration,
    #[serde(default = "default_terminal_idle_timeout")]
    pub terminal_idle_timeout: HumanDuration,
}

/// How long `terminal: consent` waits for an answer unless a scope says otherwise.
pub const DEFAULT_TERMINAL_CONSENT_TIMEOUT_SECS: u64 = 30;

fn default_terminal_consent_timeout() -> HumanDuration {
    HumanDuration::from_secs(DEFAULT_TERMINAL_CONSENT_TIMEOUT_SECS)
}

/// A terminal session without input this long is closed unless a scope says otherwise.
pub const DEFAULT_TERMINAL_IDLE_TIMEOUT_SECS: u64 = 15 * 60;
/// The shortest and longest `terminal_idle_timeout` accepted.
pub const IDLE_TIMEOUT_MIN_SECS: u64 = 1;
pub const IDLE_TIMEOUT_MAX_SECS: u64 = 24 * 60 * 60;

fn default_terminal_idle_timeout() -> HumanDuration {
    HumanDuration::from_secs(DEFAULT_TERMINAL_IDLE_TIMEOUT_SECS)
}

/// How long, at most, an agent waits at random before a self-update (the original's default):
/// a fleet told of a new version does not download it all in the same second.
pub const DEFAULT_TARGET_VERSION_JITTER_SECS: u64 = 10 * 60;

/// The built-in `max_local_concurrent`: the CPU count of the machine this runs on (the
/// original's default), at least 1. Resolved on the agent, so it is the agent's own count.
pub fn default_max_local_concurrent() -> u32 {
    std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1)
        .max(1)
}

impl Default for EffectiveConfig {
    fn default() -> EffectiveConfig {
        EffectiveConfig {
            heartbeat_interval: HumanDuration::from_secs(30),
            host_perf_interval: HumanDuration::from_secs(60),
            process_perf_enabled: false,
            process_perf_expires_at: None,
            process_perf_interval: HumanDuration::from_secs(10),
            process_perf_top_n: 15,
            max_local_concurrent: default_max_local_concurrent(),
            target_version: None,
            target_version_jitter: HumanDuration::from_secs(DEFAULT_TARGET_VERSION_JITTER_SECS),
            command_signatures: SignatureMode::Enforce,
            terminal: TerminalPolicy::Allow,
            terminal_consent_timeout: default_terminal_consent_timeout(),
            terminal_idle_timeout: default_terminal_idle_timeout(),
        }
    }
}

impl EffectiveConfig {
    /// Investigation mode is on while enabled and its expiry lies ahead (no expiry = off:
    /// investigation must always end by itself).
    pub fn investigating(&self, now: DateTime<Utc>) -> bool {
        self.process_perf_enabled
            && self
                .process_perf_expires_at
                .is_some_and(|until| until > now)
    }
}

/// One resolved value and where it came from (`default`, `global`, `groups.<g>`, `pcs.<id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sourced {
    pub field: String,
    pub value: serde_json::Value,
    pub scope: String,
}

/// Resolves the layers. `groups` are `(group name, scope)`; they apply alphabetically so the
/// result does not depend on the order they were read in.
pub fn resolve(
    global: Option<&ConfigScope>,
    groups: &[(String, ConfigScope)],
    pc: Option<(&str, &ConfigScope)>,
) -> (EffectiveConfig, Vec<Sourced>) {
    let mut effective = EffectiveConfig::default();
    let mut sources: Vec<(&'static str, String)> =
        FIELDS.iter().map(|f| (*f, "default".to_owned())).collect();
    let mut sorted: Vec<&(String, ConfigScope)> = groups.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut layers: Vec<(String, &ConfigScope)> = Vec::new();
    if let Some(g) = global {
        layers.push((GLOBAL_KEY.to_owned(), g));
    }
    layers.extend(
        sorted
            .into_iter()
            .map(|(name, scope)| (group_key(name), scope)),
    );
    if let Some((id, scope)) = pc {
        layers.push((pc_key(id), scope));
    }
    for (scope_name, scope) in layers {
        let mut set = |field: &'static str| {
            if let Some(slot) = sources.iter_mut().find(|(f, _)| *f == field) {
                slot.1 = scope_name.clone();
            }
        };
        if let Some(v) = scope.heartbeat_interval {
            effective.heartbeat_interval = v;
            set("heartbeat_interval");
        }
        if let Some(v) = scope.host_perf_interval {
            effective.host_perf_interval = v;
            set("host_perf_interval");
        }
        if let Some(v) = scope.process_perf_enabled {
            effective.process_perf_enabled = v;
            set("process_perf_enabled");
        }
        if let Some(v) = scope.process_perf_expires_at {
            effective.process_perf_expires_at = Some(v);
            set("process_perf_expires_at");
        }
        if let Some(v) = scope.process_perf_interval {
            effective.process_perf_interval = v;
            set("process_perf_interval");
        }
        if let Some(v) = scope.process_perf_top_n {
            effective.process_perf_top_n = v;
            set("process_perf_top_n");
        }
        if let Some(v) = scope.max_local_concurrent {
            effective.max_local_concurrent = v;
            set("max_local_concurrent");
        }
        if let Some(v) = &scope.target_version {
            effective.target_version = Some(v.clone());
            set("target_version");
        }
        if let Some(v) = scope.target_version_jitter {
            effective.target_version_jitter = v;
            set("target_version_jitter");
        }
        if let Some(v) = scope.command_signatures {
            effective.command_signatures = v;
            set("command_signatures");
        }
        if let Some(v) = scope.terminal {
            effective.terminal = v;
            set("terminal");
        }
        if let Some(v) = scope.terminal_consent_timeout {
            effective.terminal_consent_timeout = v;
            set("terminal_consent_timeout");
        }
        if let Some(v) = scope.terminal_idle_timeout {
            effective.terminal_idle_timeout = v;
            set("terminal_idle_timeout");
        }
    }
    let values = serde_json::to_value(&effective).unwrap_or_default();
    let sourced = sources
        .into_iter()
        .map(|(field, scope)| Sourced {
            field: field.to_owned(),
            value: values[field].clone(),
            scope,
        })
        .collect();
    (effective, sourced)
}

/// Every field of a scope, in display order.
pub const FIELDS: &[&str] = &[
    "heartbeat_interval",
    "host_perf_interval",
    "process_perf_enabled",
    "process_perf_expires_at",
    "process_perf_interval",
    "process_perf_top_n",
    "max_local_concurrent",
    "target_version",
    "target_version_jitter",
    "command_signatures",
    "terminal",
    "terminal_consent_timeout",
    "terminal_idle_timeout",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn scope(json: &str) -> ConfigScope {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn later_scopes_win_and_report_their_source() {
        let global = scope(r#"{"heartbeat_interval": "20s", "host_perf_interval": "2m"}"#);
        let groups = vec![
            ("zeta".to_owned(), scope(r#"{"host_perf_interval": "5m"}"#)),
            (
                "alpha".to_owned(),
                scope(r#"{"host_perf_interval": "3m", "max_local_concurrent": 2}"#),
            ),
        ];
        let pc = scope(r#"{"max_local_concurrent": 8}"#);
        let (eff, sources) = resolve(Some(&global), &groups, Some(("pc1", &pc)));
        assert_eq!(eff.heartbeat_interval.as_secs(), 20);
        assert_eq!(
            eff.host_perf_interval.as_secs(),
            300,
            "zeta applies after alpha"
        );
        assert_eq!(eff.max_local_concurrent, 8);
        let from = |f: &str| sources.iter().find(|s| s.field == f).unwrap().scope.clone();
        assert_eq!(from("heartbeat_interval"), "global");
        assert_eq!(from("host_perf_interval"), "groups.zeta");
        assert_eq!(from("max_local_concurrent"), "pcs.pc1");
        assert_eq!(from("process_perf_top_n"), "default");
        assert_eq!(sources.len(), FIELDS.len());
    }

    #[test]
    fn investigation_needs_a_future_expiry() {
        let now = Utc::now();
        let mut eff = EffectiveConfig {
            process_perf_enabled: true,
            ..EffectiveConfig::default()
        };
        assert!(!eff.investigating(now));
        eff.process_perf_expires_at = Some(now + chrono::Duration::minutes(5));
        assert!(eff.investigating(now));
        assert!(!eff.investigating(now + chrono::Duration::minutes(6)));
    }

    #[test]
    fn defaults_are_the_originals() {
        let (eff, sources) = resolve(None, &[], None);
        assert_eq!(eff.target_version_jitter.as_secs(), 600, "10 minutes");
        let cpus = std::thread::available_parallelism().unwrap().get() as u32;
        assert_eq!(eff.max_local_concurrent, cpus, "the machine's CPU count");
        assert!(sources.iter().all(|s| s.scope == "default"));
        // An explicit value still wins, including a zero jitter.
        let global = scope(r#"{"target_version_jitter": "0s", "max_local_concurrent": 1}"#);
        let (eff, _) = resolve(Some(&global), &[], None);
        assert_eq!(eff.target_version_jitter.as_secs(), 0);
        assert_eq!(eff.max_local_concurrent, 1);
    }

    #[test]
    fn the_idle_timeout_defaults_to_15_minutes_and_is_refused_out_of_range() {
        let (eff, _) = resolve(None, &[], None);
        assert_eq!(eff.terminal_idle_timeout.as_secs(), 900);
        let (eff, sources) = resolve(
            Some(&scope(r#"{"terminal_idle_timeout": "2m"}"#)),
            &[],
            None,
        );
        assert_eq!(eff.terminal_idle_timeout.as_secs(), 120);
        assert!(
            sources
                .iter()
                .any(|s| s.field == "terminal_idle_timeout" && s.scope == "global")
        );
        for ok in ["1s", "15m", "24h"] {
            let json = format!(r#"{{"terminal_idle_timeout": "{ok}"}}"#);
            assert_eq!(scope(&json).check(), Ok(()), "{ok}");
        }
        for bad in ["0s", "25h"] {
            let json = format!(r#"{{"terminal_idle_timeout": "{bad}"}}"#);
            let (field, message) = scope(&json).check().unwrap_err();
            assert_eq!(field, "terminal_idle_timeout");
            assert!(message.contains("between 1s and 24h"), "{message}");
        }
        // A config written before the field existed still reads.
        let old: EffectiveConfig = serde_json::from_value(serde_json::json!({
            "heartbeat_interval": "30s", "host_perf_interval": "1m", "process_perf_enabled": false,
            "process_perf_interval": "10s", "process_perf_top_n": 15, "max_local_concurrent": 1,
            "target_version_jitter": "10m"
        }))
        .unwrap();
        assert_eq!(old.terminal_idle_timeout.as_secs(), 900);
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_json::from_str::<ConfigScope>(r#"{"heartbeat": "5s"}"#).is_err());
    }
}
