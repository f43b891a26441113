//! `kanade audit`: the backend's audit log, newest first, filtered by actor, action and time.
//! `--since` / `--until` take an RFC 3339 time or a duration meaning that long ago (`24h`).

use chrono::{DateTime, Utc};
use kanade_protocol::duration::HumanDuration;

use crate::cli::{AuditArgs, Global};
use crate::client::AuditQuery;
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK, render};

pub async fn list(args: AuditArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let now = Utc::now();
    let time = |flag: &str, text: Option<&str>| -> anyhow::Result<Option<DateTime<Utc>>> {
        text.map(|t| parse_time_ago(flag, t, now).map_err(BadInput::err))
            .transpose()
    };
    let query = AuditQuery {
        actor: args.actor,
        action: args.action,
        since: time("--since", args.since.as_deref())?,
        until: time("--until", args.until.as_deref())?,
        limit: args.limit,
        offset: args.offset,
    };
    if let (Some(since), Some(until)) = (query.since, query.until)
        && since > until
    {
        return Err(BadInput::err("--since is later than --until"));
    }
    let page = api_client(global)?.list_audit(&query).await?;
    if global.json {
        io.json(&page)?;
        return Ok(EXIT_OK);
    }
    if page.items.is_empty() {
        io.print("no audit entries match\n")?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = page
        .items
        .iter()
        .map(|e| {
            vec![
                render::time(e.occurred_at),
                render::cell(&e.actor),
                render::cell(&e.action),
                render::cell(e.target.as_deref().unwrap_or("")),
                render::cell(e.client_addr.as_deref().unwrap_or("")),
                payload_cell(&e.payload),
            ]
        })
        .collect();
    io.print(&render::table(
        &["time", "actor", "action", "target", "client", "payload"],
        &rows,
    ))?;
    let shown = page.offset + page.items.len() as u64;
    if shown < page.total {
        io.note(&format!(
            "showing {} of {} entries (newest first); see more with --offset {shown}, or narrow with --since/--actor/--action",
            page.items.len(),
            page.total
        ));
    }
    Ok(EXIT_OK)
}

/// `--since` / `--until`: an RFC 3339 time, or a duration (`24h`, `7d`, `1h 30m`) meaning that
/// long before `now`.
pub fn parse_time_ago(flag: &str, text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    let ago: HumanDuration = text.parse().map_err(|_| {
        format!(
            "{flag}: `{text}` is neither an RFC 3339 time (2026-01-31T18:00:00Z) nor a duration (24h)"
        )
    })?;
    chrono::TimeDelta::from_std(ago.0)
        .ok()
        .and_then(|delta| now.checked_sub_signed(delta))
        .ok_or_else(|| format!("{flag}: `{text}` is too long ago"))
}

/// The payload as compact JSON on one line, cut to a table cell; `{}` and `null` show empty.
pub fn payload_cell(payload: &serde_json::Value) -> String {
    let empty = payload.is_null() || payload.as_object().is_some_and(|o| o.is_empty());
    if empty {
        return String::new();
    }
    render::cell(&payload.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn since_takes_a_duration_ago_or_an_instant() {
        let now: DateTime<Utc> = "2026-01-02T12:00:00Z".parse().unwrap();
        let cases = [
            ("24h", "2026-01-01T12:00:00Z"),
            ("7d", "2025-12-26T12:00:00Z"),
            ("1h 30m", "2026-01-02T10:30:00Z"),
            ("90", "2026-01-02T11:58:30Z"),
            ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z"),
            ("2026-01-01T09:00:00+09:00", "2026-01-01T00:00:00Z"),
        ];
        for (text, want) in cases {
            let got = parse_time_ago("--since", text, now).unwrap();
            assert_eq!(got, want.parse::<DateTime<Utc>>().unwrap(), "{text}");
        }
        let err = parse_time_ago("--since", "yesterday", now).unwrap_err();
        assert_eq!(
            err,
            "--since: `yesterday` is neither an RFC 3339 time (2026-01-31T18:00:00Z) nor a duration (24h)"
        );
        let err = parse_time_ago("--until", "99999999999d", now).unwrap_err();
        assert!(err.starts_with("--until: "), "{err}");
    }

    #[test]
    fn payloads_are_compact_and_cut() {
        assert_eq!(payload_cell(&json!({})), "");
        assert_eq!(payload_cell(&serde_json::Value::Null), "");
        assert_eq!(
            payload_cell(&json!({"a": 1, "b": "x"})),
            r#"{"a":1,"b":"x"}"#
        );
        let long = payload_cell(&json!({ "script_first_line": "y".repeat(200) }));
        assert_eq!(long.chars().count(), render::MAX_CELL);
        assert!(long.ends_with('…'));
    }
}
