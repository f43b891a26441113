//! Arguments of `kanade settings` (the server settings admins edit) and `kanade machine meta`.

use clap::Subcommand;

#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Every setting with its stored value and the value in force.
    List,
    /// One setting's stored and effective value.
    Get {
        /// The setting, e.g. session_ttl_hours.
        key: String,
    },
    /// Set a setting (admin); `unset` (or `null`) goes back to the backend's own value.
    Set {
        /// The setting, e.g. session_ttl_hours.
        key: String,
        /// A whole number in the setting's range, or `unset`.
        value: String,
    },
}

/// `kanade machine meta <pc> [--set k=v]... [--unset k]...`.
#[derive(Debug, clap::Args)]
pub struct MetaArgs {
    /// The machine id.
    #[arg(value_parser = super::ids::MACHINE)]
    pub pc: String,
    /// Set an attribute (operator), e.g. --set owner=alice --set location="room 4".
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Remove an attribute (operator).
    #[arg(long = "unset", value_name = "KEY")]
    pub unset: Vec<String>,
}
