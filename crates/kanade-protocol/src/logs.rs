//! The one rule for `[log] path`, shared by the agent and the backend: it names a **folder**
//! (relative paths are taken from the component's data folder) holding one file a day,
//! `kanade-<component>.<YYYY-MM-DD>.log`. A path that ends in `.log` and is not an existing
//! folder is refused, since it was almost surely meant as a file name.

use std::path::{Path, PathBuf};

/// The prefix of a component's daily log files (`kanade-agent`, `kanade-backend`).
pub fn file_prefix(component: &str) -> String {
    format!("kanade-{component}")
}

/// The folder `[log] path` names: as is when absolute, else inside `data_dir`; an error
/// saying which folder to use when it looks like a file name.
pub fn folder(path: &Path, data_dir: &Path, component: &str) -> Result<PathBuf, String> {
    let folder = match path.is_absolute() {
        true => path.to_path_buf(),
        false => data_dir.join(path),
    };
    let named_a_file = folder.extension().is_some_and(|e| e == "log");
    if named_a_file && !folder.is_dir() {
        return Err(format!(
            "[log] path {} looks like a file; it names a folder (files in it are {}.<date>.log): use {}",
            path.display(),
            file_prefix(component),
            folder.parent().unwrap_or(Path::new(".")).display()
        ));
    }
    Ok(folder)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths_sit_in_the_data_folder_and_file_names_are_refused() {
        let data = Path::new("/var/lib/kanade");
        assert_eq!(
            folder(Path::new("logs"), data, "agent").unwrap(),
            Path::new("/var/lib/kanade/logs")
        );
        assert_eq!(
            folder(Path::new("/var/log/kanade"), data, "agent").unwrap(),
            Path::new("/var/log/kanade")
        );
        let err = folder(
            Path::new("/nonexistent/kanade/backend.log"),
            data,
            "backend",
        )
        .unwrap_err();
        assert!(
            err.contains("kanade-backend.<date>.log") && err.contains("use /nonexistent/kanade"),
            "{err}"
        );
    }
}
