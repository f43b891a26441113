//! Names and limits of every JetStream stream, KV bucket, object store and durable consumer:
//! the single source of truth that `kanade jetstream setup` and backend start-up apply.

use std::time::Duration;

pub const STREAM_EXEC: &str = "EXEC";
pub const STREAM_RESULTS: &str = "RESULTS";
pub const STREAM_EVENTS: &str = "EVENTS";
pub const STREAM_AUDIT: &str = "AUDIT";
pub const STREAM_OBS_EVENTS: &str = "OBS_EVENTS";
pub const STREAM_NOTIFICATIONS: &str = "NOTIFICATIONS";
/// The original kanade's legacy inventory feed (`inventory.<pc>.<hw|sw|net>`).
pub const STREAM_INVENTORY: &str = "INVENTORY";

pub const KV_JOBS: &str = "jobs";
pub const KV_JOBS_YAML: &str = "jobs_yaml";
pub const KV_SCHEDULES: &str = "schedules";
pub const KV_SCHEDULES_YAML: &str = "schedules_yaml";
pub const KV_SCRIPT_CURRENT: &str = "script_current";
pub const KV_SCRIPT_STATUS: &str = "script_status";
pub const KV_AGENT_CONFIG: &str = "agent_config";
pub const KV_AGENT_GROUPS: &str = "agent_groups";
/// The job id of every break-glass `kanade run` command (shown as "run by <user>").
pub const ADHOC_JOB_ID: &str = "_adhoc";
pub const KV_FLEET_CONFIG: &str = "fleet_config";
pub const KV_SCHEDULER_DISPATCH: &str = "scheduler_dispatch";
pub const KV_SCHEDULER_LEASE: &str = "scheduler_lease";
pub const KV_EXEC_ROLLOUTS: &str = "exec_rollouts";
pub const KV_GROUP_CONTACTS: &str = "group_contacts";
pub const KV_COMMAND_KEYS: &str = "command_keys";
pub const KV_AGENT_IDENTITIES: &str = "agent_identities";
pub const KV_ENROLLMENT_TOKENS: &str = "enrollment_tokens";
pub const KV_ACCOUNTS: &str = "accounts";
pub const KV_SESSIONS: &str = "sessions";
pub const KV_SERVER_SETTINGS: &str = "server_settings";
pub const KV_AGENT_META: &str = "agent_meta";
pub const KV_AGENT_GROUPS_DERIVED: &str = "agent_groups_derived";
pub const KV_GROUP_DEFS: &str = "group_defs";
pub const KV_NOTIFICATIONS_READ: &str = "notifications_read";
pub const KV_SAVED_SEARCHES: &str = "saved_searches";

pub const OBJ_AGENT_RELEASES: &str = "agent_releases";
pub const OBJ_RESULT_OUTPUT: &str = "result_output";
/// Collected file bundles, `<pc_id>/<job_id>/<rfc3339>.zip` (see `collect`).
pub const OBJ_COLLECTIONS: &str = "collections";
pub const OBJ_TERMINAL_TRANSCRIPTS: &str = "terminal_transcripts";

pub const CONSUMER_RESULTS: &str = "backend_results_projector";
pub const CONSUMER_EVENTS: &str = "backend_events_projector";
pub const CONSUMER_AUDIT: &str = "backend_audit_projector";
pub const CONSUMER_OBS_EVENTS: &str = "backend_obs_events_projector";
pub const CONSUMER_INVENTORY: &str = "backend_inventory_projector";
pub const CONSUMER_NOTIFICATIONS: &str = "backend_notifications_projector";
pub const CONSUMER_NOTIFICATION_ACKS: &str = "backend_notification_acks_projector";

const MIB: i64 = 1024 * 1024;

/// A stream as kanade wants it. Discard policy is always "old": a full stream drops its
/// oldest messages rather than refusing new ones.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamSpec {
    pub name: &'static str,
    pub subjects: &'static [&'static str],
    pub max_age: Duration,
    pub max_bytes: i64,
    /// `None` keeps every message; `Some(1)` keeps only the newest per subject.
    pub max_msgs_per_subject: Option<i64>,
    pub description: &'static str,
}

