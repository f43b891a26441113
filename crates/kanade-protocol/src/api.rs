//! HTTP request and response bodies of the backend API, shared by the backend, the CLI and the
//! tests. Request types reject unknown keys; response types are plain data.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::duration::HumanDuration;
use crate::hints::CheckStatus;
use crate::manifest::{DisplayField, ExplodeSpec, Manifest, ManifestError, Priority};
use crate::subject;

/// Every error response: `{"error": {"code": "...", "message": "..."}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorDetail {
    pub code: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// A page of rows, newest first unless the route says otherwise.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Health {
    /// `ok`; `starting` (or `degraded`, with `reason`) until the backend serves its API.
    pub status: String,
    pub nats: bool,
    pub db: bool,
    /// Why the backend is not ready, and what to change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionInfo {
    pub version: String,
}

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

/// `GET /api/jetstream` and `kanade jetstream status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamStatus {
    pub name: String,
    pub subjects: Vec<String>,
    pub messages: u64,
    pub bytes: u64,
    pub consumers: usize,
    /// Each durable consumer and how far behind it is (streams only; buckets and object
    /// stores carry agents' short-lived watch consumers, counted in `consumers`).
    #[serde(default)]
    pub consumer_list: Vec<ConsumerStatus>,
    /// How many servers keep a copy (1 without a cluster).
    #[serde(default = "one")]
    pub replicas: usize,
    /// The server leading it in a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// The other copies and how far behind the leader each is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerStatus>,
}

fn one() -> usize {
    1
}

/// `POST /api/jetstream/setup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JetstreamSetup {
    /// Copies to keep (1, 3 or 5); absent keeps what each resource has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
}

/// What `POST /api/jetstream/setup` put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JetstreamSetupReport {
    pub streams: Vec<String>,
    pub buckets: Vec<String>,
    pub object_stores: Vec<String>,
    /// A caution, e.g. that backend.toml names another replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One follower copy of a replicated stream, bucket or object store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerStatus {
    /// The server holding it.
    pub name: String,
    /// In step with the leader.
    pub current: bool,
    /// Considered offline by its group.
    #[serde(default)]
    pub offline: bool,
    /// Operations behind the leader.
    #[serde(default)]
    pub lag: u64,
    /// Milliseconds since the leader last heard from it.
    #[serde(default)]
    pub active_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumerStatus {
    pub name: String,
    /// Messages not yet delivered to it.
    pub pending: u64,
    /// Delivered but not yet acknowledged.
    pub ack_pending: u64,
    pub delivered: u64,
}

/// What a caller may do. Ordered: each role may do everything the roles below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything.
    Viewer,
    /// Also creates/deletes jobs and schedules, execs, kills, revokes, changes groups and config.
    Operator,
    /// Also manages accounts, releases and server settings.
    Admin,
}

impl Role {
    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Role, String> {
        match s {
            "viewer" => Ok(Role::Viewer),
            "operator" => Ok(Role::Operator),
            "admin" => Ok(Role::Admin),
            other => Err(format!("`{other}` is not a role (viewer, operator, admin)")),
        }
    }
}

/// `POST /api/auth/login`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
    /// The current TOTP code, required once MFA is enrolled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
}

impl std::fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LoginResponse {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub username: String,
    pub role: Role,
    pub must_change_pw: bool,
}

impl std::fmt::Debug for LoginResponse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginResponse")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// `GET /api/auth/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    pub username: String,
    pub role: Role,
    pub must_change_pw: bool,
    pub mfa_enabled: bool,
    #[serde(default)]
    pub email: Option<String>,
}

/// `POST /api/auth/change-password`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

/// `POST /api/auth/mfa/init`: the secret to enrol in an authenticator app.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaInit {
    pub secret: String,
    pub otpauth_url: String,
}

/// `POST /api/auth/mfa/verify` and `/mfa/disable`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct MfaCode {
    pub code: String,
}

/// The answer of `POST /api/auth/mfa/verify` and `/mfa/recovery-codes`: one-time codes, each
/// usable once at sign-in in place of the authenticator code. Shown this once; only their
/// hashes are kept, and a new set replaces the old one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MfaRecoveryCodes {
    pub recovery_codes: Vec<String>,
}

/// One account as admins see it (never its secrets).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Account {
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub must_change_pw: bool,
    #[serde(default)]
    pub email: Option<String>,
    pub mfa_enabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// `POST /api/accounts`. The new account must change its password at first sign-in.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// `PATCH /api/accounts/{username}`: only the fields present change. A new `password` resets
/// it and forces a change at next sign-in.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AccountPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<Role>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disabled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

