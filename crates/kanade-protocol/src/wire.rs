//! Messages on the broker. JSON on the wire; readers ignore fields they do not know, so agents
//! and backends of neighbouring versions understand each other.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub use crate::manifest::{EmitHint, Priority, RunAs, Shell};

/// Fields of the original's `Command` that [`Command`] does not carry, read by the agent from
/// the same message: a command that needs one this agent does not act on is refused with
/// exit [`crate::names::exit_code::NOT_BUILT`] (never run without it), and
/// `bypass_local_limit` lets a run start without waiting for a `max_local_concurrent` slot.
/// Our backend sends none of them (manifests refuse `script_object`); the signature does not
/// cover them. `collect` and `finalize` are [`Command`] fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct CommandExtras {
    #[serde(default)]
    pub bypass_local_limit: bool,
    #[serde(default)]
    pub script_object: Option<String>,
    #[serde(default)]
    pub script_object_sha256: Option<String>,
    #[serde(default)]
    pub check: Option<serde_json::Value>,
    /// As sent, to tell a `collect`/`finalize` this agent cannot read (refused) from none.
    #[serde(default)]
    pub collect: Option<serde_json::Value>,
    #[serde(default)]
    pub finalize: Option<serde_json::Value>,
}

impl CommandExtras {
    /// Why this agent cannot run the command as asked (`None`: it can).
    pub fn unsupported(&self) -> Option<String> {
        let set = |v: &Option<serde_json::Value>| v.as_ref().is_some_and(|v| !v.is_null());
        let named = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
        let mut parts = Vec::new();
        if named(&self.script_object) || named(&self.script_object_sha256) {
            parts.push("script_object (scripts from the object store)");
        }
        if set(&self.check) {
            parts.push("check (a compliance check evaluated by the agent)");
        }
        let unreadable = |v: &Option<serde_json::Value>, read: fn(serde_json::Value) -> bool| {
            v.as_ref().is_some_and(|v| !v.is_null() && !read(v.clone()))
        };
        if unreadable(&self.collect, |v| {
            serde_json::from_value::<crate::collect::CollectHint>(v).is_ok()
        }) || unreadable(&self.finalize, |v| {
            serde_json::from_value::<crate::collect::FinalizeSpec>(v).is_ok()
        }) {
            parts.push("collect/finalize in a shape it cannot read");
        }
        (!parts.is_empty()).then(|| {
            format!(
                "kanade: this agent does not support {} in a command; not run, rather than run \
                 without it (register the job with an inline script)",
                parts.join(", ")
            )
        })
    }
}

/// Links a result carries beside the fields of [`ExecResult`]: the object-store key of the file
/// bundle its `collect` made, and the result a `finalize` run follows. The agent writes them
/// into the same JSON object; the results projector reads them from it and stores them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ResultLinks {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collect_object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_result_id: Option<String>,
}

