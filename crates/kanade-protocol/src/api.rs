//! HTTP request and response bodies of the backend API, shared by the backend, the CLI and the
//! tests. Request types reject unknown keys; response types are plain data.
//!
//! One file per topic under `api/`; every type is re-exported here, so callers name it
//! `kanade_protocol::api::Name` whichever file holds it.

mod agents;
mod auth;
mod command_keys;
mod common;
mod exec;
mod inventory;
mod jetstream;
mod jobs;
mod monitoring;
mod notifications;
mod target;

pub use agents::{
    AgentRelease, AgentRow, EffectiveConfigView, GroupList, GroupSummary, PingResult, VersionCount,
    check_group_names,
};
pub use auth::{
    Account, AccountPatch, AuditEntry, ChangePasswordRequest, LoginRequest, LoginResponse, Me,
    MfaCode, MfaInit, MfaRecoveryCodes, NewAccount, Role, check_password_policy,
};
pub use command_keys::{
    AddCommandKeyRequest, CommandKeyRow, SignCommandRequest, SignCommandResponse,
};
pub use common::{ErrorBody, ErrorDetail, Health, Page, VersionInfo};
pub use exec::{
    ExecRequest, ExecResponse, ExecWarning, ExecutionDetail, ExecutionSummary, ResultDetail,
    ResultSummary, TargetMachine, WARNING_FLEET_FROZEN, frozen_exec_warning,
};
pub use inventory::{
    CheckRow, CheckTrend, CheckTrendDay, ComplianceSummary, InventoryChange, InventoryFacts,
    InventoryJobPage, InventorySearch, SEARCH_OPERATORS,
};
pub use jetstream::{
    ConsumerStatus, JetstreamSetup, JetstreamSetupReport, PeerStatus, StreamStatus,
};
pub use jobs::{
    BatchRequest, BatchResponse, BatchWritten, FreezeRequest, FreezeStatus, JobDetail, JobStatus,
    JobSummary, MAX_BATCH_DOCUMENTS,
};
pub use monitoring::{
    FleetPerf, FleetPoint, KindCount, LiveEvent, ObsEntry, PerfPoint, PerfSeries, ProcessSnapshot,
    TopEntry,
};
pub use notifications::{
    AckRow, GroupEmails, MAX_NOTIFICATION_TITLE_CHARS, NotificationDetail, NotificationRequest,
    NotificationSent, NotificationSummary, is_plausible_email, notification_subjects,
};
pub use target::Target;

pub use crate::ids::is_valid_username;
