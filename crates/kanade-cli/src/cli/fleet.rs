//! Arguments of the commands about machines and desired state: agents, rollouts, ping,
//! groups, config, freeze, command keys, timeline and perf.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};
use kanade_protocol::duration::HumanDuration;

use super::ids;

/// `kanade agents`. `--version` here filters; the CLI's own version is `kanade --version`.
#[derive(Debug, Args)]
#[command(disable_version_flag = true)]
pub struct AgentsArgs {
    /// Only machines whose id or host name contains this (case-insensitive).
    #[arg(long, value_name = "TEXT")]
    pub q: Option<String>,
    /// Only machines that sent a heartbeat recently.
    #[arg(long, conflicts_with = "offline")]
    pub online: bool,
    /// Only machines that did not.
    #[arg(long)]
    pub offline: bool,
    /// Only members of this group.
    #[arg(long)]
    #[arg(value_parser = ids::GROUP)]
    pub group: Option<String>,
    /// Only this OS family (windows, linux, macos).
    #[arg(long)]
    pub os: Option<String>,
    /// Only machines running this agent version.
    #[arg(long)]
    pub version: Option<String>,
    /// Sort by pc_id (default), hostname, os_family, os_version, agent_version,
    /// last_heartbeat, first_seen, agent_cpu_pct or agent_rss_bytes.
    #[arg(long, value_name = "COLUMN")]
    pub sort: Option<String>,
    /// Sort in descending order.
    #[arg(long)]
    pub desc: bool,
    /// At most this many machines (the backend's default is 50, its cap 1000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Skip this many machines first.
    #[arg(long)]
    pub offset: Option<u64>,
}

impl AgentsArgs {
    /// `--online` / `--offline` as the API's `online` filter.
    pub fn online_filter(&self) -> Option<bool> {
        match (self.online, self.offline) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// A machine's facts, groups, and its effective config with where each value comes from.
    Show {
        /// The machine (its agent id).
        #[arg(value_parser = ids::MACHINE)]
        pc: String,
    },
    /// Agent versions across the fleet: machines and how many are online.
    Versions,
    /// Upload an agent binary (admin); prints its key and SHA-256.
    #[command(disable_version_flag = true)]
    Publish {
        /// The agent binary.
        binary: PathBuf,
        /// Its version (letters, digits, '.', '-', '_').
        #[arg(long)]
        version: String,
        /// Its platform, e.g. linux-x86_64 or windows-x86_64 (default: the backend's own).
        #[arg(long)]
        platform: Option<String>,
    },
    /// Published agent binaries.
    Releases,
    /// Make a scope's machines update to a published version (sets `target_version`, and
    /// `target_version_jitter` with --jitter), or with --clear stop pinning one.
    Rollout(RolloutArgs),
    /// Print one command that installs the agent on a new Linux machine (admin): it downloads
    /// a published release from the backend, checks its SHA-256, writes agent.toml with the
    /// broker URL, its CA and a fresh single-use enrollment token, and starts the service.
    InstallCommand(InstallCommandArgs),
}

#[derive(Debug, Args)]
pub struct InstallCommandArgs {
    /// The group the new machine joins.
    #[arg(long, value_parser = ids::GROUP)]
    pub group: Option<String>,
    /// How long the command's token stays usable (at most 7d).
    #[arg(long, default_value = "1h")]
    pub expires: HumanDuration,
    /// The release to install (`kanade agent releases`); default the newest Linux one.
    #[arg(long)]
    pub release: Option<String>,
    /// The broker URL as the new machine reaches it (default: the backend's own).
    #[arg(long)]
    pub broker_url: Option<String>,
    /// The backend URL as the new machine reaches it (default: the one this command talks to).
    #[arg(long)]
    pub backend_url: Option<String>,
    /// Print the script the command runs instead of the command.
    #[arg(long)]
    pub script: bool,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("scope").required(true).args(["global", "group", "pc"])))]