/// A request to run one job on every machine listening on the subject it is published to
/// (`commands.all`, `commands.group.<g>`, `commands.pc.<pc_id>`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Command {
    /// Manifest id of the job (`run:<request_id>` for break-glass `kanade run`).
    pub id: String,
    pub version: String,
    /// Unique per publish; agents run a request at most once.
    pub request_id: String,
    /// The execution (fan-out) this command belongs to.
    pub exec_id: String,
    pub shell: Shell,
    pub script: String,
    pub timeout_secs: u64,
    #[serde(default)]
    pub jitter_secs: Option<u64>,
    /// The run must start before this instant, or it is skipped (exit 125).
    #[serde(default)]
    pub deadline_at: Option<DateTime<Utc>>,
    /// Working directory of the script; default the agent's.
    #[serde(default)]
    pub cwd: Option<String>,
    /// Whose account runs the script (the original's `system` | `user` | `system_gui`; absent =
    /// `system`, the agent's own). Agents refuse one they do not implement with a skipped
    /// result (exit 122, unsupported) rather than run it as someone else.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
    #[serde(default)]
    pub emit: Option<EmitHint>,
    /// The job's staleness policy (absent = `cached`): what to do when the pin and
    /// revocation cannot be read live.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staleness: Option<crate::staleness::StalenessPolicy>,
    /// Marks a break-glass command (`kanade run`). Part of the signed bytes; agents treat it
    /// like any other command (the fleet freeze holds only scheduled fires, so no command
    /// needs to get past it).
    #[serde(default)]
    pub emergency: bool,
    pub issued_at: DateTime<Utc>,
    #[serde(default)]
    pub issued_by: Option<String>,
    /// Run again after a failure (non-zero exit; never after a kill, a timeout or a refusal),
    /// waiting `backoff_secs` between attempts; the result reports the last attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Zip the files the run lists on stdout and upload them to `collections` (signed). One
    /// this agent cannot read decodes as `None` and the command is refused by
    /// [`CommandExtras::unsupported`], never run without it.
    #[serde(
        default,
        deserialize_with = "crate::collect::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub collect: Option<crate::collect::CollectHint>,
    /// A step run after a clean exit, reported as `<job>__finalize` (signed).
    #[serde(
        default,
        deserialize_with = "crate::collect::lenient",
        skip_serializing_if = "Option::is_none"
    )]
    pub finalize: Option<crate::collect::FinalizeSpec>,
    /// Who signed it, for which subject, when, and the ed25519 signature over the canonical
    /// bytes (`signing::canonical_bytes`). Absent on unsigned commands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<CommandSignature>,
}

/// The signature fields a command carries (absent on unsigned commands; older agents ignore
/// the field).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandSignature {
    /// Which key of `command_keys` signed.
    pub key_id: String,
    /// The subject the command was published to.
    pub target: String,
    pub signed_at: DateTime<Utc>,
    /// ed25519 signature over `canonical_bytes`, standard base64.
    pub sig: String,
}

/// How often and how patiently an agent re-runs a failed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RetrySpec {
    /// Extra attempts after the first (1 to 10).
    pub max: u32,
    pub backoff_secs: u64,
}

/// The outcome of one command on one machine, published on `results.<request_id>`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecResult {
    /// Minted by the agent, unique per (command, machine); the projection key. Older agents
    /// send none: readers then use `legacy_result_id(request_id, pc_id)`.
    #[serde(default)]
    pub result_id: String,
    pub request_id: String,
    pub exec_id: String,
    pub pc_id: String,
    #[serde(alias = "manifest_id")]
    pub job_id: String,
    #[serde(default)]
    pub version: String,
    pub exit_code: i32,
    #[serde(default)]
    pub stdout: String,
    #[serde(default)]
    pub stderr: String,
    /// Key in `result_output` holding the whole stdout when it exceeded the inline cap.
    #[serde(default)]
    pub stdout_object: Option<String>,
    #[serde(default)]
    pub stderr_object: Option<String>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// True when the agent refused to run (the exit code says why: 122 unsupported here,
    /// 123 signature, 124–127; see `names::exit_code`).
    #[serde(default)]
    pub skipped: bool,
    /// The agent-side schedule (`runs_on: agent`) whose fire this run was; its execution id is
    /// then the agent's own, which the backend learns from the result.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_id: Option<String>,
}

/// How long a run goes on before kanade's agent announces it with an `EventStarted`: a run
/// that ends sooner reports only its result (which carries `started_at`), so a fan-out of
/// short jobs costs the broker and the backend one message per machine instead of two. The
/// original's agent announces every run at once; the backend takes both.
pub const STARTED_EVENT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Published on `events.started.<exec_id>.<pc_id>` once a script has run for
/// `STARTED_EVENT_AFTER` (the original's agent: just before it starts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EventStarted {
    /// Empty from older agents; readers then use `legacy_result_id(request_id, pc_id)`.
    #[serde(default)]
    pub result_id: String,
    /// Empty in the original's oldest shape; the backend then takes the execution's.
    #[serde(default)]
    pub request_id: String,
    pub exec_id: String,
    pub pc_id: String,
    #[serde(alias = "manifest_id")]
    pub job_id: String,
    #[serde(default)]
    pub version: String,
    pub started_at: DateTime<Utc>,
    /// The job's timeout, so the backend knows when to stop waiting for a result.
    #[serde(default)]
    pub timeout_secs: Option<u64>,
}

