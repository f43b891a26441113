//! Logging: stdout plus an optional daily-rotated file without colour codes; `RUST_LOG`
//! overrides the configured level; panics are logged with a backtrace.
//!
//! `[log] path` means the same for the agent and the backend: a **folder** (relative paths
//! are taken from the data folder, here the database's folder) holding one file a day,
//! `kanade-<component>.<YYYY-MM-DD>.log`, the newest `keep_days` kept; `keep_days = 0` or no
//! path writes no file. A path ending in `.log` that is not a folder is refused, so a config
//! written for the older file-name rule fails loudly instead of logging somewhere unexpected.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;

/// Installs the global subscriber. Keep the guard alive for the life of the process: it
/// flushes the file writer on drop.
pub fn init(
    config: &LogConfig,
    data_dir: &Path,
    name: &str,
) -> anyhow::Result<Option<WorkerGuard>> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .with_context(|| format!("invalid log level {:?}", config.level))?;
    let stdout = tracing_subscriber::fmt::layer().with_target(false);
    let (file, guard) = match file_appender(config, data_dir, name)? {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stdout)
        .with(file)
        .try_init()
        .ok();
    install_panic_hook();
    Ok(guard)
}

/// The folder `[log] path` names (the rule is `kanade_protocol::logs::folder`).
pub fn log_folder(path: &Path, data_dir: &Path) -> anyhow::Result<PathBuf> {
    kanade_protocol::logs::folder(path, data_dir, "backend").map_err(anyhow::Error::msg)
}

/// The daily file appender for `component` (`backend`, `agent`) in the `[log] path` folder,
/// or None when no file is wanted (no path, or `keep_days = 0`).
pub fn file_appender(
    config: &LogConfig,
    data_dir: &Path,
    component: &str,
) -> anyhow::Result<Option<RollingFileAppender>> {
    let Some(path) = config.path.as_deref().filter(|_| config.keep_days > 0) else {
        return Ok(None);
    };
    let dir = log_folder(path, data_dir)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating log folder {}", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(kanade_protocol::logs::file_prefix(component))
        .filename_suffix("log")
        .max_log_files(config.keep_days)
        .build(&dir)
        .with_context(|| format!("opening a log file in {}", dir.display()))?;
    Ok(Some(appender))
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        tracing::error!(panic = %info, %backtrace, "panic");
        eprintln!("panic: {info}\n{backtrace}");
    }));
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn config(path: Option<&str>, keep_days: usize) -> LogConfig {
        LogConfig {
            path: path.map(PathBuf::from),
            keep_days,
            ..LogConfig::default()
        }
    }

    #[test]
    fn log_path_is_a_folder_relative_to_the_data_folder_with_one_file_a_day() {
        let data = tempfile::tempdir().unwrap();
        let mut appender = file_appender(&config(Some("logs"), 3), data.path(), "backend")
            .unwrap()
            .unwrap();
        writeln!(appender, "hello").unwrap();
        appender.flush().unwrap();
        let names: Vec<String> = std::fs::read_dir(data.path().join("logs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let today = chrono::Utc::now().format("%Y-%m-%d");
        assert_eq!(names, [format!("kanade-backend.{today}.log")]);
    }

    #[test]
    fn absolute_folders_are_kept_and_file_names_refused() {
        let data = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            log_folder(elsewhere.path(), data.path()).unwrap(),
            elsewhere.path()
        );
        let err = log_folder(Path::new("/var/log/kanade/backend.log"), data.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names a folder") && err.contains("/var/log/kanade"),
            "{err}"
        );
        assert!(
            file_appender(&config(Some("logs"), 0), data.path(), "backend")
                .unwrap()
                .is_none()
        );
        assert!(
            file_appender(&config(None, 14), data.path(), "backend")
                .unwrap()
                .is_none()
        );
    }
}
