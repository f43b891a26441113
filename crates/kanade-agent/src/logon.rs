//! Who is logged on at the machine, for the heartbeat's `last_logon_user` /
//! `last_logon_display_name`: on Linux the active local session in logind's state files
//! (`[agent] sessions_dir`, read by `run_as`; no `loginctl` process), its full name from
//! `/etc/passwd`.
//! Elsewhere, or without logind, nothing is reported and the backend keeps what it had.

use std::path::Path;

/// The account of the active local (not remote) user session and its display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logon {
    pub user: String,
    pub display_name: Option<String>,
}

pub fn current(sessions: &Path) -> Option<Logon> {
    if !cfg!(target_os = "linux") {
        return None;
    }
    current_in(sessions, Path::new("/etc/passwd"))
}

/// `current` over the given logind sessions folder and passwd file.
pub fn current_in(sessions: &Path, passwd: &Path) -> Option<Logon> {
    let user = crate::run_as::active_session(sessions)?.user;
    let display_name = std::fs::read_to_string(passwd)
        .ok()
        .and_then(|text| full_name(&text, &user));
    Some(Logon { user, display_name })
}

/// The first GECOS field of `user` in a passwd file, when it is not empty.
fn full_name(passwd: &str, user: &str) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        if fields.next()? != user {
            return None;
        }
        let gecos = fields.nth(3)?;
        let name = gecos.split(',').next()?.trim();
        (!name.is_empty()).then(|| name.to_owned())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_active_local_session_names_the_user_and_passwd_the_full_name() {
        let dir = tempfile::tempdir().unwrap();
        let sessions = dir.path().join("sessions");
        std::fs::create_dir(&sessions).unwrap();
        std::fs::write(
            sessions.join("1"),
            "UID=1001\nUSER=remote\nACTIVE=1\nREMOTE=1\nCLASS=user\n",
        )
        .unwrap();
        std::fs::write(
            sessions.join("2"),
            "UID=1002\nUSER=greeter\nACTIVE=1\nCLASS=greeter\n",
        )
        .unwrap();
        std::fs::write(sessions.join("3"), "USER=idle\nACTIVE=0\nCLASS=user\n").unwrap();
        std::fs::write(
            sessions.join("4"),
            "UID=1000\nUSER=hanako\nACTIVE=1\nREMOTE=0\nCLASS=user\nTYPE=wayland\n",
        )
        .unwrap();
        std::fs::write(sessions.join("4.ref"), "").unwrap();
        let passwd = dir.path().join("passwd");
        std::fs::write(
            &passwd,
            "root:x:0:0:root:/root:/bin/bash\nhanako:x:1000:1000:Hanako Yamada,,,:/home/hanako:/bin/bash\n",
        )
        .unwrap();
        assert_eq!(
            current_in(&sessions, &passwd),
            Some(Logon {
                user: "hanako".into(),
                display_name: Some("Hanako Yamada".into())
            })
        );
        std::fs::remove_file(sessions.join("4")).unwrap();
        assert_eq!(current_in(&sessions, &passwd), None);
        assert_eq!(current_in(&dir.path().join("absent"), &passwd), None);
    }
}
