//! Server settings: the typed document in KV `server_settings` (key [`KEY`]) that admins edit
//! from the API, the CLI and the dashboard's Settings page, with the rules every value must
//! obey. Every field is optional; unset means the backend's own value (backend.toml or the
//! built-in default). Readers tolerate unknown fields (the original kanade keeps more here).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The single key of the settings document in `server_settings`.
pub const KEY: &str = "settings";

/// `server_settings[settings]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ServerSettings {
    /// How long a dashboard or CLI sign-in lasts, in hours (1–8760). Set, it wins over
    /// backend.toml's `[auth] session_ttl` for sign-ins from then on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_ttl_hours: Option<u32>,
    /// Machines not heard from for this many days (1–3650) are dropped from the machine list
    /// by housekeeping (a live agent re-appears with its next heartbeat). Unset: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_prune_days: Option<u32>,
    /// How long oversized job output stays in object store `result_output`, in days
    /// (1–3650; default 30). Applied to the store on save and at every backend start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result_output_retention_days: Option<u32>,
    /// How long collected file bundles stay in object store `collections`, in days
    /// (1–3650; default 30). Applied to the store on save and at every backend start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collect_retention_days: Option<u32>,
}

/// `GET`/`PUT /api/settings`: every setting with its stored value and the value in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingsView {
    pub settings: Vec<SettingRow>,
}

/// One row of [`SettingsView`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SettingRow {
    pub key: String,
    /// Stored value; `None` = unset.
    #[serde(default)]
    pub value: Option<u32>,
    /// What is in force: the stored value, else the backend's own (`None` = off / never).
    #[serde(default)]
    pub effective: Option<u32>,
    pub min: u32,
    pub max: u32,
    #[serde(default)]
    pub help: String,
}

/// One setting: its name, what it means and its allowed range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingSpec {
    pub key: &'static str,
    pub min: u32,
    pub max: u32,
    pub help: &'static str,
}

pub const SESSION_TTL_HOURS: &str = "session_ttl_hours";
pub const AGENT_PRUNE_DAYS: &str = "agent_prune_days";
pub const RESULT_OUTPUT_RETENTION_DAYS: &str = "result_output_retention_days";
pub const COLLECT_RETENTION_DAYS: &str = "collect_retention_days";

/// Default of `collect_retention_days`.
pub const DEFAULT_COLLECT_RETENTION_DAYS: u32 = 30;

/// Default of `result_output_retention_days` (the object store's built-in age).
pub const DEFAULT_RESULT_OUTPUT_RETENTION_DAYS: u32 = 30;

/// Every setting, in the order they are listed.
pub const SPECS: &[SettingSpec] = &[
    SettingSpec {
        key: SESSION_TTL_HOURS,
        min: 1,
        max: 8760,
        help: "hours a sign-in lasts (wins over backend.toml [auth] session_ttl)",
    },
    SettingSpec {
        key: AGENT_PRUNE_DAYS,
        min: 1,
        max: 3650,
        help: "days of silence after which a machine leaves the machine list (unset: never)",
    },
    SettingSpec {
        key: RESULT_OUTPUT_RETENTION_DAYS,
        min: 1,
        max: 3650,
        help: "days oversized job output is kept in object store result_output (default 30)",
    },
    SettingSpec {
        key: COLLECT_RETENTION_DAYS,
        min: 1,
        max: 3650,
        help: "days collected file bundles are kept in object store collections (default 30)",
    },
];

/// A setting that cannot be applied, naming it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingError {
    #[error("{0}: no such setting (known: {known})", known = known_keys())]
    Unknown(String),
    #[error("{key}: {message}")]
    Invalid { key: String, message: String },
}

impl SettingError {
    /// The setting the error is about.
    pub fn key(&self) -> &str {
        match self {
            SettingError::Unknown(key) => key,
            SettingError::Invalid { key, .. } => key,
        }
    }
}

fn known_keys() -> String {
    SPECS.iter().map(|s| s.key).collect::<Vec<_>>().join(", ")
}

pub fn spec(key: &str) -> Option<&'static SettingSpec> {
    SPECS.iter().find(|s| s.key == key)
}

impl ServerSettings {
    fn slot(&mut self, key: &str) -> Option<&mut Option<u32>> {
        match key {
            SESSION_TTL_HOURS => Some(&mut self.session_ttl_hours),
            AGENT_PRUNE_DAYS => Some(&mut self.agent_prune_days),
            RESULT_OUTPUT_RETENTION_DAYS => Some(&mut self.result_output_retention_days),
            COLLECT_RETENTION_DAYS => Some(&mut self.collect_retention_days),
            _ => None,
        }
    }

    /// The value of `key`, `None` when unset or unknown.
    pub fn get(&self, key: &str) -> Option<u32> {
        self.clone().slot(key).and_then(|v| *v)
    }

    /// Merges `patch` (setting → value, `null` unsets it) into a copy, checking every value;
    /// nothing changes when one is wrong.
    pub fn merged(&self, patch: &Map<String, Value>) -> Result<ServerSettings, SettingError> {
        let mut next = self.clone();
        for (key, value) in patch {
            let spec = spec(key).ok_or_else(|| SettingError::Unknown(key.clone()))?;
            let parsed = parse_value(spec, value)?;
            if let Some(slot) = next.slot(key) {
                *slot = parsed;
            }
        }
        Ok(next)
    }
}

/// A setting's value from JSON: a whole number in range, a string holding one, or `null`.
pub fn parse_value(spec: &SettingSpec, value: &Value) -> Result<Option<u32>, SettingError> {
    let invalid = |message: String| SettingError::Invalid {
        key: spec.key.to_owned(),
        message,
    };
    let number = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse::<u64>().ok(),
        _ => None,
    }
    .ok_or_else(|| {
        invalid(format!(
            "must be a whole number from {} to {} (or null to unset), not {value}",
            spec.min, spec.max
        ))
    })?;
    if number < u64::from(spec.min) || number > u64::from(spec.max) {
        return Err(invalid(format!(
            "must be from {} to {}, not {number}",
            spec.min, spec.max
        )));
    }
    Ok(Some(number as u32))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn a_patch_sets_and_unsets_values_in_range() {
        let s = ServerSettings::default()
            .merged(&patch(
                json!({"session_ttl_hours": 12, "agent_prune_days": "90"}),
            ))
            .unwrap();
        assert_eq!(s.session_ttl_hours, Some(12));
        assert_eq!(s.agent_prune_days, Some(90));
        let s = s.merged(&patch(json!({"agent_prune_days": null}))).unwrap();
        assert_eq!(s.agent_prune_days, None);
        assert_eq!(s.get(SESSION_TTL_HOURS), Some(12));
    }

    #[test]
    fn bad_values_and_unknown_keys_name_the_setting() {
        let base = ServerSettings::default();
        let err = base
            .merged(&patch(json!({"session_ttl_hours": 0})))
            .unwrap_err();
        assert_eq!(err.key(), "session_ttl_hours");
        let err = base
            .merged(&patch(json!({"result_output_retention_days": "soon"})))
            .unwrap_err();
        assert!(err.to_string().starts_with("result_output_retention_days:"));
        let err = base.merged(&patch(json!({"colour": 1}))).unwrap_err();
        assert_eq!(err, SettingError::Unknown("colour".into()));
    }

    #[test]
    fn readers_tolerate_the_originals_other_fields() {
        let s: ServerSettings =
            serde_json::from_str(r#"{"session_ttl_hours":8,"controller_group":"ctl"}"#).unwrap();
        assert_eq!(s.session_ttl_hours, Some(8));
    }
}
