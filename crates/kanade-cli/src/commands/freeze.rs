//! `kanade freeze on|off|status`: while the fleet is frozen the scheduler fires no schedule
//! and holds due rollout waves until the thaw; manual `exec` and `run` still go out (with a
//! warning). A stored freeze that does not decode counts as frozen; `on` or `off` replaces it. `on` takes `--until T` or `--for 2h` (counted
//! from `--from`, else from now) and `--from T`; times are RFC 3339 or a duration from now.

use chrono::{DateTime, TimeDelta, Utc};
use kanade_protocol::api::{FreezeRequest, FreezeStatus};
use kanade_protocol::duration::HumanDuration;

use crate::cli::{FreezeCommand, Global};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(command: FreezeCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let now = Utc::now();
    let status = match command {
        FreezeCommand::On {
            until,
            for_,
            from,
            reason,
        } => {
            let request = freeze_request(
                from.as_deref(),
                until.as_deref(),
                for_,
                reason.filter(|r| !r.trim().is_empty()),
                now,
            )
            .map_err(BadInput::err)?;
            client.set_freeze(&request).await?
        }
        FreezeCommand::Off => {
            client.lift_freeze().await?;
            if !global.json {
                io.print("freeze lifted: schedules fire and held rollout waves go out again\n")?;
                return Ok(EXIT_OK);
            }
            client.freeze_status().await?
        }
        FreezeCommand::Status => client.freeze_status().await?,
    };
    match global.json {
        true => io.json(&status)?,
        false => io.print(&format!("{}\n", describe(&status, now)))?,
    }
    Ok(EXIT_OK)
}

/// A time flag: RFC 3339, or a duration meaning that long from `now`.
pub fn parse_time_ahead(
    flag: &str,
    text: &str,
    now: DateTime<Utc>,
) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.to_utc());
    }
    let ahead: HumanDuration = text.parse().map_err(|_| {
        format!(
            "{flag}: `{text}` is neither an RFC 3339 time (2026-01-31T18:00:00Z) nor a duration (2h)"
        )
    })?;
    later(now, ahead).ok_or_else(|| format!("{flag}: `{text}` is too far in the future"))
}

fn later(at: DateTime<Utc>, by: HumanDuration) -> Option<DateTime<Utc>> {
    TimeDelta::from_std(by.0)
        .ok()
        .and_then(|delta| at.checked_add_signed(delta))
}

/// The flags of `freeze on` as the API request: `--for` counts from `--from` (or `now`); the
/// end must lie after the start and in the future.
pub fn freeze_request(
    from: Option<&str>,
    until: Option<&str>,
    for_: Option<HumanDuration>,
    reason: Option<String>,
    now: DateTime<Utc>,
) -> Result<FreezeRequest, String> {
    let from = from
        .map(|text| parse_time_ahead("--from", text, now))
        .transpose()?;
    let until = match (until, for_) {
        (Some(_), Some(_)) => return Err("--until and --for: give one of them".to_owned()),
        (Some(text), None) => Some(parse_time_ahead("--until", text, now)?),
        (None, Some(length)) => {
            if length.0.is_zero() {
                return Err("--for: must be longer than 0s".to_owned());
            }
            Some(
                later(from.unwrap_or(now), length)
                    .ok_or_else(|| format!("--for: `{length}` is too long"))?,
            )
        }
        (None, None) => None,
    };
    if let Some(until) = until {
        if until <= now {
            return Err(format!(
                "--until: {} is already in the past",
                render::time(until)
            ));
        }
        if let Some(from) = from
            && from >= until
        {
            return Err("--from must be before the end (--until / --for)".to_owned());
        }
    }
    Ok(FreezeRequest {
        from,
        until,
        reason,
    })
}

