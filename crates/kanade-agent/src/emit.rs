//! `emit: {type: events}` jobs: every stdout line that is a JSON object with a `kind` becomes
//! an `ObsEvent` for this machine's timeline. `at` (RFC 3339) defaults to the time the agent
//! read the line, `source` to `job:<job id>`; `event_record_id` passes through so sending the
//! same lines again is idempotent in the backend; `payload` is any JSON (default null). A
//! `pc_id` in the line is ignored: events are always about this machine.
//!
//! Blank lines are skipped; other lines that are not events are counted and the first few
//! quoted for the result's stderr. The result's stdout becomes a one-line summary.
//!
//! Architecture invariant: pure (reads from any `Read`, no NATS, no clock).

use std::io::Read;

use chrono::{DateTime, Utc};
use kanade_protocol::wire::ObsEvent;
use serde_json::Value;

/// A longer line is rejected: one event must fit in one broker message with room to spare.
pub const MAX_LINE_BYTES: usize = 128 * 1024;
/// Events beyond this many per run are dropped (and counted), to protect the broker.
pub const MAX_EVENTS: usize = 10_000;
/// How many rejected lines are quoted in stderr.
const QUOTED: usize = 5;
/// How much of a rejected line is quoted.
const EXCERPT_BYTES: usize = 80;

/// Where the lines come from and what fills the defaults.
pub struct Origin<'a> {
    pub pc_id: &'a str,
    pub job_id: &'a str,
    /// When each line (by index) was read; lines beyond the list use `finished_at`.
    pub line_times: &'a [DateTime<Utc>],
    pub finished_at: DateTime<Utc>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed {
    pub events: Vec<ObsEvent>,
    pub rejected: usize,
    /// `line <n>: <why>: <excerpt>` for the first few rejected lines.
    pub quoted: Vec<String>,
    /// Valid events beyond `MAX_EVENTS`.
    pub dropped: usize,
}

impl Parsed {
    /// The result's stdout: `emitted 12 events (1 line rejected)`.
    pub fn summary(&self) -> String {
        let n = self.events.len();
        let mut summary = format!("emitted {n} {}", plural(n, "event", "events"));
        let mut notes = Vec::new();
        if self.rejected > 0 {
            let r = self.rejected;
            notes.push(format!("{r} {} rejected", plural(r, "line", "lines")));
        }
        if self.dropped > 0 {
            let d = self.dropped;
            notes.push(format!(
                "{d} {} over the limit of {MAX_EVENTS} dropped",
                plural(d, "event", "events")
            ));
        }
        if !notes.is_empty() {
            summary.push_str(&format!(" ({})", notes.join(", ")));
        }
        summary.push('\n');
        summary
    }

    /// What to add to the result's stderr; empty when every line was fine.
    pub fn stderr_note(&self) -> String {
        if self.rejected == 0 {
            return String::new();
        }
        let r = self.rejected;
        let mut note = format!(
            "kanade: {r} {} of output {} not an event:\n",
            plural(r, "line", "lines"),
            plural(r, "is", "are")
        );
        for line in &self.quoted {
            note.push_str(line);
            note.push('\n');
        }
        if r > self.quoted.len() {
            note.push_str(&format!("(and {} more)\n", r - self.quoted.len()));
        }
        note
    }
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// Reads NDJSON from `reader` line by line (lines longer than `MAX_LINE_BYTES` are not held
/// in memory) and turns it into events.
pub fn parse(mut reader: impl Read, origin: &Origin<'_>) -> std::io::Result<Parsed> {
    let mut parser = Parser {
        origin,
        parsed: Parsed::default(),
        line: Vec::new(),
        too_long: false,
        number: 0,
    };
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(err) => return Err(err),
        };
        let mut chunk = &buf[..n];
        while let Some(end) = chunk.iter().position(|b| *b == b'\n') {
            parser.extend(&chunk[..end]);
            parser.finish_line();
            chunk = &chunk[end + 1..];
        }
        parser.extend(chunk);
    }
    if !parser.line.is_empty() || parser.too_long {
        parser.finish_line();
    }
    Ok(parser.parsed)
}

