//! `users`, `sessions` and `revoked_sessions`: this replica's read model of the accounts and
//! sessions kept in KV `accounts` / `sessions` (written only by `crate::accounts`, which
//! applies what its KV watches deliver), and the local sign-out records. A row carries the KV
//! revision it was read at, so an older revision never overwrites a newer one.

use chrono::{DateTime, Utc};
use kanade_protocol::api::{Account, Role};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::{StoreResult, parse_ts, ts};

/// A full account, secrets included: the document in KV `accounts` and the `users` row; never
/// leaves the backend.
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct User {
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub disabled: bool,
    pub must_change_pw: bool,
    pub email: Option<String>,
    pub totp_secret: Option<String>,
    pub totp_pending: Option<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Random, given at creation, never reused: sessions name the account by it.
    pub account_id: String,
    /// SHA-256 (hex) of each unused MFA recovery code (`auth::recovery`).
    #[serde(default)]
    pub recovery_codes: Vec<String>,
}

impl User {
    pub fn to_account(&self) -> Account {
        Account {
            username: self.username.clone(),
            role: self.role,
            disabled: self.disabled,
            must_change_pw: self.must_change_pw,
            email: self.email.clone(),
            mfa_enabled: self.totp_secret.is_some(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }
}

const COLUMNS: &str = "username, password_hash, role, disabled, must_change_pw, email, totp_secret,
    totp_pending, created_at, updated_at, account_id, recovery_codes";

fn user(row: &Row<'_>) -> rusqlite::Result<User> {
    let role: String = row.get(2)?;
    Ok(User {
        username: row.get(0)?,
        password_hash: row.get(1)?,
        role: role.parse().unwrap_or(Role::Viewer),
        disabled: row.get(3)?,
        must_change_pw: row.get(4)?,
        email: row.get(5)?,
        totp_secret: row.get(6)?,
        totp_pending: row.get(7)?,
        created_at: parse_ts(row.get(8)?).unwrap_or_default(),
        updated_at: parse_ts(row.get(9)?).unwrap_or_default(),
        account_id: row.get::<_, Option<String>>(10)?.unwrap_or_default(),
        recovery_codes: serde_json::from_str(&row.get::<_, String>(11)?).unwrap_or_default(),
    })
}

pub fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM users", [], |r| r.get(0))
}

pub fn get(conn: &Connection, username: &str) -> rusqlite::Result<Option<User>> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM users WHERE username = ?1"),
        [username],
        user,
    )
    .optional()
}

pub fn list(conn: &Connection) -> rusqlite::Result<Vec<User>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM users ORDER BY username"))?;
    stmt.query_map([], user)?.collect()
}

/// What the auth middleware re-reads on every request about a session.
pub struct SessionState {
    pub username: String,
    pub role: Role,
    pub disabled: bool,
    pub must_change_pw: bool,
}

/// The account behind session `jti` of account `account_id`. `None` when the session was
/// never issued, has expired, was signed out or ended, or its account is gone.
pub fn session_state(
    conn: &Connection,
    account_id: &str,
    jti: &str,
    now: DateTime<Utc>,
) -> rusqlite::Result<Option<SessionState>> {
    let mut stmt = conn.prepare_cached(
        "SELECT u.username, u.role, u.disabled, u.must_change_pw
           FROM sessions s JOIN users u ON u.account_id = s.account_id
          WHERE s.jti = ?1 AND s.account_id = ?2 AND s.expires_at > ?3",
    )?;
    stmt.query_row(params![jti, account_id, ts(now)], |row| {
        let role: String = row.get(1)?;
        Ok(SessionState {
            username: row.get(0)?,
            role: role.parse().unwrap_or(Role::Viewer),
            disabled: row.get(2)?,
            must_change_pw: row.get(3)?,
        })
    })
    .optional()
}

/// A session as KV `sessions` holds it (the key names the account and the session).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub struct Session {
    pub issued_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

/// Writes an account read from KV at `rev`, unless the row already holds a newer revision.
pub fn apply_user(conn: &Connection, u: &User, rev: u64) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(&format!(
        "INSERT INTO users ({COLUMNS}, kv_rev)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT (username) DO UPDATE SET
             password_hash = excluded.password_hash, role = excluded.role,
             disabled = excluded.disabled, must_change_pw = excluded.must_change_pw,
             email = excluded.email, totp_secret = excluded.totp_secret,
             totp_pending = excluded.totp_pending, created_at = excluded.created_at,
             updated_at = excluded.updated_at, account_id = excluded.account_id,
             recovery_codes = excluded.recovery_codes, kv_rev = excluded.kv_rev
         WHERE users.kv_rev IS NULL OR users.kv_rev < excluded.kv_rev"
    ))?;
    stmt.execute(params![
        u.username,
        u.password_hash,
        u.role.as_str(),
        u.disabled,
        u.must_change_pw,
        u.email,
        u.totp_secret,
        u.totp_pending,
        ts(u.created_at),
        ts(u.updated_at),
        u.account_id,
        serde_json::to_string(&u.recovery_codes).unwrap_or_else(|_| "[]".to_owned()),
        rev as i64
    ])?;
    Ok(())
}

