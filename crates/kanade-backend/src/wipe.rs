//! `wipe-projector`: throw the read model away but keep the accounts. The accounts are first
//! copied into a side file, the database is deleted (sidecars first, main file last, so a
//! failure part-way leaves the database usable), recreated with the migrations, and the
//! accounts restored in one transaction. If the process dies between delete and restore, the
//! next start restores the side file. On the next start the projectors replay the streams.
//!
//! The same path makes a rollback safe: a binary that finds a database migrated past the
//! migrations it knows (`rebuild_if_newer`) copies it aside as `<db>.schema-<n>.bak`, wipes it
//! keeping the accounts (the columns both schemas have), and lets the replay rebuild the rest.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rusqlite::Connection;

/// Tables copied across a wipe, byte for byte.
const KEPT: &[&str] = &["users", "revoked_sessions", "sessions"];

pub struct WipeReport {
    pub accounts: i64,
    pub existed: bool,
}

fn snapshot_path(db: &Path) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".accounts-snapshot");
    db.with_file_name(name)
}

fn sidecar(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(suffix);
    db.with_file_name(name)
}

pub fn wipe(db: &Path) -> anyhow::Result<WipeReport> {
    wipe_from(db, true)
}

/// What `rebuild_if_newer` found and did.
#[derive(Debug)]
pub struct Rebuilt {
    /// The schema version of the database found.
    pub found: usize,
    /// The schema version this binary knows.
    pub known: usize,
    /// Where the database found was copied before the wipe.
    pub backup: PathBuf,
    /// Accounts carried across.
    pub accounts: i64,
}

/// Called at start before the database is opened: when `db` was migrated by a newer binary
/// (its `user_version` is past this binary's migrations), copies it to `<db>.schema-<n>.bak`,
/// wipes it keeping the accounts, and returns what it did; otherwise does nothing.
pub fn rebuild_if_newer(db: &Path) -> anyhow::Result<Option<Rebuilt>> {
    if !db.exists() {
        return Ok(None);
    }
    let known = crate::store::snapshot::schema_version();
    let found = crate::store::snapshot::schema_version_of(db)?;
    if found <= known {
        return Ok(None);
    }
    let backup = sidecar(db, &format!(".schema-{found}.bak"));
    crate::store::snapshot::copy_to(db, &backup)
        .with_context(|| format!("keeping the schema-{found} database before rebuilding it"))?;
    let report = wipe_from(db, false)?;
    Ok(Some(Rebuilt {
        found,
        known,
        backup,
        accounts: report.accounts,
    }))
}

fn wipe_from(db: &Path, migrate_first: bool) -> anyhow::Result<WipeReport> {
    let snapshot = snapshot_path(db);
    if !db.exists() {
        crate::store::migrate_file(db)?;
        return Ok(WipeReport {
            accounts: 0,
            existed: false,
        });
    }
    // Refuse rather than risk the accounts when the existing database cannot be read.
    let accounts = take_snapshot(db, &snapshot, migrate_first).with_context(|| {
        format!(
            "refusing to wipe: {} cannot be read, so its accounts could not be saved",
            db.display()
        )
    })?;
    for suffix in ["-wal", "-shm"] {
        let path = sidecar(db, suffix);
        if path.exists() {
            std::fs::remove_file(&path).with_context(|| format!("removing {}", path.display()))?;
        }
    }
    std::fs::remove_file(db).with_context(|| format!("removing {}", db.display()))?;
    crate::store::migrate_file(db)?;
    restore_snapshot(db, &snapshot)?;
    Ok(WipeReport {
        accounts,
        existed: true,
    })
}

/// Called at start: finishes a wipe that died between deleting and restoring.
pub fn recover(db: &Path) -> anyhow::Result<bool> {
    let snapshot = snapshot_path(db);
    if !snapshot.exists() {
        return Ok(false);
    }
    let conn = Connection::open(db)?;
    let users: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
    drop(conn);
    if users > 0 {
        // The restore finished; only the clean-up did not.
        std::fs::remove_file(&snapshot)?;
        return Ok(false);
    }
    restore_snapshot(db, &snapshot)?;
    Ok(true)
}

fn take_snapshot(db: &Path, snapshot: &Path, migrate_first: bool) -> anyhow::Result<i64> {
    // An older database gets the tables it lacks first, so every kept table exists. A newer
    // one cannot be migrated (and has them already).
    if migrate_first {
        crate::store::migrate_file(db)?;
    }
    let conn = Connection::open(db)?;
    let accounts: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
    if snapshot.exists() {
        std::fs::remove_file(snapshot)?;
    }
    conn.execute("ATTACH DATABASE ?1 AS snap", [snapshot.to_string_lossy()])?;
    for table in KEPT {
        if columns(&conn, "main", table)?.is_empty() {
            continue;
        }
        conn.execute_batch(&format!(
            "CREATE TABLE snap.{table} AS SELECT * FROM main.{table};"
        ))?;
    }
    conn.execute_batch("DETACH DATABASE snap;")?;
    restrict(snapshot)?;
    Ok(accounts)
}

fn restore_snapshot(db: &Path, snapshot: &Path) -> anyhow::Result<()> {
    let mut conn = Connection::open(db)?;
    conn.execute("ATTACH DATABASE ?1 AS snap", [snapshot.to_string_lossy()])?;
    let tx = conn.transaction()?;
    for table in KEPT {
        let count: i64 = tx.query_row(&format!("SELECT COUNT(*) FROM main.{table}"), [], |r| {
            r.get(0)
        })?;
        if count > 0 {
            bail!("{table} is not empty; not restoring over it");
        }
        // Only the columns both sides have: a snapshot from a newer schema may have more.
        let theirs = columns(&tx, "snap", table)?;
        let shared: Vec<String> = columns(&tx, "main", table)?
            .into_iter()
            .filter(|c| theirs.contains(c))
            .map(|c| format!("\"{}\"", c.replace('"', "\"\"")))
            .collect();
        if shared.is_empty() {
            continue;
        }
        let list = shared.join(", ");
        tx.execute_batch(&format!(
            "INSERT INTO main.{table} ({list}) SELECT {list} FROM snap.{table};"
        ))?;
    }
    tx.commit()?;
    conn.execute_batch("DETACH DATABASE snap;")?;
    drop(conn);
    std::fs::remove_file(snapshot).with_context(|| format!("removing {}", snapshot.display()))?;
    Ok(())
}

/// The column names of `schema.table`, in order (none when the table is missing).
fn columns(conn: &Connection, schema: &str, table: &str) -> rusqlite::Result<Vec<String>> {
    let mut stmt = conn.prepare(&format!("PRAGMA {schema}.table_info({table})"))?;
    stmt.query_map([], |row| row.get::<_, String>(1))?.collect()
}

fn restrict(path: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    let _ = path;
    Ok(())
}
