//! Executions and their results: the exec request and answer, the fleet-freeze warning, and
//! the execution and per-machine result views.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::target::Target;
use crate::duration::HumanDuration;
use crate::manifest::ManifestError;

/// `POST /api/exec/{job_id}`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExecRequest {
    pub target: Target,
    /// Each machine waits a random time up to this before starting.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<HumanDuration>,
    /// Machines that cannot start before this instant skip the run (exit 125).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_at: Option<DateTime<Utc>>,
    /// Waves instead of `target` (which must then be empty): each group after its delay.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<crate::schedule::Rollout>,
    /// Re-run on the machines where it fails (`max` 1-10 more attempts, `backoff` between).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<crate::schedule::Retry>,
    /// Send even to machines that never sent a heartbeat and to groups without members
    /// (otherwise 422 names them). Machines known but offline are always accepted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_unknown: bool,
}

impl ExecRequest {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ManifestError> {
        if let Some(retry) = &self.retry {
            if !(1..=10).contains(&retry.max) {
                return Err(ManifestError::Invalid {
                    field: "retry.max".to_owned(),
                    message: "must be between 1 and 10".to_owned(),
                });
            }
            if retry.backoff.as_secs() == 0 {
                return Err(ManifestError::Invalid {
                    field: "retry.backoff".to_owned(),
                    message: "must be at least 1s".to_owned(),
                });
            }
        }
        match &self.rollout {
            None => self.target.validate()?,
            Some(_) if self.target != Target::default() => {
                return Err(ManifestError::Invalid {
                    field: "target".to_owned(),
                    message:
                        "leave it empty when `rollout` is set: the waves' groups are the target"
                            .to_owned(),
                });
            }
            Some(rollout) => rollout.validate("rollout")?,
        }
        if self.deadline_at.is_some_and(|deadline| deadline <= now) {
            return Err(ManifestError::Invalid {
                field: "deadline_at".to_owned(),
                message: "is already in the past".to_owned(),
            });
        }
        if self
            .jitter
            .is_some_and(|jitter| jitter.as_secs() > 24 * 3600)
        {
            return Err(ManifestError::Invalid {
                field: "jitter".to_owned(),
                message: "must be at most 24h".to_owned(),
            });
        }
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecResponse {
    pub exec_id: String,
    pub job_id: String,
    pub version: String,
    pub request_id: String,
    pub target_count: i64,
    pub subjects: Vec<String>,
    /// `pending` when the broker stored the command; `unconfirmed` when it did not
    /// acknowledge it in time: it may be stored and run (results still count), and the
    /// backend keeps retrying under the same message id; `awaiting_approval` when the job
    /// has `require_approval`: nothing was sent until a second operator approves.
    #[serde(default = "pending")]
    pub status: String,
    /// The machines the named pcs and groups resolve to, each online or not (empty for
    /// `all`, which targets whoever is connected).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub machines: Vec<TargetMachine>,
    /// What the operator should know about this execution. Today only `fleet_frozen`: the
    /// fleet freeze was on when it was accepted (the run went out anyway; a rollout's waves
    /// wait for the thaw).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<ExecWarning>,
}

/// One warning of an [`ExecResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecWarning {
    /// `fleet_frozen`.
    pub code: String,
    pub message: String,
}

/// `ExecWarning::code` of a manual exec sent while the fleet is frozen.
pub const WARNING_FLEET_FROZEN: &str = "fleet_frozen";

/// What a manual exec does while the fleet is frozen, in one line; the backend's exec answer
/// and the CLI (before sending) say the same. `freeze` is `None` when the stored freeze does
/// not decode (which counts as frozen); `rollout` when the exec goes out in waves.
pub fn frozen_exec_warning(freeze: Option<&crate::wire::Freeze>, rollout: bool) -> String {
    let state = match freeze {
        Some(freeze) => {
            let mut why = match freeze.reason.as_deref().map(str::trim) {
                Some(reason) if !reason.is_empty() => format!("reason: {reason}"),
                _ => "no reason given".to_owned(),
            };
            match freeze.until {
                Some(until) => why.push_str(&format!(
                    "; until {}",
                    until.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                )),
                None => why.push_str("; until lifted"),
            }
            format!("the fleet is frozen ({why})")
        }
        None => "the fleet freeze record is unreadable and counts as frozen".to_owned(),
    };
    let what = match rollout {
        false => "this manual run goes out now",
        true => "this rollout's waves wait until the freeze ends",
    };
    format!("{state}: scheduled fires and rollout waves are held; {what}")
}

/// One machine an execution was sent to, as the backend knew it when it was sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TargetMachine {
    pub pc_id: String,
    /// False for a machine known but silent, or never seen (`allow_unknown`).
    pub online: bool,
}

