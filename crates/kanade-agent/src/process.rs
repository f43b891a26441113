//! Running one script: pick the shell, spawn it in its own process group with stdin closed,
//! capture stdout and stderr concurrently (inline up to 256 KiB each, the full bytes spilled
//! to a file beyond that), and kill the whole process tree on timeout, operator kill or agent
//! shutdown.
//!
//! Architecture invariant: this module knows nothing about NATS; the caller hands in a future
//! that resolves when someone asks to stop the run.

use std::future::Future;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::names::exit_code;
use kanade_protocol::reach::OutputStream;
use kanade_protocol::wire::Shell;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

/// Bytes of each stream kept inline in the result.
pub const INLINE_CAP: usize = 256 * 1024;
/// At most this many line times are kept per stream (see `RunOptions::line_times`).
pub const MAX_LINE_TIMES: usize = 100_000;
/// After the script's main process exited, how long an orphan may keep the pipes open before
/// the agent stops reading and reports what it has.
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// Why a run was stopped from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Timeout,
    Operator,
    Shutdown,
}

/// What to execute: a program and its arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub program: String,
    pub args: Vec<String>,
}

/// Settings of one run besides the invocation.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub cwd: Option<String>,
    pub timeout: Duration,
    pub spill_stdout: PathBuf,
    pub spill_stderr: PathBuf,
    /// Record when each stdout line arrived (for jobs whose lines are timeline events).
    pub line_times: bool,
    /// Where a copy of the output goes while it is read (live output; never waits).
    pub live: Option<crate::live::LiveTx>,
    /// Whose account and environment the script runs with (`run_as`); the agent's own by
    /// default.
    pub identity: Identity,
}

/// The account a script runs as and what its environment gets on top of the agent's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Identity {
    /// Switch to this account in the child, before exec; `None` keeps the agent's.
    pub account: Option<Account>,
    /// Variables set for the script (HOME, XDG_RUNTIME_DIR, …).
    pub env: Vec<(String, String)>,
}

/// A Unix account: the child takes its supplementary groups, gid and uid (in that order, so
/// it keeps no group of the agent's), then changes into the working folder as that user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
    /// The working folder when the command names none.
    pub home: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub exit_code: i32,
    pub stdout: Captured,
    pub stderr: Captured,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
}

/// One captured stream: the inline text and whether the full bytes sit in the spill file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Captured {
    pub text: String,
    pub spilled: bool,
    /// When each line was complete (the arrival of its newline), if asked for; at most
    /// `MAX_LINE_TIMES`.
    pub line_times: Vec<DateTime<Utc>>,
}

/// The command line for `shell`, or the reason this machine cannot run it.
pub fn invocation(shell: Shell, script: &str) -> Result<Invocation, String> {
    let (program, mut args) = match shell {
        Shell::Sh => ("sh", vec!["-c"]),
        Shell::Bash => ("bash", vec!["-c"]),
        Shell::Pwsh => ("pwsh", vec!["-NoProfile", "-NonInteractive", "-Command"]),
        Shell::Powershell | Shell::Cmd if !cfg!(windows) => {
            return Err(format!(
                "kanade: shell {} is only available on Windows",
                shell.as_str()
            ));
        }
        Shell::Powershell => (
            "powershell",
            vec!["-NoProfile", "-NonInteractive", "-Command"],
        ),
        Shell::Cmd => ("cmd", vec!["/C"]),
    };
    if find_in_path(program).is_none() {
        return Err(format!("{program} is not installed on this machine"));
    }
    args.push(script);
    Ok(Invocation {
        program: program.to_owned(),
        args: args.into_iter().map(str::to_owned).collect(),
    })
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .flat_map(|dir| {
            let plain = dir.join(program);
            let exe = dir.join(format!("{program}.exe"));
            [plain, exe]
        })
        .find(|candidate| candidate.is_file())
}

