//! Arguments of `kanade shell <pc>` (an interactive remote terminal on one machine) and of
//! `kanade shell sessions|transcript` (the audited past sessions).

use clap::{Args, Subcommand};

use super::ids;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct ShellArgs {
    /// The machine (its agent id).
    #[arg(value_parser = ids::MACHINE, required = true)]
    pub pc: Option<String>,
    #[command(subcommand)]
    pub command: Option<ShellCommand>,
}

#[derive(Debug, Subcommand)]
pub enum ShellCommand {
    /// Past terminal sessions, newest first: who, where, when, how long, why they ended.
    Sessions {
        /// Only this machine's sessions.
        #[arg(long, value_parser = ids::MACHINE)]
        pc: Option<String>,
    },
    /// The transcript of session <ID>: output, and input line by line.
    Transcript {
        /// The session id (`kanade shell sessions` lists them).
        id: String,
    },
}
