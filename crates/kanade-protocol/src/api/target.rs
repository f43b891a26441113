//! `Target`: which machines a command or notification goes to, its checks and the command
//! subjects it resolves to.

use serde::{Deserialize, Serialize};

use crate::manifest::ManifestError;
use crate::subject;

/// Which machines a command goes to. At least one of the three must be set.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Target {
    #[serde(default)]
    pub all: bool,
    #[serde(default)]
    pub groups: Vec<String>,
    #[serde(default)]
    pub pcs: Vec<String>,
}

impl Target {
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !self.all && self.groups.is_empty() && self.pcs.is_empty() {
            return Err(ManifestError::Invalid {
                field: "target".to_owned(),
                message: "name at least one machine (pcs), group (groups) or all: true".to_owned(),
            });
        }
        for (list, name) in [(&self.groups, "groups"), (&self.pcs, "pcs")] {
            for (i, token) in list.iter().enumerate() {
                let valid = match name {
                    "pcs" => subject::is_valid_pc_id(token),
                    _ => subject::is_valid_token(token),
                };
                if !valid {
                    return Err(ManifestError::Invalid {
                        field: format!("target.{name}[{i}]"),
                        message: format!(
                            "`{token}` is not a valid name (letters, digits, '-' and '_' only)"
                        ),
                    });
                }
            }
        }
        Ok(())
    }

    /// The subjects a command for this target is published on. `all` wins over the lists.
    pub fn subjects(&self) -> Vec<String> {
        if self.all {
            return vec![subject::COMMANDS_ALL.to_owned()];
        }
        let mut subjects: Vec<String> = self
            .groups
            .iter()
            .map(|g| subject::commands_group(g))
            .collect();
        subjects.extend(self.pcs.iter().map(|pc| subject::commands_pc(pc)));
        subjects.sort();
        subjects.dedup();
        subjects
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_target_is_refused_by_name() {
        let err = Target::default().validate().unwrap_err();
        assert_eq!(err.field(), Some("target"));
        let err = Target {
            pcs: vec!["a.b.c.d.e".into()],
            ..Target::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.field(), Some("target.pcs[0]"));
        // An FQDN is a machine id (the original's dotted pc_ids); a dotted group is not.
        let fqdn = Target {
            pcs: vec!["web01.corp.example".into()],
            ..Target::default()
        };
        assert!(fqdn.validate().is_ok());
        let err = Target {
            groups: vec!["a.b".into()],
            ..Target::default()
        }
        .validate()
        .unwrap_err();
        assert_eq!(err.field(), Some("target.groups[0]"));
    }

    #[test]
    fn all_wins_and_lists_are_deduplicated() {
        let t = Target {
            all: true,
            pcs: vec!["a".into()],
            groups: vec![],
        };
        assert_eq!(t.subjects(), vec!["commands.all"]);
        let t = Target {
            all: false,
            pcs: vec!["b".into(), "b".into()],
            groups: vec!["g".into()],
        };
        assert_eq!(t.subjects(), vec!["commands.group.g", "commands.pc.b"]);
    }
}