/// One line: frozen or not, since / from when, until when, by whom and why.
pub fn describe(status: &FreezeStatus, now: DateTime<Utc>) -> String {
    let Some(freeze) = &status.freeze else {
        return "not frozen".to_owned();
    };
    let ended = freeze.until.is_some_and(|until| until <= now);
    let mut line = match (status.frozen, freeze.from) {
        (true, _) => "frozen".to_owned(),
        (false, _) if ended => "not frozen (the last freeze ended)".to_owned(),
        (false, Some(from)) => format!("freeze scheduled from {}", render::time(from)),
        (false, None) => "not frozen".to_owned(),
    };
    if status.frozen
        && let Some(from) = freeze.from
    {
        line.push_str(&format!(" since {}", render::time(from)));
    }
    if !ended {
        match freeze.until {
            Some(until) => line.push_str(&format!(" until {}", render::time(until))),
            None => line.push_str(" until `kanade freeze off`"),
        }
    }
    if let Some(by) = &freeze.set_by {
        line.push_str(&format!("; set by {by} at {}", render::time(freeze.set_at)));
    }
    if let Some(reason) = &freeze.reason {
        line.push_str(&format!(": {}", render::cell(reason)));
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanade_protocol::wire::Freeze;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    const NOW: &str = "2026-01-31T18:00:00Z";

    #[test]
    fn for_counts_from_from_or_now() {
        let now = at(NOW);
        let two_hours = "2h".parse().ok();
        let req = freeze_request(None, None, two_hours, None, now).unwrap();
        assert_eq!(req.until, Some(at("2026-01-31T20:00:00Z")));
        assert_eq!(req.from, None);
        let req = freeze_request(Some("1h"), None, two_hours, Some("release".into()), now).unwrap();
        assert_eq!(req.from, Some(at("2026-01-31T19:00:00Z")));
        assert_eq!(req.until, Some(at("2026-01-31T21:00:00Z")));
        assert_eq!(req.reason.as_deref(), Some("release"));
        let req = freeze_request(
            Some("2026-02-01T00:00:00+09:00"),
            Some("2026-02-02T00:00:00Z"),
            None,
            None,
            now,
        )
        .unwrap();
        assert_eq!(req.from, Some(at("2026-01-31T15:00:00Z")));
        assert_eq!(req.until, Some(at("2026-02-02T00:00:00Z")));
        let open = freeze_request(None, None, None, None, now).unwrap();
        assert_eq!(open, FreezeRequest::default());
    }

    #[test]
    fn freeze_refusals_name_the_flag() {
        let now = at(NOW);
        // (--from, --until, --for, the start of the refusal)
        type Case<'a> = (Option<&'a str>, Option<&'a str>, Option<&'a str>, &'a str);
        let cases: [Case; 6] = [
            (None, None, Some("0s"), "--for: must be longer than 0s"),
            (None, Some("soon"), None, "--until: `soon` is neither"),
            (Some("later"), None, None, "--from: `later` is neither"),
            (
                None,
                Some("2026-01-01T00:00:00Z"),
                None,
                "--until: 2026-01-01T00:00:00Z is already in the past",
            ),
            (
                Some("3h"),
                Some("2h"),
                None,
                "--from must be before the end",
            ),
            (None, Some("2h"), Some("1h"), "--until and --for"),
        ];
        for (from, until, length, want) in cases {
            let length = length.map(|l| l.parse().unwrap());
            let err = freeze_request(from, until, length, None, now).unwrap_err();
            assert!(err.starts_with(want), "{want}: {err}");
        }
    }

    #[test]
    fn freeze_on_flags_parse() {
        use crate::cli::{Cli, Command, FreezeCommand};
        use clap::Parser;
        let parse = |line: &str| {
            Cli::try_parse_from(
                ["kanade", "freeze"]
                    .into_iter()
                    .chain(line.split_whitespace()),
            )
            .map_err(|e| e.to_string())
        };
        let cli = parse("on --for 2h --reason patching").unwrap();
        let Command::Freeze(FreezeCommand::On { for_, reason, .. }) = cli.command else {
            panic!("not freeze on")
        };
        assert_eq!(for_.map(|d| d.as_secs()), Some(7200));
        assert_eq!(reason.as_deref(), Some("patching"));
        let err = parse("on --for 2h --until 3h").unwrap_err();
        assert!(err.contains("cannot be used with"), "{err}");
        let err = parse("on --for tomorrow").unwrap_err();
        assert!(err.contains("`tomorrow` is not a duration"), "{err}");
        assert!(parse("off").is_ok() && parse("status").is_ok());
    }

    #[test]
    fn status_reads_as_one_line() {
        let now = at(NOW);
        let freeze = |from: Option<&str>, until: Option<&str>| Freeze {
            from: from.map(at),
            until: until.map(at),
            reason: Some("quarter end".into()),
            set_by: Some("alice".into()),
            set_at: at("2026-01-31T17:00:00Z"),
        };
        let status = |frozen, freeze| FreezeStatus { frozen, freeze };
        assert_eq!(describe(&status(false, None), now), "not frozen");
        assert_eq!(
            describe(
                &status(true, Some(freeze(None, Some("2026-01-31T20:00:00Z")))),
                now
            ),
            "frozen until 2026-01-31T20:00:00Z; set by alice at 2026-01-31T17:00:00Z: quarter end"
        );
        assert_eq!(
            describe(
                &status(true, Some(freeze(Some("2026-01-31T17:30:00Z"), None))),
                now
            ),
            "frozen since 2026-01-31T17:30:00Z until `kanade freeze off`; set by alice at 2026-01-31T17:00:00Z: quarter end"
        );
        assert_eq!(
            describe(
                &status(
                    false,
                    Some(freeze(
                        Some("2026-02-01T00:00:00Z"),
                        Some("2026-02-02T00:00:00Z")
                    ))
                ),
                now
            ),
            "freeze scheduled from 2026-02-01T00:00:00Z until 2026-02-02T00:00:00Z; set by alice at 2026-01-31T17:00:00Z: quarter end"
        );
        assert!(
            describe(
                &status(false, Some(freeze(None, Some("2026-01-31T10:00:00Z")))),
                now
            )
            .starts_with("not frozen (the last freeze ended); set by alice")
        );
    }
}
