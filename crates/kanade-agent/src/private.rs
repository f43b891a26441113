//! Owner-only modes for the agent's data folder: the folder itself 0711 (others may reach
//! only the 0666 `agent.sock` the people at the machine use; they cannot list it), every
//! folder below it 0700 and every file 0600: the outbox, spilled output, seen requests,
//! notifications and update state. New files are written 0600 (`outbox::write_atomic`);
//! `prepare` creates the folder and tightens whatever an older install left looser, logging
//! what it changed. No-ops off Unix.

use std::path::Path;

pub const ROOT_MODE: u32 = 0o711;
pub const DIR_MODE: u32 = 0o700;
pub const FILE_MODE: u32 = 0o600;

/// Creates `data_dir` when missing and brings it and everything in it to the modes above.
pub fn prepare(data_dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        if !data_dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(DIR_MODE)
                .create(data_dir)?;
        }
        let mut changed = Tightened::default();
        let mode = std::fs::metadata(data_dir)?.permissions().mode() & 0o7777;
        if mode != ROOT_MODE {
            std::fs::set_permissions(data_dir, std::fs::Permissions::from_mode(ROOT_MODE))?;
            tracing::warn!(folder = %data_dir.display(), from = format!("{mode:o}"),
                to = format!("{ROOT_MODE:o}"), "set the data folder's mode");
        }
        walk(data_dir, &mut changed)?;
        if changed.folders + changed.files > 0 {
            tracing::warn!(folder = %data_dir.display(), folders = changed.folders,
                files = changed.files, "tightened modes readable by others in the data folder");
        }
    }
    #[cfg(not(unix))]
    std::fs::create_dir_all(data_dir)?;
    Ok(())
}

#[derive(Default)]
struct Tightened {
    folders: usize,
    files: usize,
}

#[cfg(unix)]
fn walk(dir: &Path, changed: &mut Tightened) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let path = entry.path();
        // Sockets (agent.sock) and symlinks keep their own modes.
        let wanted = match (kind.is_dir(), kind.is_file()) {
            (true, _) => DIR_MODE,
            (_, true) => FILE_MODE,
            _ => continue,
        };
        let mode = entry.metadata()?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(wanted))?;
            match kind.is_dir() {
                true => changed.folders += 1,
                false => changed.files += 1,
            }
        }
        if kind.is_dir() {
            walk(&path, changed)?;
        }
    }
    Ok(())
}
