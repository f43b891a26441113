//! The command tree (clap derive): global options and every subcommand's arguments. Parsing
//! only; what each command does lives in `commands/`.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::manifest::Shell;

mod accounts;
mod collect;
mod enroll;
mod fleet;
mod ids;
mod jobs;
mod reach;
mod settings;
mod shell;

pub use accounts::*;
pub use collect::*;
pub use enroll::*;
pub use fleet::*;
pub use jobs::*;
pub use reach::*;
pub use settings::*;
pub use shell::*;

pub const DEFAULT_BACKEND_URL: &str = "http://127.0.0.1:8080";
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

#[derive(Debug, Parser)]
#[command(
    name = "kanade",
    version,
    about = "Operate a kanade fleet: machines, machine access, groups, config, jobs, executions, results, agent releases, accounts, audit, break-glass runs",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

/// Options every command takes, listed once under their own heading (after the command's own).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options (any command)")]
pub struct Global {
    /// Backend base URL.
    #[arg(long, global = true, env = "KANADE_BACKEND_URL", default_value = DEFAULT_BACKEND_URL)]
    pub backend_url: String,
    /// The CA certificate to trust (and nothing else) for an https:// backend with a private CA.
    #[arg(long, global = true, env = "KANADE_BACKEND_CA", value_name = "FILE")]
    pub backend_ca: Option<PathBuf>,
    /// NATS URL for the commands that talk to the broker directly (run, kill, jetstream).
    #[arg(long, global = true, env = "KANADE_NATS_URL", default_value = DEFAULT_NATS_URL)]
    pub nats_url: String,
    /// The broker's CA certificate to pin (TLS only, no other CA trusted) for those commands.
    #[arg(long, global = true, env = "KANADE_NATS_CA", value_name = "FILE")]
    pub nats_ca: Option<PathBuf>,
    /// Machine-readable JSON output instead of tables.
    #[arg(long, global = true)]
    pub json: bool,
    /// Folder of the stored sign-in (session.json); default: <config dir>/kanade.
    #[arg(long, global = true, env = "KANADE_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Register, list, show and delete job manifests.
    #[command(subcommand)]
    Job(JobCommand),
    /// Run a registered job on machines, a group or the whole fleet.
    Exec(ExecArgs),
    /// Executions, newest first.
    Executions(ExecutionsArgs),
    /// One execution: its counters, then one row per machine.
    Execution(ExecutionArgs),
    /// Per-machine results of an execution.
    Results(ResultsArgs),
    /// Output of one result.
    Result(ResultArgs),
    /// The live output of a running execution, line by line, until it is finished.
    Tail(TailArgs),
    /// The agent's own log lines, fetched from the machine (operator or admin).
    Logs(LogsArgs),
    /// File bundles that jobs with a `collect` hint uploaded: list, download, delete.
    #[command(subcommand)]
    Collect(CollectCommand),
    /// An interactive shell on one machine (admin only; audited, its transcript kept).
    Shell(ShellArgs),
    /// Requests of jobs with `require_approval: true` (awaiting ones by default).
    Approvals(ApprovalsArgs),
    /// Approve another operator's request: its commands are sent now.
    Approve(DecideArgs),
    /// Reject a request (yours or another's): nothing is ever sent.
    Reject(DecideArgs),
    /// Break-glass: run a script on one machine straight over NATS (works without the backend).
    Run(RunArgs),
    /// Break-glass: tell every machine running an execution to kill it, straight over NATS.
    Kill(KillArgs),
    /// Register, list, show, delete, enable and disable schedules; upcoming fire times.
    #[command(subcommand)]
    Schedule(ScheduleCommand),
    /// Create or inspect the broker's streams, KV buckets and object stores.
    #[command(subcommand)]
    Jetstream(JetstreamCommand),
    /// Sign in to the backend; the session is kept for the next commands.
    Login(LoginArgs),
    /// Sign out: revoke the stored session at the backend and delete it.
    Logout,
    /// Who the backend takes you for, and where the token came from.
    Whoami,
    /// Accounts (admin only), and `passwd` to change your own password.
    #[command(subcommand)]
    Account(AccountCommand),
    /// Operator actions the backend recorded, newest first.
    Audit(AuditArgs),
    /// Sign-in with an authenticator app (TOTP) for your account.
    #[command(subcommand)]
    Mfa(MfaCommand),
    /// What jobs with an `inventory:` hint collected, and searching their explode tables.
    #[command(subcommand)]
    Inventory(InventoryCommand),
    /// Compliance checks: every check across the fleet, or one check per machine.
    Compliance(ComplianceArgs),
    /// The fleet: one row per machine with its version, liveness and the agent's own load.
    Agents(AgentsArgs),
    /// One machine in detail (show), agent versions, and agent releases: publish, releases,
    /// rollout, install-command.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Ask a machine to answer now, through the backend (it waits up to 5 s).
    Ping(PingArgs),
    /// Which groups machines are in: list, get, set, add, remove; groups derived from the
    /// inventory: derive, derived, underive.
    #[command(subcommand)]
    Group(GroupCommand),
    /// Layered agent config (global, groups.<g>, pcs.<pc>) and what a machine runs with.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// The fleet freeze: schedules do not fire, rollout waves wait; manual exec/run still go out.
    #[command(subcommand)]
    Freeze(FreezeCommand),
    /// The keys agents accept command signatures from: list, rotate, retire, break-glass.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Revoke a job: agents refuse it, including commands replayed after an outage.
    Revoke(JobIdArgs),
    /// Let agents run a revoked job again.
    Unrevoke(JobIdArgs),
    /// The machines' timeline events (agent starts, boots, self-updates, ...), newest first.
    Timeline(TimelineArgs),
    /// Host performance of a machine over time, of the whole fleet, or the busiest machines.
    Perf(PerfArgs),
    /// Enrollment tokens that let new machines onto the broker: `token create|list|delete`.
    #[command(subcommand)]
    Enroll(EnrollCommand),
    /// Machines that asked to join the broker, and approve, reject or revoke one.
    #[command(visible_alias = "machine")]
    Machines(MachinesArgs),
    /// Server settings (session lifetime, output retention, pruning): list, get, set (admin).
    #[command(subcommand)]
    Settings(SettingsCommand),
}

