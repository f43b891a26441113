//! `users`, `sessions` and `revoked_sessions`: accounts, their roles, the sessions issued to
//! them (bound to the immutable `account_id`) and sign-out records. The rule that the last
//! enabled admin can be neither removed, demoted nor disabled is enforced here, inside the
//! writing transaction, so concurrent edits cannot break it; so is ending an account's other
//! sessions when its password, role or disabled flag changes or it is deleted.

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
    /// Random, given at creation, never reused: sessions name the account by it.
    pub account_id: String,
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
    totp_pending, created_at, updated_at, account_id";

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
        "INSERT INTO users (username, password_hash, role, must_change_pw, email, created_at,
             updated_at, account_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6, lower(hex(randomblob(16))))",
        params![
            u.username,
            u.password_hash,
            u.role.as_str(),
            u.must_change_pw,
            u.email,
            ts(u.now)
        ],
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

/// Records a session just issued (and drops expired ones).
pub fn start_session(
    conn: &Connection,
    jti: &str,
    account_id: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    conn.execute("DELETE FROM sessions WHERE expires_at <= ?1", [ts(now)])?;
    conn.execute(
        "INSERT INTO sessions (jti, account_id, issued_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
        params![jti, account_id, ts(now), ts(expires_at)],
    )?;
    Ok(())
}

/// Ends every session of the account except `keep` (the caller's own, when it is the one
/// making the change). Returns how many ended.
fn end_sessions(conn: &Connection, account_id: &str, keep: Option<&str>) -> StoreResult<usize> {
    Ok(conn.execute(
        "DELETE FROM sessions WHERE account_id = ?1 AND jti IS NOT ?2",
        params![account_id, keep],
    )?)
}

/// Sets the account's own new password and ends its other sessions; `keep` stays valid.
pub fn set_password(
    conn: &mut Connection,
    username: &str,
    hash: &str,
    keep: Option<&str>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let tx = conn.transaction()?;
    let current = get(&tx, username)?.ok_or(StoreError::NotFound)?;
    tx.execute(
        "UPDATE users SET password_hash = ?2, must_change_pw = 0, updated_at = ?3 WHERE username = ?1",
        params![username, hash, ts(now)],
    )?;
    end_sessions(&tx, &current.account_id, keep)?;
    tx.commit()?;
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

/// Applies a patch, refusing to leave the fleet without an enabled admin. A password reset,
/// a role change or disabling ends the account's sessions (all but `keep`, the caller's).
pub fn patch(
    conn: &mut Connection,
    username: &str,
    p: &Patch,
    keep: Option<&str>,
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
    if p.password_hash.is_some() || updated.role != current.role || updated.disabled {
        end_sessions(&tx, &current.account_id, keep)?;
    }
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
    end_sessions(&tx, &current.account_id, None)?;
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
    conn.execute("DELETE FROM sessions WHERE jti = ?1", [jti])?;
    Ok(())
}