/// Removes an account deleted in KV at `rev` (unless the row is newer: created again since).
pub fn remove_user(conn: &Connection, username: &str, rev: u64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM users WHERE username = ?1 AND (kv_rev IS NULL OR kv_rev < ?2)",
        params![username, rev as i64],
    )?;
    Ok(())
}

/// Writes a session read from KV at `rev`.
pub fn apply_session(
    conn: &Connection,
    account_id: &str,
    jti: &str,
    s: &Session,
    rev: u64,
) -> rusqlite::Result<()> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO sessions (jti, account_id, issued_at, expires_at, kv_rev)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT (jti) DO UPDATE SET account_id = excluded.account_id,
             issued_at = excluded.issued_at, expires_at = excluded.expires_at,
             kv_rev = excluded.kv_rev
         WHERE sessions.kv_rev IS NULL OR sessions.kv_rev < excluded.kv_rev",
    )?;
    stmt.execute(params![
        jti,
        account_id,
        ts(s.issued_at),
        ts(s.expires_at),
        rev as i64
    ])?;
    Ok(())
}

/// Removes a session ended in KV at `rev`.
pub fn remove_session(conn: &Connection, jti: &str, rev: u64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM sessions WHERE jti = ?1 AND (kv_rev IS NULL OR kv_rev < ?2)",
        params![jti, rev as i64],
    )?;
    Ok(())
}

/// Makes the read model exactly the KV snapshot given (accounts and their revisions).
pub fn replace_users(conn: &mut Connection, users: &[(User, u64)]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM users", [])?;
    for (u, rev) in users {
        apply_user(&tx, u, *rev)?;
    }
    tx.commit()
}

/// One session of a KV snapshot: account id, session id, the session, its revision.
pub type SessionEntry = (String, String, Session, u64);

/// Makes the session read model exactly the KV snapshot given.
pub fn replace_sessions(conn: &mut Connection, sessions: &[SessionEntry]) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM sessions", [])?;
    for (aid, jti, s, rev) in sessions {
        apply_session(&tx, aid, jti, s, *rev)?;
    }
    tx.commit()
}

/// Accounts and sessions written before accounts moved to KV (no revision yet): what the
/// backend publishes to KV once.
pub fn unpublished(conn: &Connection) -> rusqlite::Result<(Vec<User>, Vec<SessionEntry>)> {
    let mut stmt = conn.prepare(&format!("SELECT {COLUMNS} FROM users WHERE kv_rev IS NULL"))?;
    let users = stmt
        .query_map([], user)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut stmt = conn.prepare(
        "SELECT account_id, jti, issued_at, expires_at FROM sessions WHERE kv_rev IS NULL",
    )?;
    let sessions = stmt
        .query_map([], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                Session {
                    issued_at: parse_ts(row.get(2)?).unwrap_or_default(),
                    expires_at: parse_ts(row.get(3)?).unwrap_or_default(),
                },
                0,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok((users, sessions))
}

/// The sessions of an account except `keep`, as `(account id, session id)`.
pub fn sessions_of(
    conn: &Connection,
    account_id: &str,
    keep: Option<&str>,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT account_id, jti FROM sessions WHERE account_id = ?1 AND jti IS NOT ?2",
    )?;
    stmt.query_map(params![account_id, keep], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

/// Up to `limit` expired sessions, as `(account id, session id)`, to remove from KV.
pub fn expired_sessions(
    conn: &Connection,
    now: DateTime<Utc>,
    limit: usize,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT account_id, jti FROM sessions WHERE expires_at <= ?1 ORDER BY expires_at LIMIT ?2",
    )?;
    stmt.query_map(params![ts(now), limit as i64], |r| {
        Ok((r.get(0)?, r.get(1)?))
    })?
    .collect()
}

/// The account a recorded session belongs to.
pub fn session_account(conn: &Connection, jti: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT account_id FROM sessions WHERE jti = ?1",
        [jti],
        |r| r.get(0),
    )
    .optional()
}

/// Enabled admins other than `username`: the last one may not be removed, demoted or disabled.
pub fn other_enabled_admins(conn: &Connection, username: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND username <> ?1",
        [username],
        |r| r.get(0),
    )
}

/// Records a signed-out session locally until it would have expired anyway.
pub fn revoke_session(
    conn: &Connection,
    jti: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    conn.execute(
        "DELETE FROM revoked_sessions WHERE expires_at < ?1",
        [ts(now)],
    )?;
    conn.execute(
        "INSERT INTO revoked_sessions (jti, expires_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
        params![jti, ts(expires_at)],
    )?;
    Ok(())
}