pub const STREAMS: &[StreamSpec] = &[
    StreamSpec {
        name: STREAM_EXEC,
        subjects: &["commands.>"],
        max_age: Duration::from_secs(7 * 24 * 3600),
        max_bytes: 64 * MIB,
        max_msgs_per_subject: Some(1),
        description: "newest command per subject, for agents catching up after being offline",
    },
    StreamSpec {
        name: STREAM_RESULTS,
        subjects: &["results.>"],
        max_age: Duration::from_secs(30 * 24 * 3600),
        max_bytes: 2048 * MIB,
        max_msgs_per_subject: None,
        description: "job results from agents",
    },
    StreamSpec {
        name: STREAM_EVENTS,
        subjects: &["events.>"],
        max_age: Duration::from_secs(7 * 24 * 3600),
        max_bytes: 256 * MIB,
        max_msgs_per_subject: None,
        description: "run lifecycle events (started) and notification acks",
    },
    StreamSpec {
        name: STREAM_AUDIT,
        subjects: &["audit.>"],
        max_age: Duration::from_secs(90 * 24 * 3600),
        max_bytes: 512 * MIB,
        max_msgs_per_subject: None,
        description: "operator actions; SQLite keeps the long-term archive",
    },
    StreamSpec {
        name: STREAM_OBS_EVENTS,
        subjects: &["obs.>"],
        max_age: Duration::from_secs(90 * 24 * 3600),
        max_bytes: 512 * MIB,
        max_msgs_per_subject: None,
        description: "per-machine timeline events",
    },
    StreamSpec {
        name: STREAM_NOTIFICATIONS,
        subjects: &["notifications.>"],
        max_age: Duration::from_secs(90 * 24 * 3600),
        max_bytes: 512 * MIB,
        max_msgs_per_subject: None,
        description: "notifications for the people at the machines",
    },
    StreamSpec {
        name: STREAM_INVENTORY,
        subjects: &["inventory.>"],
        max_age: Duration::from_secs(90 * 24 * 3600),
        max_bytes: 1024 * MIB,
        max_msgs_per_subject: None,
        description: "legacy inventory snapshots of the original's older agents (inventory.<pc>.<kind>)",
    },
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BucketSpec {
    pub name: &'static str,
    pub history: i64,
    pub description: &'static str,
}

pub const KV_BUCKETS: &[BucketSpec] = &[
    BucketSpec {
        name: KV_JOBS,
        history: 5,
        description: "job manifests (JSON)",
    },
    BucketSpec {
        name: KV_JOBS_YAML,
        history: 5,
        description: "job manifests as written",
    },
    BucketSpec {
        name: KV_SCHEDULES,
        history: 5,
        description: "schedules (JSON)",
    },
    BucketSpec {
        name: KV_SCHEDULES_YAML,
        history: 5,
        description: "schedules as written",
    },
    BucketSpec {
        name: KV_SCRIPT_CURRENT,
        history: 5,
        description: "job id -> pinned version",
    },
    BucketSpec {
        name: KV_SCRIPT_STATUS,
        history: 5,
        description: "job id -> ACTIVE | REVOKED",
    },
    BucketSpec {
        name: KV_AGENT_CONFIG,
        history: 5,
        description: "layered agent config scopes",
    },
    BucketSpec {
        name: KV_AGENT_GROUPS,
        history: 5,
        description: "pc id -> groups",
    },
    BucketSpec {
        name: KV_FLEET_CONFIG,
        history: 1,
        description: "fleet-wide switches (freeze)",
    },
    BucketSpec {
        name: KV_SCHEDULER_DISPATCH,
        history: 1,
        description: "scheduler dispatch marks: one per fired tick / machine, so nothing fires twice",
    },
    BucketSpec {
        name: KV_SCHEDULER_LEASE,
        history: 1,
        description: "which backend runs the scheduler (a lease renewed by revision)",
    },
    BucketSpec {
        name: KV_EXEC_ROLLOUTS,
        history: 1,
        description: "exec id -> wave rollout in progress (plan and waves published)",
    },
    BucketSpec {
        name: KV_GROUP_CONTACTS,
        history: 5,
        description: "group -> e-mail addresses for compliance alerts",
    },
    BucketSpec {
        name: KV_COMMAND_KEYS,
        history: 1,
        description: "key id -> public key agents accept command signatures from",
    },
    BucketSpec {
        name: KV_AGENT_IDENTITIES,
        history: 5,
        description: "pc id -> machine identity (public nkey, pending/approved/rejected/revoked)",
    },
    BucketSpec {
        name: KV_ENROLLMENT_TOKENS,
        history: 1,
        description: "token id -> enrollment token (secret's SHA-256, group, expiry, uses left)",
    },
    BucketSpec {
        name: KV_ACCOUNTS,
        history: 1,
        description: "operator accounts (hex of the user name -> account with its argon2id hash and TOTP secret)",
    },
    BucketSpec {
        name: KV_SESSIONS,
        history: 1,
        description: "signed-in sessions (<account id>.<session id> -> issued and expiry times)",
    },
    BucketSpec {
        name: KV_SERVER_SETTINGS,
        history: 1,
        description: "the server settings document admins edit (key `settings`)",
    },
    BucketSpec {
        name: KV_AGENT_META,
        history: 5,
        description: "pc id -> operator attributes (owner, location, notes...)",
    },
    BucketSpec {
        name: KV_AGENT_GROUPS_DERIVED,
        history: 1,
        description: "pc id -> groups derived from inventory (written by the backend only)",
    },
    BucketSpec {
        name: KV_GROUP_DEFS,
        history: 5,
        description: "derived group name -> its SQL condition over the inventory",
    },
    BucketSpec {
        name: KV_NOTIFICATIONS_READ,
        history: 1,
        description: "<pc>.<user>.<notification> -> when that person confirmed it (written by agents)",
    },
    BucketSpec {
        name: KV_SAVED_SEARCHES,
        history: 1,
        description: "hex of a user name -> that user's saved inventory searches (some shared)",
    },
];

/// How long entries of a KV bucket live; zero (the default) keeps them until replaced.
pub fn bucket_max_age(bucket: &str) -> Duration {
    match bucket {
        KV_SCHEDULER_DISPATCH => Duration::from_secs(2 * 24 * 3600),
        KV_EXEC_ROLLOUTS => Duration::from_secs(14 * 24 * 3600),
        _ => Duration::ZERO,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ObjectStoreSpec {
    pub name: &'static str,
    pub max_age: Duration,
    pub max_bytes: i64,
    pub description: &'static str,
}

pub const OBJECT_STORES: &[ObjectStoreSpec] = &[
    ObjectStoreSpec {
        name: OBJ_AGENT_RELEASES,
        max_age: Duration::ZERO,
        max_bytes: 4096 * MIB,
        description: "agent binaries by version",
    },
    ObjectStoreSpec {
        name: OBJ_RESULT_OUTPUT,
        max_age: Duration::from_secs(30 * 24 * 3600),
        max_bytes: 4096 * MIB,
        description: "job output above the inline cap, by result id",
    },
    ObjectStoreSpec {
        name: OBJ_COLLECTIONS,
        // The backend applies `collect_retention_days` after this at boot and on save.
        max_age: Duration::from_secs(30 * 24 * 3600),
        max_bytes: 5 * 1024 * MIB,
        description: "collected file bundles, by machine, job and time",
    },
    ObjectStoreSpec {
        name: OBJ_TERMINAL_TRANSCRIPTS,
        // The backend sets its own `[retention] terminal_transcripts` after this at boot.
        max_age: Duration::from_secs(30 * 24 * 3600),
        max_bytes: 4096 * MIB,
        description: "remote terminal transcripts, by session id",
    },
];

/// Key of an account in `accounts`: the user name in lowercase hex (user names may hold `@`,
/// which KV keys may not).
pub fn account_key(username: &str) -> String {
    username.bytes().map(|b| format!("{b:02x}")).collect()
}

/// The user name behind an `accounts` key; `None` when the key is not one [`account_key`] made.
pub fn username_of_key(key: &str) -> Option<String> {
    if !key.len().is_multiple_of(2) {
        return None;
    }
    let bytes = (0..key.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(key.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    String::from_utf8(bytes).ok()
}

/// Key of a session in `sessions`: `<account id>.<session id>`.
pub fn session_key(account_id: &str, jti: &str) -> String {
    format!("{account_id}.{jti}")
}

/// Key of an agent release in `agent_releases`: `<version>-<platform>`.
pub fn release_key(version: &str, platform: &str) -> String {
    format!("{version}-{platform}")
}

/// The platform string of the machine this code was built for.
pub fn platform() -> String {
    format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
}

/// Key of `notifications_read`: `<pc_id>.<user>.<notification_id>`, the user made one token
/// as in its ack subject (every character outside letters, digits, '-' and '_' becomes '_'), so
/// a machine's keys always have its id's labels plus exactly two.
pub fn notification_read_key(pc_id: &str, user: &str, notification_id: &str) -> String {
    let user = crate::subject::user_token(user);
    format!("{pc_id}.{user}.{notification_id}")
}

/// Every `notifications_read` key of machine `pc_id` (the grant's wildcard).
pub fn notification_read_filter(pc_id: &str) -> String {
    format!("{pc_id}.*.*")
}

/// Key under which an oversized stdout/stderr of a result is stored in `result_output`.
pub fn output_object_key(result_id: &str, stream: &str) -> String {
    format!("{result_id}/{stream}")
}

/// Reserved exit codes of results the agent did not produce by running a script (the
/// original kanade's numbers). Consumers count a result by its `skipped` flag, never by the
/// code alone: scripts can exit with the same numbers. The README's "Reserved exit codes"
/// table lists them with how each is counted. 121 is reserved and unused: older kanade agents
/// sent it for an unsupported `run_as` (now [`exit_code::UNSUPPORTED`], the original's 122),
/// and it is never given another meaning.
pub mod exit_code {
    /// The command needs a part of the original's command format this agent does not carry
    /// out (`script_object`, `check`, `collect` or `finalize` in the command): it is not run
    /// rather than run without it. Skipped. (Ours; the original has no code for it.)
    pub const NOT_BUILT: i32 = 119;
    /// `run_as: user` or `system_gui` while no user is logged on (no active local session in
    /// logind): the run cannot happen now. Skipped. (Ours; the original has no code for it.)
    pub const NO_USER: i32 = 120;
    /// Unsupported on this OS or by this agent: the command asks for something the agent does
    /// not implement here (a `run_as` of `user` or `system_gui` on a system other than Linux),
    /// so it is not run rather than run differently. Skipped. (Agents before this release used 122 for "the fleet is
    /// frozen"; the freeze no longer stops commands on the agent.)
    pub const UNSUPPORTED: i32 = 122;
    /// The command's signature is missing, made by an unknown key, does not match, names
    /// another subject, or is too old (mode `enforce`).
    pub const SIGNATURE_REFUSED: i32 = 123;
    /// `script_current` pins another version than the command carries.
    pub const VERSION_MISMATCH: i32 = 124;
    /// The command's `deadline_at` passed before it could start.
    pub const DEADLINE_PASSED: i32 = 125;
    /// The job is revoked in `script_status`.
    pub const REVOKED: i32 = 126;
    /// The agent's view of desired state is too old to trust.
    pub const STALE: i32 = 127;
    /// Killed, timed out, or reaped by the backend.
    pub const KILLED: i32 = -1;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_keys_round_trip_every_user_name() {
        for name in ["admin", "a.b@example.com", ".x-_", "Ünï"] {
            let key = account_key(name);
            assert!(key.bytes().all(|b| b.is_ascii_hexdigit()), "{key}");
            assert_eq!(username_of_key(&key).as_deref(), Some(name));
        }
        assert_eq!(username_of_key("abc"), None);
        assert_eq!(username_of_key("zz"), None);
    }

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[test]
    fn every_stream_has_an_age_and_byte_cap_and_unique_subjects() {
        let mut seen = std::collections::HashSet::new();
        for s in STREAMS {
            assert!(s.max_age >= DAY, "{}", s.name);
            assert!(s.max_bytes > 0, "{}", s.name);
            for subject in s.subjects {
                assert!(seen.insert(*subject), "{subject} captured twice");
            }
        }
        let exec = STREAMS.iter().find(|s| s.name == STREAM_EXEC).unwrap();
        assert_eq!(exec.max_msgs_per_subject, Some(1));
    }

    #[test]
    fn reserved_exit_codes_are_distinct() {
        use exit_code::*;
        let codes = [
            UNSUPPORTED,
            SIGNATURE_REFUSED,
            VERSION_MISMATCH,
            DEADLINE_PASSED,
            REVOKED,
            STALE,
            KILLED,
        ];
        let unique: std::collections::HashSet<i32> = codes.into_iter().collect();
        assert_eq!(unique.len(), codes.len());
        assert_eq!(
            (UNSUPPORTED, SIGNATURE_REFUSED, VERSION_MISMATCH, STALE),
            (122, 123, 124, 127)
        );
    }
}
