//! `kanade config get|set|unset <scope>` and `kanade config effective <pc>`. Scopes are
//! `global`, `groups.<g>` and `pcs.<pc>`. `set` types each `key=value` by the field it names
//! (durations, whole numbers, true/false, RFC 3339 times, versions), so an unknown key or a
//! value of the wrong type exits 2 naming it before any request; the values go to the backend
//! as one JSON PATCH, and `unset` sends `null` for each key.

use chrono::DateTime;
use kanade_protocol::api::EffectiveConfigView;
use kanade_protocol::config::{self, ConfigScope, FIELDS};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::subject;
use serde_json::{Map, Value};

use crate::cli::{ConfigCommand, Global};
use crate::commands::{Io, api_client, check_pc};
use crate::{BadInput, EXIT_OK, render};

/// What a config field holds, and so how its value is written on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldType {
    /// `30s`, `5m`, `1h 30m` or a number of seconds.
    Duration,
    /// `true` or `false`.
    Bool,
    /// A whole number, 0 to 4294967295.
    Count,
    /// An RFC 3339 time.
    Time,
    /// An agent version as published: letters, digits, '.', '-' and '_'.
    Version,
    /// `report` or `enforce`.
    SignatureMode,
    /// `allow` or `deny`.
    TerminalPolicy,
}

impl FieldType {
    fn describe(self) -> &'static str {
        match self {
            FieldType::Duration => "a duration (30s, 5m, 1h)",
            FieldType::Bool => "true or false",
            FieldType::Count => "a whole number",
            FieldType::Time => "an RFC 3339 time (2026-01-31T18:00:00Z)",
            FieldType::Version => "a version (letters, digits, '.', '-' and '_')",
            FieldType::SignatureMode => "report or enforce",
            FieldType::TerminalPolicy => "allow, consent or deny",
        }
    }
}

/// The type of every field of `kanade_protocol::config::FIELDS` (a test keeps them in step).
pub const FIELD_TYPES: &[(&str, FieldType)] = &[
    ("heartbeat_interval", FieldType::Duration),
    ("host_perf_interval", FieldType::Duration),
    ("process_perf_enabled", FieldType::Bool),
    ("process_perf_expires_at", FieldType::Time),
    ("process_perf_interval", FieldType::Duration),
    ("process_perf_top_n", FieldType::Count),
    ("max_local_concurrent", FieldType::Count),
    ("target_version", FieldType::Version),
    ("target_version_jitter", FieldType::Duration),
    ("command_signatures", FieldType::SignatureMode),
    ("terminal", FieldType::TerminalPolicy),
    ("terminal_consent_timeout", FieldType::Duration),
    ("terminal_idle_timeout", FieldType::Duration),
];

pub async fn run(command: ConfigCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    match command {
        ConfigCommand::Get { scope } => {
            let scope = parse_scope(&scope)?;
            let values = api_client(global)?.get_config(&scope).await?;
            print_scope(&scope, &values, None, global, io)
        }
        ConfigCommand::Set { scope, values } => {
            let scope = parse_scope(&scope)?;
            let patch = parse_assignments(&values)?;
            let written = api_client(global)?.patch_config(&scope, &patch).await?;
            print_scope(&scope, &written, Some("updated"), global, io)
        }
        ConfigCommand::Unset { scope, keys } => {
            let scope = parse_scope(&scope)?;
            let patch = unset_patch(&keys)?;
            let written = api_client(global)?.patch_config(&scope, &patch).await?;
            print_scope(&scope, &written, Some("updated"), global, io)
        }
        ConfigCommand::Effective { pc } => {
            check_pc(&pc)?;
            let view = api_client(global)?.effective_config(&pc).await?;
            if global.json {
                io.json(&view)?;
                return Ok(EXIT_OK);
            }
            io.print(&effective_table(&view))?;
            Ok(EXIT_OK)
        }
    }
}

/// A scope as the backend keys it: `global`, `groups.<g>` or `pcs.<pc>` (`group.<g>` and
/// `pc.<pc>` are accepted too), the name checked.
pub fn parse_scope(text: &str) -> anyhow::Result<String> {
    let wrong = || {
        BadInput::err(format!(
            "`{text}` is not a scope; use global, groups.<name> or pcs.<machine>"
        ))
    };
    if text == config::GLOBAL_KEY {
        return Ok(text.to_owned());
    }
    let (kind, name) = text.split_once('.').ok_or_else(wrong)?;
    let key = match kind {
        "groups" | "group" => config::group_key(name),
        "pcs" | "pc" => config::pc_key(name),
        _ => return Err(wrong()),
    };
    let valid = match kind {
        "pcs" | "pc" => subject::is_valid_pc_id(name),
        _ => subject::is_valid_token(name),
    };
    if !valid {
        return Err(BadInput::err(format!(
            "scope {text}: `{name}` is not a valid name (letters, digits, '-' and '_' only)"
        )));
    }
    Ok(key)
}

