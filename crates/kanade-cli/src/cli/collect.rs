//! Arguments of `kanade collect`: list, download and delete the file bundles jobs with a
//! `collect` hint uploaded.

use std::path::PathBuf;

use clap::Subcommand;

use super::ids;

#[derive(Debug, Subcommand)]
pub enum CollectCommand {
    /// Bundles, newest first (operator or admin).
    List {
        /// Only this machine's bundles.
        #[arg(long, value_parser = ids::MACHINE)]
        pc: Option<String>,
        /// Only this job's bundles.
        #[arg(long, value_parser = ids::JOB)]
        job: Option<String>,
    },
    /// Download one bundle (a zip) to a file, or to stdout with `-o -`.
    Get {
        /// `<pc_id>/<job_id>/<time>.zip`, as `kanade collect list` shows it.
        #[arg(value_parser = ids::BUNDLE)]
        key: String,
        /// Where to write it; default the key's last part in the current folder.
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Delete one bundle (operator or admin; audited).
    Delete {
        #[arg(value_parser = ids::BUNDLE)]
        key: String,
    },
}