/// Runs `invocation` to completion, or until `timeout` or `stop` ends it by killing the
/// process tree. Never fails: spawn errors become an outcome with exit code 1.
pub async fn run(
    invocation: &Invocation,
    options: &RunOptions,
    stop: impl Future<Output = Stop>,
) -> Outcome {
    let started_at = Utc::now();
    let mut command = tokio::process::Command::new(&invocation.program);
    command
        .args(&invocation.args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Scripts are operator code: they get the agent's environment minus its broker secret.
        .env_remove("KANADE_NATS_TOKEN")
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    for (name, value) in &options.identity.env {
        command.env(name, value);
    }
    match &options.identity.account {
        #[cfg(unix)]
        Some(account) => switch_user(&mut command, account, options.cwd.as_deref()),
        _ => {
            if let Some(cwd) = &options.cwd {
                command.current_dir(cwd);
            }
        }
    }
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(err) => {
            let where_ = match &options.cwd {
                Some(cwd) => format!(" in {cwd}"),
                None => String::new(),
            };
            return Outcome {
                exit_code: 1,
                stdout: Captured::default(),
                stderr: Captured {
                    text: format!(
                        "kanade: cannot start {}{where_}: {err}\n",
                        invocation.program
                    ),
                    ..Captured::default()
                },
                started_at,
                finished_at: Utc::now(),
            };
        }
    };
    let mut group = GroupGuard(child.id());
    let mut stdout = Capture::new(options.spill_stdout.clone());
    if options.line_times {
        stdout.line_times = Some(Vec::new());
    }
    let mut stderr = Capture::new(options.spill_stderr.clone());
    if let Some(live) = &options.live {
        stdout.live = Some((live.clone(), OutputStream::Stdout));
        stderr.live = Some((live.clone(), OutputStream::Stderr));
    }
    let stdout_pipe = child.stdout.take();
    let stderr_pipe = child.stderr.take();

    let deadline = Instant::now() + options.timeout;
    let mut status: Option<std::io::Result<ExitStatus>> = None;
    let mut stopped: Option<Stop> = None;
    let mut drained = false;
    let mut pipe_deadline: Option<Instant> = None;
    {
        let captures =
            async { tokio::join!(stdout.read_from(stdout_pipe), stderr.read_from(stderr_pipe)) };
        let mut captures = std::pin::pin!(captures);
        let mut stop = std::pin::pin!(stop);
        loop {
            tokio::select! {
                res = child.wait(), if status.is_none() => {
                    status = Some(res);
                    if drained {
                        break;
                    }
                    pipe_deadline = Some(Instant::now() + PIPE_GRACE);
                }
                _ = &mut captures, if !drained => {
                    drained = true;
                    if status.is_some() {
                        break;
                    }
                }
                _ = tokio::time::sleep_until(deadline), if stopped.is_none() => {
                    group.kill();
                    stopped = Some(Stop::Timeout);
                }
                reason = &mut stop, if stopped.is_none() => {
                    group.kill();
                    stopped = Some(reason);
                }
                _ = tokio::time::sleep_until(pipe_deadline.unwrap_or(deadline)),
                    if pipe_deadline.is_some() => {
                    tracing::debug!("a process outside the script kept its output open; not waiting");
                    break;
                }
            }
        }
    }
    // The main process is reaped; nothing of the tree needs killing any more unless we did.
    group.0 = None;
    let finished_at = Utc::now();
    let stdout = stdout.finish().await;
    let mut stderr = stderr.finish().await;
    let exit_code = match (&stopped, &status) {
        (Some(_), _) => exit_code::KILLED,
        (None, Some(Ok(status))) => code_of(status),
        (None, Some(Err(err))) => {
            append_line(
                &mut stderr.text,
                &format!("kanade: lost track of the script: {err}"),
            );
            exit_code::KILLED
        }
        (None, None) => exit_code::KILLED,
    };
    match stopped {
        Some(Stop::Timeout) => append_line(
            &mut stderr.text,
            &format!(
                "kanade: timed out after {}; process tree killed",
                HumanDuration(options.timeout)
            ),
        ),
        Some(Stop::Operator) => append_line(&mut stderr.text, "kanade: killed by operator"),
        Some(Stop::Shutdown) => append_line(
            &mut stderr.text,
            "kanade: the agent is shutting down; process tree killed",
        ),
        None => {}
    }
    Outcome {
        exit_code,
        stdout,
        stderr,
        started_at,
        finished_at,
    }
}

