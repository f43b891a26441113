//! `users` and `revoked_sessions`: accounts, their roles and sign-out records. The rule that
//! the last enabled admin can be neither removed, demoted nor disabled is enforced here,
//! inside the writing transaction, so concurrent edits cannot break it.

use chrono::{DateTime, Utc};
use kanade_protocol::api::{Account, Role};
use rusqlite::{Connection, OptionalExtension, Row, params};

use crate::store::{StoreError, StoreResult, parse_ts, ts};

/// A full account row, secrets included; never leaves the backend.
#[derive(Clone)]
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
    totp_pending, created_at, updated_at";

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

pub struct NewUser<'a> {
    pub username: &'a str,
    pub password_hash: &'a str,
    pub role: Role,
    pub must_change_pw: bool,
    pub email: Option<&'a str>,
    pub now: DateTime<Utc>,
}

pub fn insert(conn: &Connection, u: &NewUser<'_>) -> StoreResult<()> {
    let res = conn.execute(
        "INSERT INTO users (username, password_hash, role, must_change_pw, email, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
        params![u.username, u.password_hash, u.role.as_str(), u.must_change_pw, u.email, ts(u.now)],
    );
    match res {
        Ok(_) => Ok(()),
        Err(err) => match StoreError::from(err) {
            StoreError::Conflict(_) => Err(StoreError::Conflict(format!(
                "account {} already exists",
                u.username
            ))),
            other => Err(other),
        },
    }
}

/// What the auth middleware re-reads on every request. `None` when the account is gone or
/// the session was signed out.
pub fn session_state(
    conn: &Connection,
    username: &str,
    jti: &str,
) -> rusqlite::Result<Option<(Role, bool, bool)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT role, disabled, must_change_pw FROM users WHERE username = ?1
           AND NOT EXISTS (SELECT 1 FROM revoked_sessions WHERE jti = ?2)",
    )?;
    stmt.query_row(params![username, jti], |row| {
        let role: String = row.get(0)?;
        Ok((
            role.parse().unwrap_or(Role::Viewer),
            row.get(1)?,
            row.get(2)?,
        ))
    })
    .optional()
}

pub fn set_password(
    conn: &Connection,
    username: &str,
    hash: &str,
    must_change_pw: bool,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let n = conn.execute(
        "UPDATE users SET password_hash = ?2, must_change_pw = ?3, updated_at = ?4 WHERE username = ?1",
        params![username, hash, must_change_pw, ts(now)],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound);
    }
    Ok(())
}

pub fn set_totp_pending(
    conn: &Connection,
    username: &str,
    secret: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET totp_pending = ?2, updated_at = ?3 WHERE username = ?1",
        params![username, secret, ts(now)],
    )?;
    Ok(())
}

/// Turns the pending secret into the active one (or clears MFA with `None`).
pub fn set_totp(
    conn: &Connection,
    username: &str,
    secret: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    conn.execute(
        "UPDATE users SET totp_secret = ?2, totp_pending = NULL, updated_at = ?3 WHERE username = ?1",
        params![username, secret, ts(now)],
    )?;
    Ok(())
}

pub struct Patch {
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub email: Option<String>,
    /// A new hash; forces a password change at next sign-in.
    pub password_hash: Option<String>,
}

/// Applies a patch, refusing to leave the fleet without an enabled admin.
pub fn patch(
    conn: &mut Connection,
    username: &str,
    p: &Patch,
    now: DateTime<Utc>,
) -> StoreResult<User> {
    let tx = conn.transaction()?;
    let current = get(&tx, username)?.ok_or(StoreError::NotFound)?;
    let loses_admin = current.role == Role::Admin
        && !current.disabled
        && (p.role.is_some_and(|r| r != Role::Admin) || p.disabled == Some(true));
    if loses_admin && other_enabled_admins(&tx, username)? == 0 {
        return Err(StoreError::Conflict(
            "this is the last enabled admin; make another admin first".to_owned(),
        ));
    }
    tx.execute(
        "UPDATE users SET
             role = COALESCE(?2, role),
             disabled = COALESCE(?3, disabled),
             email = CASE WHEN ?4 IS NULL THEN email WHEN ?4 = '' THEN NULL ELSE ?4 END,
             password_hash = COALESCE(?5, password_hash),
             must_change_pw = CASE WHEN ?5 IS NULL THEN must_change_pw ELSE 1 END,
             updated_at = ?6
         WHERE username = ?1",
        params![
            username,
            p.role.map(|r| r.as_str()),
            p.disabled,
            p.email,
            p.password_hash,
            ts(now)
        ],
    )?;
    let updated = get(&tx, username)?.ok_or(StoreError::NotFound)?;
    tx.commit()?;
    Ok(updated)
}

pub fn delete(conn: &mut Connection, username: &str) -> StoreResult<()> {
    let tx = conn.transaction()?;
    let current = get(&tx, username)?.ok_or(StoreError::NotFound)?;
    if current.role == Role::Admin && !current.disabled && other_enabled_admins(&tx, username)? == 0
    {
        return Err(StoreError::Conflict(
            "this is the last enabled admin; make another admin first".to_owned(),
        ));
    }
    tx.execute("DELETE FROM users WHERE username = ?1", [username])?;
    tx.commit()?;
    Ok(())
}

fn other_enabled_admins(conn: &Connection, username: &str) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0 AND username <> ?1",
        [username],
        |r| r.get(0),
    )
}

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