/// Liveness beacon, `heartbeat.<pc_id>` (core NATS, lossy by design).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Heartbeat {
    pub pc_id: String,
    pub at: DateTime<Utc>,
    pub agent_version: String,
    #[serde(default)]
    pub hostname: String,
    #[serde(default)]
    pub os_family: String,
    #[serde(default)]
    pub os_version: String,
    #[serde(default)]
    pub agent_cpu_pct: Option<f32>,
    #[serde(default)]
    pub agent_rss_bytes: Option<u64>,
    /// The agent process's own cumulative disk reads and writes, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_disk_read_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_disk_written_bytes: Option<u64>,
    /// The account of the machine's active local session, when the agent knows it. `None`
    /// means "not known now": the backend keeps the last one it saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_logon_user: Option<String>,
    /// That account's full name; travels together with `last_logon_user`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_logon_display_name: Option<String>,
    /// Command formats the agent understands (`legacy` = a plain `Command` JSON body).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_protocols: Option<Vec<String>>,
    #[serde(default)]
    pub quarantined_versions: Vec<String>,
    /// Ids of the command signing keys this agent trusts (`command_keys`); `None` from agents
    /// that predate signatures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_keys: Option<Vec<String>>,
    /// True when the agent refuses commands whose signature does not verify (mode `enforce`);
    /// false in mode `report`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enforcing: Option<bool>,
    /// The machine's addresses (interfaces up, without loopback and link-local ones).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip_addresses: Vec<String>,
    /// Seconds since the machine booted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uptime_secs: Option<u64>,
    /// The load average over 1, 5 and 15 minutes (empty where the platform has none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_avg: Vec<f64>,
}

/// Command format names reported in `Heartbeat::command_protocols`.
pub const PROTOCOL_LEGACY: &str = "legacy";

/// A new run's result id, as kanade's agent mints it: a UUIDv7, whose leading bits are the
/// time, so the backend's rows of one fan-out are inserted next to each other at the end of
/// its `result_id` index instead of all over it (a random UUIDv4 dirtied index pages of
/// every earlier run: the third 100,000-machine fan-out of a benchmark cost about a quarter
/// more; BENCHMARKS.md, fan-out). Any unique string works: the backend treats it as opaque.
pub fn new_result_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The result id of a run whose agent minted none (older agents): UUIDv5 in the OID
/// namespace of `kanade-issue-19/legacy-result-id:{request_id}:{pc_id}`, as the original
/// derives it, so the started event and the result of one run meet on the same row.
pub fn legacy_result_id(request_id: &str, pc_id: &str) -> String {
    let name = format!("kanade-issue-19/legacy-result-id:{request_id}:{pc_id}");
    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, name.as_bytes()).to_string()
}

/// Whole-host performance, `host_perf.<pc_id>` (core NATS) every `host_perf_interval`.
/// Rates come from the agent's own deltas between two samples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HostPerf {
    pub pc_id: String,
    pub at: DateTime<Utc>,
    /// Every number may be missing: the first sample has no rates (nothing to diff against
    /// yet) and some platforms lack some counters. Missing is stored as unknown, not zero.
    #[serde(default)]
    pub cpu_pct: Option<f32>,
    #[serde(default)]
    pub cpu_count: Option<u32>,
    #[serde(default)]
    pub mem_used_bytes: Option<u64>,
    #[serde(default)]
    pub mem_total_bytes: Option<u64>,
    #[serde(default)]
    pub swap_used_bytes: Option<u64>,
    #[serde(default)]
    pub swap_total_bytes: Option<u64>,
    #[serde(default)]
    pub disk_read_bytes_per_sec: Option<f64>,
    #[serde(default)]
    pub disk_written_bytes_per_sec: Option<f64>,
    #[serde(default)]
    pub net_rx_bytes_per_sec: Option<f64>,
    #[serde(default)]
    pub net_tx_bytes_per_sec: Option<f64>,
}

