//! Arguments of `kanade shell <pc>`: an interactive remote terminal on one machine.

use clap::Args;

use super::ids;

#[derive(Debug, Args)]
pub struct ShellArgs {
    /// The machine (its agent id).
    #[arg(value_parser = ids::MACHINE)]
    pub pc: String,
}