/// One row of `GET /api/audit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    pub id: i64,
    pub actor: String,
    pub action: String,
    #[serde(default)]
    pub target: Option<String>,
    pub payload: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub client_addr: Option<String>,
}

/// One key of `GET /api/command-keys`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandKeyRow {
    #[serde(flatten)]
    pub key: crate::signing::CommandKey,
    /// The key this backend signs with.
    pub current: bool,
}

/// `POST /api/command-keys`: trust a public key made elsewhere (`kanade keys break-glass`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddCommandKeyRequest {
    /// The nkeys-encoded ed25519 public key (`U…`).
    pub public_key: String,
}

/// `POST /api/commands/sign`: the break-glass CLI asks the backend to sign a command it is
/// about to publish itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignCommandRequest {
    pub command: crate::wire::Command,
    /// The subject it will be published to (`commands.all`, `commands.group.<g>`,
    /// `commands.pc.<pc_id>`).
    pub target: String,
    /// The operating-system user running the CLI (break-glass `kanade run`), recorded in the
    /// `command.sign` audit entry beside the signed-in user. Not proof of anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
}

/// The answer: the same command with its signature.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignCommandResponse {
    pub command: crate::wire::Command,
}

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

/// One averaged step of a machine's performance series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerfPoint {
    pub at: DateTime<Utc>,
    pub samples: u32,
    pub cpu_pct: f64,
    pub mem_used_bytes: f64,
    pub mem_total_bytes: f64,
    pub swap_used_bytes: f64,
    pub disk_read_bytes_per_sec: f64,
    pub disk_written_bytes_per_sec: f64,
    pub net_rx_bytes_per_sec: f64,
    pub net_tx_bytes_per_sec: f64,
}

/// `GET /api/agents/{pc_id}/perf`: averages per `step_secs`, at most about 1000 points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerfSeries {
    pub pc_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub step_secs: u64,
    pub points: Vec<PerfPoint>,
}

/// `GET /api/perf/fleet`: percentiles over the machines' latest samples, and the fleet's
/// average and maximum per step over the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetPerf {
    pub machines: u64,
    pub cpu_p50: f64,
    pub cpu_p90: f64,
    pub cpu_p99: f64,
    pub mem_pct_p50: f64,
    pub mem_pct_p90: f64,
    pub mem_pct_p99: f64,
    pub step_secs: u64,
    pub series: Vec<FleetPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetPoint {
    pub at: DateTime<Utc>,
    pub machines: u64,
    pub cpu_avg: f64,
    pub cpu_max: f64,
    pub mem_pct_avg: f64,
    pub mem_pct_max: f64,
}

/// `GET /api/perf/top`: machines ranked by their latest sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopEntry {
    pub pc_id: String,
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// `GET /api/agents/{pc_id}/processes`: one snapshot of the busiest processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessSnapshot {
    pub pc_id: String,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    pub processes: Vec<crate::wire::ProcessSample>,
}

/// One row of `GET /api/obs_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObsEntry {
    pub id: i64,
    pub pc_id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub source: String,
    #[serde(default)]
    pub event_record_id: Option<String>,
    pub payload: serde_json::Value,
}

/// `GET /api/obs_events/kinds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KindCount {
    pub kind: String,
    pub events: u64,
}

/// What `GET /api/events/stream` pushes (Server-Sent Events; the SSE event name is the
/// `type`). Each says what changed, so a page refetches only what it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// An execution was created or its counters/status moved.
    Execution { exec_id: String, job_id: String },
    /// A machine's run started or finished.
    Result {
        exec_id: String,
        pc_id: String,
        result_id: String,
        exit_code: Option<i32>,
    },
    /// A machine went offline or came back.
    Agent { pc_id: String, online: bool },
    /// A timeline event was recorded.
    Timeline { pc_id: String, kind: String },
}

impl LiveEvent {
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::Execution { .. } => "execution",
            LiveEvent::Result { .. } => "result",
            LiveEvent::Agent { .. } => "agent",
            LiveEvent::Timeline { .. } => "timeline",
        }
    }
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

/// The latest inventory of one job on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryFacts {
    pub pc_id: String,
    pub job_id: String,
    /// The object the job printed.
    pub facts: serde_json::Value,
    /// The values of the job's `summary` fields, by field.
    #[serde(default)]
    pub summary: serde_json::Value,
    /// When the run that produced it finished.
    pub collected_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// `GET /api/inventory/{job_id}`: one job across machines, with how to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryJobPage {
    pub job_id: String,
    #[serde(default)]
    pub display: Vec<DisplayField>,
    #[serde(default)]
    pub summary: Vec<DisplayField>,
    #[serde(default)]
    pub explode: Vec<ExplodeSpec>,
    #[serde(flatten)]
    pub page: Page<InventoryFacts>,
}