/// The busiest processes, `process_perf.<pc_id>`, sent only in investigation mode.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessPerf {
    pub pc_id: String,
    pub at: DateTime<Utc>,
    #[serde(default)]
    pub processes: Vec<ProcessSample>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessSample {
    pub pid: u32,
    pub name: String,
    pub cpu_pct: f32,
    pub rss_bytes: u64,
    /// Unknown (absent, `null`) until the agent has read the process twice.
    #[serde(default)]
    pub disk_read_bytes_per_sec: Option<f64>,
    #[serde(default)]
    pub disk_written_bytes_per_sec: Option<f64>,
}

/// One event on a machine's timeline, `obs.<pc_id>` (stream OBS_EVENTS). Idempotent on
/// `(pc_id, source, event_record_id)`; without a record id every delivery is a new row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObsEvent {
    pub pc_id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub source: String,
    #[serde(default)]
    pub event_record_id: Option<String>,
    #[serde(default)]
    pub payload: serde_json::Value,
}

/// One operator action, published on `audit.<action>` into stream `AUDIT`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    pub actor: String,
    pub action: String,
    #[serde(default)]
    pub target: Option<String>,
    #[serde(default)]
    pub payload: serde_json::Value,
    pub occurred_at: DateTime<Utc>,
    #[serde(default)]
    pub client_addr: Option<String>,
}

/// The payload of the `exec` audit event: enough to rebuild the `executions` row when the
/// read model is replayed from the streams.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ExecutionRecord {
    pub exec_id: String,
    pub job_id: String,
    pub version: String,
    pub request_id: String,
    pub initiated_by: String,
    pub initiated_at: DateTime<Utc>,
    pub target_count: i64,
    #[serde(default)]
    pub subjects: Vec<String>,
    #[serde(default)]
    pub deadline_at: Option<DateTime<Utc>>,
}

/// Key of the fleet freeze in KV `fleet_config`; absent means not frozen.
pub const FREEZE_KEY: &str = "freeze";

/// A fleet-wide change freeze: while active the scheduler fires no schedule and sends no wave
/// of a rollout (they wait for the thaw). Manual runs still go out and agents run every
/// command they get; nothing in flight or already queued is touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Freeze {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    pub set_at: DateTime<Utc>,
}

impl Freeze {
    /// Active from `from` (or always) until `until` (or forever).
    pub fn active(&self, now: DateTime<Utc>) -> bool {
        self.from.is_none_or(|from| from <= now) && self.until.is_none_or(|until| now < until)
    }
}

/// A message for the people at the machines, published on `notifications.all`,
/// `notifications.group.<g>` or `notifications.pc.<pc_id>` (stream NOTIFICATIONS). The same
/// notification (same `id`) is published once per subject of its target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Notification {
    /// Letters, digits, '-' and '_' (it is a subject token in acks).
    pub id: String,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub require_ack: bool,
    pub title: String,
    #[serde(default)]
    pub body: String,
    pub issued_at: DateTime<Utc>,
    /// The operator, or `compliance:<check>` for an alert.
    #[serde(default)]
    pub issued_by: Option<String>,
    /// Clients stop showing it after this.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    /// Who it was sent to, as asked.
    #[serde(default)]
    pub target: crate::api::Target,
    /// Ask the client app to show it as a toast too (the original's `toast`; a compliance
    /// alert sets it from `check.alert.toast`).
    #[serde(default)]
    pub toast: bool,
}

/// A person confirmed a notification, published on
/// `events.notifications.acked.<pc_id>.<user>.<notification_id>` (stream EVENTS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationAck {
    pub notification_id: String,
    pub pc_id: String,
    /// The account at the machine that confirmed (as the OS names it).
    pub user: String,
    pub acked_at: DateTime<Utc>,
}

