//! The two-person rule: an execution of a job with `require_approval: true` is recorded as a
//! request and sends nothing until a second operator approves it. These are the request's
//! audit record (from which the read model is rebuilt after a wipe) and the API's views.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::api::ExecRequest;
use crate::wire::ExecutionRecord;

/// Execution status while a request waits for its second operator.
pub const STATUS_AWAITING: &str = "awaiting_approval";
/// Execution status of a request a second operator turned down; nothing was sent.
pub const STATUS_REJECTED: &str = "rejected";
/// Execution status of a request nobody decided in time; nothing was sent.
pub const STATUS_EXPIRED: &str = "expired";

/// Audit actions of the approval flow (subjects `audit.approval.*`).
pub const ACTION_REQUEST: &str = "approval.request";
pub const ACTION_APPROVE: &str = "approval.approve";
pub const ACTION_REJECT: &str = "approval.reject";
pub const ACTION_EXPIRE: &str = "approval.expire";

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for a second operator.
    Awaiting,
    /// Approved: the commands went out.
    Approved,
    /// Turned down: nothing was sent.
    Rejected,
    /// Nobody decided before `expires_at`: nothing was sent.
    Expired,
}

impl ApprovalState {
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Awaiting => "awaiting",
            ApprovalState::Approved => "approved",
            ApprovalState::Rejected => "rejected",
            ApprovalState::Expired => "expired",
        }
    }

    pub fn parse(s: &str) -> Option<ApprovalState> {
        [
            ApprovalState::Awaiting,
            ApprovalState::Approved,
            ApprovalState::Rejected,
            ApprovalState::Expired,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

/// The payload of an `approval.request` audit event: everything needed to send the commands
/// once approved, exactly as they were asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalRecord {
    pub execution: ExecutionRecord,
    pub request: ExecRequest,
    pub expires_at: DateTime<Utc>,
    /// SHA-256 (hex) of the job's script when it was asked for: an approval sends only this
    /// script, so a job edited meanwhile must be asked for again.
    pub script_sha256: String,
}

/// The payload of an `approval.approve`, `approval.reject` or `approval.expire` audit event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApprovalDecision {
    pub exec_id: String,
    pub job_id: String,
    pub state: ApprovalState,
    pub requested_by: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Machines expected to answer, counted when the commands went out (approvals only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_count: Option<i64>,
}

/// One request as the API shows it (`GET /api/approvals`, `approval` of an execution).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Approval {
    pub exec_id: String,
    pub job_id: String,
    pub version: String,
    pub requested_by: String,
    pub requested_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub state: ApprovalState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What the requester asked for: target or rollout, jitter, deadline, retry.
    pub request: ExecRequest,
}

/// `POST /api/executions/{exec_id}/approve` and `/reject`; the body may be empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why (kept in the audit log), at most 1000 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Longest reason kept with a decision.
pub const MAX_REASON_CHARS: usize = 1000;

impl DecisionRequest {
    pub fn validate(&self) -> Result<(), crate::manifest::ManifestError> {
        match &self.reason {
            Some(r) if r.chars().count() > MAX_REASON_CHARS => {
                Err(crate::manifest::ManifestError::Invalid {
                    field: "reason".to_owned(),
                    message: format!("must be at most {MAX_REASON_CHARS} characters"),
                })
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_through_their_names() {
        for s in ["awaiting", "approved", "rejected", "expired"] {
            assert_eq!(ApprovalState::parse(s).unwrap().as_str(), s);
        }
        assert_eq!(ApprovalState::parse("pending"), None);
    }

    #[test]
    fn a_long_reason_is_refused_naming_the_field() {
        let long = DecisionRequest {
            reason: Some("x".repeat(MAX_REASON_CHARS + 1)),
        };
        assert!(long.validate().unwrap_err().to_string().contains("reason"));
        assert!(DecisionRequest::default().validate().is_ok());
    }
}
