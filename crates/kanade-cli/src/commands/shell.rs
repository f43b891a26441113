//! `kanade shell <pc>`: an interactive shell on one machine through the backend (admin only).
//! The local terminal is put in raw mode (restored on every way out), keystrokes — Ctrl-C
//! included — go to the remote shell, a window resize (SIGWINCH) is sent along, and the
//! command ends with the remote shell's exit code when it exits. Under `terminal: consent` it
//! says it waits for the machine's user, and why not when they do not accept.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;

use nix::sys::termios::{self, SetArg, Termios};
use tokio::signal::unix::{SignalKind, signal};
use tokio::sync::mpsc;

use crate::cli::{Global, ShellArgs, ShellCommand};
use crate::client::terminal::{TerminalEvent, TerminalReader, TerminalWriter};
use crate::commands::{Io, api_client};
use crate::render;
use crate::{EXIT_FAILED, EXIT_OK};

/// Puts the terminal on stdin in raw mode and restores it when dropped.
struct RawMode(Option<Termios>);

impl RawMode {
    fn enter() -> RawMode {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return RawMode(None);
        }
        let Ok(saved) = termios::tcgetattr(stdin.as_fd()) else {
            return RawMode(None);
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        if termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).is_err() {
            return RawMode(None);
        }
        RawMode(Some(saved))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        if let Some(saved) = &self.0 {
            let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, saved);
        }
    }
}

/// The size of the terminal on stdout (rows, cols), 24x80 when it is not one.
#[allow(unsafe_code)] // TIOCGWINSZ has no safe wrapper
fn window_size() -> (u16, u16) {
    let mut size = nix::libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: `size` is a valid winsize the call writes into.
    let rc = unsafe { nix::libc::ioctl(1, nix::libc::TIOCGWINSZ as _, &mut size) };
    if rc < 0 || size.ws_row == 0 || size.ws_col == 0 {
        return (24, 80);
    }
    (size.ws_row, size.ws_col)
}

pub async fn run(args: ShellArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    match (args.command, args.pc) {
        (Some(ShellCommand::Sessions { pc }), _) => {
            let sessions = client.terminal_sessions(pc.as_deref()).await?;
            if global.json {
                io.json(&sessions)?;
                return Ok(EXIT_OK);
            }
            let rows: Vec<Vec<String>> = sessions
                .iter()
                .map(|s| {
                    vec![
                        s.session_id.clone(),
                        s.pc_id.clone(),
                        s.user.clone(),
                        render::time(s.started_at),
                        s.duration_secs
                            .map(|d| {
                                render::duration(chrono::TimeDelta::milliseconds(
                                    (d * 1000.0) as i64,
                                ))
                            })
                            .unwrap_or_else(|| "open".into()),
                        s.end_reason.clone().unwrap_or_default(),
                        render::yes(s.has_transcript),
                    ]
                })
                .collect();
            io.print(&render::table(
                &[
                    "SESSION",
                    "MACHINE",
                    "BY",
                    "STARTED",
                    "LASTED",
                    "ENDED BECAUSE",
                    "TRANSCRIPT",
                ],
                &rows,
            ))?;
            Ok(EXIT_OK)
        }
        (Some(ShellCommand::Transcript { id }), _) => {
            let entries = client.terminal_transcript(&id).await?;
            if global.json {
                io.json(&entries)?;
                return Ok(EXIT_OK);
            }
            // Output as the terminal showed it; input lines are already echoed in it.
            let text: String = entries
                .iter()
                .filter(|e| e.dir == "o")
                .map(|e| e.text.as_str())
                .collect();
            io.print(&text)?;
            Ok(EXIT_OK)
        }
        (None, Some(pc)) => open(&client, &pc, io).await,
        (None, None) => Err(crate::BadInput::err(
            "name the machine: `kanade shell <pc>` (or `kanade shell sessions|transcript`)"
                .to_owned(),
        )),
    }
}