/// The type of a known field; an unknown one is bad input naming it and the known ones.
pub fn field_type(key: &str) -> anyhow::Result<Option<FieldType>> {
    if !FIELDS.contains(&key) {
        return Err(BadInput::err(format!(
            "`{key}` is not a config field; known: {}",
            FIELDS.join(", ")
        )));
    }
    Ok(FIELD_TYPES
        .iter()
        .find(|(name, _)| *name == key)
        .map(|(_, kind)| *kind))
}

/// One value typed by its field, as the JSON the API takes. A field this CLI has no type for
/// (a newer protocol) goes up as written and the backend checks it.
pub fn typed_value(key: &str, text: &str) -> anyhow::Result<Value> {
    let Some(kind) = field_type(key)? else {
        return Ok(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_owned())));
    };
    let wrong = || BadInput::err(format!("{key}={text}: not {}", kind.describe()));
    let value = match kind {
        FieldType::Duration => {
            let duration: HumanDuration = text
                .parse()
                .map_err(|err| BadInput::err(format!("{key}={text}: {err}")))?;
            Value::String(duration.to_string())
        }
        FieldType::Bool => match text.trim() {
            "true" => Value::Bool(true),
            "false" => Value::Bool(false),
            _ => return Err(wrong()),
        },
        FieldType::Count => Value::from(text.trim().parse::<u32>().map_err(|_| wrong())?),
        FieldType::Time => {
            let at = DateTime::parse_from_rfc3339(text.trim()).map_err(|_| wrong())?;
            Value::String(render::time(at.to_utc()))
        }
        FieldType::Version => {
            if !is_version(text) {
                return Err(wrong());
            }
            Value::String(text.to_owned())
        }
        FieldType::SignatureMode => match text.trim() {
            mode @ ("report" | "enforce") => Value::String(mode.to_owned()),
            _ => return Err(wrong()),
        },
        FieldType::TerminalPolicy => match text.trim() {
            policy @ ("allow" | "consent" | "deny") => Value::String(policy.to_owned()),
            _ => return Err(wrong()),
        },
    };
    Ok(value)
}

/// What `kanade agent publish` accepts as a version (and the backend as a release key part).
pub fn is_version(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
}

/// `key=value` words as one PATCH object, each value typed by its field; the whole object is
/// then checked as a scope, like the backend checks it.
pub fn parse_assignments(words: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut patch = Map::new();
    for word in words {
        let (key, text) = word
            .split_once('=')
            .ok_or_else(|| BadInput::err(format!("`{word}` is not key=value")))?;
        let key = key.trim();
        let value = typed_value(key, text)?;
        if patch.insert(key.to_owned(), value).is_some() {
            return Err(BadInput::err(format!("{key} is given twice")));
        }
    }
    serde_json::from_value::<ConfigScope>(Value::Object(patch.clone()))
        .map_err(|err| BadInput::err(format!("the values do not make a config scope: {err}")))?;
    Ok(patch)
}

/// Field names as a PATCH that unsets each (`null`).
pub fn unset_patch(keys: &[String]) -> anyhow::Result<Map<String, Value>> {
    let mut patch = Map::new();
    for key in keys {
        field_type(key)?;
        patch.insert(key.clone(), Value::Null);
    }
    Ok(patch)
}

/// The fields a scope sets, in display order, as `key  value` lines.
pub fn scope_lines(values: &ConfigScope) -> String {
    let object = serde_json::to_value(values).unwrap_or_default();
    let pairs: Vec<(&str, String)> = FIELDS
        .iter()
        .filter_map(|field| object.get(*field).map(|v| (*field, render::value(v))))
        .collect();
    render::pairs(&pairs)
}

fn print_scope(
    scope: &str,
    values: &ConfigScope,
    verb: Option<&str>,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    if global.json {
        io.json(values)?;
        return Ok(EXIT_OK);
    }
    if let Some(verb) = verb {
        io.print(&format!("{verb} {scope}\n"))?;
    }
    match *values == ConfigScope::default() {
        true => io.print(&format!(
            "{scope} sets nothing: lower scopes or the defaults apply\n"
        ))?,
        false => io.print(&scope_lines(values))?,
    }
    Ok(EXIT_OK)
}