pub struct RolloutArgs {
    /// The version to run, as published with `kanade agent publish`.
    #[arg(
        value_name = "VERSION",
        required_unless_present = "clear",
        conflicts_with = "clear"
    )]
    pub target_version: Option<String>,
    /// Every machine (scope `global`).
    #[arg(long)]
    pub global: bool,
    /// The machines of this group (scope `groups.<G>`).
    #[arg(long, value_name = "G")]
    #[arg(value_parser = ids::GROUP)]
    pub group: Option<String>,
    /// One machine (scope `pcs.<P>`).
    #[arg(long, value_name = "P")]
    #[arg(value_parser = ids::MACHINE)]
    pub pc: Option<String>,
    /// Each machine waits a random time up to this before updating (e.g. 10m); without it
    /// the scope's jitter stays as it is.
    #[arg(long, conflicts_with = "clear")]
    pub jitter: Option<HumanDuration>,
    /// Unset the scope's target_version and target_version_jitter instead.
    #[arg(long)]
    pub clear: bool,
}

impl RolloutArgs {
    /// The config scope the flags name: `global`, `groups.<g>` or `pcs.<pc>`.
    pub fn scope(&self) -> String {
        match (&self.group, &self.pc) {
            (Some(group), _) => kanade_protocol::config::group_key(group),
            (_, Some(pc)) => kanade_protocol::config::pc_key(pc),
            _ => kanade_protocol::config::GLOBAL_KEY.to_owned(),
        }
    }
}

