//! Owner-only modes for what holds secrets (password hashes, TOTP secrets, the JWT key): the
//! data folder 0700, the database and its `-wal`/`-shm` 0600. Created that way, and tightened
//! at start when an older install left them readable by others, each change logged. A shared
//! folder (sticky bit, like `/tmp`) is never changed, only warned about. No-ops off Unix.

use std::io;
use std::path::Path;

pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `dir` (and missing parents) as 0700, or tightens an existing `dir` to 0700.
pub fn ensure_dir(dir: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !dir.exists() {
            return std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(dir);
        }
        let mode = std::fs::metadata(dir)?.permissions().mode();
        if mode & 0o1000 != 0 || dir.parent().is_none() {
            if mode & 0o077 != 0 {
                tracing::warn!(folder = %dir.display(), mode = format!("{:o}", mode & 0o7777),
                    "the data folder is shared; keep the database in a folder of its own");
            }
            return Ok(());
        }
        if mode & 0o077 != 0 {
            std::fs::set_permissions(dir, std::fs::Permissions::from_mode(DIR_MODE))?;
            tracing::warn!(folder = %dir.display(), from = format!("{:o}", mode & 0o777),
                to = "700", "tightened the data folder's mode");
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(dir)?;
    Ok(())
}

/// Creates `path` empty as 0600 when missing, so a library that creates it later (SQLite)
/// finds it private; tightens an existing file to 0600.
pub fn ensure_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        if !path.exists() {
            std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .mode(FILE_MODE)
                .open(path)?;
        }
    }
    tighten_file(path)
}

/// Tightens `path` to 0600 when it exists and others can read or write it.
pub fn tighten_file(path: &Path) -> io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = match std::fs::metadata(path) {
            Ok(meta) => meta.permissions().mode(),
            Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(err) => return Err(err),
        };
        if mode & 0o077 != 0 {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(FILE_MODE))?;
            tracing::warn!(file = %path.display(), from = format!("{:o}", mode & 0o777),
                to = "600", "tightened a private file's mode");
        }
    }
    let _ = path;
    Ok(())
}

/// The database file and its SQLite sidecars.
pub fn database_files(db: &Path) -> [std::path::PathBuf; 3] {
    let with = |suffix: &str| {
        let mut name = db.as_os_str().to_os_string();
        name.push(suffix);
        std::path::PathBuf::from(name)
    };
    [db.to_path_buf(), with("-wal"), with("-shm")]
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn a_sticky_shared_folder_is_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        ensure_dir(dir.path()).unwrap();
        assert_eq!(mode(dir.path()), 0o1777);
    }

    #[test]
    fn loose_folders_and_files_are_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
        let file = data.join("f");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        ensure_dir(&data).unwrap();
        ensure_file(&file).unwrap();
        assert_eq!((mode(&data), mode(&file)), (0o700, 0o600));
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "x", "content kept");
    }
}
