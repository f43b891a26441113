//! `execute.run_as` on this machine: `system` is the agent's own account; `user` is the user
//! of the active local session according to systemd-logind (its session files, by default
//! `/run/systemd/sessions`, `[agent] sessions_dir`), run with that user's uid, gid,
//! supplementary groups, HOME, USER/LOGNAME, SHELL and XDG_RUNTIME_DIR; `system_gui` is the
//! agent's account inside that user's session (its XDG_RUNTIME_DIR, session bus and display),
//! the Linux form of the original's "SYSTEM in the user's desktop". With no active user
//! session both are refused (skipped, exit 120, "no user is logged on"); on other systems they
//! are unsupported (exit 122).

use std::path::{Path, PathBuf};

use kanade_protocol::names::exit_code;
use kanade_protocol::wire::RunAs;

use crate::process::{Account, Identity};
use crate::verify::Refusal;

pub const DEFAULT_SESSIONS_DIR: &str = "/run/systemd/sessions";

/// One logind session as its state file describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The file name: logind's session id.
    pub id: String,
    pub uid: u32,
    pub user: String,
    /// `TYPE`: `tty`, `x11`, `wayland`, `mir` or `unspecified`.
    pub kind: Option<String>,
    /// `DISPLAY` of an X11 session.
    pub display: Option<String>,
}

/// Every session in `dir` that is a local, active user session (ACTIVE=1, REMOTE not 1,
/// CLASS user or unset, a UID and USER), in session-id order.
pub fn active_sessions(dir: &Path) -> Vec<Session> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut sessions: Vec<Session> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_none())
        .filter_map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            let text = std::fs::read_to_string(e.path()).ok()?;
            parse_active(&id, &text)
        })
        .collect();
    sessions.sort_by(|a, b| a.id.cmp(&b.id));
    sessions
}

/// The session run_as user and system_gui act in: the first active local user session.
pub fn active_session(dir: &Path) -> Option<Session> {
    active_sessions(dir).into_iter().next()
}

fn parse_active(id: &str, text: &str) -> Option<Session> {
    let value = |key: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(key)?.strip_prefix('='))
            .filter(|v| !v.is_empty())
    };
    if value("ACTIVE") != Some("1") || value("REMOTE") == Some("1") {
        return None;
    }
    if value("CLASS").is_some_and(|c| c != "user") {
        return None;
    }
    Some(Session {
        id: id.to_owned(),
        uid: value("UID")?.parse().ok()?,
        user: value("USER")?.to_owned(),
        kind: value("TYPE").map(str::to_owned),
        display: value("DISPLAY").map(str::to_owned),
    })
}