/// `GET /api/inventory/search`: rows of one explode table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventorySearch {
    pub table: String,
    /// Column order of the rows.
    pub columns: Vec<String>,
    pub items: Vec<serde_json::Map<String, serde_json::Value>>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

/// The comparison operators of `GET /api/inventory/search` (`column__op=value`; no `__op`
/// means `eq`).
pub const SEARCH_OPERATORS: [&str; 9] = [
    "eq",
    "ne",
    "contains",
    "startswith",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
];

/// One change between two inventory runs (`GET /api/inventory/history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryChange {
    pub id: i64,
    pub pc_id: String,
    pub job_id: String,
    /// The explode field or the tracked scalar.
    pub field_path: String,
    /// The primary key of an exploded item (`null` for a scalar).
    pub identity: serde_json::Value,
    /// `added`, `removed` or `changed`.
    pub change_kind: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub observed_at: DateTime<Utc>,
}

/// A check's latest status on one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckRow {
    pub pc_id: String,
    pub check_name: String,
    pub status: CheckStatus,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    pub job_id: String,
    /// When the run that reported it finished.
    pub finished_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// `GET /api/compliance`: one check across the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComplianceSummary {
    pub check_name: String,
    #[serde(default)]
    pub label: Option<String>,
    pub ok: u64,
    pub warn: u64,
    pub fail: u64,
    pub unknown: u64,
    /// Machines whose status is `fail` (at most 100, sorted).
    pub failing: Vec<String>,
}

/// `GET /api/compliance/{check}/trend`: one UTC day of a check, counting each machine that
/// reported that day once, by its last result of the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckTrendDay {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub ok: u64,
    pub warn: u64,
    pub fail: u64,
    pub unknown: u64,
}

/// `GET /api/compliance/{check}/trend`: the check's days with results, oldest first (days
/// without any result are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckTrend {
    pub check_name: String,
    /// How many days back the answer reaches (today included).
    pub days: u32,
    pub points: Vec<CheckTrendDay>,
}

/// `POST /api/notifications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotificationRequest {
    /// Minted when absent; letters, digits, '-' and '_' (at most 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub require_ack: bool,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    pub target: Target,
    /// Ask the people's client to show it as a toast too (the original's `toast`).
    #[serde(default)]
    pub toast: bool,
}

/// Longest title a notification may have.
pub const MAX_NOTIFICATION_TITLE_CHARS: usize = 200;

impl NotificationRequest {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ManifestError> {
        let invalid = |field: &str, message: &str| ManifestError::Invalid {
            field: field.to_owned(),
            message: message.to_owned(),
        };
        if let Some(id) = &self.id
            && (id.len() > 64 || !subject::is_valid_token(id))
        {
            return Err(invalid("id", "must be 1-64 letters, digits, '-' or '_'"));
        }
        if self.priority == Priority::Unknown {
            return Err(invalid("priority", "must be info, warn or emergency"));
        }
        if self.title.trim().is_empty() {
            return Err(invalid("title", "must not be empty"));
        }
        // Both are shown as a toast on every targeted machine.
        if self.title.chars().count() > MAX_NOTIFICATION_TITLE_CHARS {
            return Err(invalid(
                "title",
                &format!("must be at most {MAX_NOTIFICATION_TITLE_CHARS} characters"),
            ));
        }
        if self.title.chars().any(char::is_control) {
            return Err(invalid("title", "must not contain control characters"));
        }
        if self
            .body
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(invalid(
                "body",
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(invalid("expires_at", "is already in the past"));
        }
        self.target.validate()
    }
}

/// The subjects a notification for `target` is published on. `all` wins over the lists.
pub fn notification_subjects(target: &Target) -> Vec<String> {
    if target.all {
        return vec![subject::NOTIFICATIONS_ALL.to_owned()];
    }
    let mut subjects: Vec<String> = target
        .groups
        .iter()
        .map(|g| subject::notifications_group(g))
        .collect();
    subjects.extend(target.pcs.iter().map(|pc| subject::notifications_pc(pc)));
    subjects.sort();
    subjects.dedup();
    subjects
}

/// Answer of `POST /api/notifications`: the subjects the broker acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSent {
    pub id: String,
    pub subjects: Vec<String>,
}

