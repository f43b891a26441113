//! Whole-database copies and the schema version: what an upgrade, a rollback and a backup need
//! to know about the SQLite file without opening the pools.

use std::path::Path;

use anyhow::Context;
use rusqlite::Connection;

/// The schema version this binary needs: the number of migrations it knows. After
/// `migrate_file` the database's `user_version` is exactly this.
pub fn schema_version() -> usize {
    Connection::open_in_memory()
        .ok()
        .and_then(|conn| super::migrations().pending_migrations(&conn).ok())
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or(0)
}

/// Opens an existing file only (never creates one); read-write, because a read-only open of a
/// WAL database fails when its `-shm` file is missing.
fn existing() -> rusqlite::OpenFlags {
    rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
        | rusqlite::OpenFlags::SQLITE_OPEN_URI
        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX
}

/// The schema version the database at `path` was migrated to (`PRAGMA user_version`).
pub fn schema_version_of(path: &Path) -> anyhow::Result<usize> {
    let conn = Connection::open_with_flags(path, existing())
        .with_context(|| format!("opening database {}", path.display()))?;
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .with_context(|| format!("reading the schema version of {}", path.display()))?;
    Ok(usize::try_from(version).unwrap_or(0))
}

/// How many accounts the database at `path` holds.
pub fn account_count(path: &Path) -> anyhow::Result<i64> {
    let conn = Connection::open_with_flags(path, existing())
        .with_context(|| format!("opening database {}", path.display()))?;
    conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
        .with_context(|| format!("counting the accounts in {}", path.display()))
}

/// Writes a consistent copy of the database at `db` (committed WAL content included) to
/// `dest`, 0600, while other connections keep reading and writing: `VACUUM INTO` a temporary
/// file beside `dest`, then rename, so `dest` is either the old copy or the whole new one.
pub fn copy_to(db: &Path, dest: &Path) -> anyhow::Result<()> {
    let mut tmp_name = dest
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    tmp_name.push(".tmp");
    let tmp = dest.with_file_name(tmp_name);
    if tmp.exists() {
        std::fs::remove_file(&tmp).with_context(|| format!("removing {}", tmp.display()))?;
    }
    crate::private::ensure_file(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    // VACUUM INTO wants a missing or empty file; `ensure_file` made it empty and 0600.
    let conn = Connection::open_with_flags(db, existing())
        .with_context(|| format!("opening database {}", db.display()))?;
    conn.busy_timeout(std::time::Duration::from_secs(30))?;
    conn.execute("VACUUM INTO ?1", [tmp.to_string_lossy()])
        .with_context(|| format!("copying {} to {}", db.display(), tmp.display()))?;
    drop(conn);
    std::fs::rename(&tmp, dest).with_context(|| format!("renaming to {}", dest.display()))?;
    Ok(())
}

/// The shipped migrations, plus one more in a `schema-next` build only (a test build, never
/// shipped): the real newer schema that the two-build upgrade and rollback test
/// (tests/it/two_builds.rs, run by scripts/upgrade-check) moves a database to and back from.
pub(super) fn with_schema_next(
    shipped: Vec<rusqlite_migration::M<'static>>,
) -> Vec<rusqlite_migration::M<'static>> {
    #[cfg(feature = "schema-next")]
    let shipped = {
        let mut all = shipped;
        all.push(rusqlite_migration::M::up(include_str!("schema_next.sql")));
        all
    };
    shipped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_version_counts_the_migrations() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("backend.db");
        crate::store::migrate_file(&db).unwrap();
        assert!(schema_version() >= 9);
        assert_eq!(schema_version_of(&db).unwrap(), schema_version());
        let copy = dir.path().join("copy.db");
        copy_to(&db, &copy).unwrap();
        assert_eq!(schema_version_of(&copy).unwrap(), schema_version());
    }
}