#[derive(Debug, Subcommand)]
pub enum InventoryCommand {
    /// One job's inventory: a row per machine, or one machine's facts with --pc.
    Show {
        /// Job id.
        #[arg(value_parser = ids::JOB)]
        job: String,
        /// Only this machine, shown field by field.
        #[arg(long)]
        #[arg(value_parser = ids::MACHINE)]
        pc: Option<String>,
        /// At most this many machines.
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Rows of an explode table matching every `column__op=value` (ops: eq, ne, contains,
    /// startswith, gt, gte, lt, lte, in with a comma list; `column=value` means eq).
    Search {
        /// The explode table (e.g. inv_packages).
        table: String,
        /// Conditions, e.g. name__startswith=openssl version__ne=3.0.11.
        filters: Vec<String>,
        /// At most this many rows.
        #[arg(long)]
        limit: Option<u32>,
    },
}

#[derive(Debug, Args)]
pub struct ComplianceArgs {
    /// A check name: show its status on every machine.
    #[arg(value_parser = ids::CHECK)]
    pub check: Option<String>,
    /// With a check: only machines in this status (ok, warn, fail, unknown).
    #[arg(long, requires = "check")]
    pub status: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecutionsArgs {
    /// Only this job's executions.
    #[arg(long, value_parser = ids::JOB)]
    pub job: Option<String>,
    /// Only executions in this status.
    #[arg(long, value_parser = ["pending", "running", "completed", "expired", "unconfirmed", "awaiting_approval", "rejected"])]
    pub status: Option<String>,
    /// Started since: RFC 3339 (2026-01-31T18:00:00Z) or a duration meaning that long ago (24h).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many (the backend caps it).
    #[arg(long, default_value_t = 50)]
    pub limit: u32,
    /// Skip this many of the newest first.
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
}

#[derive(Debug, Args)]
pub struct ApprovalsArgs {
    /// `awaiting` (default), `approved`, `rejected`, `expired` or `all`.
    #[arg(long)]
    pub state: Option<String>,
    /// At most this many, newest first (default 100).
    #[arg(long)]
    pub limit: Option<u32>,
}

#[derive(Debug, Args)]
pub struct DecideArgs {
    /// The execution id `kanade exec` printed (or `kanade approvals` lists).
    #[arg(value_parser = ids::EXECUTION)]
    pub exec_id: String,
    /// Why; kept in the audit log.
    #[arg(long)]
    pub reason: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExecutionArgs {
    #[arg(value_parser = ids::EXECUTION)]
    pub exec_id: String,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ResultsArgs {
    #[command(subcommand)]
    pub command: Option<ResultsCommand>,
    #[arg(value_parser = ids::EXECUTION, required = true)]
    pub exec_id: Option<String>,
    /// Print the output of this machine's result instead of the table.
    #[arg(long)]
    #[arg(value_parser = ids::MACHINE)]
    pub pc: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResultArgs {
    #[arg(value_parser = ids::RESULT)]
    pub result_id: String,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The machine (its agent id).
    #[arg(value_parser = ids::MACHINE)]
    pub pc: String,
    #[arg(long, value_enum, default_value_t = ShellArg::Sh)]
    pub shell: ShellArg,
    /// The script's timeout; the CLI waits a little longer for the result.
    #[arg(long, default_value = "60s")]
    pub timeout: HumanDuration,
    /// Sign with this break-glass seed (`kanade keys break-glass`) instead of asking the
    /// backend to sign.
    #[arg(long, env = "KANADE_SIGNING_KEY", value_name = "FILE")]
    pub signing_key: Option<PathBuf>,
    /// Send even when the backend says it never saw this machine (by default that is refused
    /// at once instead of waiting for an answer that cannot come).
    #[arg(long)]
    pub allow_unknown: bool,
    /// The script, after `--`: one word is the script itself (`-- 'echo a; exit 3'`); several
    /// are a command and its arguments, quoted for the shell (`-- sh -c 'echo hi; exit 7'`).
    #[arg(last = true, required = true, num_args = 1..)]
    pub script: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// The execution id (`kanade exec` prints it; `kanade run` records it in the audit log,
    /// `kanade audit --action run`).
    #[arg(value_parser = ids::EXECUTION)]
    pub exec_id: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ShellArg {
    Sh,
    Bash,
    Pwsh,
    Powershell,
    Cmd,
}

impl From<ShellArg> for Shell {
    fn from(arg: ShellArg) -> Shell {
        match arg {
            ShellArg::Sh => Shell::Sh,
            ShellArg::Bash => Shell::Bash,
            ShellArg::Pwsh => Shell::Pwsh,
            ShellArg::Powershell => Shell::Powershell,
            ShellArg::Cmd => Shell::Cmd,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum JetstreamCommand {
    /// Create or update every stream, KV bucket and object store kanade uses (idempotent).
    /// Signed in, through the backend (admin); otherwise directly over NATS.
    Setup {
        /// Copies of each (1, or 3 / 5 on a JetStream cluster): migrates existing ones. Without
        /// it each keeps what it has.
        #[arg(long)]
        replicas: Option<usize>,
    },
    /// Messages, bytes, consumers and copies (leader, followers' lag) of kanade's streams,
    /// buckets and object stores. Signed in, through the backend; otherwise over NATS.
    Status,
}

#[cfg(test)]
mod tests {
    use kanade_protocol::api::Role;

    use super::*;

    fn parse(line: &str) -> Result<Cli, String> {
        let args = std::iter::once("kanade").chain(line.split_whitespace());
        Cli::try_parse_from(args).map_err(|err| err.to_string())
    }

    #[test]
    fn exec_takes_comma_separated_targets() {
        let cli = parse("exec hello --pcs a,b --groups lab --jitter 30s --wait").unwrap();
        let Command::Exec(args) = cli.command else {
            panic!("not exec: {:?}", cli.command)
        };
        assert_eq!(args.pcs, ["a", "b"]);
        assert_eq!(args.groups, ["lab"]);
        assert_eq!(args.jitter.map(|d| d.as_secs()), Some(30));
        assert_eq!(args.wait_timeout.as_secs(), 600);
    }

    #[test]
    fn exec_refusals_name_the_problem() {
        let cases = [
            (
                "exec hello",
                "the following required arguments were not provided",
            ),
            ("exec hello --all --pcs a", "cannot be used with"),
            ("exec hello --all --jitter soon", "`soon` is not a duration"),
            ("exec hello --all --wait-timeout 5m", "--wait"),
        ];
        for (line, want) in cases {
            let err = parse(line).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn run_takes_the_script_after_the_separator() {
        let cli = parse("run pc1 --shell bash --timeout 5s -- echo hi").unwrap();
        let Command::Run(args) = cli.command else {
            panic!("not run")
        };
        assert_eq!(args.pc, "pc1");
        assert_eq!(Shell::from(args.shell), Shell::Bash);
        assert_eq!(args.timeout.as_secs(), 5);
        assert_eq!(args.script, ["echo", "hi"]);
        assert!(parse("run pc1").is_err());
        assert!(parse("run pc1 --shell fish -- x").is_err());
    }

    #[test]
    fn account_set_needs_a_change_and_one_of_disable_enable() {
        let cli = parse("account set bob --role operator --disable").unwrap();
        let Command::Account(AccountCommand::Set { role, disable, .. }) = cli.command else {
            panic!("not account set")
        };
        assert_eq!(role.map(Role::from), Some(Role::Operator));
        assert!(disable);
        let cases = [
            ("account set bob", "the following required arguments"),
            ("account set bob --disable --enable", "cannot be used with"),
            ("account set bob --role root", "invalid value 'root'"),
            (
                "account set bob --email a --password-stdin",
                "--reset-password",
            ),
            ("account create bob", "--role"),
        ];
        for (line, want) in cases {
            let err = parse(line).unwrap_err();
            assert!(err.contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn schedule_commands_and_waves_parse() {
        let cli = parse("exec hello --wave canary:0,prod:10m --halt-on-failure-pct 20").unwrap();
        let Command::Exec(args) = cli.command else {
            panic!("not exec")
        };
        assert_eq!(args.wave, ["canary:0", "prod:10m"]);
        assert_eq!(args.halt_on_failure_pct, Some(20.0));
        assert!(
            parse("exec hello --wave a:0 --all")
                .unwrap_err()
                .contains("cannot be used with")
        );
        let cli = parse("schedule upcoming --limit 5").unwrap();
        assert!(matches!(
            cli.command,
            Command::Schedule(ScheduleCommand::Upcoming { limit: 5 })
        ));
        for line in [
            "schedule create s.yaml",
            "schedule list",
            "schedule get s",
            "schedule delete s",
            "schedule enable s",
            "schedule disable s",
        ] {
            assert!(parse(line).is_ok(), "{line}");
        }
    }

    #[test]
    fn the_command_tree_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn agents_filters_parse_and_version_is_a_filter_there() {
        let cli = parse(
            "agents --q web --offline --group lab --os linux --version 0.1.0 --sort last_heartbeat --desc --limit 5 --offset 10",
        )
        .unwrap();
        let Command::Agents(args) = cli.command else {
            panic!("not agents")
        };
        assert_eq!(args.q.as_deref(), Some("web"));
        assert_eq!(args.online_filter(), Some(false));
        assert_eq!(args.version.as_deref(), Some("0.1.0"));
        assert_eq!(args.sort.as_deref(), Some("last_heartbeat"));
        assert!(args.desc);
        assert_eq!((args.limit, args.offset), (Some(5), Some(10)));
        let Command::Agents(args) = parse("agents --online").unwrap().command else {
            panic!("not agents")
        };
        assert_eq!(args.online_filter(), Some(true));
        let Command::Agents(args) = parse("agents").unwrap().command else {
            panic!("not agents")
        };
        assert_eq!(args.online_filter(), None);
        assert!(
            parse("agents --online --offline")
                .unwrap_err()
                .contains("cannot be used with")
        );
        // The CLI's own version is still there at the top.
        assert!(parse("--version").unwrap_err().contains("kanade "));
    }

    #[test]
    fn fleet_commands_parse() {
        let cli =
            parse("agent publish ./kanade-agent --version 1.2.0 --platform linux-x86_64").unwrap();
        let Command::Agent(AgentCommand::Publish {
            binary,
            version,
            platform,
        }) = cli.command
        else {
            panic!("not publish")
        };
        assert_eq!(binary, PathBuf::from("./kanade-agent"));
        assert_eq!(version, "1.2.0");
        assert_eq!(platform.as_deref(), Some("linux-x86_64"));
        assert!(
            parse("agent publish ./a")
                .unwrap_err()
                .contains("--version")
        );
        let cli =
            parse("config set groups.lab heartbeat_interval=30s max_local_concurrent=2").unwrap();
        let Command::Config(ConfigCommand::Set { scope, values }) = cli.command else {
            panic!("not config set")
        };
        assert_eq!(scope, "groups.lab");
        assert_eq!(values, ["heartbeat_interval=30s", "max_local_concurrent=2"]);
        assert!(
            parse("config set global")
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        assert!(parse("config unset global").unwrap_err().contains("KEY"));
        let cli = parse("group set pc1 a,b").unwrap();
        assert!(matches!(
            cli.command,
            Command::Group(GroupCommand::Set { ref pc, ref groups, .. }) if pc == "pc1" && groups == "a,b"
        ));
        for line in [
            "agent show pc1",
            "agent versions",
            "agent releases",
            "ping pc1",
            "group list",
            "group get pc1",
            "group add pc1 lab",
            "group remove pc1 lab",
            "config get global",
            "config unset pcs.a target_version",
            "config effective pc1",
            "revoke hello",
            "unrevoke hello",
            "job status hello",
            "timeline --pc pc1 --kind service --since 24h --limit 5",
            "perf top",
        ] {
            assert!(parse(line).is_ok(), "{line}");
        }
    }

    #[test]
    fn global_options_go_anywhere() {
        let cli = parse("job list --json --backend-url http://b:1").unwrap();
        assert!(cli.global.json);
        assert_eq!(cli.global.backend_url, "http://b:1");
    }
}