/// What the run looks like for `run_as`, or why it cannot happen now.
pub fn identity(run_as: Option<RunAs>, sessions_dir: &Path) -> Result<Identity, Refusal> {
    let run_as = match run_as {
        None | Some(RunAs::System) => return Ok(Identity::default()),
        Some(other) => other,
    };
    let name = match run_as {
        RunAs::User => "user",
        _ => "system_gui",
    };
    if !cfg!(target_os = "linux") {
        return Err(Refusal {
            exit_code: exit_code::UNSUPPORTED,
            reason: format!(
                "kanade: run_as {name} is not supported on this OS — not running (it would run as the agent's own account)"
            ),
        });
    }
    let Some(session) = active_session(sessions_dir) else {
        return Err(Refusal {
            exit_code: exit_code::NO_USER,
            reason: format!(
                "kanade: run_as {name}: no user is logged on (no active local session in {})",
                sessions_dir.display()
            ),
        });
    };
    let refuse = |why: String| Refusal {
        exit_code: exit_code::NO_USER,
        reason: format!(
            "kanade: run_as {name}: the logged-on user {} (uid {}) {why}",
            session.user, session.uid
        ),
    };
    let user = nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(session.uid))
        .map_err(|err| refuse(format!("cannot be looked up: {err}")))?
        .ok_or_else(|| refuse("has no account on this machine".to_owned()))?;
    let runtime_dir = PathBuf::from(format!("/run/user/{}", session.uid));
    let mut env = vec![(
        "XDG_RUNTIME_DIR".to_owned(),
        runtime_dir.display().to_string(),
    )];
    let bus = runtime_dir.join("bus");
    if bus.exists() {
        env.push((
            "DBUS_SESSION_BUS_ADDRESS".to_owned(),
            format!("unix:path={}", bus.display()),
        ));
    }
    if let Some(display) = &session.display {
        env.push(("DISPLAY".to_owned(), display.clone()));
    }
    if session.kind.as_deref() == Some("wayland")
        && let Some(socket) = wayland_socket(&runtime_dir)
    {
        env.push(("WAYLAND_DISPLAY".to_owned(), socket));
    }
    env.push(("XDG_SESSION_ID".to_owned(), session.id.clone()));
    if run_as != RunAs::User {
        return Ok(Identity { account: None, env });
    }
    let c_name = std::ffi::CString::new(user.name.as_str())
        .map_err(|_| refuse("has a name that cannot be used".to_owned()))?;
    let groups = nix::unistd::getgrouplist(&c_name, user.gid)
        .map_err(|err| refuse(format!("has groups that cannot be read: {err}")))?;
    let home = user.dir.display().to_string();
    env.extend([
        ("HOME".to_owned(), home),
        ("USER".to_owned(), user.name.clone()),
        ("LOGNAME".to_owned(), user.name.clone()),
        ("SHELL".to_owned(), user.shell.display().to_string()),
    ]);
    Ok(Identity {
        account: Some(Account {
            uid: user.uid.as_raw(),
            gid: user.gid.as_raw(),
            groups: groups.iter().map(|g| g.as_raw()).collect(),
            home: user.dir.clone(),
        }),
        env,
    })
}

/// The first `wayland-N` socket in the user's runtime folder.
fn wayland_socket(runtime_dir: &Path) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(runtime_dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("wayland-") && !n.ends_with(".lock"))
        .collect();
    names.sort();
    names.into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_active_local_user_sessions_count() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| std::fs::write(dir.path().join(name), text).unwrap();
        write(
            "1",
            "UID=1001\nUSER=remote\nACTIVE=1\nREMOTE=1\nCLASS=user\n",
        );
        write("2", "UID=1002\nUSER=greeter\nACTIVE=1\nCLASS=greeter\n");
        write("3", "UID=1003\nUSER=idle\nACTIVE=0\nCLASS=user\n");
        write("3.ref", "");
        assert_eq!(active_session(dir.path()), None);
        write(
            "4",
            "UID=1000\nUSER=hanako\nACTIVE=1\nREMOTE=0\nCLASS=user\nTYPE=x11\nDISPLAY=:0\n",
        );
        assert_eq!(
            active_session(dir.path()),
            Some(Session {
                id: "4".into(),
                uid: 1000,
                user: "hanako".into(),
                kind: Some("x11".into()),
                display: Some(":0".into()),
            })
        );
        assert!(active_sessions(&dir.path().join("absent")).is_empty());
    }

    #[test]
    fn system_or_nothing_is_the_agent_itself_and_no_session_refuses() {
        let dir = tempfile::tempdir().unwrap();
        let own = identity(Some(RunAs::System), dir.path()).unwrap();
        assert!(own.account.is_none() && own.env.is_empty());
        assert!(identity(None, dir.path()).unwrap().account.is_none());
        for run_as in [RunAs::User, RunAs::SystemGui] {
            let refusal = identity(Some(run_as), dir.path()).unwrap_err();
            if cfg!(target_os = "linux") {
                assert_eq!(refusal.exit_code, exit_code::NO_USER);
                assert!(
                    refusal.reason.contains("no user is logged on"),
                    "{}",
                    refusal.reason
                );
            } else {
                assert_eq!(refusal.exit_code, exit_code::UNSUPPORTED);
            }
        }
    }
}
