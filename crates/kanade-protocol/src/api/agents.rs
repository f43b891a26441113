//! Machines as the API shows them: agent rows, versions, pings, groups, effective config,
//! and the published agent binaries.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::manifest::ManifestError;
use crate::subject;

/// One machine in `GET /api/agents`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentRow {
    pub pc_id: String,
    pub hostname: String,
    pub os_family: String,
    pub os_version: String,
    pub agent_version: String,
    pub online: bool,
    pub first_seen: DateTime<Utc>,
    pub last_heartbeat: DateTime<Utc>,
    #[serde(default)]
    pub agent_cpu_pct: Option<f32>,
    #[serde(default)]
    pub agent_rss_bytes: Option<u64>,
    #[serde(default)]
    pub quarantined_versions: Vec<String>,
    /// The agent process's cumulative disk reads / writes, from its last heartbeat.
    #[serde(default)]
    pub agent_disk_read_bytes: Option<u64>,
    #[serde(default)]
    pub agent_disk_written_bytes: Option<u64>,
    /// The last logged-on user the agent reported (kept while it reports none).
    #[serde(default)]
    pub last_logon_user: Option<String>,
    #[serde(default)]
    pub last_logon_display_name: Option<String>,
    /// Command formats the agent says it understands; `None` from agents that do not say.
    #[serde(default)]
    pub command_protocols: Option<Vec<String>>,
    /// Command signing keys the agent trusts; `None` when it never reported any.
    #[serde(default)]
    pub command_keys: Option<Vec<String>>,
    /// Whether the agent refuses commands that fail signature checks; `None` when unknown.
    #[serde(default)]
    pub enforcing: Option<bool>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// The machine's addresses from its last heartbeat.
    #[serde(default)]
    pub ip_addresses: Vec<String>,
    /// Seconds since boot, as of `last_heartbeat`.
    #[serde(default)]
    pub uptime_secs: Option<u64>,
    /// Load average over 1, 5 and 15 minutes, as of `last_heartbeat`.
    #[serde(default)]
    pub load_avg: Vec<f64>,
}

/// `GET /api/agents/versions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionCount {
    pub agent_version: String,
    pub machines: u64,
    pub online: u64,
}

/// `POST /api/agents/{pc_id}/ping`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PingResult {
    pub pc_id: String,
    pub answered: bool,
    #[serde(default)]
    pub rtt_ms: Option<f64>,
    #[serde(default)]
    pub heartbeat: Option<crate::wire::Heartbeat>,
}

/// `GET /api/groups`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupSummary {
    pub name: String,
    pub members: u64,
}

/// `GET/PUT /api/agents/{pc_id}/groups`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupList {
    pub groups: Vec<String>,
}

/// `GET /api/agents/{pc_id}/effective_config`: each value and the scope it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveConfigView {
    pub pc_id: String,
    pub groups: Vec<String>,
    pub effective: crate::config::EffectiveConfig,
    pub sources: Vec<crate::config::Sourced>,
}

/// Group names: the same rules as subject tokens, and at most
/// `ids::MAX_GROUPS_PER_MACHINE` of them.
pub fn check_group_names(groups: &[String]) -> Result<(), ManifestError> {
    if groups.len() > crate::ids::MAX_GROUPS_PER_MACHINE {
        return Err(ManifestError::Invalid {
            field: "groups".to_owned(),
            message: format!(
                "a machine may belong to at most {} groups, not {}",
                crate::ids::MAX_GROUPS_PER_MACHINE,
                groups.len()
            ),
        });
    }
    for (i, g) in groups.iter().enumerate() {
        if !subject::is_valid_token(g) {
            return Err(ManifestError::Invalid {
                field: format!("groups[{i}]"),
                message: format!("`{g}` is not a valid group name (letters, digits, '-' and '_')"),
            });
        }
    }
    Ok(())
}

/// One published agent binary (`GET /api/agent-releases`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentRelease {
    /// Object key: `<version>-<platform>`.
    pub key: String,
    pub version: String,
    pub platform: String,
    pub size: u64,
    /// Hex SHA-256 of the binary; agents refuse a download that does not match.
    pub sha256: String,
    #[serde(default)]
    pub published_by: Option<String>,
}
