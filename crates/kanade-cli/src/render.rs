//! Turning API data into terminal text: aligned tables, one-line cells, durations, sizes and
//! what a result's exit code means. Pure functions, no IO.

use chrono::{DateTime, SecondsFormat, Utc};
use kanade_protocol::api::ResultSummary;
use kanade_protocol::names::exit_code;

/// Longest cell before it is cut with `…`.
pub const MAX_CELL: usize = 60;

/// Left-aligned columns separated by two spaces, header first, no trailing blanks; `none` for
/// no rows.
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    // A header over nothing reads like a failure to load; say there is nothing.
    if rows.is_empty() {
        return "none\n".to_owned();
    }
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(width) = widths.get_mut(i) {
                *width = (*width).max(cell.chars().count());
            }
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            let width = widths.get(i).copied().unwrap_or(0);
            line.push_str(cell);
            let pad = width.saturating_sub(cell.chars().count()) + 2;
            line.extend(std::iter::repeat_n(' ', pad));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// `key  value` lines, the values aligned after the longest key.
pub fn pairs(lines: &[(&str, String)]) -> String {
    let width = lines
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    lines
        .iter()
        .map(|(key, value)| format!("{key:<width$}  {value}\n"))
        .collect()
}

/// A time as RFC 3339 in UTC to the second: `2026-01-31T18:00:00Z`.
pub fn time(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// `yes` or `no` (never a blank cell, which reads as "unknown").
pub fn yes(flag: bool) -> String {
    if flag { "yes" } else { "no" }.to_owned()
}

/// Makes arbitrary text (machine output, descriptions) safe for one table cell: control
/// characters become spaces and long text is cut.
pub fn cell(text: &str) -> String {
    let clean: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let clean = clean.trim();
    match clean.char_indices().nth(MAX_CELL - 1) {
        Some((end, _)) if clean.chars().count() > MAX_CELL => format!("{}…", &clean[..end]),
        _ => clean.to_owned(),
    }
}

/// The first line with something on it.
pub fn first_line(text: &str) -> &str {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty())
        .unwrap_or("")
}

/// `0.3s`, `12.4s`, `3m 4s`.
pub fn duration(delta: chrono::TimeDelta) -> String {
    let millis = delta.num_milliseconds().max(0);
    if millis < 60_000 {
        return format!("{:.1}s", millis as f64 / 1000.0);
    }
    let secs = millis / 1000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match h {
        0 => format!("{m}m {s}s"),
        _ => format!("{h}h {m}m {s}s"),
    }
}

/// How long a run took, when it has both ends.
pub fn run_time(started: Option<DateTime<Utc>>, finished: Option<DateTime<Utc>>) -> String {
    match (started, finished) {
        (Some(started), Some(finished)) => duration(finished - started),
        _ => "-".to_owned(),
    }
}

/// `512 B`, `1.5 KiB`, `3.2 MiB`.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = UNITS[0];
    for next in &UNITS[1..] {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// How long before `now` a time was, coarsely: `12s ago`, `3m ago`, `2h ago`, `4d ago`.
pub fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let secs = (now - at).num_seconds().max(0);
    match secs {
        0..60 => format!("{secs}s ago"),
        60..3600 => format!("{}m ago", secs / 60),
        3600..86_400 => format!("{}h ago", secs / 3600),
        _ => format!("{}d ago", secs / 86_400),
    }
}

/// `12.3%`.
pub fn percent(value: f64) -> String {
    format!("{value:.1}%")
}

/// A byte rate: `0 B/s`, `1.5 KiB/s`.
pub fn rate(bytes_per_sec: f64) -> String {
    format!("{}/s", bytes(bytes_per_sec.max(0.0).round() as u64))
}

/// A JSON value as one cell: strings without quotes, `null` as `-`, the rest as JSON.
pub fn value(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Null => "-".to_owned(),
        serde_json::Value::String(s) => cell(s),
        other => cell(&other.to_string()),
    }
}

/// What the agent meant by a result that is not a plain exit of the script.
pub fn exit_meaning(code: i32, skipped: bool) -> Option<&'static str> {
    match (code, skipped) {
        (exit_code::NOT_BUILT, true) => {
            Some("skipped: the command needs a part this agent does not support")
        }
        (exit_code::NO_USER, true) => Some("skipped: no user is logged on (run_as)"),
        (exit_code::UNSUPPORTED, true) => Some("skipped: not supported on this machine's agent"),
        (exit_code::SIGNATURE_REFUSED, true) => Some("skipped: the signature was refused"),
        (exit_code::VERSION_MISMATCH, true) => Some("skipped: another version is pinned"),
        (exit_code::DEADLINE_PASSED, true) => {
            Some("skipped: the deadline passed before it could start")
        }
        (exit_code::REVOKED, true) => Some("skipped: the job is revoked"),
        (exit_code::STALE, true) => Some("skipped: the agent's view of desired state is stale"),
        (_, true) => Some("skipped by the agent"),
        (exit_code::KILLED, false) => Some("killed, timed out or reaped"),
        _ => None,
    }
}