#[derive(Debug, Args)]
pub struct PingArgs {
    /// The machine (its agent id).
    #[arg(value_parser = ids::MACHINE)]
    pub pc: String,
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Every group with its number of machines.
    List,
    /// A machine's groups, one per line.
    Get {
        /// The machine (its agent id).
        #[arg(value_parser = ids::MACHINE)]
        pc: String,
    },
    /// Replace a machine's groups.
    Set {
        /// The machine (its agent id).
        #[arg(value_parser = ids::MACHINE)]
        pc: String,
        /// The groups, comma separated (g1,g2); "" for none.
        groups: String,
        /// Give groups to a machine the backend never saw (no heartbeat, not enrolled), so it
        /// has them when it enrolls; refused otherwise.
        #[arg(long)]
        allow_unknown: bool,
    },
    /// Put a machine in a group.
    Add {
        /// The machine (its agent id).
        #[arg(value_parser = ids::MACHINE)]
        pc: String,
        #[arg(value_parser = ids::GROUP)]
        group: String,
        /// Put a machine the backend never saw (no heartbeat, not enrolled) in the group, so it
        /// is in it when it enrolls; refused otherwise.
        #[arg(long)]
        allow_unknown: bool,
    },
    /// Take a machine out of a group.
    Remove {
        /// The machine (its agent id).
        #[arg(value_parser = ids::MACHINE)]
        pc: String,
        #[arg(value_parser = ids::GROUP)]
        group: String,
    },
    /// Define (or replace) a group whose members are the machines matching a SQL condition
    /// over the inventory, re-evaluated by the backend (admin).
    Derive {
        #[arg(value_parser = ids::GROUP)]
        group: String,
        /// The condition (body of a WHERE; `machine.pc_id` names the machine), e.g.
        /// "EXISTS (SELECT 1 FROM inv_apps a WHERE a.pc_id = machine.pc_id AND a.name = 'Firefox')".
        #[arg(long = "where", value_name = "CONDITION")]
        condition: String,
    },
    /// Every derived group with its condition and current members.
    Derived,
    /// Delete a derived group; its members leave it (admin).
    Underive {
        #[arg(value_parser = ids::GROUP)]
        group: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The values a scope sets: global, groups.<g> or pcs.<pc>.
    Get {
        /// global, groups.<g> or pcs.<pc>.
        scope: String,
    },
    /// Set values in a scope. Each is checked against the field's type before anything is
    /// sent: durations (30s, 5m), whole numbers, true/false, RFC 3339 times, versions.
    Set {
        /// global, groups.<g> or pcs.<pc>.
        scope: String,
        /// e.g. heartbeat_interval=30s max_local_concurrent=2.
        #[arg(required = true, num_args = 1.., value_name = "KEY=VALUE")]
        values: Vec<String>,
    },
    /// Unset values in a scope, so lower scopes (or the defaults) apply again.
    Unset {
        /// global, groups.<g> or pcs.<pc>.
        scope: String,
        /// Field names.
        #[arg(required = true, num_args = 1.., value_name = "KEY")]
        keys: Vec<String>,
    },
    /// What a machine runs with: every field, its value and the scope it comes from.
    Effective {
        /// The machine (its agent id).
        #[arg(value_parser = ids::MACHINE)]
        pc: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum FreezeCommand {
    /// Freeze the fleet, now or from --from, until --until / for --for (or until `freeze off`).
    On {
        /// When it ends: an RFC 3339 time or a duration from now (e.g. 2026-02-01T08:00:00Z, 12h).
        #[arg(long, conflicts_with = "for_")]
        until: Option<String>,
        /// How long it lasts, counted from --from (or now), e.g. 2h.
        #[arg(long = "for", value_name = "DURATION")]
        for_: Option<HumanDuration>,
        /// When it starts, written like --until (default: now).
        #[arg(long)]
        from: Option<String>,
        /// Why, shown to everyone who looks.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Lift the freeze.
    Off,
    /// Whether the fleet is frozen, since when, until when, by whom and why.
    Status,
}

#[derive(Debug, Subcommand)]
pub enum KeysCommand {
    /// Every trusted key, and which one the backend signs with.
    List,
    /// Sign with a new key from now on; the old one stays trusted until retired (admin).
    Rotate,
    /// Stop trusting a key: agents refuse its signatures (admin).
    Retire {
        /// The key id (`kanade keys list`).
        key_id: String,
    },
    /// Make a break-glass key here, keep its seed in --out (0600) and have agents trust it, so
    /// `kanade run --signing-key` works while the backend is down (admin).
    BreakGlass {
        /// Where to write the seed; must not exist yet.
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}

#[derive(Debug, Args)]
pub struct JobIdArgs {
    /// Job id.
    #[arg(value_parser = ids::JOB)]
    pub job: String,
}

#[derive(Debug, Args)]
pub struct TimelineArgs {
    /// Only this machine.
    #[arg(long)]
    #[arg(value_parser = ids::MACHINE)]
    pub pc: Option<String>,
    /// Only this kind of event (agent_started, boot, self_update, self_update_refused, ...).
    #[arg(long)]
    pub kind: Option<String>,
    /// Only events from this source.
    #[arg(long)]
    pub source: Option<String>,
    /// From this time: RFC 3339 or a duration meaning that long ago (24h).
    #[arg(long)]
    pub since: Option<String>,
    /// Up to this time, written like --since.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many events (the backend's default is 50, its cap 1000).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Skip this many of the newest events first.
    #[arg(long)]
    pub offset: Option<u64>,
}

/// `kanade perf <pc>`, or `kanade perf fleet|top`. (A machine named like a subcommand is
/// reached with `kanade perf -- fleet`.)
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PerfArgs {
    #[command(subcommand)]
    pub command: Option<PerfCommand>,
    /// The machine (its agent id).
    #[arg(required = true)]
    #[arg(value_parser = ids::MACHINE)]
    pub pc: Option<String>,
    #[command(flatten)]
    pub range: PerfRangeArgs,
}

#[derive(Debug, Clone, Args)]
pub struct PerfRangeArgs {
    /// From this time: RFC 3339 or a duration meaning that long ago.
    #[arg(long, default_value = "1h")]
    pub since: String,
    /// Up to this time, written like --since (default: now).
    #[arg(long)]
    pub until: Option<String>,
    /// One averaged row per this much time (the backend widens it to keep about 1000 points).
    #[arg(long, default_value = "5m")]
    pub step: HumanDuration,
}

#[derive(Debug, Subcommand)]
pub enum PerfCommand {
    /// Fleet CPU and memory percentiles now, and the fleet average and maximum over time.
    Fleet {
        #[command(flatten)]
        range: PerfRangeArgs,
    },
    /// Machines ranked by their latest sample of a metric.
    Top {
        #[arg(long, value_enum, default_value_t = MetricArg::Cpu)]
        metric: MetricArg,
        /// How many machines.
        #[arg(long, default_value_t = 10)]
        limit: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricArg {
    /// CPU use, percent.
    Cpu,
    /// Memory use, percent.
    Mem,
    /// Disk reads plus writes, bytes per second.
    Disk,
    /// Network received plus sent, bytes per second.
    Net,
}

impl MetricArg {
    pub fn as_str(self) -> &'static str {
        match self {
            MetricArg::Cpu => "cpu",
            MetricArg::Mem => "mem",
            MetricArg::Disk => "disk",
            MetricArg::Net => "net",
        }
    }
}
