//! Operator metadata of a machine (KV `agent_meta`, key = pc id): free key/value attributes
//! such as owner, location, asset tag or notes, as the original kanade keeps them. Only the
//! backend reads and writes them; agents are not granted the bucket.

use serde::{Deserialize, Serialize};

/// At most this many attributes per machine.
pub const MAX_ENTRIES: usize = 64;
/// Longest attribute name.
pub const MAX_KEY_LEN: usize = 64;
/// Longest attribute value, in characters.
pub const MAX_VALUE_LEN: usize = 2048;

/// `agent_meta[pc_id]`, and the body of `GET`/`PUT /api/agents/{pc_id}/meta`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AgentMeta {
    #[serde(default)]
    pub entries: Vec<MetaEntry>,
}

/// One attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MetaEntry {
    pub key: String,
    pub value: String,
}

/// Why a metadata document is refused: the field path and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct MetaError {
    pub field: String,
    pub message: String,
}

/// Whether `key` may name an attribute: letters, digits, '_', '-' and '.', up to 64.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LEN {
        return Err(format!("must be 1 to {MAX_KEY_LEN} characters"));
    }
    if !key
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
    {
        return Err(format!(
            "`{key}` may use letters, digits, '_', '-' and '.' only"
        ));
    }
    Ok(())
}

impl AgentMeta {
    /// Checks every entry, and returns the document sorted by key.
    pub fn validated(mut self) -> Result<AgentMeta, MetaError> {
        if self.entries.len() > MAX_ENTRIES {
            return Err(MetaError {
                field: "entries".into(),
                message: format!(
                    "at most {MAX_ENTRIES} attributes, not {}",
                    self.entries.len()
                ),
            });
        }
        let mut seen = std::collections::HashSet::new();
        for (i, entry) in self.entries.iter().enumerate() {
            let field = |what: &str| format!("entries[{i}].{what}");
            check_key(&entry.key).map_err(|message| MetaError {
                field: field("key"),
                message,
            })?;
            if !seen.insert(entry.key.as_str()) {
                return Err(MetaError {
                    field: field("key"),
                    message: format!("`{}` appears twice", entry.key),
                });
            }
            if entry.value.chars().count() > MAX_VALUE_LEN {
                return Err(MetaError {
                    field: field("value"),
                    message: format!("at most {MAX_VALUE_LEN} characters"),
                });
            }
        }
        self.entries.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(self)
    }

    /// The value of attribute `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|e| e.key == key)
            .map(|e| e.value.as_str())
    }

    /// Sets (or with `None` removes) attribute `key`.
    pub fn set(&mut self, key: &str, value: Option<String>) {
        self.entries.retain(|e| e.key != key);
        if let Some(value) = value {
            self.entries.push(MetaEntry {
                key: key.to_owned(),
                value,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(key: &str, value: &str) -> MetaEntry {
        MetaEntry {
            key: key.into(),
            value: value.into(),
        }
    }

    #[test]
    fn entries_are_checked_and_sorted() {
        let meta = AgentMeta {
            entries: vec![entry("owner", "alice"), entry("location", "room 4")],
        }
        .validated()
        .unwrap();
        assert_eq!(meta.entries[0].key, "location");
        let twice = AgentMeta {
            entries: vec![entry("owner", "a"), entry("owner", "b")],
        };
        assert_eq!(twice.validated().unwrap_err().field, "entries[1].key");
        let bad = AgentMeta {
            entries: vec![entry("has space", "x")],
        };
        assert_eq!(bad.validated().unwrap_err().field, "entries[0].key");
    }

    #[test]
    fn set_replaces_and_removes() {
        let mut meta = AgentMeta::default();
        meta.set("owner", Some("alice".into()));
        meta.set("owner", Some("bob".into()));
        assert_eq!(meta.get("owner"), Some("bob"));
        meta.set("owner", None);
        assert!(meta.entries.is_empty());
    }
}