/// A finished result counts as failed when it did not exit 0, was skipped or was reaped.
pub fn failed(result: &ResultSummary) -> bool {
    result.skipped || result.reaped || result.exit_code.is_some_and(|code| code != 0)
}

/// What an execution ran: its job, or `run by <user>` for a break-glass `kanade run` (whose
/// actor is `cli:<OS user>` without a session).
pub fn job_label(e: &kanade_protocol::api::ExecutionSummary) -> String {
    if e.job_id == kanade_protocol::names::ADHOC_JOB_ID {
        let by = e
            .initiated_by
            .strip_prefix("cli:")
            .unwrap_or(&e.initiated_by);
        format!("run by {by}")
    } else {
        e.job_id.clone()
    }
}

/// How a run ended in words ("timed out after 2s", "skipped: revoked"); from the flags when
/// the backend is older and sends no note.
pub fn outcome_cell(result: &ResultSummary) -> String {
    if !result.outcome_note.is_empty() {
        return cell(&result.outcome_note);
    }
    match (result.exit_code, result.skipped, result.reaped) {
        (_, _, true) => "not reported".to_owned(),
        (None, _, _) => "running".to_owned(),
        (Some(_), true, _) => "skipped".to_owned(),
        (Some(0), _, _) => "ok".to_owned(),
        (Some(code), _, _) => format!("exit {code}"),
    }
}

/// The exit code column: the number, `running` while in flight.
pub fn exit_cell(result: &ResultSummary) -> String {
    match result.exit_code {
        Some(code) => code.to_string(),
        None => "running".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_table_says_none() {
        assert_eq!(table(&["id", "version"], &[]), "none\n");
    }

    #[test]
    fn tables_align_on_the_widest_cell() {
        let rows = vec![
            vec!["hello".to_owned(), "1".to_owned(), "".to_owned()],
            vec!["disk-usage".to_owned(), "12".to_owned(), "df".to_owned()],
        ];
        let got = table(&["id", "version", "tags"], &rows);
        let want = "\
ID          VERSION  TAGS
hello       1
disk-usage  12       df
";
        assert_eq!(got, want);
    }

    #[test]
    fn cells_stay_on_one_line_and_short() {
        assert_eq!(cell("a\tb\r\nc\u{1b}[31m"), "a b  c [31m");
        let long = "x".repeat(100);
        let got = cell(&long);
        assert_eq!(got.chars().count(), MAX_CELL);
        assert!(got.ends_with('…'));
        assert_eq!(cell(&"é".repeat(MAX_CELL)), "é".repeat(MAX_CELL));
    }

    #[test]
    fn pairs_align_and_times_are_utc_seconds() {
        let got = pairs(&[("user", "alice".into()), ("password", "x".into())]);
        assert_eq!(got, "user      alice\npassword  x\n");
        let at: DateTime<Utc> = "2026-01-31T19:00:00.123+01:00".parse().unwrap();
        assert_eq!(time(at), "2026-01-31T18:00:00Z");
    }

    #[test]
    fn first_line_skips_blank_lines() {
        assert_eq!(first_line("\n\n  web-01 \nLinux"), "web-01");
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn durations_and_sizes_read_naturally() {
        let ms = chrono::TimeDelta::milliseconds;
        assert_eq!(duration(ms(340)), "0.3s");
        assert_eq!(duration(ms(12_400)), "12.4s");
        assert_eq!(duration(ms(184_000)), "3m 4s");
        assert_eq!(duration(ms(3_723_000)), "1h 2m 3s");
        assert_eq!(duration(ms(-5)), "0.0s");
        assert_eq!(bytes(512), "512 B");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(3 * 1024 * 1024 + 200 * 1024), "3.2 MiB");
    }

    #[test]
    fn ages_rates_and_values_read_naturally() {
        let now: DateTime<Utc> = "2026-01-31T18:00:00Z".parse().unwrap();
        let before = |secs: i64| now - chrono::TimeDelta::seconds(secs);
        assert_eq!(ago(before(12), now), "12s ago");
        assert_eq!(ago(before(-3), now), "0s ago");
        assert_eq!(ago(before(185), now), "3m ago");
        assert_eq!(ago(before(7300), now), "2h ago");
        assert_eq!(ago(before(4 * 86_400 + 5), now), "4d ago");
        assert_eq!(percent(12.345), "12.3%");
        assert_eq!(rate(1536.4), "1.5 KiB/s");
        assert_eq!(rate(-1.0), "0 B/s");
        assert_eq!(value(&serde_json::json!("30s")), "30s");
        assert_eq!(value(&serde_json::Value::Null), "-");
        assert_eq!(value(&serde_json::json!(4)), "4");
        assert_eq!(value(&serde_json::json!(true)), "true");
    }

    #[test]
    fn reserved_exit_codes_are_explained() {
        assert_eq!(
            exit_meaning(125, true),
            Some("skipped: the deadline passed before it could start")
        );
        assert_eq!(exit_meaning(-1, false), Some("killed, timed out or reaped"));
        assert_eq!(exit_meaning(125, false), None);
        assert_eq!(exit_meaning(0, false), None);
    }
}
