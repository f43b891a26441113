//! The database holds password hashes and TOTP secrets: its folder is 0700 and the database,
//! `-wal` and `-shm` are 0600 after start, and an older install's loose modes are tightened.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::support::TestBackend;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn sidecar(db: &Path, suffix: &str) -> std::path::PathBuf {
    let mut name = db.as_os_str().to_os_string();
    name.push(suffix);
    name.into()
}

fn assert_private(db: &Path) {
    let folder = db.parent().unwrap();
    assert_eq!(mode(folder), 0o700, "{}", folder.display());
    for file in [db.to_path_buf(), sidecar(db, "-wal"), sidecar(db, "-shm")] {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[tokio::test]
async fn database_folder_and_files_are_owner_only_and_loose_ones_are_tightened() {
    let mut b = TestBackend::start_with(|c| {
        c.db.sqlite_path = c.db.sqlite_path.parent().unwrap().join("data/backend.db");
    })
    .await;
    let db = b.db_path();
    assert_private(&db);

    b.kill().await;
    let loosen = |path: &Path, mode: u32| {
        if path.exists() {
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
        }
    };
    loosen(db.parent().unwrap(), 0o755);
    for file in [db.clone(), sidecar(&db, "-wal"), sidecar(&db, "-shm")] {
        loosen(&file, 0o644);
    }
    b.boot().await;
    assert_private(&db);
}
