//! The SQLite read model: one writer connection (all projection writes go through it, so
//! batches never contend) and a small pool of readers for the API. All SQL lives under
//! `store/`; nothing here knows about HTTP or NATS.

pub mod agents;
pub mod approvals;
pub mod audit;
pub mod checks;
pub mod derived;
pub mod executions;
pub mod explode;
pub mod housekeeping;
pub mod inventory;
pub mod notifications;
pub mod obs;
pub mod perf;
pub mod results;
pub mod scheduler;
pub mod snapshot;
pub mod terminal;
pub mod users;

use std::path::{Path, PathBuf};

use anyhow::Context;
use deadpool_sqlite::{Config, Hook, HookError, Pool, Runtime};
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

/// Pragmas every connection gets: WAL so readers never block the writer, NORMAL sync (safe
/// with WAL), and a generous busy timeout. A page cache of up to 32 MiB per connection and
/// the file mapped into memory (up to 256 MiB, shared with the OS page cache): with SQLite's
/// 2 MiB default, the results projector's index pages of a 50,000-machine fan-out were read
/// back with a `pread` each time, a sixth of the backend's CPU in the fan-out benchmark.
///
/// The WAL is folded back into the database by `checkpointer`, off the writer's path, about
/// once a second. SQLite's own checkpoint after every commit that grew the WAL past 1,000
/// pages ran inside the projectors' commits and copied nearly every page of the results
/// indexes again after each batch (a random `result_id` or `pc_id` key dirties a page per
/// row); the writer now checkpoints by itself only past 64 MiB of WAL, a bound for when the
/// checkpointer cannot keep up, and the WAL file is cut back to 64 MiB after each reset.
pub const PRAGMAS: &str = "PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA busy_timeout = 30000;
PRAGMA foreign_keys = ON;
PRAGMA cache_size = -32768;
PRAGMA mmap_size = 268435456;
PRAGMA wal_autocheckpoint = 16384;
PRAGMA journal_size_limit = 67108864;";

/// How often `checkpointer` folds the WAL back into the database.
const CHECKPOINT_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

const READERS: usize = 4;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    #[error("conflict: {0}")]
    Conflict(String),
    /// The database cannot be used right now: disk full, read-only, I/O failure, locked.
    /// The message names the database file and the cause.
    #[error("{0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Other(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        match err {
            rusqlite::Error::QueryReturnedNoRows => StoreError::NotFound,
            rusqlite::Error::SqliteFailure(e, msg)
                if e.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                StoreError::Conflict(msg.unwrap_or_else(|| e.to_string()))
            }
            rusqlite::Error::SqliteFailure(e, _) if unavailable(e.code) => {
                StoreError::Unavailable(cause(e.code).to_owned())
            }
            other => StoreError::Other(other.to_string()),
        }
    }
}

/// Errors that say the database file or its disk is unusable, not that the query is wrong.
fn unavailable(code: rusqlite::ErrorCode) -> bool {
    use rusqlite::ErrorCode::*;
    matches!(
        code,
        DiskFull | ReadOnly | SystemIoFailure | CannotOpen | DatabaseBusy | DatabaseLocked
    )
}

fn cause(code: rusqlite::ErrorCode) -> &'static str {
    use rusqlite::ErrorCode::*;
    match code {
        DiskFull => "the disk (or the database's size cap) is full (SQLITE_FULL)",
        ReadOnly => "the file is read-only (SQLITE_READONLY)",
        SystemIoFailure => "reading or writing the file failed (SQLITE_IOERR)",
        CannotOpen => "the file cannot be opened (SQLITE_CANTOPEN)",
        _ => "the file is locked by another process (SQLITE_BUSY)",
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// Handle to the database; cheap to clone.
#[derive(Clone)]
pub struct Store {
    writer: Pool,
    readers: Pool,
    path: PathBuf,
}

/// The migrations, in order. A shipped migration is never edited; add a new one.
pub fn migrations() -> Migrations<'static> {
    Migrations::new(snapshot::with_schema_next(vec![
        M::up(include_str!("../migrations/0001_init.sql")),
        M::up(include_str!("../migrations/0002_accounts_audit.sql")),
        M::up(include_str!("../migrations/0003_telemetry.sql")),
        M::up(include_str!("../migrations/0004_inventory.sql")),
        M::up(include_str!("../migrations/0005_scheduler.sql")),
        M::up(include_str!("../migrations/0006_unconfirmed.sql")),
        M::up(include_str!("../migrations/0007_sessions.sql")),
        M::up(include_str!("../migrations/0008_command_signing.sql")),
        M::up(include_str!("../migrations/0009_wire_compat.sql")),
        M::up(include_str!("../migrations/0010_approvals.sql")),
        M::up(include_str!("../migrations/0011_accounts_kv.sql")),
        M::up(include_str!("../migrations/0012_result_links.sql")),
        M::up(include_str!("../migrations/0013_process_disk_unknown.sql")),
        M::up(include_str!("../migrations/0014_check_history.sql")),
        M::up(include_str!("../migrations/0015_agent_host_facts.sql")),
        M::up(include_str!("../migrations/0016_recovery_codes.sql")),
        M::up(include_str!("../migrations/0017_outcome_indexes.sql")),
        M::up(include_str!("../migrations/0018_results_indexes.sql")),
        M::up(include_str!("../migrations/0019_results_lean.sql")),
    ]))
}

