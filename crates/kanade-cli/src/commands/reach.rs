//! `kanade tail <exec_id> [--pc P]`, `kanade exec … --follow` (the printing half),
//! `kanade logs <pc>` and `kanade results output <result_id>`: reaching into machines through
//! the backend. Live output is a preview (lossy by design); `kanade results` has the truth.

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use kanade_protocol::reach::{OutputStream, TailChunk};

use crate::cli::{Global, LogsArgs, ResultsCommand, TailArgs};
use crate::client::{ApiClient, TailEvent, TailStream};
use crate::commands::audit::parse_time_ago;
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_FAILED, EXIT_OK};

/// After `--follow`'s wait ended, output still on its way is printed this long.
const FOLLOW_DRAIN: Duration = Duration::from_secs(1);

/// Prints chunks as they come: stdout to stdout, stderr to stderr, `pc: ` at the start of
/// each line when several machines speak, and a note when live output was dropped.
#[derive(Debug, Default)]
pub struct Printer {
    prefix: bool,
    mid_line: HashMap<(String, OutputStream), bool>,
    dropped: HashMap<String, u64>,
}

impl Printer {
    pub fn new(prefix: bool) -> Printer {
        Printer {
            prefix,
            ..Printer::default()
        }
    }

    /// The text to write for `chunk` (with prefixes), and a note about dropped bytes.
    pub fn render(&mut self, chunk: &TailChunk) -> (String, Option<String>) {
        let mid = self
            .mid_line
            .entry((chunk.pc_id.clone(), chunk.stream))
            .or_default();
        let mut out = String::with_capacity(chunk.text.len());
        for piece in chunk.text.split_inclusive('\n') {
            if self.prefix && !*mid {
                out.push_str(&chunk.pc_id);
                out.push_str(": ");
            }
            out.push_str(piece);
            *mid = !piece.ends_with('\n');
        }
        let seen = self.dropped.entry(chunk.pc_id.clone()).or_default();
        let note = (chunk.dropped_bytes > *seen).then(|| {
            let more = chunk.dropped_bytes - *seen;
            format!(
                "[{}: {more} bytes of live output dropped; the result has all of it]",
                chunk.pc_id
            )
        });
        *seen = chunk.dropped_bytes;
        (out, note)
    }

    pub fn print(&mut self, chunk: &TailChunk, io: &mut Io<'_>) {
        let (text, note) = self.render(chunk);
        let target: &mut dyn Write = match chunk.stream {
            OutputStream::Stdout => &mut *io.out,
            OutputStream::Stderr => &mut *io.err,
        };
        let _ = target.write_all(text.as_bytes());
        let _ = target.flush();
        if let Some(note) = note {
            io.note(&note);
        }
    }
}

pub async fn tail(args: TailArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let execution = client.get_execution(&args.exec_id).await?;
    let several = args.pc.is_none() && execution.execution.target_count != 1;
    let mut stream = client.tail(&args.exec_id, args.pc.as_deref()).await?;
    let mut printer = Printer::new(several);
    while let Some(event) = stream.next().await {
        match event? {
            TailEvent::Chunk(chunk) => printer.print(&chunk, io),
            TailEvent::End(status) => {
                io.note(&format!(
                    "[{status}; the stored output: `kanade results {}`]",
                    args.exec_id
                ));
                return Ok(EXIT_OK);
            }
        }
    }
    io.note("[the backend closed the live output stream]");
    Ok(EXIT_FAILED)
}

/// Prints live output of `exec_id` while `until` runs (the `--wait` poll), then a moment
/// longer for chunks still on their way. A stream that cannot be opened is only a note: the
/// wait and its summary go on.
pub async fn follow_while<T>(
    client: &ApiClient,
    exec_id: &str,
    several: bool,
    io: &mut Io<'_>,
    until: impl Future<Output = T>,
) -> T {
    let mut stream = match client.tail(exec_id, None).await {
        Ok(stream) => Some(stream),
        Err(err) => {
            io.note(&format!("warning: no live output: {err}"));
            None
        }
    };
    let mut printer = Printer::new(several);
    let mut until = std::pin::pin!(until);
    let value = loop {
        let Some(open) = stream.as_mut() else {
            break until.await;
        };
        tokio::select! {
            value = &mut until => break value,
            event = open.next() => match event {
                Some(Ok(TailEvent::Chunk(chunk))) => printer.print(&chunk, io),
                Some(Ok(TailEvent::End(_))) | None | Some(Err(_)) => stream = None,
            },
        }
    };
    if let Some(open) = stream.as_mut() {
        let _ = tokio::time::timeout(FOLLOW_DRAIN, drain(open, &mut printer, io)).await;
    }
    value
}

async fn drain(stream: &mut TailStream, printer: &mut Printer, io: &mut Io<'_>) {
    while let Some(Ok(TailEvent::Chunk(chunk))) = stream.next().await {
        printer.print(&chunk, io);
    }
}

pub async fn logs(args: LogsArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let since = args
        .since
        .as_deref()
        .map(|text| parse_time_ago("--since", text, Utc::now()).map_err(BadInput::err))
        .transpose()?;
    if args.lines == Some(0) {
        return Err(BadInput::err("--lines: must be at least 1"));
    }
    let client = api_client(global)?;
    let reply = client
        .agent_logs(&args.pc, since, args.grep.as_deref(), args.lines)
        .await?;
    if global.json {
        io.json(&reply)?;
        return Ok(EXIT_OK);
    }
    io.print(&reply.text)?;
    if reply.truncated {
        io.note("[older lines left out; ask with --lines or --since]");
    }
    if let Some(error) = &reply.error {
        io.note(&format!("error: {}: {error}", args.pc));
        return Ok(EXIT_FAILED);
    }
    Ok(EXIT_OK)
}

pub async fn results(
    command: ResultsCommand,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let ResultsCommand::Output { result_id, stderr } = command;
    let stream = match stderr {
        true => OutputStream::Stderr,
        false => OutputStream::Stdout,
    };
    let client = api_client(global)?;
    let mut response = client.result_output(&result_id, stream).await?;
    while let Some(bytes) = response
        .chunk()
        .await
        .with_context(|| format!("reading the output of result {result_id}"))?
    {
        io.out.write_all(&bytes).context("writing to stdout")?;
    }
    io.out.flush().context("writing to stdout")?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chunk(pc: &str, text: &str, dropped: u64) -> TailChunk {
        TailChunk {
            exec_id: "e".into(),
            pc_id: pc.into(),
            result_id: "r".into(),
            seq: 0,
            stream: OutputStream::Stdout,
            text: text.into(),
            dropped_bytes: dropped,
            done: false,
        }
    }

    #[test]
    fn lines_of_several_machines_are_prefixed_at_their_starts_only() {
        let mut printer = Printer::new(true);
        assert_eq!(printer.render(&chunk("a", "one\ntw", 0)).0, "a: one\na: tw");
        assert_eq!(printer.render(&chunk("b", "x\n", 0)).0, "b: x\n");
        assert_eq!(printer.render(&chunk("a", "o\n", 0)).0, "o\n");
        let (_, note) = printer.render(&chunk("a", "", 10));
        assert!(note.unwrap().contains("a: 10 bytes"));
        assert_eq!(printer.render(&chunk("a", "", 10)).1, None);
        let mut single = Printer::new(false);
        assert_eq!(single.render(&chunk("a", "one\n", 0)).0, "one\n");
    }
}
