//! Job manifests as operators write them (YAML or JSON), with parsing that names the path of
//! an unknown or mistyped key and `validate()` that names the field breaking a rule.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

use crate::duration::HumanDuration;

/// Longest timeout a job may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// A registered job (KV `jobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    #[serde(deserialize_with = "string_or_number")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub execute: Execute,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness: Option<Staleness>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryHint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckHint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit: Option<EmitHint>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Execute {
    pub shell: Shell,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Path of a script file; the CLI inlines it into `script` before upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_file: Option<String>,
    pub timeout: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Shell {
    Sh,
    Bash,
    Pwsh,
    Powershell,
    Cmd,
}

impl Shell {
    pub fn as_str(&self) -> &'static str {
        match self {
            Shell::Sh => "sh",
            Shell::Bash => "bash",
            Shell::Pwsh => "pwsh",
            Shell::Powershell => "powershell",
            Shell::Cmd => "cmd",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunAs {
    System,
    User,
    SystemGui,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Staleness {
    Cached,
    Strict,
    Unchecked,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmitHint {
    #[serde(rename = "type")]
    pub kind: EmitKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EmitKind {
    Events,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InventoryHint {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub display: Vec<DisplayField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<DisplayField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explode: Vec<ExplodeSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_scalars: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DisplayField {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplodeSpec {
    pub field: String,
    pub table: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<ExplodeColumn>,
    #[serde(default)]
    pub track_history: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExplodeColumn {
    pub field: String,
    #[serde(rename = "type")]
    pub kind: ColumnType,
    #[serde(default)]
    pub index: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    Text,
    Integer,
    Real,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckHint {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default = "default_status_field")]
    pub status_field: String,
    #[serde(default = "default_detail_field")]
    pub detail_field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertSpec>,
}

fn default_status_field() -> String {
    "status".to_owned()
}

fn default_detail_field() -> String {
    "detail".to_owned()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<String>,
    #[serde(default)]
    pub notify_user: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(flatten, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

/// Why a document was refused. Every variant names where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not YAML / JSON at all.
    #[error("{message}")]
    Syntax { message: String },
    /// Well-formed, but a key is unknown, missing or of the wrong type.
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    /// Parsed, but breaks a rule of `validate()`.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl ManifestError {
    /// The path of the offending field, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ManifestError::Syntax { .. } => None,
            ManifestError::Field { path, .. } => Some(path),
            ManifestError::Invalid { field, .. } => Some(field),
        }
    }

    fn invalid(field: &str, message: impl Into<String>) -> ManifestError {
        ManifestError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Parses an operator document: YAML (JSON is YAML too) into `T`, naming the path of any
/// unknown, missing or mistyped key.
pub fn parse_document<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ManifestError> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) => serde_saphyr::from_str(text).map_err(|err| ManifestError::Syntax {
            message: format!("invalid YAML: {err}"),
        })?,
    };
    if !value.is_object() {
        return Err(ManifestError::Syntax {
            message: "the document must be a mapping of keys to values".to_owned(),
        });
    }
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        ManifestError::Field {
            path: if path == "." {
                "(document)".to_owned()
            } else {
                path
            },
            message,
        }
    })
}

impl Manifest {
    /// Parses and validates a manifest from YAML or JSON text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let manifest: Manifest = parse_document(text)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Rules that types alone cannot express. Returns the first broken rule.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !is_valid_id(&self.id) {
            return Err(ManifestError::invalid(
                "id",
                "must be 1-64 characters of letters, digits, '-', '_' or '.', starting with a letter or digit",
            ));
        }
        if self.version.trim().is_empty() || self.version.len() > 64 {
            return Err(ManifestError::invalid("version", "must be 1-64 characters"));
        }
        let script = self
            .execute
            .script
            .as_deref()
            .filter(|s| !s.trim().is_empty());
        match (script, &self.execute.script_file) {
            (Some(_), Some(_)) => {
                return Err(ManifestError::invalid(
                    "execute",
                    "set exactly one of `script` and `script_file`, not both",
                ));
            }
            (None, None) => {
                return Err(ManifestError::invalid(
                    "execute.script",
                    "is required (or `script_file`, which the CLI inlines)",
                ));
            }
            _ => {}
        }
        let timeout = self.execute.timeout.as_secs();
        if timeout == 0 || timeout > MAX_TIMEOUT_SECS {
            return Err(ManifestError::invalid(
                "execute.timeout",
                format!(
                    "must be between 1s and {}",
                    HumanDuration::from_secs(MAX_TIMEOUT_SECS)
                ),
            ));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.trim().is_empty() {
                return Err(ManifestError::invalid(
                    &format!("tags[{i}]"),
                    "must not be empty",
                ));
            }
        }
        if self
            .check
            .as_ref()
            .is_some_and(|check| !is_valid_id(&check.name))
        {
            return Err(ManifestError::invalid(
                "check.name",
                "must be 1-64 characters of letters, digits, '-', '_' or '.'",
            ));
        }
        Ok(())
    }

    /// The script to run, once `script_file` has been inlined.
    pub fn script(&self) -> Option<&str> {
        self.execute.script.as_deref()
    }
}

/// Job and check ids: usable as KV keys and in URLs without escaping.
pub fn is_valid_id(id: &str) -> bool {
    let mut bytes = id.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphanumeric() => {}
        _ => return false,
    }
    id.len() <= 64 && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(s) => s,
        Raw::Int(n) => n.to_string(),
        Raw::Float(f) => f.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
id: disk-usage
version: 3
description: how full are the disks
execute:
  shell: sh
  script: df -h
  timeout: 30s
tags: [storage]
";

    fn check(text: &str) -> String {
        match Manifest::parse(text) {
            Ok(m) => format!(
                "ok {} v{} {}s",
                m.id,
                m.version,
                m.execute.timeout.as_secs()
            ),
            Err(err) => format!("{} | {err}", err.field().unwrap_or("-")),
        }
    }

    #[test]
    fn accepts_a_plain_job() {
        assert_eq!(check(GOOD), "ok disk-usage v3 30s");
    }

    #[test]
    fn json_and_yaml_give_the_same_manifest() {
        let yaml = Manifest::parse(GOOD).unwrap();
        let json = serde_json::to_string(&yaml).unwrap();
        assert_eq!(Manifest::parse(&json).unwrap(), yaml);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                GOOD.replace("  timeout: 30s\n", ""),
                "execute | execute: missing field `timeout`",
            ),
            (
                GOOD.replace("shell: sh", "shell: sh\n  colour: red"),
                "execute.colour | execute.colour: unknown field `colour`, expected one of",
            ),
            (
                GOOD.replace("shell: sh", "shell: fish"),
                "execute.shell | execute.shell: unknown variant `fish`",
            ),
            (
                GOOD.replace("id: disk-usage", "id: disk usage"),
                "id | id: must be 1-64",
            ),
            (
                GOOD.replace("30s", "0s"),
                "execute.timeout | execute.timeout: must be between 1s and 7days",
            ),
            (
                GOOD.replace("30s", "soon"),
                "execute.timeout | execute.timeout: `soon` is not a duration",
            ),
            (
                GOOD.replace("script: df -h", "script: ''"),
                "execute.script | execute.script: is required",
            ),
            ("id: [unclosed".to_owned(), "- | invalid YAML"),
            ("- a list".to_owned(), "- | the document must be a mapping"),
        ];
        for (text, want) in cases {
            let got = check(&text);
            assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
        }
    }

    #[test]
    fn ids_are_url_and_kv_safe() {
        assert!(is_valid_id("inv.hw-2_x"));
        for bad in ["", "-x", "a/b", "a b", &"a".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