struct Parser<'a> {
    origin: &'a Origin<'a>,
    parsed: Parsed,
    line: Vec<u8>,
    too_long: bool,
    /// Lines finished so far.
    number: usize,
}

impl Parser<'_> {
    fn extend(&mut self, part: &[u8]) {
        let room = MAX_LINE_BYTES.saturating_sub(self.line.len());
        if part.len() > room {
            self.too_long = true;
        }
        self.line.extend_from_slice(&part[..part.len().min(room)]);
    }

    fn finish_line(&mut self) {
        let index = self.number;
        self.number += 1;
        let line = std::mem::take(&mut self.line);
        let too_long = std::mem::replace(&mut self.too_long, false);
        let text = line.trim_ascii();
        if text.is_empty() && !too_long {
            return;
        }
        let read_at = self
            .origin
            .line_times
            .get(index)
            .copied()
            .unwrap_or(self.origin.finished_at);
        let event = match too_long {
            true => Err(format!("longer than {} KiB", MAX_LINE_BYTES / 1024)),
            false => event_of(text, read_at, self.origin),
        };
        match event {
            Ok(_) if self.parsed.events.len() >= MAX_EVENTS => self.parsed.dropped += 1,
            Ok(event) => self.parsed.events.push(event),
            Err(why) => {
                self.parsed.rejected += 1;
                if self.parsed.quoted.len() < QUOTED {
                    let excerpt = excerpt(text);
                    self.parsed
                        .quoted
                        .push(format!("line {}: {why}: {excerpt}", index + 1));
                }
            }
        }
    }
}

fn excerpt(text: &[u8]) -> String {
    if text.len() <= EXCERPT_BYTES {
        return format!("{:?}", String::from_utf8_lossy(text));
    }
    let cut = crate::process::truncate_utf8(&text[..EXCERPT_BYTES]);
    format!("{cut:?}…")
}

