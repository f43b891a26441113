//! Saved inventory searches (`/api/saved-searches`): a name and the search's query string,
//! kept per user in KV `saved_searches` (one document per user) and optionally shared.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::manifest::ManifestError;

/// Longest name, in characters.
pub const MAX_NAME: usize = 80;
/// Longest query string, in bytes.
pub const MAX_QUERY: usize = 2000;
/// Most searches one user keeps.
pub const MAX_PER_USER: usize = 100;

/// One saved search, as listed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SavedSearch {
    /// Stable id (UUID), for deleting.
    pub id: String,
    pub name: String,
    /// The inventory search as a URL query: `table=inv_x&column__op=value…`.
    pub query: String,
    /// Listed to every user, not only its owner.
    #[serde(default)]
    pub shared: bool,
    /// Who saved it.
    pub owner: String,
    pub updated_at: DateTime<Utc>,
}

/// The KV document of one user: their searches.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSearches {
    #[serde(default)]
    pub searches: Vec<SavedSearch>,
}

/// `POST /api/saved-searches`: saves a search; one of the caller's with the same name
/// (ignoring case) is replaced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct SaveSearch {
    pub name: String,
    pub query: String,
    #[serde(default)]
    pub shared: bool,
}

impl SaveSearch {
    /// A name of 1–80 characters without control characters, and a query of 1–2000 bytes
    /// that names its `table`.
    pub fn validate(&self) -> Result<(), ManifestError> {
        let name = self.name.trim();
        if name.is_empty() {
            return Err(ManifestError::invalid("name", "must not be empty"));
        }
        if name.chars().count() > MAX_NAME {
            return Err(ManifestError::invalid(
                "name",
                format!("at most {MAX_NAME} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ManifestError::invalid(
                "name",
                "must not contain control characters",
            ));
        }
        let query = self.query.trim();
        if query.is_empty() {
            return Err(ManifestError::invalid("query", "must not be empty"));
        }
        if query.len() > MAX_QUERY {
            return Err(ManifestError::invalid(
                "query",
                format!("at most {MAX_QUERY} bytes"),
            ));
        }
        if query.chars().any(char::is_control) {
            return Err(ManifestError::invalid(
                "query",
                "must not contain control characters",
            ));
        }
        let names_table = query
            .trim_start_matches('?')
            .split('&')
            .any(|pair| pair.strip_prefix("table=").is_some_and(|t| !t.is_empty()));
        if !names_table {
            return Err(ManifestError::invalid(
                "query",
                "must name the table it searches (`table=inv_…`)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(name: &str, query: &str) -> SaveSearch {
        SaveSearch {
            name: name.into(),
            query: query.into(),
            shared: false,
        }
    }

    #[test]
    fn validate_names_the_bad_field() {
        req("Old disks", "table=inv_volumes&free__lt=100")
            .validate()
            .unwrap();
        req("x", "?table=inv_sw").validate().unwrap();
        let long = "n".repeat(MAX_NAME + 1);
        let huge = format!("table=inv_x&a={}", "v".repeat(MAX_QUERY));
        for (bad, field) in [
            (req("  ", "table=inv_x"), "name"),
            (req(&long, "table=inv_x"), "name"),
            (req("a\nb", "table=inv_x"), "name"),
            (req("ok", ""), "query"),
            (req("ok", "free__lt=3"), "query"),
            (req("ok", "table="), "query"),
            (req("ok", &huge), "query"),
            (req("ok", "table=inv_x\u{0}"), "query"),
        ] {
            assert_eq!(bad.validate().unwrap_err().field(), Some(field), "{bad:?}");
        }
    }
}
