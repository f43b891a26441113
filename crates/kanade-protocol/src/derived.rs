//! Derived groups: a group whose members are the machines matching a SQL condition over the
//! backend's inventory tables (the original kanade's `GroupDef` with a query). Definitions live
//! in KV `group_defs`; the backend re-evaluates them and writes each machine's derived groups
//! to KV `agent_groups_derived`, which agents and the broker grant union with `agent_groups`.
//!
//! The condition is the body of a `WHERE` evaluated once per machine, with `pc_id` naming the
//! machine, e.g. `EXISTS (SELECT 1 FROM inventory_sw_apps s WHERE s.pc_id = pc_id AND
//! s.name = 'Firefox')`. This module checks its text; the backend then prepares it on a
//! read-only connection with an authorizer that only allows reads of inventory tables.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest condition accepted.
pub const MAX_CONDITION_LEN: usize = 4000;

/// `group_defs[name]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DerivedGroup {
    pub name: String,
    /// The SQL condition (body of a WHERE) a machine must meet.
    #[serde(rename = "where")]
    pub condition: String,
    #[serde(default)]
    pub created_by: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/group-defs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DerivedGroupRequest {
    pub name: String,
    #[serde(rename = "where")]
    pub condition: String,
}

/// One row of `GET /api/group-defs`, and the answer of `POST`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DerivedGroupView {
    pub name: String,
    #[serde(rename = "where")]
    pub condition: String,
    #[serde(default)]
    pub created_by: Option<String>,
    pub updated_at: DateTime<Utc>,
    /// Machines the condition matches now.
    #[serde(default)]
    pub members: Vec<String>,
    /// Why evaluating it failed now (its last membership is kept meanwhile).
    #[serde(default)]
    pub error: Option<String>,
}

/// Refuses text that can be anything but one SQL expression: statement separators, comments,
/// and an empty or oversized condition. The backend's prepare on a read-only connection with
/// an authorizer is the real gate; this gives early, clear answers.
pub fn check_condition(condition: &str) -> Result<(), String> {
    let text = condition.trim();
    if text.is_empty() {
        return Err("is empty; write a SQL condition such as EXISTS (SELECT 1 FROM ...)".into());
    }
    if text.len() > MAX_CONDITION_LEN {
        return Err(format!("is longer than {MAX_CONDITION_LEN} characters"));
    }
    if text.contains(';') {
        return Err("must be one condition: ';' is not allowed".into());
    }
    if text.contains("--") || text.contains("/*") {
        return Err("must not contain SQL comments".into());
    }
    if text
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r'))
    {
        return Err("contains control characters".into());
    }
    balanced(text)
}

/// Parentheses outside quotes must nest: a `)` that closes more than was opened would end
/// the WHERE and let the text go on as more of the statement.
fn balanced(text: &str) -> Result<(), String> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    for c in text.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"' | '`') => quote = Some(c),
            (None, '(') => depth += 1,
            (None, ')') => {
                depth = depth
                    .checked_sub(1)
                    .ok_or("has a ')' without its '(': it must be one condition")?;
            }
            _ => {}
        }
    }
    match (quote, depth) {
        (Some(q), _) => Err(format!("has an unclosed {q}")),
        (None, 0) => Ok(()),
        _ => Err("has a '(' without its ')'".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_one_plain_condition_passes() {
        assert!(
            check_condition("EXISTS (SELECT 1 FROM inventory_facts f WHERE f.pc_id = pc_id)")
                .is_ok()
        );
        assert!(check_condition("  ").is_err());
        assert!(check_condition("1); DROP TABLE agents; SELECT (1").is_err());
        assert!(check_condition("1 -- and the rest").is_err());
        assert!(check_condition("1 /* x */").is_err());
        assert!(check_condition(&"1 OR ".repeat(1000)).is_err());
        assert!(check_condition("1) UNION SELECT pc_id FROM inv_apps WHERE (1").is_err());
        assert!(check_condition("name = ')' AND (1)").is_ok());
        assert!(check_condition("(1").is_err());
    }

    #[test]
    fn the_condition_travels_as_where() {
        let r: DerivedGroupRequest =
            serde_json::from_str(r#"{"name":"firefox","where":"1"}"#).unwrap();
        assert_eq!(r.condition, "1");
        assert!(
            serde_json::from_str::<DerivedGroupRequest>(r#"{"name":"x","query":"1"}"#).is_err()
        );
    }
}