/// field / value / source, in the order the backend resolved them.
pub fn effective_table(view: &EffectiveConfigView) -> String {
    let rows: Vec<Vec<String>> = view
        .sources
        .iter()
        .map(|s| {
            vec![
                s.field.clone(),
                render::value(&s.value),
                render::cell(&s.scope),
            ]
        })
        .collect();
    render::table(&["field", "value", "source"], &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn words(line: &str) -> Vec<String> {
        line.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn every_protocol_field_has_a_type() {
        let typed: Vec<&str> = FIELD_TYPES.iter().map(|(name, _)| *name).collect();
        assert_eq!(typed, FIELDS);
    }

    #[test]
    fn values_are_typed_by_their_field() {
        let patch = parse_assignments(&words(
            "heartbeat_interval=90 host_perf_interval=2m process_perf_enabled=true \
             process_perf_expires_at=2026-02-01T09:00:00+01:00 process_perf_top_n=20 \
             max_local_concurrent=0 target_version=1.2.0-rc.1 target_version_jitter=1h30m",
        ))
        .unwrap();
        assert_eq!(
            Value::Object(patch),
            json!({
                "heartbeat_interval": "1m 30s",
                "host_perf_interval": "2m",
                "process_perf_enabled": true,
                "process_perf_expires_at": "2026-02-01T08:00:00Z",
                "process_perf_top_n": 20,
                "max_local_concurrent": 0,
                "target_version": "1.2.0-rc.1",
                "target_version_jitter": "1h 30m",
            })
        );
        // Only the first '=' splits: the rest is the value.
        let err = parse_assignments(&words("target_version=a=b")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("target_version=a=b: not a version")
        );
    }

    #[test]
    fn wrong_keys_and_values_name_what_is_wrong() {
        let cases = [
            (
                "heartbeat=30s",
                "`heartbeat` is not a config field; known: heartbeat_interval, host_perf_interval,",
            ),
            (
                "heartbeat_interval=soon",
                "heartbeat_interval=soon: `soon` is not a duration",
            ),
            (
                "process_perf_enabled=yes",
                "process_perf_enabled=yes: not true or false",
            ),
            (
                "max_local_concurrent=-1",
                "max_local_concurrent=-1: not a whole number",
            ),
            (
                "process_perf_top_n=99999999999",
                "process_perf_top_n=99999999999: not a whole number",
            ),
            (
                "process_perf_expires_at=tomorrow",
                "process_perf_expires_at=tomorrow: not an RFC 3339 time",
            ),
            ("target_version=", "target_version=: not a version"),
            ("target_version=1.0 beta", "not a version"),
            (
                "heartbeat_interval",
                "`heartbeat_interval` is not key=value",
            ),
            (
                "heartbeat_interval=5s heartbeat_interval=6s",
                "heartbeat_interval is given twice",
            ),
        ];
        for (line, want) in cases {
            let values = match line {
                "target_version=1.0 beta" => vec!["target_version=1.0 beta".to_owned()],
                _ => words(line),
            };
            let err = parse_assignments(&values).unwrap_err();
            assert!(err.is::<BadInput>(), "{line}: {err}");
            assert!(err.to_string().contains(want), "{line}: {err}");
        }
    }

    #[test]
    fn unset_sends_nulls_for_known_fields_only() {
        let patch = unset_patch(&words("target_version target_version_jitter")).unwrap();
        assert_eq!(
            Value::Object(patch),
            json!({"target_version": null, "target_version_jitter": null})
        );
        let err = unset_patch(&words("target")).unwrap_err();
        assert!(err.is::<BadInput>());
        assert!(
            err.to_string()
                .starts_with("`target` is not a config field")
        );
    }

    #[test]
    fn scopes_are_normalised_and_checked() {
        assert_eq!(parse_scope("global").unwrap(), "global");
        assert_eq!(parse_scope("groups.lab").unwrap(), "groups.lab");
        assert_eq!(parse_scope("group.lab").unwrap(), "groups.lab");
        assert_eq!(parse_scope("pc.pc-1").unwrap(), "pcs.pc-1");
        // A dotted (FQDN) machine id is a machine scope; a dotted group is not.
        assert_eq!(parse_scope("pcs.a.b").unwrap(), "pcs.a.b");
        for (bad, want) in [
            ("everyone", "`everyone` is not a scope"),
            ("teams.a", "`teams.a` is not a scope"),
            ("groups.", "scope groups.: `` is not a valid name"),
            ("pcs.a.b.c.d.e", "`a.b.c.d.e` is not a valid name"),
            ("groups.a.b", "`a.b` is not a valid name"),
        ] {
            let err = parse_scope(bad).unwrap_err();
            assert!(err.is::<BadInput>());
            assert!(err.to_string().contains(want), "{bad}: {err}");
        }
    }

    #[test]
    fn a_scope_prints_in_field_order() {
        let scope: ConfigScope =
            serde_json::from_str(r#"{"target_version": "2.0", "heartbeat_interval": "20s"}"#)
                .unwrap();
        assert_eq!(
            scope_lines(&scope),
            "heartbeat_interval  20s\ntarget_version      2.0\n"
        );
    }
}
