//! Arguments of the commands about who the broker lets in: `kanade enroll token …` and
//! `kanade machines …` (also spelled `kanade machine …`).

use clap::{Args, Subcommand};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::enrollment::MAX_TOKEN_USES;

use super::ids;

#[derive(Debug, Subcommand)]
pub enum EnrollCommand {
    /// Enrollment tokens: machines presenting one are let in at once (admin).
    #[command(subcommand)]
    Token(TokenCommand),
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Make a token; its text is printed this once and never kept.
    Create {
        /// The group every machine enrolled with it joins.
        #[arg(long, value_parser = ids::GROUP)]
        group: Option<String>,
        /// How long it enrolls machines.
        #[arg(long, default_value = "24h")]
        expires: HumanDuration,
        /// How many machines it may enroll.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=MAX_TOKEN_USES as i64))]
        uses: u32,
    },
    /// Every token with its uses left and expiry (never a secret).
    List,
    /// Stop a token enrolling machines (those it enrolled stay).
    Delete {
        /// The token id (`kanade enroll token list`).
        #[arg(value_parser = ids::ENROLLMENT_TOKEN)]
        id: String,
    },
}

/// `kanade machines [--status S]`, or one of its subcommands.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MachinesArgs {
    /// Only machines in this state.
    #[arg(long, value_parser = ["pending", "approved", "rejected", "revoked"])]
    pub status: Option<String>,
    #[command(subcommand)]
    pub command: Option<MachinesCommand>,
}

#[derive(Debug, Subcommand)]
pub enum MachinesCommand {
    /// Machines waiting for an admin: seen without a valid token, or with a new key.
    Pending,
    /// Let a machine in (a pending new key becomes its key) (admin).
    Approve(DecisionArgs),
    /// Keep a pending machine out, or drop its pending new key (admin).
    Reject(DecisionArgs),
    /// Cut an approved machine off: its connections close and reconnects are refused (admin).
    Revoke(DecisionArgs),
    /// A machine's operator attributes (owner, location, notes...): show, or --set/--unset.
    Meta(super::MetaArgs),
}

#[derive(Debug, Args)]
pub struct DecisionArgs {
    /// The machine id.
    #[arg(value_parser = ids::MACHINE)]
    pub pc: String,
    /// Why, kept on the record and in the audit log.
    #[arg(long)]
    pub reason: Option<String>,
}
