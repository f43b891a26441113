//! A shell on a pseudo-terminal (Unix): `openpty`, the shell started as a session leader with
//! the PTY as its controlling terminal, non-blocking reads and writes on the master through
//! tokio's `AsyncFd`, window resizes, and the end that leaves nothing behind: every process of
//! the shell's session (background jobs have process groups of their own) is sent SIGHUP,
//! then SIGKILL, also when the `Shell` is dropped.

use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

use nix::fcntl::{FcntlArg, OFlag, fcntl};
use nix::pty::{Winsize, openpty};
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::unix::AsyncFd;

/// A running shell and the master side of its terminal.
pub struct Shell {
    master: AsyncFd<OwnedFd>,
    child: tokio::process::Child,
    pid: u32,
    ended: bool,
}

/// The login shell and home of the user the agent runs as (root's on a managed machine).
fn login_shell() -> (PathBuf, PathBuf, String) {
    let user = nix::unistd::User::from_uid(nix::unistd::getuid())
        .ok()
        .flatten();
    let shell = user
        .as_ref()
        .map(|u| u.shell.clone())
        .filter(|s| s.is_file())
        .unwrap_or_else(|| PathBuf::from("/bin/sh"));
    let home = user
        .as_ref()
        .map(|u| u.dir.clone())
        .filter(|d| d.is_dir())
        .unwrap_or_else(|| PathBuf::from("/"));
    let name = user.map(|u| u.name).unwrap_or_else(|| "root".to_owned());
    (shell, home, name)
}

fn winsize(rows: u16, cols: u16) -> Winsize {
    Winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    }
}

impl Shell {
    /// Starts the login shell on a new terminal of `rows` x `cols`.
    pub fn spawn(rows: u16, cols: u16) -> io::Result<Shell> {
        let pty = openpty(&winsize(rows, cols), None).map_err(io::Error::from)?;
        let (shell, home, user) = login_shell();
        let arg0 = format!(
            "-{}",
            shell
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| "sh".to_owned())
        );
        let mut cmd = std::process::Command::new(&shell);
        cmd.arg0(arg0)
            .current_dir(&home)
            .env_clear()
            .env("TERM", "xterm-256color")
            .env("HOME", &home)
            .env("SHELL", &shell)
            .env("USER", &user)
            .env("LOGNAME", &user)
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .stdin(pty.slave.try_clone()?)
            .stdout(pty.slave.try_clone()?)
            .stderr(pty.slave.try_clone()?);
        if let Ok(lang) = std::env::var("LANG") {
            cmd.env("LANG", lang);
        }
        make_session_leader(&mut cmd);
        let child = tokio::process::Command::from(cmd).spawn()?;
        drop(pty.slave);
        let pid = child.id().unwrap_or(0);
        let flags = fcntl(pty.master.as_fd(), FcntlArg::F_GETFL).map_err(io::Error::from)?;
        let flags = OFlag::from_bits_truncate(flags) | OFlag::O_NONBLOCK;
        fcntl(pty.master.as_fd(), FcntlArg::F_SETFL(flags)).map_err(io::Error::from)?;
        Ok(Shell {
            master: register(pty.master)?,
            child,
            pid,
            ended: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The next output; `Ok(0)` once the shell and everything holding the terminal is gone.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            let mut guard = self.master.readable().await?;
            match guard.try_io(|fd| nix::unistd::read(fd.get_ref(), buf).map_err(io::Error::from)) {
                Ok(Ok(n)) => return Ok(n),
                // Linux answers EIO on the master when the last slave holder closed it.
                Ok(Err(err)) if err.raw_os_error() == Some(nix::libc::EIO) => return Ok(0),
                Ok(Err(err)) => return Err(err),
                Err(_would_block) => continue,
            }
        }
    }

    /// Writes all of `data` to the terminal.
    pub async fn write_all(&self, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let mut guard = self.master.writable().await?;
            match guard.try_io(|fd| nix::unistd::write(fd.get_ref(), data).map_err(io::Error::from))
            {
                Ok(Ok(n)) => data = &data[n..],
                Ok(Err(err)) => return Err(err),
                Err(_would_block) => continue,
            }
        }
        Ok(())
    }

    /// Tells the terminal (and so the shell, by SIGWINCH) its new size.
    pub fn resize(&self, rows: u16, cols: u16) -> io::Result<()> {
        set_winsize(self.master.get_ref(), &winsize(rows, cols))
    }

    /// The shell's exit code once it has exited (`None` while it runs or when a signal ended it).
    pub fn try_exit_code(&mut self) -> Option<Option<i32>> {
        self.child.try_wait().ok().flatten().map(|s| s.code())
    }

    /// Ends the shell and everything in its session: SIGHUP, up to `grace` to go, then SIGKILL;
    /// the shell is reaped. Returns its exit code when it had one.
    pub async fn end(&mut self, grace: Duration) -> Option<i32> {
        self.ended = true;
        if let Ok(Some(status)) = self.child.try_wait() {
            signal_session(self.pid, Signal::SIGKILL);
            return status.code();
        }
        signal_session(self.pid, Signal::SIGHUP);
        signal_session(self.pid, Signal::SIGCONT);
        let code = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(status)) => status.code(),
            _ => {
                signal_session(self.pid, Signal::SIGKILL);
                self.child.wait().await.ok().and_then(|s| s.code())
            }
        };
        // Anything of the session still alive after the shell went.
        signal_session(self.pid, Signal::SIGKILL);
        code
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        if !self.ended {
            signal_session(self.pid, Signal::SIGKILL);
        }
    }
}

/// The shell becomes the leader of a new session whose controlling terminal is its stdin.
#[allow(unsafe_code)] // pre_exec is the only way to call setsid and TIOCSCTTY in the child
fn make_session_leader(cmd: &mut std::process::Command) {
    // SAFETY: only async-signal-safe calls (setsid, ioctl) run between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            nix::unistd::setsid().map_err(io::Error::from)?;
            if nix::libc::ioctl(0, nix::libc::TIOCSCTTY as _, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
}

#[allow(unsafe_code)] // tokio's registration is unsafe since the fd must stay open
fn register(fd: OwnedFd) -> io::Result<AsyncFd<OwnedFd>> {
    // SAFETY: an `OwnedFd` stays open, and is the same descriptor, until the `AsyncFd` drops it.
    unsafe { AsyncFd::register(fd) }.map_err(io::Error::from)
}

#[allow(unsafe_code)] // TIOCSWINSZ has no safe wrapper in nix
fn set_winsize(fd: &OwnedFd, size: &Winsize) -> io::Result<()> {
    // SAFETY: `size` is a valid winsize for the duration of the call.
    let rc = unsafe { nix::libc::ioctl(fd.as_raw_fd(), nix::libc::TIOCSWINSZ as _, size) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Sends `signal` to the process group of `sid` and to every process whose session is `sid`.
fn signal_session(sid: u32, signal: Signal) {
    let Ok(sid) = i32::try_from(sid) else { return };
    if sid <= 1 {
        return;
    }
    let _ = nix::sys::signal::killpg(Pid::from_raw(sid), signal);
    for pid in session_members(sid) {
        let _ = kill(Pid::from_raw(pid), signal);
    }
}

/// Every process whose session id is `sid` (Linux `/proc/<pid>/stat`, field 6).
pub fn session_members(sid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|text| {
                    // After the command name in parentheses: state ppid pgrp session …
                    let rest = &text[text.rfind(')')? + 1..];
                    rest.split_whitespace().nth(3)?.parse::<i32>().ok()
                })
                == Some(sid)
        })
        .collect()
}