/// Makes the child drop to `account` between fork and exec: supplementary groups, gid, uid,
/// then the working folder (entered as the user, so a folder the user may not enter fails
/// the start). The process group set by `process_group` is kept, so the kill-tree logic
/// still reaches everything the script starts.
#[cfg(unix)]
#[allow(unsafe_code)] // pre_exec is the only way to set supplementary groups before setuid
fn switch_user(command: &mut tokio::process::Command, account: &Account, cwd: Option<&str>) {
    use std::os::unix::ffi::OsStrExt;
    let groups: Vec<nix::unistd::Gid> = account
        .groups
        .iter()
        .map(|g| nix::unistd::Gid::from_raw(*g))
        .collect();
    let gid = nix::unistd::Gid::from_raw(account.gid);
    let uid = nix::unistd::Uid::from_raw(account.uid);
    let dir = match cwd {
        Some(cwd) => std::ffi::OsStr::new(cwd).as_bytes().to_vec(),
        None => account.home.as_os_str().as_bytes().to_vec(),
    };
    // A path with a NUL byte cannot name a folder: the chdir fails with "not found".
    let dir = std::ffi::CString::new(dir).unwrap_or_default();
    let home = cwd.is_none();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe system calls on data prepared before the fork (no allocation).
    unsafe {
        command.pre_exec(move || {
            nix::unistd::setgroups(&groups)?;
            nix::unistd::setgid(gid)?;
            nix::unistd::setuid(uid)?;
            if nix::libc::chdir(dir.as_ptr()) != 0 {
                let err = std::io::Error::last_os_error();
                // A user without a usable home starts in / rather than not at all.
                if !home || nix::libc::chdir(c"/".as_ptr()) != 0 {
                    return Err(err);
                }
            }
            Ok(())
        });
    }
}

#[cfg(unix)]
fn code_of(status: &ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => code,
        // The shell convention for "killed by signal N".
        (None, Some(signal)) => 128 + signal,
        (None, None) => exit_code::KILLED,
    }
}

#[cfg(not(unix))]
fn code_of(status: &ExitStatus) -> i32 {
    status.code().unwrap_or(exit_code::KILLED)
}

fn append_line(text: &mut String, line: &str) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    text.push_str(line);
    text.push('\n');
}

/// Kills the script's process group when dropped while armed, so an aborted run (agent
/// dropped mid-job) leaves no process behind. Disarmed once the main process is reaped.
struct GroupGuard(Option<u32>);

impl GroupGuard {
    fn kill(&self) {
        let Some(pid) = self.0 else {
            return;
        };
        kill_group(pid);
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

#[cfg(unix)]
fn kill_group(pid: u32) {
    use nix::sys::signal::{Signal, killpg};
    use nix::unistd::Pid;
    let Ok(raw) = i32::try_from(pid) else {
        return;
    };
    if let Err(err) = killpg(Pid::from_raw(raw), Signal::SIGKILL) {
        tracing::debug!(pgid = raw, error = %err, "killpg failed (group already gone?)");
    }
}

#[cfg(not(unix))]
fn kill_group(_pid: u32) {
    // FIXME: Windows needs a job object to kill the tree; until then kill_on_drop only ends
    // the main process.
}

/// Collects one output stream: the first `INLINE_CAP` bytes in memory, everything in the
/// spill file once the stream grows beyond that.
struct Capture {
    inline: Vec<u8>,
    total: u64,
    spill_path: PathBuf,
    spill: Option<tokio::fs::File>,
    spill_failed: bool,
    line_times: Option<Vec<DateTime<Utc>>>,
    live: Option<(crate::live::LiveTx, OutputStream)>,
}

impl Capture {
    fn new(spill_path: PathBuf) -> Capture {
        Capture {
            inline: Vec::new(),
            total: 0,
            spill_path,
            spill: None,
            spill_failed: false,
            line_times: None,
            live: None,
        }
    }

    async fn read_from(&mut self, pipe: Option<impl AsyncRead + Unpin>) {
        let Some(mut pipe) = pipe else {
            return;
        };
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match pipe.read(&mut buf).await {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) => {
                    tracing::warn!(error = %err, "reading script output failed");
                    break;
                }
            };
            self.push(&buf[..n]).await;
        }
    }

