//! The read model of KV `accounts` and `sessions`: each watch first takes the bucket's current
//! state whole (the table becomes exactly that, so deletions made while this replica was away
//! are not missed), then applies every change as it comes. Also the one-time publication of
//! accounts and sessions that existed only in SQLite before they moved to KV.

use std::sync::Arc;

use anyhow::Context;
use async_nats::jetstream::kv;
use futures::StreamExt;
use kanade_protocol::names;
use tokio::sync::watch;

use super::Accounts;
use crate::store::users::{self, Session, SessionEntry, User};

/// Publishes the accounts and sessions this database holds from before accounts lived in KV
/// (rows without a KV revision). A name already in KV keeps the KV account (another replica
/// published first); the next sync then replaces the local row with it.
pub async fn publish_legacy(accounts: &Accounts) -> anyhow::Result<()> {
    let (legacy_users, legacy_sessions) = accounts.store.read(|c| users::unpublished(c)).await?;
    if legacy_users.is_empty() && legacy_sessions.is_empty() {
        return Ok(());
    }
    let mut published = 0;
    for user in &legacy_users {
        let bytes = serde_json::to_vec(user)?;
        match accounts
            .accounts
            .create(names::account_key(&user.username), bytes.into())
            .await
        {
            Ok(_) => published += 1,
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {
                tracing::warn!(user = %user.username, "account already in KV (published by another replica); keeping that one");
            }
            Err(err) => return Err(err).context("publishing an account to KV accounts"),
        }
    }
    let now = chrono::Utc::now();
    for (aid, jti, session, _) in legacy_sessions.iter().filter(|s| s.2.expires_at > now) {
        let bytes = serde_json::to_vec(session)?;
        match accounts
            .sessions
            .create(names::session_key(aid, jti), bytes.into())
            .await
        {
            Ok(_) => {}
            Err(err) if err.kind() == kv::CreateErrorKind::AlreadyExists => {}
            Err(err) => return Err(err).context("publishing a session to KV sessions"),
        }
    }
    tracing::info!(
        accounts = published,
        sessions = legacy_sessions.len(),
        "published the accounts kept in SQLite to KV (once; KV is their home from now on)"
    );
    Ok(())
}

/// A watch over the whole bucket and its state when the watch began: the newest entry of
/// every key, and the revision through which that state is complete.
async fn open(
    accounts: &Accounts,
    bucket: &str,
    kv: &kv::Store,
) -> anyhow::Result<(Vec<kv::Entry>, u64, kv::Watch)> {
    let stream = accounts
        .js
        .get_stream(format!("KV_{bucket}"))
        .await
        .with_context(|| format!("reading KV {bucket}"))?;
    let state = &stream.cached_info().state;
    let (empty, last) = (state.messages == 0, state.last_sequence);
    let mut watch = kv
        .watch_with_history(">")
        .await
        .with_context(|| format!("watching KV {bucket}"))?;
    let mut snapshot = Vec::new();
    let mut through = last;
    if !empty {
        while let Some(entry) = watch.next().await {
            let entry = entry.with_context(|| format!("reading the KV {bucket} watch"))?;
            through = through.max(entry.revision);
            let done = entry.delta == 0;
            snapshot.push(entry);
            if done {
                break;
            }
        }
    }
    Ok((snapshot, through, watch))
}

fn advance(applied: &watch::Sender<Option<u64>>, rev: u64) {
    applied.send_modify(|a| *a = Some(a.map_or(rev, |seen| seen.max(rev))));
}

fn account(entry: &kv::Entry) -> Option<User> {
    match serde_json::from_slice::<User>(&entry.value) {
        Ok(user) => Some(user),
        Err(err) => {
            tracing::error!(key = %entry.key, error = %err, "KV accounts holds an unreadable account; skipped");
            None
        }
    }
}

fn session(entry: &kv::Entry) -> Option<SessionEntry> {
    let (aid, jti) = entry.key.split_once('.')?;
    let session = serde_json::from_slice::<Session>(&entry.value).ok()?;
    Some((aid.to_owned(), jti.to_owned(), session, entry.revision))
}

/// Keeps `users` equal to KV `accounts` until the watch fails (the supervisor reopens it).
pub async fn run_accounts(accounts: Arc<Accounts>) -> anyhow::Result<()> {
    let (snapshot, through, mut watch) =
        open(&accounts, names::KV_ACCOUNTS, &accounts.accounts).await?;
    let rows: Vec<(User, u64)> = snapshot
        .iter()
        .filter(|e| e.operation == kv::Operation::Put)
        .filter_map(|e| account(e).map(|u| (u, e.revision)))
        .collect();
    let count = rows.len();
    accounts
        .store
        .write(move |c| Ok(users::replace_users(c, &rows)?))
        .await?;
    advance(&accounts.applied_accounts, through);
    tracing::info!(accounts = count, "accounts read model in sync with KV");
    while let Some(entry) = watch.next().await {
        let entry = entry.context("reading the KV accounts watch")?;
        let rev = entry.revision;
        match entry.operation {
            kv::Operation::Put => {
                if let Some(user) = account(&entry) {
                    accounts
                        .store
                        .write(move |c| Ok(users::apply_user(c, &user, rev)?))
                        .await?;
                }
            }
            kv::Operation::Delete | kv::Operation::Purge => {
                if let Some(name) = names::username_of_key(&entry.key) {
                    accounts
                        .store
                        .write(move |c| Ok(users::remove_user(c, &name, rev)?))
                        .await?;
                }
            }
        }
        advance(&accounts.applied_accounts, rev);
    }
    anyhow::bail!("the KV accounts watch ended")
}

/// Keeps `sessions` equal to KV `sessions` until the watch fails (the supervisor reopens it).
pub async fn run_sessions(accounts: Arc<Accounts>) -> anyhow::Result<()> {
    let (snapshot, through, mut watch) =
        open(&accounts, names::KV_SESSIONS, &accounts.sessions).await?;
    let rows: Vec<SessionEntry> = snapshot
        .iter()
        .filter(|e| e.operation == kv::Operation::Put)
        .filter_map(session)
        .collect();
    accounts
        .store
        .write(move |c| Ok(users::replace_sessions(c, &rows)?))
        .await?;
    advance(&accounts.applied_sessions, through);
    while let Some(entry) = watch.next().await {
        let entry = entry.context("reading the KV sessions watch")?;
        let rev = entry.revision;
        match entry.operation {
            kv::Operation::Put => {
                if let Some((aid, jti, s, rev)) = session(&entry) {
                    accounts
                        .store
                        .write(move |c| Ok(users::apply_session(c, &aid, &jti, &s, rev)?))
                        .await?;
                }
            }
            kv::Operation::Delete | kv::Operation::Purge => {
                if let Some((_, jti)) = entry.key.split_once('.') {
                    let jti = jti.to_owned();
                    accounts
                        .store
                        .write(move |c| Ok(users::remove_session(c, &jti, rev)?))
                        .await?;
                }
            }
        }
        advance(&accounts.applied_sessions, rev);
    }
    anyhow::bail!("the KV sessions watch ended")
}
