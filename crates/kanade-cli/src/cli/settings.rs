//! Arguments of `kanade settings`: the server settings admins edit.

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