impl Store {
    /// Opens (creating the folder and file when missing) and migrates the database.
    pub async fn open(path: &Path) -> anyhow::Result<Store> {
        Store::open_capped(path, None).await
    }

    /// `open` with the writer unable to grow the file past `max_size_mib` (SQLite
    /// `max_page_count`, never below the current size): writes past it fail as on a full disk.
    pub async fn open_capped(path: &Path, max_size_mib: Option<u64>) -> anyhow::Result<Store> {
        let owned = path.to_path_buf();
        tokio::task::spawn_blocking(move || migrate_file(&owned)).await??;
        let writer = pool(path, 1, max_size_mib)?;
        let readers = pool(path, READERS, None)?;
        tokio::spawn(checkpointer(readers.weak()));
        let store = Store {
            writer,
            readers,
            path: path.to_path_buf(),
        };
        store
            .read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await?;
        Ok(store)
    }

    /// True when a reader can run a query.
    pub async fn ping(&self) -> bool {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())))
            .await
            .is_ok()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the single writer connection.
    pub async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
    {
        run(&self.writer, f).await.map_err(|e| self.locate(e))
    }

    /// Runs `f` on one of the reader connections.
    pub async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        run(&self.readers, move |conn| f(conn).map_err(StoreError::from))
            .await
            .map_err(|e| self.locate(e))
    }

    /// Names the database file in an `Unavailable` error.
    fn locate(&self, err: StoreError) -> StoreError {
        match err {
            StoreError::Unavailable(cause) => StoreError::Unavailable(format!(
                "the database {} cannot be used: {cause}",
                self.path.display()
            )),
            other => other,
        }
    }
}

/// Opens a connection with the pragmas and brings the schema up to date. The folder is
/// created 0700 and the file 0600 before SQLite touches them (its `-wal` and `-shm` take the
/// file's mode); looser ones left by an older install are tightened (`private`).
pub fn migrate_file(path: &Path) -> anyhow::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::private::ensure_dir(parent)
            .with_context(|| format!("creating database folder {}", parent.display()))?;
    }
    crate::private::ensure_file(path)
        .with_context(|| format!("creating database {}", path.display()))?;
    for file in crate::private::database_files(path) {
        crate::private::tighten_file(&file)
            .with_context(|| format!("restricting {}", file.display()))?;
    }
    let mut conn =
        Connection::open(path).with_context(|| format!("opening database {}", path.display()))?;
    conn.execute_batch(PRAGMAS)
        .context("setting database pragmas")?;
    migrations()
        .to_latest(&mut conn)
        .with_context(|| format!("migrating database {}", path.display()))?;
    Ok(())
}

fn pool(path: &Path, size: usize, max_size_mib: Option<u64>) -> anyhow::Result<Pool> {
    Config::new(path)
        .builder(Runtime::Tokio1)
        .context("configuring database pool")?
        .max_size(size)
        .post_create(Hook::async_fn(move |conn, _| {
            Box::pin(async move {
                conn.interact(move |c| {
                    c.execute_batch(PRAGMAS)?;
                    if let Some(mib) = max_size_mib {
                        let page: i64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
                        let page = u64::try_from(page).unwrap_or(4096).max(1);
                        let pages = (mib.saturating_mul(1 << 20) / page).max(1);
                        c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |_| Ok(()))?;
                    }
                    Ok(())
                })
                .await
                .map_err(|e| HookError::message(e.to_string()))?
                .map_err(HookError::Backend)
            })
        }))
        .build()
        .context("building database pool")
}

/// Folds the WAL back into the database every `CHECKPOINT_EVERY` from a reader connection
/// (`PRAGMA wal_checkpoint(PASSIVE)`: it waits for no reader and no writer, and copies what
/// no open read still needs), so the writer's commits do not pay for it. Ends with the store.
async fn checkpointer(readers: deadpool_sqlite::WeakPool) {
    let mut tick = tokio::time::interval(CHECKPOINT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tick.tick().await;
        let Some(pool) = readers.upgrade() else {
            return;
        };
        let done = run(&pool, |c| {
            Ok(c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?)
        })
        .await;
        if let Err(err) = done {
            tracing::debug!(%err, "WAL checkpoint did not run");
        }
    }
}

