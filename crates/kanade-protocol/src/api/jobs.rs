//! Registered jobs: their list and detail rows, the all-or-nothing document batches, a job's
//! revocation status, and the fleet freeze.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::manifest::Manifest;

/// One row of `GET /api/jobs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobSummary {
    pub id: String,
    pub version: String,
    #[serde(default)]
    pub description: Option<String>,
    pub shell: String,
    pub timeout: HumanDuration,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl From<&Manifest> for JobSummary {
    fn from(m: &Manifest) -> JobSummary {
        JobSummary {
            id: m.id.clone(),
            version: m.version.clone(),
            description: m.description.clone(),
            shell: m.execute.shell.as_str().to_owned(),
            timeout: m.execute.timeout,
            tags: m.tags.clone(),
        }
    }
}

/// `GET /api/jobs/{id}`: the parsed manifest and the text it was written as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobDetail {
    pub manifest: Manifest,
    #[serde(default)]
    pub yaml: Option<String>,
}

/// Most documents one batch may carry (`POST /api/jobs:batch`, `/api/schedules:batch`).
pub const MAX_BATCH_DOCUMENTS: usize = 1000;

/// `POST /api/jobs:batch` and `POST /api/schedules:batch`: documents registered all or nothing.
/// Each is the text of one YAML (or JSON) document, stored as written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    pub documents: Vec<String>,
}

/// What a batch wrote, in the order of its documents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchResponse {
    pub written: Vec<BatchWritten>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BatchWritten {
    pub id: String,
    /// True when it replaced an existing one of the same id.
    pub replaced: bool,
}

/// `PUT /api/freeze`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FreezeRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// `GET /api/freeze`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FreezeStatus {
    pub frozen: bool,
    #[serde(default)]
    pub freeze: Option<crate::wire::Freeze>,
}

/// `GET /api/jobs/{id}/status` and the answer of revoke/unrevoke.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JobStatus {
    pub id: String,
    pub revoked: bool,
    #[serde(default)]
    pub pinned_version: Option<String>,
}
