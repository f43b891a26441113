//! The local interface for the people at the machine: a Unix socket `<data_dir>/agent.sock`
//! (mode 0666, so every local account can connect) that lists the notifications this machine
//! received and records confirmations. The agent learns who is asking from the socket itself
//! (`SO_PEERCRED`: the peer's uid, named through the user database), never from the request.
//! An ack goes out as a `NotificationAck` on `events.notifications.acked.<pc>.<user>.<id>`
//! through the durable outbox, and is written to KV `notifications_read` (`read_marks`), which
//! the list consults too, so a confirmation made before a reinstall still counts.
//!
//! Protocol: one JSON `Request` per line, one JSON `Response` per line, any number per
//! connection. These types are local to the agent binary (the CLI half is this binary too),
//! so they live here rather than in `kanade-protocol`. `kanade-agent notifications list|ack`
//! and `kanade-agent consent list|accept|deny` are the client (`client`). Consent requests
//! (`terminal: consent`, `terminal::consent`) are listed to and answered by the signed-in
//! user they wait for.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use chrono::Utc;
use kanade_protocol::subject::is_valid_token;
use kanade_protocol::wire::{Notification, NotificationAck};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::notifications::Inbox;
use crate::outbox::{Entry, Outbox};
use crate::terminal::consent::{ConsentRequest, Consents};

pub const SOCKET_NAME: &str = "agent.sock";
/// A request line longer than this ends the connection.
const MAX_LINE: u64 = 64 * 1024;
/// A connection that sends nothing for this long is closed.
const IDLE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The current notifications, with whether the caller confirmed each.
    List,
    /// The caller confirms notification `id`.
    Ack { id: String },
    /// The remote-terminal consent requests waiting for the caller's answer.
    Consents,
    /// The caller accepts (or declines) remote-terminal request `id`.
    Consent { id: String, accept: bool },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Response {
    Notifications {
        /// The caller, as the agent identified them.
        user: String,
        notifications: Vec<Listed>,
    },
    Acked {
        id: String,
        user: String,
    },
    Consents {
        user: String,
        requests: Vec<ConsentRequest>,
    },
    Consented {
        id: String,
        user: String,
        accepted: bool,
    },
    Error {
        message: String,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Listed {
    pub notification: Notification,
    /// Whether the caller confirmed it.
    pub acked: bool,
}

pub fn socket_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SOCKET_NAME)
}

/// What answering requests needs from the agent.
#[derive(Clone)]
pub struct Local {
    pub pc_id: String,
    pub inbox: Arc<Inbox>,
    pub outbox: Arc<Outbox>,
    /// KV `notifications_read`; `None` runs on the local inbox alone.
    pub read_marks: Option<crate::read_marks::ReadMarks>,
    /// Remote-terminal requests waiting for consent.
    pub consents: Consents,
}

/// Binds `path` (0666): a leftover file of a previous run is replaced; a socket another
/// running agent answers on is not.
pub fn bind(path: &Path) -> anyhow::Result<UnixListener> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            bail!("another agent answers on {}", path.display());
        }
        std::fs::remove_file(path)
            .with_context(|| format!("removing the stale {}", path.display()))?;
    }
    let listener =
        UnixListener::bind(path).with_context(|| format!("binding {}", path.display()))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))
        .with_context(|| format!("opening {} to local users", path.display()))?;
    Ok(listener)
}

/// Answers connections on `listener`. Runs until aborted.
pub async fn serve(listener: UnixListener, local: Local) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let local = local.clone();
                tokio::spawn(async move {
                    if let Err(err) = answer(stream, &local).await {
                        tracing::debug!(error = format!("{err:#}"), "local connection ended");
                    }
                });
            }
            Err(err) => {
                tracing::warn!(error = %err, "local socket accept failed");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

async fn answer(stream: UnixStream, local: &Local) -> anyhow::Result<()> {
    let uid = stream
        .peer_cred()
        .context("reading the peer's credentials")?
        .uid();
    let user = tokio::task::spawn_blocking(move || user_name(uid))
        .await
        .context("user lookup failed")?;
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    loop {
        let mut line = Vec::new();
        let read = tokio::time::timeout(
            IDLE,
            (&mut reader).take(MAX_LINE).read_until(b'\n', &mut line),
        )
        .await;
        let n = match read {
            Ok(read) => read?,
            Err(_) => return Ok(()),
        };
        if n == 0 {
            return Ok(());
        }
        let too_long = !line.ends_with(b"\n") && n as u64 >= MAX_LINE;
        let response = if too_long {
            Response::Error {
                message: format!("request longer than {MAX_LINE} bytes"),
            }
        } else {
            match serde_json::from_slice::<Request>(&line) {
                Ok(request) => handle(request, &user, local).await,
                Err(err) => Response::Error {
                    message: format!("not a request: {err}"),
                },
            }
        };
        let mut bytes = serde_json::to_vec(&response)?;
        bytes.push(b'\n');
        write.write_all(&bytes).await?;
        if too_long {
            return Ok(());
        }
    }
}

async fn handle(request: Request, user: &str, local: &Local) -> Response {
    let now = Utc::now();
    match request {
        Request::Consents => Response::Consents {
            user: user.to_owned(),
            requests: local.consents.list_for(user),
        },
        Request::Consent { id, accept } => match local.consents.answer(&id, user, accept) {
            Ok(()) => Response::Consented {
                id,
                user: user.to_owned(),
                accepted: accept,
            },
            Err(message) => Response::Error { message },
        },
        Request::List => {
            let kept = local.inbox.list(now);
            let ids: Vec<String> = kept.iter().map(|k| k.notification.id.clone()).collect();
            let marked = match &local.read_marks {
                Some(marks) => marks.marked(user, &ids).await,
                None => Default::default(),
            };
            Response::Notifications {
                user: user.to_owned(),
                notifications: kept
                    .into_iter()
                    .map(|kept| Listed {
                        acked: kept.acked_by.iter().any(|u| u == user)
                            || marked.contains(&kept.notification.id),
                        notification: kept.notification,
                    })
                    .collect(),
            }
        }
        Request::Ack { id } => {
            if !is_valid_token(&id) || local.inbox.get(&id, now).is_none() {
                return Response::Error {
                    message: format!("no current notification {id:?} on this machine"),
                };
            }
            let ack = NotificationAck {
                notification_id: id.clone(),
                pc_id: local.pc_id.clone(),
                user: user.to_owned(),
                acked_at: now,
            };
            if let Err(err) = local.outbox.push(&Entry::Ack(ack)).await {
                tracing::error!(error = format!("{err:#}"), id, user, "cannot record an ack");
                return Response::Error {
                    message: "the agent cannot record the confirmation; try again".to_owned(),
                };
            }
            if let Some(marks) = &local.read_marks
                && let Err(err) = marks.mark(user, &id, now).await
            {
                tracing::warn!(
                    error = format!("{err:#}"),
                    id,
                    "read mark not written to the broker"
                );
            }
            if let Err(err) = local.inbox.mark_acked(&id, user) {
                tracing::warn!(
                    error = format!("{err:#}"),
                    id,
                    "cannot mark the notification confirmed"
                );
            }
            tracing::info!(id, user, "notification confirmed");
            Response::Acked {
                id,
                user: user.to_owned(),
            }
        }
    }
}

/// The account name of `uid` (from the user database, so NSS/LDAP accounts resolve too), or
/// the number when it has none.
pub fn user_name(uid: u32) -> String {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => user.name,
        _ => uid.to_string(),
    }
}