fn pending() -> String {
    "pending".to_owned()
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecutionSummary {
    pub exec_id: String,
    pub job_id: String,
    pub version: String,
    pub initiated_by: String,
    pub initiated_at: DateTime<Utc>,
    pub target_count: i64,
    pub success_count: i64,
    pub failure_count: i64,
    pub skipped_count: i64,
    /// `pending` → `running` → `completed` (or `expired`); `unconfirmed` before `pending`
    /// while the broker has not acknowledged the command (it may still run). A job with
    /// `require_approval` starts `awaiting_approval` and becomes `pending` when a second
    /// operator approves, or `rejected` / `expired` with nothing sent.
    pub status: String,
    /// The runs counted by outcome (ok, failed, timed out, killed, skipped by reason, not
    /// reported, running, waiting).
    #[serde(default)]
    pub outcomes: crate::outcome::OutcomeCounts,
    /// The worst outcome counted (`failed`, `timed_out`, `not_reported`, `killed`,
    /// `skipped`, `running`, `ok`); absent before any result. Colour by this, not `status`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worst: Option<crate::outcome::Outcome>,
    /// What it was sent to: machine ids, `group:<name>`, or `all`.
    #[serde(default)]
    pub targets: Vec<String>,
    /// True for a wave rollout (`GET /api/executions/{id}/rollout` then has its waves).
    #[serde(default)]
    pub rollout: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecutionDetail {
    #[serde(flatten)]
    pub execution: ExecutionSummary,
    pub results: Vec<ResultSummary>,
    /// The two-person approval of a job with `require_approval: true`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<crate::approval::Approval>,
    /// The targeted machines (named or members of the targeted groups now) with no finished
    /// result yet, running ones included, while the execution is not over (for `all`, only
    /// the running ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
}

/// One machine's run, without its output.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResultSummary {
    pub result_id: String,
    pub request_id: String,
    pub exec_id: String,
    pub pc_id: String,
    pub job_id: String,
    pub version: String,
    /// `None` while the run is in flight.
    pub exit_code: Option<i32>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    pub recorded_at: Option<DateTime<Utc>>,
    pub skipped: bool,
    pub reaped: bool,
    /// How it ended (`ok`, `failed`, `timed_out`, `killed`, `skipped`, `not_reported`,
    /// `running`).
    #[serde(default = "running")]
    pub outcome: crate::outcome::Outcome,
    /// The outcome in words: "timed out after 2s", "skipped: revoked", "exit 3".
    #[serde(default)]
    pub outcome_note: String,
}

fn running() -> crate::outcome::Outcome {
    crate::outcome::Outcome::Running
}

/// `GET /api/results/{result_id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResultDetail {
    #[serde(flatten)]
    pub summary: ResultSummary,
    pub stdout: String,
    pub stderr: String,
    #[serde(default)]
    pub stdout_object: Option<String>,
    #[serde(default)]
    pub stderr_object: Option<String>,
    /// The object-store key of the file bundle the run collected (the original's `collect`).
    #[serde(default)]
    pub collect_object: Option<String>,
    /// The result this one follows (the original's `finalize` runs).
    #[serde(default)]
    pub parent_result_id: Option<String>,
    /// Why the job's inventory or check payload could not be read, if it could not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hint_errors: Vec<String>,
}
