//! The sandbox that evaluates derived-group conditions (`kanade_protocol::derived`): a
//! connection opened read-only with `query_only` on, an authorizer that allows only SELECT,
//! functions and reads of the inventory tables (every explode table, `inventory_facts`,
//! `inventory_history`, `check_status`, `agents`; never accounts, sessions, audit or SQLite's
//! own tables), and a progress handler that stops a statement after `LIMIT`. The operator's
//! condition is placed as the WHERE of one statement over every known machine, so it can only
//! ever be one expression: anything else fails to prepare.

use std::path::Path;
use std::time::{Duration, Instant};

use kanade_protocol::manifest::KANADE_TABLES;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{Connection, OpenFlags};

/// Longest one evaluation may run.
pub const LIMIT: Duration = Duration::from_secs(2);

/// Kanade tables a condition may read (the other ones hold accounts, sessions, audit...).
const READABLE_KANADE_TABLES: &[&str] = &[
    "agents",
    "inventory_facts",
    "inventory_history",
    "check_status",
];

/// Every machine the backend knows, with the condition as the filter; `machine.pc_id` names
/// the machine being tested.
fn statement(condition: &str) -> String {
    format!(
        "WITH machine(pc_id) AS (SELECT pc_id FROM agents UNION SELECT pc_id FROM inventory_facts) \
         SELECT machine.pc_id FROM machine WHERE ({condition}) ORDER BY machine.pc_id"
    )
}

fn readable(table: &str) -> bool {
    if table.is_empty() {
        return true;
    }
    let lower = table.to_ascii_lowercase();
    if lower.starts_with("sqlite_") {
        return false;
    }
    READABLE_KANADE_TABLES.contains(&lower.as_str()) || !KANADE_TABLES.contains(&lower.as_str())
}

fn authorize(ctx: AuthContext<'_>) -> Authorization {
    if ctx.database_name.is_some_and(|db| db != "main") {
        return Authorization::Deny;
    }
    match ctx.action {
        AuthAction::Select | AuthAction::Function { .. } | AuthAction::Recursive => {
            Authorization::Allow
        }
        AuthAction::Read { table_name, .. } if readable(table_name) => Authorization::Allow,
        _ => Authorization::Deny,
    }
}

/// Longest string or blob a condition may build (`randomblob`, `printf`, `replace`...): one
/// SQL function call is never interrupted by the progress handler, so without this a single
/// call could allocate a gigabyte and run for a minute. 64 MiB is NATS's largest possible
/// `max_payload`, so no stored value (every one came in a broker message) is longer.
pub const MAX_VALUE_LEN: i32 = 64 * 1024 * 1024;

/// A read-only connection to the database at `path` with the sandbox installed.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.execute_batch("PRAGMA query_only = ON; PRAGMA busy_timeout = 5000;")?;
    conn.set_limit(rusqlite::limits::Limit::SQLITE_LIMIT_LENGTH, MAX_VALUE_LEN)?;
    conn.authorizer(Some(authorize))?;
    Ok(conn)
}

/// Why a condition cannot be used, in SQLite's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The machines matching `condition`, sorted; refused when it does not prepare as one
/// read-only expression, reads what it may not, or runs past `LIMIT`.
pub fn members(conn: &Connection, condition: &str) -> Result<Vec<String>, Refused> {
    run(conn, &statement(condition))
}

/// Runs `condition` once for a machine that does not exist, so a condition too slow to
/// finish is refused even while no machine is known yet.
pub fn probe(conn: &Connection, condition: &str) -> Result<(), Refused> {
    let sql = format!(
        "WITH machine(pc_id) AS (SELECT '') SELECT machine.pc_id FROM machine WHERE ({condition})"
    );
    run(conn, &sql).map(|_| ())
}

fn run(conn: &Connection, sql: &str) -> Result<Vec<String>, Refused> {
    let started = Instant::now();
    conn.progress_handler(1000, Some(move || started.elapsed() > LIMIT))
        .map_err(|e| Refused(e.to_string()))?;
    let result = (|| {
        let mut stmt = conn.prepare(sql)?;
        if !stmt.readonly() {
            return Err(rusqlite::Error::InvalidQuery);
        }
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
    })();
    let _ = conn.progress_handler(0, None::<fn() -> bool>);
    result.map_err(|err| match err {
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::OperationInterrupted => {
            Refused(format!(
                "took longer than {} s; make it cheaper",
                LIMIT.as_secs()
            ))
        }
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::AuthorizationForStatementDenied => {
            Refused(
                "may only read inventory tables (explode tables, inventory_facts, inventory_history, check_status, agents)"
                    .to_owned(),
            )
        }
        rusqlite::Error::SqliteFailure(e, _) if e.code == rusqlite::ErrorCode::TooBig => {
            Refused(format!(
                "builds a value longer than {} MiB; make it cheaper",
                MAX_VALUE_LEN / (1024 * 1024)
            ))
        }
        other => Refused(other.to_string()),
    })
}

/// The newest inventory change the projector recorded (so evaluation can follow it).
pub fn inventory_mark(conn: &Connection) -> rusqlite::Result<(Option<String>, i64)> {
    conn.query_row(
        "SELECT MAX(recorded_at), COUNT(*) FROM inventory_facts",
        [],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let w = Connection::open(&path).unwrap();
        w.execute_batch(
            "CREATE TABLE agents (pc_id TEXT PRIMARY KEY);
             CREATE TABLE inventory_facts (pc_id TEXT, job_id TEXT, facts_json TEXT, recorded_at TEXT);
             CREATE TABLE users (username TEXT, password_hash TEXT);
             CREATE TABLE inv_apps (pc_id TEXT, name TEXT);
             INSERT INTO agents VALUES ('a'), ('b');
             INSERT INTO inventory_facts VALUES ('c', 'hw', '{\"os\":\"debian\"}', 'x');
             INSERT INTO inv_apps VALUES ('b', 'Firefox');
             INSERT INTO users VALUES ('admin', 'h');",
        )
        .unwrap();
        let conn = open(&path).unwrap();
        (dir, conn)
    }

    #[test]
    fn a_condition_selects_machines_by_their_inventory() {
        let (_dir, conn) = db();
        let firefox = "EXISTS (SELECT 1 FROM inv_apps s WHERE s.pc_id = machine.pc_id AND s.name = 'Firefox')";
        assert_eq!(members(&conn, firefox).unwrap(), vec!["b"]);
        let debian = "json_extract((SELECT facts_json FROM inventory_facts f WHERE f.pc_id = machine.pc_id), '$.os') = 'debian'";
        assert_eq!(members(&conn, debian).unwrap(), vec!["c"]);
        assert_eq!(members(&conn, "1").unwrap(), vec!["a", "b", "c"]);
    }

    #[test]
    fn anything_but_a_read_of_inventory_is_refused() {
        let (_dir, conn) = db();
        let secret = "EXISTS (SELECT 1 FROM users WHERE password_hash LIKE 'h%')";
        assert!(
            members(&conn, secret)
                .unwrap_err()
                .0
                .contains("inventory tables")
        );
        assert!(members(&conn, "EXISTS (SELECT 1 FROM sqlite_master)").is_err());
        assert!(members(&conn, "1) UNION SELECT username FROM users WHERE (1").is_err());
        assert!(members(&conn, "1); DELETE FROM agents; SELECT (1").is_err());
        let slow = "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT max(i) FROM n) > 0";
        assert!(members(&conn, slow).unwrap_err().0.contains("longer than"));
        assert!(probe(&conn, slow).unwrap_err().0.contains("longer than"));
        assert!(probe(&conn, "1").is_ok());
    }
}
