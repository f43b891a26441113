//! Job manifests as operators write them (YAML or JSON), with parsing that names the path of
//! an unknown or mistyped key and `validate()` that names the field breaking a rule.

use serde::{Deserialize, Deserializer, Serialize};

mod compat;

use crate::duration::HumanDuration;
use crate::hints::CheckStatus;
pub use crate::staleness::{Staleness, StalenessPolicy};

/// Longest timeout a job may ask for.
pub const MAX_TIMEOUT_SECS: u64 = 7 * 24 * 3600;

/// A registered job (KV `jobs`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub id: String,
    #[serde(deserialize_with = "string_or_number")]
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub execute: Execute,
    /// What the agent does when it cannot read the pin and revocation live (see
    /// `staleness`); the original's map form `{mode, max_cache_age}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness: Option<StalenessPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventoryHint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckHint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub emit: Option<EmitHint>,
    /// Zip the files the run's stdout lists and upload them to `collections` (see `collect`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collect: Option<crate::collect::CollectHint>,
    /// A step run after a clean exit (see `collect::FinalizeSpec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finalize: Option<crate::collect::FinalizeSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// Two-person rule: every execution waits for a second operator's approval before any
    /// command is sent (see `approval`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_approval: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Execute {
    pub shell: Shell,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// Path of a script file; the CLI inlines it into `script` before upload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_file: Option<String>,
    pub timeout: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Shell {
    Sh,
    Bash,
    Pwsh,
    Powershell,
    Cmd,
}