/// Value of `notifications_read[<pc>.<user>.<notification>]`: that person at that machine
/// confirmed the notification (the agent writes it with the ack, and reads it back when it
/// lists notifications, so the confirmation outlives the machine's local inbox).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationRead {
    pub acked_at: DateTime<Utc>,
    pub acked_by: String,
}

/// Value of `group_contacts[group]`: who is e-mailed about the group's compliance alerts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct GroupContacts {
    #[serde(default)]
    pub emails: Vec<String>,
}

/// Value of `script_status[job_id]`.
pub const SCRIPT_ACTIVE: &str = "ACTIVE";
pub const SCRIPT_REVOKED: &str = "REVOKED";

/// Value of `agent_groups[pc_id]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AgentGroups {
    #[serde(default)]
    pub groups: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_originals_extra_command_fields_are_read_and_refused_by_name() {
        // The original's command with a script from the object store and a check.
        let raw = r#"{"id":"disk","version":"3","request_id":"r1","exec_id":"e1",
            "shell":"powershell","script":"","timeout_secs":60,"bypass_local_limit":true,
            "script_object":"disk/3","script_object_sha256":"ab12",
            "check":{"name":"disk-free"},"collect":null,"issued_at":"2026-01-01T00:00:00Z"}"#;
        let extras: CommandExtras = serde_json::from_str(raw).unwrap();
        assert!(extras.bypass_local_limit);
        let why = extras.unsupported().unwrap();
        assert!(
            why.contains("script_object") && why.contains("check"),
            "{why}"
        );
        assert!(!why.contains("collect"), "a null collect is absent: {why}");
        let plain: CommandExtras = serde_json::from_str(r#"{"id":"x","finalize":null}"#).unwrap();
        assert_eq!(plain.unsupported(), None);
        assert!(!plain.bypass_local_limit);
        // collect/finalize are acted on now (`Command::collect`, `Command::finalize`); only
        // a shape this agent cannot read is refused.
        let readable: CommandExtras = serde_json::from_str(
            r#"{"collect":{"name":"logs"},"finalize":{"shell":"sh","script":"true"}}"#,
        )
        .unwrap();
        assert_eq!(readable.unsupported(), None);
        let odd = r#"{"id":"x","version":"1","request_id":"r","exec_id":"e","shell":"sh",
            "script":"true","timeout_secs":5,"issued_at":"2026-01-01T00:00:00Z",
            "collect":{"paths":["C:/logs"]}}"#;
        let cmd: Command = serde_json::from_str(odd).expect("the command still decodes");
        assert_eq!(cmd.collect, None);
        let extras: CommandExtras = serde_json::from_str(odd).unwrap();
        assert!(extras.unsupported().unwrap().contains("collect/finalize"));
    }

    #[test]
    fn a_freeze_is_active_inside_its_window_only() {
        let now = Utc::now();
        let hour = chrono::Duration::hours(1);
        let open = Freeze {
            from: None,
            until: None,
            reason: None,
            set_by: None,
            set_at: now,
        };
        assert!(open.active(now));
        let later = Freeze {
            from: Some(now + hour),
            ..open.clone()
        };
        assert!(!later.active(now) && later.active(now + hour));
        let over = Freeze {
            until: Some(now - hour),
            ..open
        };
        assert!(!over.active(now));
    }

    #[test]
    fn readers_ignore_unknown_fields_and_accept_the_original_names() {
        let json = r#"{"result_id":"r","request_id":"q","exec_id":"e","pc_id":"p",
            "manifest_id":"j","exit_code":0,"started_at":"2026-01-01T00:00:00Z",
            "finished_at":"2026-01-01T00:00:01Z","field_from_the_future":1}"#;
        let r: ExecResult = serde_json::from_str(json).unwrap();
        assert_eq!(r.job_id, "j");
        assert!(!r.skipped);
        assert_eq!(r.stdout, "");
    }
}