async fn open(client: &crate::client::ApiClient, pc: &str, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let (rows, cols) = window_size();
    let (writer, mut reader) = client.open_terminal(pc, rows, cols).await?;
    if let Err(refused) = wait_opened(&mut reader, io).await {
        io.note(&format!("kanade shell: refused: {refused}"));
        return Ok(EXIT_FAILED);
    }
    // Standard input is read on a thread of its own (a blocking read), handed over in chunks.
    let (keys_tx, keys) = mpsc::channel::<Vec<u8>>(64);
    std::thread::spawn(move || {
        let mut stdin = std::io::stdin().lock();
        let mut buf = vec![0u8; 4096];
        while let Ok(n) = stdin.read(&mut buf) {
            if n == 0 || keys_tx.blocking_send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let (sizes_tx, sizes) = mpsc::channel::<(u16, u16)>(4);
    let mut winch = signal(SignalKind::window_change())?;
    let resizes = tokio::spawn(async move {
        while winch.recv().await.is_some() {
            if sizes_tx.send(window_size()).await.is_err() {
                break;
            }
        }
    });
    let raw = RawMode::enter();
    let mut stdout = std::io::stdout();
    let (code, reason) = relay(writer, reader, keys, sizes, &mut stdout).await;
    resizes.abort();
    drop(raw);
    if reason != "shell exited" {
        io.note(&format!("kanade shell: the session ended: {reason}"));
    }
    Ok(code.unwrap_or(EXIT_FAILED))
}

/// Reads until the session is open, noting a consent wait; the reason when it is not opened.
pub async fn wait_opened(reader: &mut TerminalReader, io: &mut Io<'_>) -> Result<String, String> {
    loop {
        match reader.next().await {
            Some(TerminalEvent::Opened(session_id)) => return Ok(session_id),
            Some(TerminalEvent::Waiting {
                message,
                timeout_secs,
            }) => io.note(&format!(
                "kanade shell: {message} (up to {timeout_secs} s; Ctrl-C gives up)"
            )),
            Some(TerminalEvent::Refused(reason)) => return Err(reason),
            Some(TerminalEvent::Exit { reason, .. }) => return Err(reason),
            Some(TerminalEvent::Output(_)) => {}
            None => return Err("the connection to the backend ended".to_owned()),
        }
    }
}

/// Moves keystrokes and sizes to the remote terminal and its output to `out` until the session
/// ends; the remote exit code (when the shell exited) and why it ended.
pub async fn relay(
    mut writer: TerminalWriter,
    mut reader: TerminalReader,
    mut keys: mpsc::Receiver<Vec<u8>>,
    mut sizes: mpsc::Receiver<(u16, u16)>,
    out: &mut (dyn Write + Send),
) -> (Option<i32>, String) {
    let lost = || (None, "the connection to the backend ended".to_owned());
    let (mut keys_open, mut sizes_open) = (true, true);
    let ended = loop {
        // Biased, sizes first: a resize made before keys were typed reaches the shell before
        // them (`stty size` typed after a resize sees the new size); keys before output, so a
        // flood of output never holds back Ctrl-C.
        tokio::select! {
            biased;
            size = sizes.recv(), if sizes_open => match size {
                None => sizes_open = false,
                Some((rows, cols)) => {
                    let _ = writer.resize(rows, cols).await;
                }
            },
            read = keys.recv(), if keys_open => match read {
                None => keys_open = false,
                Some(bytes) => {
                    if writer.input(&bytes).await.is_err() {
                        break lost();
                    }
                }
            },
            event = reader.next() => match event {
                Some(TerminalEvent::Output(bytes)) => {
                    let _ = out.write_all(&bytes);
                    let _ = out.flush();
                }
                Some(TerminalEvent::Opened(_) | TerminalEvent::Waiting { .. }) => {}
                Some(TerminalEvent::Refused(reason)) => break (None, reason),
                Some(TerminalEvent::Exit { code, reason }) => break (code, reason),
                None => break lost(),
            },
        }
    };
    writer.close().await;
    ended
}
