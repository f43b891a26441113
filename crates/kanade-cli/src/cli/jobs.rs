//! Arguments of the commands about jobs, running them and schedules: `kanade job`, `kanade
//! exec` and `kanade schedule`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use kanade_protocol::duration::HumanDuration;

use super::ids;

#[derive(Debug, Subcommand)]
pub enum JobCommand {
    /// Register jobs from YAML (or JSON) manifests: files, folders (every .yaml/.yml inside)
    /// and files of several `---` documents. Everything is checked first and registered all or
    /// nothing; `execute.script_file` is inlined.
    Create {
        /// Manifest files and folders.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Check manifests as the server would, without a backend: one line per document, exit 2
    /// when any is bad (a CI gate).
    Validate {
        /// Manifest files and folders.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Write a job's manifest as it was registered: to stdout, `--out FILE`, or every job to
    /// `--all DIR` as `<id>.yaml`. Existing files are kept unless `--force`.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
    Export {
        #[arg(value_parser = ids::JOB)]
        id: Option<String>,
        /// Every job, one `<id>.yaml` each, into this folder.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["id", "out"])]
        all: Option<PathBuf>,
        /// The file to write instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// List registered jobs.
    List,
    /// Show a job's manifest as it was written.
    Get {
        #[arg(value_parser = ids::JOB)]
        id: String,
    },
    /// Delete a job.
    Delete {
        #[arg(value_parser = ids::JOB)]
        id: String,
    },
    /// Whether agents refuse the job (revoked) and which version is pinned.
    Status {
        #[arg(value_parser = ids::JOB)]
        id: String,
    },
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true).args(["pcs", "groups", "all", "wave"])))]
pub struct ExecArgs {
    /// Job id.
    #[arg(value_parser = ids::JOB)]
    pub job: String,
    /// Machines, comma separated.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub pcs: Vec<String>,
    /// Groups, comma separated.
    #[arg(long, value_delimiter = ',', num_args = 1..)]
    pub groups: Vec<String>,
    /// Every machine.
    #[arg(long, conflicts_with_all = ["pcs", "groups"])]
    pub all: bool,
    /// Waves instead of a target: group:delay pairs, comma separated (e.g. canary:0,lab:10m,prod:1h);
    /// each group gets the command once its delay since the start has passed.
    #[arg(long, value_delimiter = ',', num_args = 1.., conflicts_with_all = ["pcs", "groups", "all"])]
    pub wave: Vec<String>,
    /// With --wave: halt before a later wave when more than this percentage of the results so far failed.
    #[arg(long, requires = "wave", value_name = "PCT")]
    pub halt_on_failure_pct: Option<f64>,
    /// Each machine waits a random time up to this before starting (e.g. 30s).
    #[arg(long)]
    pub jitter: Option<HumanDuration>,
    /// Machines that cannot start before this are skipped: an RFC 3339 time or a duration from
    /// now (e.g. 10m).
    #[arg(long)]
    pub deadline: Option<String>,
    /// Wait for the results, showing progress, then print a summary.
    #[arg(long)]
    pub wait: bool,
    /// Like --wait, printing the machines' output live as it comes (`pc: ` before each line
    /// when several machines run it).
    #[arg(long)]
    pub follow: bool,
    /// How long `--wait` waits at most.
    #[arg(long, default_value = "10m", requires = "wait")]
    pub wait_timeout: HumanDuration,
    /// With --wait on named machines or groups: once every online machine answered, wait this
    /// much longer for the offline ones, then stop and list who never answered.
    #[arg(long, default_value = "5s", requires = "wait")]
    pub grace: HumanDuration,
    /// Send even to machines never seen and groups without members (refused otherwise).
    #[arg(long)]
    pub allow_unknown: bool,
}

#[derive(Debug, Subcommand)]
pub enum ScheduleCommand {
    /// Register schedules from YAML (or JSON) files, folders (every .yaml/.yml inside) and
    /// files of several `---` documents; the same id replaces. Everything is checked first and
    /// registered all or nothing.
    Create {
        /// Schedule files and folders.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
    },
    /// Check schedules as the server would: one line per document, exit 2 when any is bad. A
    /// job that is neither in `--jobs` nor registered is a warning when the backend answers,
    /// and not checked otherwise.
    Validate {
        /// Schedule files and folders.
        #[arg(required = true, value_name = "FILE|DIR")]
        paths: Vec<PathBuf>,
        /// Job manifests (files or folders) registered along with these schedules: their ids
        /// count as known jobs (they are checked too).
        #[arg(long, value_name = "FILE|DIR")]
        jobs: Vec<PathBuf>,
        /// Do not ask the backend which jobs are registered.
        #[arg(long)]
        offline: bool,
    },
    /// Write a schedule as it was registered: to stdout, `--out FILE`, or every schedule to
    /// `--all DIR` as `<id>.yaml`. Existing files are kept unless `--force`.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
    Export {
        #[arg(value_parser = ids::SCHEDULE)]
        id: Option<String>,
        /// Every schedule, one `<id>.yaml` each, into this folder.
        #[arg(long, value_name = "DIR", conflicts_with_all = ["id", "out"])]
        all: Option<PathBuf>,
        /// The file to write instead of stdout.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Every schedule with its next fire time.
    List,
    /// Show a schedule as it was written.
    Get {
        #[arg(value_parser = ids::SCHEDULE)]
        id: String,
    },
    /// Delete a schedule.
    Delete {
        #[arg(value_parser = ids::SCHEDULE)]
        id: String,
    },
    /// Switch a schedule on.
    Enable {
        #[arg(value_parser = ids::SCHEDULE)]
        id: String,
    },
    /// Switch a schedule off (it stays registered).
    Disable {
        #[arg(value_parser = ids::SCHEDULE)]
        id: String,
    },
    /// The next fire times across all schedules.
    Upcoming {
        /// How many.
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}
