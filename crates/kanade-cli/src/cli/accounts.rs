//! Arguments of the sign-in, account, MFA and audit commands.

use clap::{Args, Subcommand, ValueEnum};
use kanade_protocol::api::Role;

use super::ids;

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Account name; asked for when not given and stdin is a terminal.
    #[arg(long)]
    #[arg(value_parser = ids::USERNAME)]
    pub username: Option<String>,
    /// Read the password from the first line of stdin (for automation) instead of asking.
    #[arg(long)]
    pub password_stdin: bool,
    /// The current code of your authenticator app, when the account uses one; asked for when
    /// the backend wants one and stdin is a terminal.
    #[arg(long, value_name = "CODE")]
    pub totp: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AccountCommand {
    /// Every account: role, disabled, must change password, MFA, email.
    List,
    /// Create an account; it must change its password at first sign-in.
    Create {
        /// Account name: 1-64 letters, digits, '.', '-', '_' or '@'.
        #[arg(value_parser = ids::USERNAME)]
        username: String,
        #[arg(long, value_enum)]
        role: RoleArg,
        #[arg(long)]
        email: Option<String>,
        /// Read the initial password from the first line of stdin instead of asking twice.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change an account: role, disabled, email, or a new password it must change at sign-in.
    #[command(group(clap::ArgGroup::new("change").required(true).multiple(true)
        .args(["role", "disable", "enable", "email", "reset_password"])))]
    Set {
        /// Account name.
        #[arg(value_parser = ids::USERNAME)]
        username: String,
        #[arg(long, value_enum)]
        role: Option<RoleArg>,
        /// Refuse the account's sign-ins and tokens from now on.
        #[arg(long, conflicts_with = "enable")]
        disable: bool,
        /// Let the account sign in again.
        #[arg(long)]
        enable: bool,
        /// New email address; an empty value clears it.
        #[arg(long)]
        email: Option<String>,
        /// Set a new password (asked twice, or --password-stdin); the account must change it
        /// at its next sign-in.
        #[arg(long)]
        reset_password: bool,
        /// With --reset-password: read the new password from the first line of stdin.
        #[arg(long, requires = "reset_password")]
        password_stdin: bool,
    },
    /// Delete an account.
    Delete {
        /// Account name.
        #[arg(value_parser = ids::USERNAME)]
        username: String,
    },
    /// Change your own password: the current one, then the new one twice.
    Passwd {
        /// Read the current password, then the new one, from the first two lines of stdin.
        #[arg(long)]
        password_stdin: bool,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RoleArg {
    /// Reads everything.
    Viewer,
    /// Also creates/deletes jobs, execs, kills.
    Operator,
    /// Also manages accounts.
    Admin,
}

impl From<RoleArg> for Role {
    fn from(arg: RoleArg) -> Role {
        match arg {
            RoleArg::Viewer => Role::Viewer,
            RoleArg::Operator => Role::Operator,
            RoleArg::Admin => Role::Admin,
        }
    }
}

#[derive(Debug, Args)]
pub struct AuditArgs {
    /// Only this actor's actions (an account name, or e.g. cli:alice for break-glass runs).
    #[arg(long)]
    pub actor: Option<String>,
    /// Only this action (run, kill, exec, account.create, ...).
    #[arg(long)]
    pub action: Option<String>,
    /// From this time: RFC 3339 (2026-01-31T18:00:00Z) or a duration meaning that long ago (24h).
    #[arg(long)]
    pub since: Option<String>,
    /// Up to this time, written like --since.
    #[arg(long)]
    pub until: Option<String>,
    /// At most this many entries (the backend caps it).
    #[arg(long)]
    pub limit: Option<u32>,
    /// Skip this many of the newest entries first.
    #[arg(long)]
    pub offset: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum MfaCommand {
    /// Enrol an authenticator app: shows the secret and otpauth URL, then asks for a code (or
    /// reads it from the first line of stdin when stdin is not a terminal).
    Enable,
    /// Stop asking for authenticator codes at sign-in.
    Disable {
        /// The current code; asked for (or read from stdin) when not given.
        #[arg(long)]
        code: Option<String>,
    },
    /// New one-time recovery codes (each signs in once in place of an authenticator code);
    /// the old ones stop working.
    RecoveryCodes {
        /// The current authenticator code; asked for (or read from stdin) when not given.
        #[arg(long)]
        code: Option<String>,
    },
}