    async fn push(&mut self, chunk: &[u8]) {
        if let Some((live, stream)) = &self.live {
            live.offer(*stream, chunk);
        }
        if let Some(times) = self.line_times.as_mut() {
            let now = Utc::now();
            let lines = chunk.iter().filter(|b| **b == b'\n').count();
            let room = MAX_LINE_TIMES.saturating_sub(times.len());
            times.extend(std::iter::repeat_n(now, lines.min(room)));
        }
        self.total += chunk.len() as u64;
        let room = INLINE_CAP - self.inline.len();
        let taken = room.min(chunk.len());
        self.inline.extend_from_slice(&chunk[..taken]);
        if self.total <= INLINE_CAP as u64 || self.spill_failed {
            return;
        }
        let res = match self.spill.as_mut() {
            Some(file) => file.write_all(chunk).await,
            None => self.start_spill(&chunk[taken..]).await,
        };
        if let Err(err) = res {
            tracing::warn!(file = %self.spill_path.display(), error = %err,
                "cannot keep the full output; only the first 256 KiB will be reported");
            self.spill = None;
            self.spill_failed = true;
            let _ = tokio::fs::remove_file(&self.spill_path).await;
        }
    }

    async fn start_spill(&mut self, rest: &[u8]) -> std::io::Result<()> {
        let mut options = tokio::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        options.mode(crate::private::FILE_MODE);
        let mut file = options.open(&self.spill_path).await?;
        file.write_all(&self.inline).await?;
        file.write_all(rest).await?;
        self.spill = Some(file);
        Ok(())
    }

    async fn finish(mut self) -> Captured {
        let mut spilled = false;
        if let Some(mut file) = self.spill.take() {
            let res = async {
                file.flush().await?;
                file.sync_all().await
            }
            .await;
            match res {
                Ok(()) => spilled = true,
                Err(err) => {
                    tracing::warn!(file = %self.spill_path.display(), error = %err,
                        "cannot keep the full output; only the first 256 KiB will be reported");
                    let _ = tokio::fs::remove_file(&self.spill_path).await;
                }
            }
        }
        let text = if self.total > INLINE_CAP as u64 {
            truncate_utf8(&self.inline)
        } else {
            String::from_utf8_lossy(&self.inline).into_owned()
        };
        Captured {
            text,
            spilled,
            line_times: self.line_times.take().unwrap_or_default(),
        }
    }
}

/// Decodes a prefix that was cut at an arbitrary byte: an incomplete character at the very
/// end is dropped instead of turning into a replacement character; anything else invalid is
/// decoded lossily.
pub fn truncate_utf8(bytes: &[u8]) -> String {
    let mut end = bytes.len();
    // A UTF-8 character is at most 4 bytes: look back at most 3 continuation bytes.
    for back in 1..=bytes.len().min(4) {
        let i = bytes.len() - back;
        let b = bytes[i];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue; // continuation byte
        }
        let width = match b {
            0x00..=0x7f => 1,
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        if back < width {
            end = i;
        }
        break;
    }
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests;
