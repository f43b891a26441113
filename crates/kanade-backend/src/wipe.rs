//! `wipe-projector`: throw the read model away but keep the accounts. The accounts are first
//! copied into a side file, the database is deleted (sidecars first, main file last, so a
//! failure part-way leaves the database usable), recreated with the migrations, and the
//! accounts restored in one transaction. If the process dies between delete and restore, the
//! next start restores the side file. On the next start the projectors replay the streams.

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
    let snapshot = snapshot_path(db);
    if !db.exists() {
        crate::store::migrate_file(db)?;
        return Ok(WipeReport {
            accounts: 0,
            existed: false,
        });
    }
    // Refuse rather than risk the accounts when the existing database cannot be read.
    let accounts = take_snapshot(db, &snapshot).with_context(|| {
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

fn take_snapshot(db: &Path, snapshot: &Path) -> anyhow::Result<i64> {
    // An older database gets the tables it lacks first, so every kept table exists.
    crate::store::migrate_file(db)?;
    let conn = Connection::open(db)?;
    let accounts: i64 = conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))?;
    if snapshot.exists() {
        std::fs::remove_file(snapshot)?;
    }
    conn.execute("ATTACH DATABASE ?1 AS snap", [snapshot.to_string_lossy()])?;
    for table in KEPT {
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
        tx.execute_batch(&format!(
            "INSERT INTO main.{table} SELECT * FROM snap.{table};"
        ))?;
    }
    tx.commit()?;
    conn.execute_batch("DETACH DATABASE snap;")?;
    drop(conn);
    std::fs::remove_file(snapshot).with_context(|| format!("removing {}", snapshot.display()))?;
    Ok(())
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