impl Shell {
    pub fn as_str(&self) -> &'static str {
        match self {
            Shell::Sh => "sh",
            Shell::Bash => "bash",
            Shell::Pwsh => "pwsh",
            Shell::Powershell => "powershell",
            Shell::Cmd => "cmd",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunAs {
    System,
    User,
    SystemGui,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EmitHint {
    #[serde(rename = "type")]
    pub kind: EmitKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EmitKind {
    Events,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct InventoryHint {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub display: Vec<DisplayField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub summary: Vec<DisplayField>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub explode: Vec<ExplodeSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history_scalars: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DisplayField {
    pub field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// The columns of a `type: table` field.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[cfg_attr(feature = "openapi", schema(no_recursion))]
    pub columns: Vec<DisplayField>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExplodeSpec {
    /// The array in the inventory object whose items become rows.
    pub field: String,
    /// The SQLite table: `inv_` then letters, digits and `_` (at most 64 characters).
    pub table: String,
    pub primary_key: Vec<String>,
    pub columns: Vec<ExplodeColumn>,
    #[serde(default)]
    pub track_history: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ExplodeColumn {
    /// The key in each array item, and the column's name.
    pub field: String,
    #[serde(default, rename = "type")]
    pub kind: ColumnType,
    #[serde(default)]
    pub index: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ColumnType {
    #[default]
    Text,
    Integer,
    Real,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CheckHint {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
    #[serde(default = "default_status_field")]
    pub status_field: String,
    #[serde(default = "default_detail_field")]
    pub detail_field: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alert: Option<AlertSpec>,
    /// The original's `fleet`: `false` makes a gate-only check, whose rows are stored (and
    /// alert) but which the fleet compliance views leave out unless asked
    /// (`GET /api/compliance?include_non_fleet=true`).
    #[serde(default = "default_fleet", skip_serializing_if = "is_fleet")]
    pub fleet: bool,
}

fn default_fleet() -> bool {
    true
}

fn is_fleet(fleet: &bool) -> bool {
    *fleet
}

fn default_status_field() -> String {
    "status".to_owned()
}

fn default_detail_field() -> String {
    "detail".to_owned()
}

/// What a check does when a machine moves into a listed status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct AlertSpec {
    /// Statuses whose arrival alerts (`warn`, `fail`, `unknown`); empty means `[fail]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on: Vec<CheckStatus>,
    /// Send a notification to the people at the machine.
    #[serde(default)]
    pub notify_user: bool,
    /// Notify these groups (`notifications.group.<g>`) and e-mail their contacts (needs
    /// `[mail]` in the backend config).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notify_groups: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    #[serde(default)]
    pub require_ack: bool,
    /// Ask the client app to show a toast: carried on the alert's notification (`toast`).
    #[serde(default)]
    pub toast: bool,
    /// Templates: `{pc_id}`, `{name}`, `{label}`, `{status}`, `{detail}` and `{last_logon}`
    /// are filled in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

impl AlertSpec {
    pub const DEFAULT_TITLE: &'static str = "{label}: {status} on {pc_id}";
    pub const DEFAULT_BODY: &'static str = "Check {name} reports {status} on {pc_id}: {detail}";

    /// The statuses that alert (`[fail]` when none are listed).
    pub fn alert_on(&self) -> Vec<CheckStatus> {
        match self.on.is_empty() {
            true => vec![CheckStatus::Fail],
            false => self.on.clone(),
        }
    }
}

/// How urgently a notification asks for attention. Readers tolerate values they do not know.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    Info,
    #[default]
    Warn,
    /// Shown modally by the client app.
    Emergency,
    #[serde(other)]
    Unknown,
}

/// Why a document was refused. Every variant names where the problem is.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    /// Not YAML / JSON at all.
    #[error("{message}")]
    Syntax { message: String },
    /// Well-formed, but a key is unknown, missing or of the wrong type.
    #[error("{path}: {message}")]
    Field { path: String, message: String },
    /// Parsed, but breaks a rule of `validate()`.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
}

impl ManifestError {
    /// The path of the offending field, when there is one.
    pub fn field(&self) -> Option<&str> {
        match self {
            ManifestError::Syntax { .. } => None,
            ManifestError::Field { path, .. } => Some(path),
            ManifestError::Invalid { field, .. } => Some(field),
        }
    }

    pub(crate) fn invalid(field: &str, message: impl Into<String>) -> ManifestError {
        ManifestError::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Parses an operator document: YAML (JSON is YAML too) into `T`, naming the path of any
/// unknown, missing or mistyped key.
pub fn parse_document<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ManifestError> {
    from_value(parse_value(text)?)
}

/// The document as a JSON value (YAML or JSON text), which must be a mapping.
pub(crate) fn parse_value(text: &str) -> Result<serde_json::Value, ManifestError> {
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(_) => serde_saphyr::from_str(text).map_err(|err| ManifestError::Syntax {
            message: format!("invalid YAML: {err}"),
        })?,
    };
    if !value.is_object() {
        return Err(ManifestError::Syntax {
            message: "the document must be a mapping of keys to values".to_owned(),
        });
    }
    Ok(value)
}

/// Deserializes `value`, naming the path of an unknown or mistyped key.
pub(crate) fn from_value<T: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<T, ManifestError> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = err.path().to_string();
        let message = err.into_inner().to_string();
        // A well-formed value past its limit breaks a rule (422), it is not a typo.
        if crate::duration::is_out_of_range(&message) && path != "." {
            return ManifestError::Invalid {
                field: path,
                message,
            };
        }
        ManifestError::Field {
            path: if path == "." {
                "(document)".to_owned()
            } else {
                path
            },
            message,
        }
    })
}

impl Manifest {
    /// Parses and validates a manifest from YAML or JSON text.
    pub fn parse(text: &str) -> Result<Manifest, ManifestError> {
        let mut value = parse_value(text)?;
        compat::screen(&mut value)?;
        let manifest: Manifest = from_value(value)?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Rules that types alone cannot express. Returns the first broken rule.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if !is_valid_id(&self.id) {
            return Err(ManifestError::invalid(
                "id",
                "must be 1-64 characters of letters, digits, '-', '_' or '.', starting with a letter or digit, not ending with '.'",
            ));
        }
        if self.version.trim().is_empty() || self.version.len() > 64 {
            return Err(ManifestError::invalid("version", "must be 1-64 characters"));
        }
        let script = self
            .execute
            .script
            .as_deref()
            .filter(|s| !s.trim().is_empty());
        match (script, &self.execute.script_file) {
            (Some(_), Some(_)) => {
                return Err(ManifestError::invalid(
                    "execute",
                    "set exactly one of `script` and `script_file`, not both",
                ));
            }
            (None, None) => {
                return Err(ManifestError::invalid(
                    "execute.script",
                    "is required (or `script_file`, which the CLI inlines)",
                ));
            }
            _ => {}
        }
        if let Some(policy) = &self.staleness
            && let Err((key, message)) = policy.check()
        {
            return Err(ManifestError::invalid(&format!("staleness.{key}"), message));
        }
        let timeout = self.execute.timeout.as_secs();
        if timeout == 0 || timeout > MAX_TIMEOUT_SECS {
            return Err(ManifestError::invalid(
                "execute.timeout",
                format!(
                    "must be between 1s and {}",
                    HumanDuration::from_secs(MAX_TIMEOUT_SECS)
                ),
            ));
        }
        for (i, tag) in self.tags.iter().enumerate() {
            if tag.trim().is_empty() {
                return Err(ManifestError::invalid(
                    &format!("tags[{i}]"),
                    "must not be empty",
                ));
            }
        }
        if let Some(inventory) = &self.inventory {
            validate_inventory(inventory)?;
        }
        if let Some(check) = &self.check {
            validate_check(check)?;
        }
        if self.emit.is_some() && (self.inventory.is_some() || self.check.is_some()) {
            return Err(ManifestError::invalid(
                "emit",
                "an emit job's stdout is events, so it cannot also carry inventory or check",
            ));
        }
        if let Some(collect) = &self.collect {
            if self.emit.is_some() {
                return Err(ManifestError::invalid(
                    "collect",
                    "an emit job's stdout is events, so it cannot also list files to collect",
                ));
            }
            collect.validate("collect")?;
        }
        if let Some(finalize) = &self.finalize {
            finalize.validate("finalize")?;
        }
        Ok(())
    }

    /// Every explode spec of the job, with its path in the manifest (`inventory.explode[i]`).
    pub fn explode_specs(&self) -> impl Iterator<Item = (String, &ExplodeSpec)> {
        self.inventory
            .iter()
            .flat_map(|inv| inv.explode.iter().enumerate())
            .map(|(i, spec)| (format!("inventory.explode[{i}]"), spec))
    }

    /// The script to run, once `script_file` has been inlined.
    pub fn script(&self) -> Option<&str> {
        self.execute.script.as_deref()
    }
}

/// The usual prefix of explode tables (`inv_apps`); any other name the original accepts
/// (`inventory_sw_apps`) works too, as long as it is none of kanade's own (`KANADE_TABLES`).
pub const EXPLODE_TABLE_PREFIX: &str = "inv_";

/// Every table kanade's own migrations create, which no explode table may be named. The
/// backend's tests compare this list with the database after migrating, so it stays true.
pub const KANADE_TABLES: &[&str] = &[
    "agents",
    "approvals",
    "audit_log",
    "check_alerts",
    "check_history",
    "check_status",
    "execution_results",
    "executions",
    "executions_new",
    "host_perf_samples",
    "host_perf_samples_v",
    "inventory_facts",
    "inventory_history",
    "job_success_queue",
    "job_successes",
    "notification_acks",
    "notification_subjects",
    "notifications",
    "obs_events",
    "process_perf_samples",
    "revoked_sessions",
    "sessions",
    "users",
];

/// Every index kanade's migrations create: an explode table's indexes are named
/// `idx_<table>_<column>`, so a table whose `idx_<table>_` prefix starts one of these is
/// refused too. Kept true like `KANADE_TABLES`.
pub const KANADE_INDEXES: &[&str] = &[
    "idx_agents_last_heartbeat",
    "idx_approvals_state",
    "idx_audit_action",
    "idx_audit_actor",
    "idx_audit_occurred",
    "idx_check_history_exec",
    "idx_check_history_finished",
    "idx_check_history_name",
    "idx_check_status_name",
    "idx_executions_initiated_at",
    "idx_executions_initiated_by",
    "idx_executions_job",
    "idx_host_perf_at",
    "idx_inventory_facts_job",
    "idx_inventory_history_job",
    "idx_inventory_history_observed",
    "idx_inventory_history_pc",
    "idx_notifications_issued",
    "idx_obs_at",
    "idx_obs_identity",
    "idx_obs_kind",
    "idx_obs_pc_at",
    "idx_obs_stream_seq",
    "idx_process_perf_at",
    "idx_results_exec",
    "idx_results_in_flight",
    "idx_results_pc",
    "idx_results_skipped",
    "idx_results_started",
    "idx_results_stopped",
    "idx_results_unfinished",
    "idx_sessions_account",
    "idx_sessions_expires",
    "idx_users_account_id",
];

/// Columns every explode table has before the declared ones.
pub const EXPLODE_RESERVED_COLUMNS: [&str; 3] = ["pc_id", "job_id", "collected_at"];

/// An SQL identifier kanade accepts from a manifest: `[A-Za-z_][A-Za-z0-9_]{0,63}`.
pub fn is_sql_identifier(name: &str) -> bool {
    let mut bytes = name.bytes();
    match bytes.next() {
        Some(first) if first.is_ascii_alphabetic() || first == b'_' => {}
        _ => return false,
    }
    name.len() <= 64 && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `table` is a name an explode spec may use: an SQL identifier that is not one of
/// kanade's own tables (nor would make an index name one of kanade's own), not SQLite's
/// (`sqlite_…`), and more than the bare `inv_` prefix.
pub fn is_explode_table(table: &str) -> bool {
    let lower = table.to_ascii_lowercase();
    let index_prefix = format!("idx_{lower}_");
    is_sql_identifier(table)
        && !lower.starts_with("sqlite_")
        && lower != EXPLODE_TABLE_PREFIX
        && !KANADE_TABLES.contains(&lower.as_str())
        && !KANADE_INDEXES.iter().any(|i| i.starts_with(&index_prefix))
}

/// The display types the original knows (`inventory.display[].type`, `summary[].type`).
pub const DISPLAY_TYPES: &[&str] = &["number", "bytes", "timestamp", "table"];

/// Every `type` of `fields` (and of a table's `columns`) is one of [`DISPLAY_TYPES`]: an
/// unknown one would be shown raw without anyone noticing the typo.
fn validate_display(fields: &[DisplayField], at: &str) -> Result<(), ManifestError> {
    for (i, field) in fields.iter().enumerate() {
        let here = format!("{at}[{i}]");
        if let Some(kind) = field.kind.as_deref()
            && !DISPLAY_TYPES.contains(&kind)
        {
            return Err(ManifestError::invalid(
                &format!("{here}.type"),
                format!(
                    "`{kind}` is not a display type; known types: {}",
                    DISPLAY_TYPES.join(", ")
                ),
            ));
        }
        validate_display(&field.columns, &format!("{here}.columns"))?;
    }
    Ok(())
}

fn validate_inventory(inventory: &InventoryHint) -> Result<(), ManifestError> {
    validate_display(&inventory.display, "inventory.display")?;
    validate_display(&inventory.summary, "inventory.summary")?;
    let mut tables: Vec<String> = Vec::new();
    for (i, spec) in inventory.explode.iter().enumerate() {
        let at = |rest: &str| format!("inventory.explode[{i}]{rest}");
        if spec.field.trim().is_empty() {
            return Err(ManifestError::invalid(&at(".field"), "must not be empty"));
        }
        if !is_explode_table(&spec.table) {
            return Err(ManifestError::invalid(
                &at(".table"),
                format!(
                    "`{}` is not allowed: a table name is letters, digits or '_' (at most 64, not starting with a digit) and none of kanade's own tables or SQLite's; `{EXPLODE_TABLE_PREFIX}<name>` is the usual form",
                    spec.table
                ),
            ));
        }
        let lower = spec.table.to_ascii_lowercase();
        if tables.contains(&lower) {
            return Err(ManifestError::invalid(
                &at(".table"),
                format!(
                    "`{}` is used by another explode spec of this job",
                    spec.table
                ),
            ));
        }
        tables.push(lower);
        if spec.columns.is_empty() {
            return Err(ManifestError::invalid(
                &at(".columns"),
                "list at least one column",
            ));
        }
        let mut names: Vec<String> = Vec::new();
        for (c, column) in spec.columns.iter().enumerate() {
            let field = at(&format!(".columns[{c}].field"));
            if !is_sql_identifier(&column.field) {
                return Err(ManifestError::invalid(
                    &field,
                    format!(
                        "`{}` is not allowed: a column name is a letter or '_' followed by letters, digits or '_' (at most 64)",
                        column.field
                    ),
                ));
            }
            let lower = column.field.to_ascii_lowercase();
            if EXPLODE_RESERVED_COLUMNS.contains(&lower.as_str()) {
                return Err(ManifestError::invalid(
                    &field,
                    format!("`{}` is a column kanade adds itself", column.field),
                ));
            }
            if names.contains(&lower) {
                return Err(ManifestError::invalid(
                    &field,
                    format!("`{}` is listed twice", column.field),
                ));
            }
            names.push(lower);
        }
        if spec.primary_key.is_empty() {
            return Err(ManifestError::invalid(
                &at(".primary_key"),
                "name at least one column that identifies an item",
            ));
        }
        for (k, key) in spec.primary_key.iter().enumerate() {
            if !spec.columns.iter().any(|c| &c.field == key) {
                return Err(ManifestError::invalid(
                    &at(&format!(".primary_key[{k}]")),
                    format!("`{key}` is not one of the spec's columns"),
                ));
            }
        }
    }
    for (i, field) in inventory.history_scalars.iter().enumerate() {
        if field.trim().is_empty() {
            return Err(ManifestError::invalid(
                &format!("inventory.history_scalars[{i}]"),
                "must not be empty",
            ));
        }
    }
    Ok(())
}

fn validate_check(check: &CheckHint) -> Result<(), ManifestError> {
    if !is_valid_id(&check.name) {
        return Err(ManifestError::invalid(
            "check.name",
            "must be 1-64 characters of letters, digits, '-', '_' or '.'",
        ));
    }
    for (field, value) in [
        ("check.status_field", &check.status_field),
        ("check.detail_field", &check.detail_field),
    ] {
        if value.trim().is_empty() {
            return Err(ManifestError::invalid(field, "must not be empty"));
        }
    }
    let Some(alert) = &check.alert else {
        return Ok(());
    };
    for (i, status) in alert.on.iter().enumerate() {
        if *status == CheckStatus::Ok {
            return Err(ManifestError::invalid(
                &format!("check.alert.on[{i}]"),
                "`ok` cannot alert; list warn, fail or unknown",
            ));
        }
    }
    if alert.priority == Some(Priority::Unknown) {
        return Err(ManifestError::invalid(
            "check.alert.priority",
            "must be info, warn or emergency",
        ));
    }
    for (i, group) in alert.notify_groups.iter().enumerate() {
        if !crate::subject::is_valid_token(group) {
            return Err(ManifestError::invalid(
                &format!("check.alert.notify_groups[{i}]"),
                format!("`{group}` is not a valid group name"),
            ));
        }
    }
    if !alert.notify_user && alert.notify_groups.is_empty() {
        return Err(ManifestError::invalid(
            "check.alert",
            "set notify_user: true or list notify_groups, or the alert reaches nobody",
        ));
    }
    if alert.title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        return Err(ManifestError::invalid(
            "check.alert.title",
            "must not be empty",
        ));
    }
    Ok(())
}

pub use crate::ids::is_valid_id;

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Raw::deserialize(deserializer)? {
        Raw::Text(s) => s,
        Raw::Int(n) => n.to_string(),
        Raw::Float(f) => f.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
id: disk-usage
version: 3
description: how full are the disks
execute:
  shell: sh
  script: df -h
  timeout: 30s
tags: [storage]
";

    fn check(text: &str) -> String {
        match Manifest::parse(text) {
            Ok(m) => format!(
                "ok {} v{} {}s",
                m.id,
                m.version,
                m.execute.timeout.as_secs()
            ),
            Err(err) => format!("{} | {err}", err.field().unwrap_or("-")),
        }
    }

    #[test]
    fn accepts_a_plain_job() {
        assert_eq!(check(GOOD), "ok disk-usage v3 30s");
    }

    #[test]
    fn display_types_are_the_originals() {
        let with = |kind: &str| {
            format!(
                "id: inv\nversion: 1\nexecute: {{shell: sh, script: x, timeout: 30s}}\n\
                 inventory:\n  display:\n    - {{field: mem, label: Memory, type: bytes}}\n    \
                 - {{field: disks, type: table, columns: [{{field: size, type: {kind}}}]}}\n"
            )
        };
        for known in DISPLAY_TYPES {
            Manifest::parse(&with(known)).unwrap();
        }
        let err = Manifest::parse(&with("gigabytes")).unwrap_err().to_string();
        assert!(
            err.contains("inventory.display[1].columns[0].type"),
            "{err}"
        );
        assert!(
            err.contains(
                "`gigabytes` is not a display type; known types: number, bytes, timestamp, table"
            ),
            "{err}"
        );
    }

    #[test]
    fn json_and_yaml_give_the_same_manifest() {
        let yaml = Manifest::parse(GOOD).unwrap();
        let json = serde_json::to_string(&yaml).unwrap();
        assert_eq!(Manifest::parse(&json).unwrap(), yaml);
    }

    #[test]
    fn refusals_name_the_field() {
        let cases = [
            (
                GOOD.replace("  timeout: 30s\n", ""),
                "execute | execute: missing field `timeout`",
            ),
            (
                GOOD.replace("shell: sh", "shell: sh\n  colour: red"),
                "execute.colour | execute.colour: unknown field `colour`, expected one of",
            ),
            (
                GOOD.replace("shell: sh", "shell: fish"),
                "execute.shell | execute.shell: unknown variant `fish`",
            ),
            (
                GOOD.replace("id: disk-usage", "id: disk usage"),
                "id | id: must be 1-64",
            ),
            (
                GOOD.replace("30s", "0s"),
                "execute.timeout | execute.timeout: must be between 1s and 7days",
            ),
            (
                GOOD.replace("30s", "soon"),
                "execute.timeout | execute.timeout: `soon` is not a duration",
            ),
            (
                GOOD.replace("script: df -h", "script: ''"),
                "execute.script | execute.script: is required",
            ),
            ("id: [unclosed".to_owned(), "- | invalid YAML"),
            ("- a list".to_owned(), "- | the document must be a mapping"),
        ];
        for (text, want) in cases {
            let got = check(&text);
            assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
        }
    }

    const EXPLODE: &str = "
id: pkgs
version: 1
execute: {shell: sh, script: x, timeout: 5s}
inventory:
  explode:
    - field: packages
      table: inv_packages
      primary_key: [name]
      columns: [{field: name, index: true}, {field: size, type: integer}]
";

    #[test]
    fn explode_specs_accept_good_names_and_default_to_text() {
        let m = Manifest::parse(EXPLODE).unwrap();
        let spec = &m.inventory.unwrap().explode[0];
        assert_eq!(spec.columns[0].kind, ColumnType::Text);
        assert!(spec.columns[0].index);
    }

    #[test]
    fn explode_tables_may_be_named_as_the_original_allows() {
        for name in ["inv_apps", "inventory_sw_apps", "sw_apps", "Apps2"] {
            assert!(is_explode_table(name), "{name}");
        }
    }

    #[test]
    fn hostile_or_clashing_explode_names_are_refused_by_field() {
        let cases = [
            (
                "table: inv_packages",
                "table: 'x; DROP TABLE users'",
                "inventory.explode[0].table",
            ),
            (
                "table: inv_packages",
                "table: users",
                "inventory.explode[0].table",
            ),
            (
                "table: inv_packages",
                "table: inventory_facts",
                "inventory.explode[0].table",
            ),
            (
                "table: inv_packages",
                "table: 'inv_\"q\"'",
                "inventory.explode[0].table",
            ),
            (
                "table: inv_packages",
                "table: inv_",
                "inventory.explode[0].table",
            ),
            (
                "table: inv_packages",
                "table: sqlite_master",
                "inventory.explode[0].table",
            ),
            (
                "table: inv_packages",
                "table: Execution_Results",
                "inventory.explode[0].table",
            ),
            (
                // Its index `idx_results_exec` would be kanade's own.
                "table: inv_packages",
                "table: results",
                "inventory.explode[0].table",
            ),
            (
                "{field: name, index: true}",
                "{field: 'na\"me'}",
                "inventory.explode[0].columns[0].field",
            ),
            (
                "{field: name, index: true}",
                "{field: pc_id}",
                "inventory.explode[0].columns[0].field",
            ),
            (
                "{field: size, type: integer}",
                "{field: NAME}",
                "inventory.explode[0].columns[1].field",
            ),
            (
                "primary_key: [name]",
                "primary_key: [nope]",
                "inventory.explode[0].primary_key[0]",
            ),
            (
                "primary_key: [name]",
                "primary_key: []",
                "inventory.explode[0].primary_key",
            ),
        ];
        for (from, to, field) in cases {
            let err = Manifest::parse(&EXPLODE.replace(from, to)).unwrap_err();
            assert_eq!(err.field(), Some(field), "{to}: {err}");
            assert!(matches!(err, ManifestError::Invalid { .. }), "{to}: {err}");
        }
        let bad_type =
            Manifest::parse(&EXPLODE.replace("type: integer", "type: blob")).unwrap_err();
        assert_eq!(
            bad_type.field(),
            Some("inventory.explode[0].columns[1].type")
        );
    }

    #[test]
    fn alerts_need_an_audience_and_cannot_fire_on_ok() {
        let base = "id: c\nversion: 1\nexecute: {shell: sh, script: x, timeout: 5s}\ncheck:\n  name: disk\n";
        let ok = Manifest::parse(&format!("{base}  alert: {{notify_user: true}}\n")).unwrap();
        let alert = ok.check.unwrap().alert.unwrap();
        assert_eq!(alert.alert_on(), [CheckStatus::Fail]);
        let cases = [
            (
                "  alert: {on: [ok], notify_user: true}\n",
                "check.alert.on[0]",
            ),
            ("  alert: {on: [warn]}\n", "check.alert"),
            (
                "  alert: {notify_groups: [a.b]}\n",
                "check.alert.notify_groups[0]",
            ),
            (
                "  alert: {notify_user: true, priority: loud}\n",
                "check.alert.priority",
            ),
        ];
        for (alert, field) in cases {
            let err = Manifest::parse(&format!("{base}{alert}")).unwrap_err();
            assert_eq!(err.field(), Some(field), "{alert}: {err}");
        }
    }

    #[test]
    fn ids_are_url_and_kv_safe() {
        assert!(is_valid_id("inv.hw-2_x"));
        for bad in ["", "-x", "a/b", "a b", &"a".repeat(65)] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }
}
