//! Arguments of the commands that reach into one machine: `tail` (live output of a running
//! execution), `logs` (the agent's own log lines) and `results output` (a run's whole output).

use clap::{Args, Subcommand};

use super::ids;

#[derive(Debug, Args)]
pub struct TailArgs {
    /// The execution (`kanade exec` prints it).
    #[arg(value_parser = ids::EXECUTION)]
    pub exec_id: String,
    /// Only this machine's output; ends when its run is finished.
    #[arg(long, value_parser = ids::MACHINE)]
    pub pc: Option<String>,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// The machine (its agent id).
    #[arg(value_parser = ids::MACHINE)]
    pub pc: String,
    /// Only lines since then: a duration meaning that long ago (1h) or an RFC 3339 time.
    #[arg(long)]
    pub since: Option<String>,
    /// Only lines containing this text (plain, case-sensitive).
    #[arg(long, value_name = "TEXT")]
    pub grep: Option<String>,
    /// The newest this many lines (default 200, at most 100000).
    #[arg(long, value_name = "N")]
    pub lines: Option<u32>,
}

#[derive(Debug, Subcommand)]
pub enum ResultsCommand {
    /// The whole stdout (or stderr) of one run, also when it was spilled beyond 256 KiB;
    /// bytes as the script wrote them, for `> file`.
    Output {
        #[arg(value_parser = ids::RESULT)]
        result_id: String,
        /// stderr instead of stdout.
        #[arg(long)]
        stderr: bool,
    },
}
