//! The agent installer: `POST /api/enrollment/install-command` (what `kanade agent
//! install-command` and the dashboard's "Add a machine" ask for) and its answer, one shell
//! command that installs, configures and starts the agent on a new Linux machine.

use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::enrollment::TokenRow;
use crate::ids::IdKind;
use crate::manifest::ManifestError;

/// The longest a generated command's token may stay usable.
pub const MAX_INSTALL_EXPIRY_SECS: u64 = 7 * 24 * 3600;

fn default_expires() -> HumanDuration {
    HumanDuration::from_secs(3600)
}

/// `POST /api/enrollment/install-command`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InstallCommandRequest {
    /// The group the new machine joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// How long the command's enrollment token (single use) stays usable; default 1h.
    #[serde(default = "default_expires")]
    pub expires: HumanDuration,
    /// The agent release to install (`<version>-<platform>`); default the newest Linux one of
    /// the backend's architecture, preferring the backend's own version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The broker URL as the new machine reaches it; default the backend's own `[nats] url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nats_url: Option<String>,
    /// The backend URL as the new machine reaches it (the binary is downloaded from there);
    /// default `[server] public_url`, else the address the request came to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_url: Option<String>,
}

impl InstallCommandRequest {
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |field: &str, message: String| ManifestError::Invalid {
            field: field.to_owned(),
            message,
        };
        if let Some(group) = &self.group {
            IdKind::Group
                .check(group)
                .map_err(|e| invalid("group", e.to_string()))?;
        }
        let secs = self.expires.as_secs();
        if secs == 0 || secs > MAX_INSTALL_EXPIRY_SECS {
            return Err(invalid("expires", "must be between 1s and 7d".to_owned()));
        }
        if let Some(release) = &self.release {
            IdKind::Release
                .check(release)
                .map_err(|e| invalid("release", e.to_string()))?;
        }
        for (field, url, schemes) in [
            ("nats_url", &self.nats_url, &["nats://", "tls://"][..]),
            (
                "backend_url",
                &self.backend_url,
                &["http://", "https://"][..],
            ),
        ] {
            if let Some(url) = url
                && (!schemes.iter().any(|s| url.starts_with(s)) || !url.chars().all(url_char))
            {
                return Err(invalid(
                    field,
                    format!(
                        "must start with {} and use only letters, digits and :/.-_[]@%?=&+~,",
                        schemes.join(" or ")
                    ),
                ));
            }
        }
        Ok(())
    }
}

/// What a URL written into the installer may hold: nothing a shell would read.
fn url_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || ":/.-_[]@%?=&+~,".contains(c)
}

/// The answer: the command to paste on the new machine (as root), the script it runs, and
/// what it installs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InstallCommand {
    /// One line for a root shell on the new machine.
    pub command: String,
    /// The script the command runs, to read before running it.
    pub script: String,
    /// The agent release it installs.
    pub release: String,
    /// That binary's SHA-256 (hex), checked by the script before installing.
    pub sha256: String,
    /// Where the script downloads the binary.
    pub download_url: String,
    /// The single-use enrollment token the script writes into agent.toml.
    pub token: TokenRow,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(json: &str) -> Result<InstallCommandRequest, serde_json::Error> {
        serde_json::from_str(json)
    }

    #[test]
    fn defaults_and_rules() {
        let ok = req("{}").unwrap();
        assert_eq!(ok.expires.as_secs(), 3600);
        ok.validate().unwrap();
        for (json, field) in [
            (r#"{"group":"a b"}"#, "group"),
            (r#"{"expires":"30d"}"#, "expires"),
            (r#"{"release":"../x"}"#, "release"),
            (r#"{"nats_url":"http://x"}"#, "nats_url"),
            (r#"{"nats_url":"nats://x' ; rm -rf /"}"#, "nats_url"),
            (r#"{"backend_url":"ftp://x"}"#, "backend_url"),
            (r#"{"backend_url":"http://$(reboot)"}"#, "backend_url"),
        ] {
            let err = req(json).unwrap().validate().unwrap_err();
            assert_eq!(err.field(), Some(field), "{json}");
        }
        assert!(req(r#"{"extra":1}"#).is_err());
    }
}
