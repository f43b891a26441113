//! Showing a notification to the people logged in at the machine, where that is possible:
//! `notify-send` (libnotify) on each desktop session bus. With `DBUS_SESSION_BUS_ADDRESS`
//! set (an agent running inside a session) that bus is used; otherwise every
//! `/run/user/<uid>/bus` is, running `notify-send` as that user when the agent is root (a
//! service) and only the agent's own when it is not. Nothing here fails the agent: without
//! `notify-send` or a session the notification is just kept for `kanade-agent notifications
//! list`.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use kanade_protocol::wire::{Notification, Priority};

/// A `notify-send` that hangs (a stuck bus) is killed after this.
const SHOW_TIMEOUT: Duration = Duration::from_secs(10);
static SAID_NO_NOTIFY_SEND: AtomicBool = AtomicBool::new(false);

/// One desktop session to show notifications in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Session {
    /// The agent's own environment names the bus.
    Inherited,
    /// `/run/user/<uid>/bus`; run as that user when `as_user` (the agent is root).
    User {
        uid: u32,
        bus: PathBuf,
        as_user: bool,
    },
}

/// Shows `notification` on every reachable desktop session. Never fails.
pub async fn show(notification: &Notification) {
    let Some(program) = find_on_path("notify-send") else {
        if !SAID_NO_NOTIFY_SEND.swap(true, Ordering::Relaxed) {
            tracing::info!(
                "notify-send is not installed; notifications are not shown on the desktop"
            );
        }
        return;
    };
    let sessions = sessions();
    if sessions.is_empty() {
        tracing::debug!(id = notification.id, "no desktop session bus; not shown");
        return;
    }
    for session in sessions {
        let mut command = tokio::process::Command::new(&program);
        command
            .args(arguments(notification))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true);
        if let Session::User { uid, bus, as_user } = &session {
            command
                .env(
                    "DBUS_SESSION_BUS_ADDRESS",
                    format!("unix:path={}", bus.display()),
                )
                .env("XDG_RUNTIME_DIR", bus.parent().unwrap_or(Path::new("/")));
            #[cfg(unix)]
            if *as_user {
                let Some(gid) = primary_gid(*uid) else {
                    continue;
                };
                command.uid(*uid).gid(gid);
            }
        }
        let outcome = match command.spawn() {
            Ok(mut child) => tokio::time::timeout(SHOW_TIMEOUT, child.wait()).await,
            Err(err) => {
                tracing::debug!(error = %err, ?session, "cannot start notify-send");
                continue;
            }
        };
        match outcome {
            Ok(Ok(status)) if status.success() => {
                tracing::debug!(id = notification.id, ?session, "shown on the desktop");
            }
            Ok(Ok(status)) => tracing::debug!(%status, ?session, "notify-send failed"),
            Ok(Err(err)) => tracing::debug!(error = %err, ?session, "notify-send failed"),
            Err(_) => tracing::debug!(?session, "notify-send timed out"),
        }
    }
}

/// `notify-send` arguments: app name, urgency from the priority, title and body (after `--`,
/// so a title starting with `-` stays a title).
fn arguments(notification: &Notification) -> Vec<String> {
    let urgency = match notification.priority {
        Priority::Info => "low",
        Priority::Warn | Priority::Unknown => "normal",
        Priority::Emergency => "critical",
    };
    let mut body = notification.body.clone();
    if notification.require_ack {
        if !body.is_empty() {
            body.push_str("\n\n");
        }
        body.push_str(&format!(
            "Please confirm: kanade-agent notifications ack {}",
            notification.id
        ));
    }
    vec![
        "--app-name=kanade".to_owned(),
        format!("--urgency={urgency}"),
        "--".to_owned(),
        notification.title.clone(),
        body,
    ]
}

fn sessions() -> Vec<Session> {
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty()) {
        return vec![Session::Inherited];
    }
    let me = nix::unistd::geteuid();
    let Ok(entries) = std::fs::read_dir("/run/user") else {
        return Vec::new();
    };
    let mut sessions = Vec::new();
    for entry in entries.flatten() {
        let Some(uid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let bus = entry.path().join("bus");
        if !bus.exists() {
            continue;
        }
        if me.is_root() {
            sessions.push(Session::User {
                uid,
                bus,
                as_user: uid != 0,
            });
        } else if me.as_raw() == uid {
            sessions.push(Session::User {
                uid,
                bus,
                as_user: false,
            });
        }
    }
    sessions.sort_by_key(|s| match s {
        Session::User { uid, .. } => *uid,
        Session::Inherited => 0,
    });
    sessions
}

fn primary_gid(uid: u32) -> Option<u32> {
    match nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid)) {
        Ok(Some(user)) => Some(user.gid.as_raw()),
        _ => None,
    }
}

fn find_on_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_carry_urgency_title_and_how_to_confirm() {
        let notification = Notification {
            id: "n1".into(),
            priority: Priority::Emergency,
            require_ack: true,
            title: "-Reboot tonight".into(),
            body: "Save your work.".into(),
            issued_at: chrono::Utc::now(),
            issued_by: None,
            expires_at: None,
            target: Default::default(),
            toast: false,
        };
        assert_eq!(
            arguments(&notification),
            [
                "--app-name=kanade",
                "--urgency=critical",
                "--",
                "-Reboot tonight",
                "Save your work.\n\nPlease confirm: kanade-agent notifications ack n1",
            ]
        );
    }
}