/// One line to one event, or why not.
pub fn event_of(
    line: &[u8],
    read_at: DateTime<Utc>,
    origin: &Origin<'_>,
) -> Result<ObsEvent, String> {
    let value: Value = serde_json::from_slice(line).map_err(|_| "not JSON".to_owned())?;
    let Value::Object(mut fields) = value else {
        return Err("not a JSON object".to_owned());
    };
    let kind = match fields.remove("kind") {
        Some(Value::String(kind)) if !kind.trim().is_empty() => kind,
        Some(_) => return Err("`kind` must be a non-empty string".to_owned()),
        None => return Err("no `kind`".to_owned()),
    };
    let at = match fields.remove("at") {
        None | Some(Value::Null) => read_at,
        Some(Value::String(at)) => DateTime::parse_from_rfc3339(&at)
            .map(|at| at.with_timezone(&Utc))
            .map_err(|_| "`at` is not an RFC 3339 time".to_owned())?,
        Some(_) => return Err("`at` is not an RFC 3339 time".to_owned()),
    };
    let source = match fields.remove("source") {
        None | Some(Value::Null) => format!("job:{}", origin.job_id),
        Some(Value::String(source)) if !source.trim().is_empty() => source,
        Some(_) => return Err("`source` must be a non-empty string".to_owned()),
    };
    let event_record_id = match fields.remove("event_record_id") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => Some(id),
        // Event logs number their records; keep the number as text.
        Some(Value::Number(id)) => Some(id.to_string()),
        Some(_) => return Err("`event_record_id` must be a string".to_owned()),
    };
    Ok(ObsEvent {
        pc_id: origin.pc_id.to_owned(),
        at,
        kind,
        source,
        event_record_id,
        payload: fields.remove("payload").unwrap_or(Value::Null),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin<'a>(times: &'a [DateTime<Utc>], finished_at: DateTime<Utc>) -> Origin<'a> {
        Origin {
            pc_id: "me",
            job_id: "probe",
            line_times: times,
            finished_at,
        }
    }

    #[test]
    fn lines_become_events_with_defaults_and_forced_pc_id() {
        let t0 = "2026-01-01T00:00:00Z".parse::<DateTime<Utc>>().unwrap();
        let times = [t0, t0 + chrono::TimeDelta::seconds(1)];
        let end = t0 + chrono::TimeDelta::seconds(9);
        let text = concat!(
            r#"{"kind":"logon","pc_id":"someone-else","payload":{"user":"a"}}"#,
            "\n",
            r#"{"kind":"boot","at":"2025-12-31T23:00:00+01:00","source":"winlog:System","event_record_id":42}"#,
            "\r\n\n   \n",
            r#"{"kind":"idle","event_record_id":"r-1"}"#,
        );
        let parsed = parse(text.as_bytes(), &origin(&times, end)).unwrap();
        assert_eq!(parsed.rejected, 0, "{parsed:?}");
        let [logon, boot, idle] = &parsed.events[..] else {
            panic!("{parsed:?}")
        };
        assert_eq!(logon.pc_id, "me");
        assert_eq!(logon.at, t0);
        assert_eq!(logon.source, "job:probe");
        assert_eq!(logon.payload["user"], "a");
        assert_eq!(logon.event_record_id, None);
        assert_eq!(
            boot.at,
            "2025-12-31T22:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        assert_eq!(boot.source, "winlog:System");
        assert_eq!(boot.event_record_id.as_deref(), Some("42"));
        assert_eq!(boot.payload, Value::Null);
        // The last line had no time of its own (no newline): the end of the run.
        assert_eq!(idle.at, end);
        assert_eq!(idle.event_record_id.as_deref(), Some("r-1"));
        assert_eq!(parsed.summary(), "emitted 3 events\n");
        assert_eq!(parsed.stderr_note(), "");
    }

    #[test]
    fn bad_lines_are_counted_and_the_first_few_quoted() {
        let text = "not json\n{\"kind\":\"ok\"}\n[1,2]\n{\"kind\":\"\"}\n{\"payload\":1}\n\
                    {\"kind\":\"x\",\"at\":\"yesterday\"}\n{\"kind\":\"x\",\"source\":7}\n";
        let parsed = parse(text.as_bytes(), &origin(&[], Utc::now())).unwrap();
        assert_eq!(parsed.events.len(), 1);
        assert_eq!(parsed.rejected, 6);
        assert_eq!(
            parsed.quoted,
            [
                "line 1: not JSON: \"not json\"",
                "line 3: not a JSON object: \"[1,2]\"",
                "line 4: `kind` must be a non-empty string: \"{\\\"kind\\\":\\\"\\\"}\"",
                "line 5: no `kind`: \"{\\\"payload\\\":1}\"",
                "line 6: `at` is not an RFC 3339 time: \"{\\\"kind\\\":\\\"x\\\",\\\"at\\\":\\\"yesterday\\\"}\"",
            ]
        );
        assert_eq!(parsed.summary(), "emitted 1 event (6 lines rejected)\n");
        let note = parsed.stderr_note();
        assert!(note.starts_with("kanade: 6 lines of output are not an event:\nline 1: "));
        assert!(note.ends_with("(and 1 more)\n"), "{note}");
    }

    #[test]
    fn long_lines_and_too_many_events_are_bounded() {
        let mut text = format!(
            "{{\"kind\":\"big\",\"payload\":\"{}\"}}\n",
            "x".repeat(MAX_LINE_BYTES)
        );
        for i in 0..MAX_EVENTS + 3 {
            text.push_str(&format!("{{\"kind\":\"n\",\"payload\":{i}}}\n"));
        }
        let parsed = parse(text.as_bytes(), &origin(&[], Utc::now())).unwrap();
        assert_eq!(parsed.rejected, 1);
        assert!(
            parsed.quoted[0].starts_with("line 1: longer than 128 KiB: \"{"),
            "{:?}",
            parsed.quoted
        );
        assert!(parsed.quoted[0].ends_with('…'));
        assert_eq!(parsed.events.len(), MAX_EVENTS);
        assert_eq!(parsed.dropped, 3);
        assert_eq!(
            parsed.summary(),
            "emitted 10000 events (1 line rejected, 3 events over the limit of 10000 dropped)\n"
        );
    }
}
