//! Where the agent's log file goes. `[log] path` means the same for the agent and the backend:
//! a **folder** (relative paths are taken from the data folder, `[agent] data_dir`) holding one
//! file a day, `kanade-agent.<YYYY-MM-DD>.log`, the newest `keep_days` kept; `keep_days = 0`
//! or no path writes no file. A path ending in `.log` that is not a folder is refused.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tracing_appender::rolling::{RollingFileAppender, Rotation};

use crate::config::LogSection;

/// The folder `[log] path` names (the rule is `kanade_protocol::logs::folder`).
pub fn log_folder(path: &Path, data_dir: &Path) -> anyhow::Result<PathBuf> {
    kanade_protocol::logs::folder(path, data_dir, "agent").map_err(anyhow::Error::msg)
}

/// The daily file appender in the `[log] path` folder, or None when no file is wanted.
pub fn file_appender(
    log: &LogSection,
    data_dir: &Path,
) -> anyhow::Result<Option<RollingFileAppender>> {
    let Some(path) = log.path.as_deref().filter(|_| log.keep_days > 0) else {
        return Ok(None);
    };
    let dir = log_folder(path, data_dir)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("creating log folder {}", dir.display()))?;
    let appender = RollingFileAppender::builder()
        .rotation(Rotation::DAILY)
        .filename_prefix(kanade_protocol::logs::file_prefix("agent"))
        .filename_suffix("log")
        .max_log_files(log.keep_days as usize)
        .build(&dir)
        .with_context(|| format!("opening a log file in {}", dir.display()))?;
    Ok(Some(appender))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn section(path: Option<&str>, keep_days: u32) -> LogSection {
        LogSection {
            path: path.map(PathBuf::from),
            keep_days,
            ..LogSection::default()
        }
    }

    #[test]
    fn log_path_is_a_folder_relative_to_the_data_folder_with_one_file_a_day() {
        let data = tempfile::tempdir().unwrap();
        let mut appender = file_appender(&section(Some("logs"), 3), data.path())
            .unwrap()
            .unwrap();
        writeln!(appender, "hello").unwrap();
        appender.flush().unwrap();
        let names: Vec<String> = std::fs::read_dir(data.path().join("logs"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let today = chrono::Utc::now().format("%Y-%m-%d");
        assert_eq!(names, [format!("kanade-agent.{today}.log")]);
    }

    #[test]
    fn absolute_folders_are_kept_and_file_names_refused() {
        let data = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        assert_eq!(
            log_folder(elsewhere.path(), data.path()).unwrap(),
            elsewhere.path()
        );
        let err = log_folder(Path::new("/var/log/kanade/agent.log"), data.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("names a folder") && err.contains("/var/log/kanade"),
            "{err}"
        );
        assert!(
            file_appender(&section(Some("logs"), 0), data.path())
                .unwrap()
                .is_none()
        );
        assert!(
            file_appender(&section(None, 14), data.path())
                .unwrap()
                .is_none()
        );
    }
}
