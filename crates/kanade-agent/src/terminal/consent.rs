//! `terminal: consent`: before a remote shell starts, the user signed in at the machine is
//! asked. The request is shown on the desktop (a `notify-send` toast, as notifications are)
//! and kept here for the local socket (`local`: `{"op":"consents"}` lists what waits for the
//! caller, `{"op":"consent","id":…,"accept":true}` answers), and the open waits for the
//! answer up to the configured timeout. Only an account with an active local session (logind,
//! `[agent] sessions_dir`) may answer, and only as itself (the socket's peer credentials).

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kanade_protocol::wire::{Notification, Priority};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;

/// A consent request as the local socket lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentRequest {
    /// The terminal session it is for.
    pub id: String,
    /// The admin who asks.
    pub admin: String,
    pub asked_at: DateTime<Utc>,
    /// No answer by then is a refusal.
    pub expires_at: DateTime<Utc>,
}

struct Pending {
    request: ConsentRequest,
    /// The signed-in accounts that may answer.
    users: Vec<String>,
    answer: Option<oneshot::Sender<(bool, String)>>,
}

/// The consent requests waiting for an answer on this machine.
#[derive(Clone, Default)]
pub struct Consents(Arc<Mutex<HashMap<String, Pending>>>);

/// Removes a request when its wait ends, however it ends.
struct Forget<'a>(&'a Consents, String);

impl Drop for Forget<'_> {
    fn drop(&mut self) {
        if let Ok(mut pending) = (self.0).0.lock() {
            pending.remove(&self.1);
        }
    }
}

impl Consents {
    /// Asks the signed-in user(s) whether `admin` may open session `id`; Ok with who
    /// accepted once one of them does, Err with the reason the admin is told otherwise.
    pub async fn ask(
        &self,
        sessions_dir: &Path,
        id: &str,
        admin: &str,
        timeout: Duration,
    ) -> Result<String, String> {
        let mut users: Vec<String> = crate::run_as::active_sessions(sessions_dir)
            .into_iter()
            .map(|s| s.user)
            .collect();
        users.dedup();
        if users.is_empty() {
            return Err("nobody is signed in at the machine to accept the terminal".into());
        }
        let now = Utc::now();
        let request = ConsentRequest {
            id: id.to_owned(),
            admin: admin.to_owned(),
            asked_at: now,
            expires_at: now + chrono::Duration::from_std(timeout).unwrap_or_default(),
        };
        let (tx, rx) = oneshot::channel();
        if let Ok(mut pending) = self.0.lock() {
            pending.insert(
                id.to_owned(),
                Pending {
                    request: request.clone(),
                    users: users.clone(),
                    answer: Some(tx),
                },
            );
        }
        let _forget = Forget(self, id.to_owned());
        tracing::info!(
            session_id = id,
            admin,
            ?users,
            "asking the signed-in user to accept a remote terminal"
        );
        let toast = notification(&request);
        tokio::spawn(async move { crate::desktop::show(&toast).await });
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok((true, user))) => {
                tracing::info!(session_id = id, user, "remote terminal accepted");
                Ok(user)
            }
            Ok(Ok((false, user))) => {
                tracing::info!(session_id = id, user, "remote terminal declined");
                Err(format!("the user {user} declined"))
            }
            Ok(Err(_)) => Err("the consent request was dropped".into()),
            Err(_) => Err(format!("no answer in {} s", timeout.as_secs())),
        }
    }

    /// What waits for `user`'s answer.
    pub fn list_for(&self, user: &str) -> Vec<ConsentRequest> {
        let Ok(pending) = self.0.lock() else {
            return Vec::new();
        };
        let mut list: Vec<ConsentRequest> = pending
            .values()
            .filter(|p| p.users.iter().any(|u| u == user))
            .map(|p| p.request.clone())
            .collect();
        list.sort_by_key(|r| r.asked_at);
        list
    }

    /// `user` answers request `id`.
    pub fn answer(&self, id: &str, user: &str, accept: bool) -> Result<(), String> {
        let mut pending = self
            .0
            .lock()
            .map_err(|_| "the agent cannot take the answer".to_owned())?;
        let Some(p) = pending.get_mut(id) else {
            return Err(format!("no terminal consent request {id:?} is waiting"));
        };
        if !p.users.iter().any(|u| u == user) {
            return Err(format!(
                "{user} is not signed in at this machine, so cannot answer"
            ));
        }
        let Some(tx) = p.answer.take() else {
            return Err(format!("request {id:?} was already answered"));
        };
        let _ = tx.send((accept, user.to_owned()));
        Ok(())
    }
}

/// The desktop toast announcing the request.
fn notification(request: &ConsentRequest) -> Notification {
    Notification {
        id: format!("terminal-consent-{}", request.id),
        priority: Priority::default(),
        require_ack: true,
        title: format!("{} asks to open a remote terminal", request.admin),
        body: format!(
            "Accept with `kanade-agent consent accept {}` or decline with `kanade-agent consent deny {}` before {}.",
            request.id,
            request.id,
            request.expires_at.format("%H:%M:%S UTC")
        ),
        issued_at: request.asked_at,
        issued_by: Some(request.admin.clone()),
        expires_at: Some(request.expires_at),
        target: Default::default(),
        toast: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sessions(user: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("c1"),
            format!("UID=1000\nUSER={user}\nACTIVE=1\nCLASS=user\nTYPE=x11\n"),
        )
        .unwrap();
        dir
    }

    #[tokio::test]
    async fn only_the_signed_in_user_answers_and_silence_refuses() {
        let consents = Consents::default();
        let dir = sessions("alice");
        let asking = {
            let consents = consents.clone();
            let path = dir.path().to_owned();
            tokio::spawn(async move {
                consents
                    .ask(&path, "s1", "admin", Duration::from_secs(5))
                    .await
            })
        };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while consents.list_for("alice").is_empty() {
            assert!(tokio::time::Instant::now() < deadline, "never listed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(consents.list_for("mallory").is_empty());
        assert!(consents.answer("s1", "mallory", true).is_err());
        consents.answer("s1", "alice", false).unwrap();
        let refused = asking.await.unwrap().unwrap_err();
        assert!(refused.contains("declined"), "{refused}");
        assert!(consents.list_for("alice").is_empty(), "forgotten");

        let silent = consents
            .ask(dir.path(), "s2", "admin", Duration::from_millis(200))
            .await
            .unwrap_err();
        assert!(silent.contains("no answer"), "{silent}");

        let empty = tempfile::tempdir().unwrap();
        let nobody = consents
            .ask(empty.path(), "s3", "admin", Duration::from_secs(1))
            .await
            .unwrap_err();
        assert!(nobody.contains("nobody is signed in"), "{nobody}");
    }
}