async fn run<T, F>(pool: &Pool, f: F) -> StoreResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> StoreResult<T> + Send + 'static,
{
    let conn = pool
        .get()
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?;
    conn.interact(f)
        .await
        .map_err(|e| StoreError::Other(e.to_string()))?
}

/// Reads a non-negative count column (SQLite integers are signed).
pub fn count_at(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(row.get::<_, Option<i64>>(idx)?.unwrap_or(0)).unwrap_or(0))
}

/// RFC 3339 text with millisecond precision, the one timestamp format in the database.
pub fn ts(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses a stored timestamp; a malformed value reads as absent rather than failing a page.
pub fn parse_ts(text: Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    text.and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.with_timezone(&chrono::Utc))
}

#[cfg(test)]
mod tests {
    use rusqlite::params;

    use super::*;

    #[test]
    fn migrations_are_valid() {
        migrations().validate().unwrap();
    }

    #[tokio::test]
    async fn committed_pages_reach_the_database_file_without_a_checkpoint_in_the_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kanade.db");
        let store = Store::open(&path).await.unwrap();
        let size = || std::fs::metadata(&path).unwrap().len();
        let before = size();
        // About 4 MiB: far below the writer's own checkpoint threshold (64 MiB of WAL).
        store
            .write(|c| {
                let tx = c.transaction()?;
                for i in 0..1000 {
                    tx.execute(
                        "INSERT INTO audit_log (actor, action, target, payload, occurred_at)
                         VALUES ('t', 'test', ?1, ?2, '2026-01-01T00:00:00Z')",
                        params![i.to_string(), "x".repeat(4000)],
                    )?;
                }
                tx.commit()?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(
            size() < before + (1 << 20),
            "the commit itself did not copy its pages into the file"
        );
        let deadline = std::time::Instant::now() + CHECKPOINT_EVERY * 5;
        while size() < before + (4 << 20) {
            assert!(
                std::time::Instant::now() < deadline,
                "the background checkpoint never copied the WAL into the file ({} bytes)",
                size()
            );
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    #[test]
    fn migration_18_keeps_each_machines_last_success_per_job() {
        let mut conn = Connection::open_in_memory().unwrap();
        let m = migrations();
        m.to_version(&mut conn, 17).unwrap();
        conn.execute_batch(
            "INSERT INTO execution_results (result_id, request_id, exec_id, pc_id, job_id,
                 exit_code, started_at, finished_at, skipped, reaped) VALUES
             ('a', 'r', 'e1', 'pc1', 'j', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 0, 0),
             ('b', 'r', 'e2', 'pc1', 'j', 0, '2026-01-02T00:00:00Z', '2026-01-02T00:00:01Z', 0, 0),
             ('c', 'r', 'e3', 'pc1', 'j', 1, '2026-01-03T00:00:00Z', '2026-01-03T00:00:01Z', 0, 0),
             ('d', 'r', 'e1', 'pc2', 'j', 0, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 1, 0),
             ('e', 'r', 'e1', 'pc3', 'j', -1, '2026-01-01T00:00:00Z', '2026-01-01T00:00:01Z', 0, 1),
             ('f', 'r', 'e4', 'pc3', 'k', 0, '2026-01-04T00:00:00Z', NULL, 0, 0);",
        )
        .unwrap();
        m.to_version(&mut conn, 18).unwrap();
        let rows: Vec<(String, String, String)> = conn
            .prepare("SELECT job_id, pc_id, finished_at FROM job_successes ORDER BY 1, 2")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            rows,
            [(
                "j".to_owned(),
                "pc1".to_owned(),
                "2026-01-02T00:00:01Z".to_owned()
            )],
            "the newest success only: not a failure, a skip, a reaped run or a run in flight"
        );
    }

    #[tokio::test]
    async fn open_creates_the_folder_and_uses_wal() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/kanade.db");
        let store = Store::open(&path).await.unwrap();
        let mode: String = store
            .read(|c| c.query_row("PRAGMA journal_mode", [], |r| r.get(0)))
            .await
            .unwrap();
        assert_eq!(mode, "wal");
        let sync: i64 = store
            .write(|c| Ok(c.query_row("PRAGMA synchronous", [], |r| r.get(0))?))
            .await
            .unwrap();
        assert_eq!(sync, 1, "NORMAL");
    }
}