/// Sends one request to the agent answering on `socket` and returns its response.
pub async fn request(socket: &Path, request: &Request) -> anyhow::Result<Response> {
    let stream = match UnixStream::connect(socket).await {
        Ok(stream) => stream,
        Err(err)
            if matches!(
                err.kind(),
                ErrorKind::NotFound | ErrorKind::ConnectionRefused
            ) =>
        {
            bail!(
                "the agent is not running (nothing answers on {})",
                socket.display()
            )
        }
        Err(err) => {
            return Err(err).with_context(|| format!("connecting to {}", socket.display()));
        }
    };
    let (read, mut write) = stream.into_split();
    let mut bytes = serde_json::to_vec(request)?;
    bytes.push(b'\n');
    write.write_all(&bytes).await?;
    let mut line = String::new();
    let n = tokio::time::timeout(
        Duration::from_secs(30),
        BufReader::new(read).read_line(&mut line),
    )
    .await
    .context("the agent did not answer within 30 s")??;
    if n == 0 {
        bail!("the agent closed the connection without an answer");
    }
    serde_json::from_str(&line).context("the agent's answer does not decode")
}

/// `kanade-agent notifications list|ack`: prints the answer; Err for an error answer.
pub async fn client(socket: &Path, request: Request, json: bool) -> anyhow::Result<()> {
    let response = self::request(socket, &request).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&response)?);
    }
    match response {
        Response::Error { message } => bail!("{message}"),
        _ if json => {}
        Response::Notifications { notifications, .. } => {
            if notifications.is_empty() {
                println!("No notifications.");
            }
            for listed in notifications {
                let n = &listed.notification;
                let state = match (n.require_ack, listed.acked) {
                    (_, true) => "confirmed",
                    (true, false) => "please confirm",
                    (false, false) => "",
                };
                let priority = format!("{:?}", n.priority).to_lowercase();
                println!(
                    "{}  {}  {priority}  {}  {state}",
                    n.id,
                    n.issued_at.format("%Y-%m-%d %H:%M"),
                    n.title,
                );
                for line in n.body.lines() {
                    println!("    {line}");
                }
            }
        }
        Response::Acked { id, user } => println!("Confirmed {id} as {user}."),
        Response::Consents { requests, .. } => {
            if requests.is_empty() {
                println!("No remote terminal is waiting for your consent.");
            }
            for r in requests {
                println!(
                    "{}  {} asks to open a remote terminal (answer before {})",
                    r.id,
                    r.admin,
                    r.expires_at.format("%H:%M:%S UTC")
                );
            }
        }
        Response::Consented { id, accepted, .. } => match accepted {
            true => println!("Accepted remote terminal {id}."),
            false => println!("Declined remote terminal {id}."),
        },
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_one_json_object_per_line() {
        let ack = Request::Ack { id: "n1".into() };
        assert_eq!(
            serde_json::to_string(&ack).unwrap(),
            r#"{"op":"ack","id":"n1"}"#
        );
        assert_eq!(
            serde_json::from_str::<Request>(r#"{"op":"list"}"#).unwrap(),
            Request::List
        );
        let err = Response::Error {
            message: "x".into(),
        };
        assert_eq!(
            serde_json::to_string(&err).unwrap(),
            r#"{"result":"error","message":"x"}"#
        );
    }

    #[test]
    fn uid_zero_is_root() {
        assert_eq!(user_name(0), "root");
    }
}