/// One sent notification (`GET /api/notifications`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSummary {
    pub id: String,
    pub priority: Priority,
    pub require_ack: bool,
    pub title: String,
    pub body: String,
    pub issued_at: DateTime<Utc>,
    #[serde(default)]
    pub issued_by: Option<String>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    pub target: Target,
    /// The subjects it was published on.
    pub subjects: Vec<String>,
    /// How many people confirmed it.
    pub acks: u64,
}

/// One person's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckRow {
    pub pc_id: String,
    pub user: String,
    pub acked_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// `GET /api/notifications/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationDetail {
    #[serde(flatten)]
    pub notification: NotificationSummary,
    pub acked_by: Vec<AckRow>,
}

/// `PUT`/`GET /api/groups/{name}/email`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupEmails {
    pub emails: Vec<String>,
}

impl GroupEmails {
    /// At most 50 addresses, each a plausible `local@domain`; duplicates are refused.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.emails.len() > 50 {
            return Err(ManifestError::Invalid {
                field: "emails".to_owned(),
                message: "at most 50 addresses".to_owned(),
            });
        }
        for (i, email) in self.emails.iter().enumerate() {
            let problem = match is_plausible_email(email) {
                false => Some(format!("`{email}` is not an e-mail address")),
                true if self.emails[..i]
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(email)) =>
                {
                    Some(format!("`{email}` is listed twice"))
                }
                true => None,
            };
            if let Some(message) = problem {
                return Err(ManifestError::Invalid {
                    field: format!("emails[{i}]"),
                    message,
                });
            }
        }
        Ok(())
    }
}

/// `local@domain.tld` without spaces, angle brackets, commas or quotes, at most 254 bytes.
pub fn is_plausible_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let clean = |part: &str| {
        !part.is_empty()
            && part.chars().all(|c| {
                c.is_ascii_graphic()
                    && !matches!(
                        c,
                        '<' | '>' | ',' | '"' | '@' | '(' | ')' | ';' | ':' | '\\' | '[' | ']'
                    )
            })
    };
    text.len() <= 254
        && clean(local)
        && clean(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
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

/// A password an operator may choose: at least 10 characters, at most 1024.
pub fn check_password_policy(password: &str) -> Result<(), ManifestError> {
    let n = password.chars().count();
    if !(10..=1024).contains(&n) {
        return Err(ManifestError::Invalid {
            field: "password".to_owned(),
            message: "must be between 10 and 1024 characters".to_owned(),
        });
    }
    Ok(())
}

pub use crate::ids::is_valid_username;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_debug_hides_secrets() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("operator".parse::<Role>().unwrap(), Role::Operator);
        assert!("root".parse::<Role>().is_err());
        let req = LoginRequest {
            username: "a".into(),
            password: "hunter2hunter2".into(),
            totp: None,
        };
        assert!(!format!("{req:?}").contains("hunter2"));
    }

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
    fn notification_requests_and_contacts_are_checked_by_field() {
        let now = Utc::now();
        let good = NotificationRequest {
            id: None,
            priority: Priority::Info,
            require_ack: false,
            title: "Reboot tonight".into(),
            body: String::new(),
            expires_at: Some(now + chrono::Duration::hours(1)),
            target: Target {
                groups: vec!["lab".into()],
                pcs: vec!["pc1".into()],
                ..Target::default()
            },
            toast: false,
        };
        good.validate(now).unwrap();
        assert_eq!(
            notification_subjects(&good.target),
            ["notifications.group.lab", "notifications.pc.pc1"]
        );
        let cases = [
            (
                NotificationRequest {
                    title: " ".into(),
                    ..good.clone()
                },
                "title",
            ),
            (
                NotificationRequest {
                    id: Some("a.b".into()),
                    ..good.clone()
                },
                "id",
            ),
            (
                NotificationRequest {
                    expires_at: Some(now),
                    ..good.clone()
                },
                "expires_at",
            ),
            (
                NotificationRequest {
                    target: Target::default(),
                    ..good.clone()
                },
                "target",
            ),
        ];
        for (req, field) in cases {
            assert_eq!(req.validate(now).unwrap_err().field(), Some(field));
        }
        let ok = GroupEmails {
            emails: vec!["ops@example.org".into(), "a.b+c@x.co".into()],
        };
        ok.validate().unwrap();
        for (bad, field) in [
            (vec!["nope"], "emails[0]"),
            (vec!["a@b.c", "Eve <e@x.org>"], "emails[1]"),
            (vec!["a@b.c", "A@B.C"], "emails[1]"),
            (vec!["a@localhost"], "emails[0]"),
        ] {
            let req = GroupEmails {
                emails: bad.into_iter().map(String::from).collect(),
            };
            assert_eq!(req.validate().unwrap_err().field(), Some(field));
        }
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
