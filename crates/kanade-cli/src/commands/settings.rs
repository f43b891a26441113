//! `kanade settings list|get KEY|set KEY VALUE` (the server settings in KV `server_settings`) and
//! `kanade machine meta` (operator attributes of a machine, KV `agent_meta`), and
//! `kanade group derive|derived` (groups derived from inventory, KV `group_defs`).
//! `set` checks the key and the value's range before any request (exit 2 naming the setting);
//! `unset`/`null` goes back to the backend's own value.

use kanade_protocol::settings::{self, SettingRow, SettingsView};
use serde_json::{Map, Value};

use crate::cli::{Global, SettingsCommand};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(
    command: SettingsCommand,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let view = match command {
        SettingsCommand::List => client.settings().await?,
        SettingsCommand::Get { key } => {
            known(&key)?;
            let view = client.settings().await?;
            let row = view.settings.into_iter().filter(|r| r.key == key).collect();
            SettingsView { settings: row }
        }
        SettingsCommand::Set { key, value } => {
            let patch = patch(&key, &value).map_err(BadInput::err)?;
            let view = client.set_settings(&patch).await?;
            let row = view.settings.into_iter().filter(|r| r.key == key).collect();
            SettingsView { settings: row }
        }
    };
    match global.json {
        true => io.json(&view)?,
        false => io.print(&table(&view.settings))?,
    }
    Ok(EXIT_OK)
}

fn known(key: &str) -> anyhow::Result<()> {
    settings::spec(key)
        .map(|_| ())
        .ok_or_else(|| BadInput::err(settings::SettingError::Unknown(key.to_owned()).to_string()))
}

/// The one-setting patch `set KEY VALUE` sends, checked as the backend will check it.
pub fn patch(key: &str, value: &str) -> Result<Map<String, Value>, String> {
    let spec = settings::spec(key)
        .ok_or_else(|| settings::SettingError::Unknown(key.to_owned()).to_string())?;
    let json = match value.trim() {
        "unset" | "null" | "none" => Value::Null,
        other => Value::String(other.to_owned()),
    };
    let parsed = settings::parse_value(spec, &json).map_err(|e| e.to_string())?;
    let mut patch = Map::new();
    patch.insert(key.to_owned(), parsed.map_or(Value::Null, Value::from));
    Ok(patch)
}

fn show(value: Option<u32>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn table(rows: &[SettingRow]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.key.clone(),
                show(r.value),
                show(r.effective),
                format!("{}–{}", r.min, r.max),
                r.help.clone(),
            ]
        })
        .collect();
    render::table(&["SETTING", "VALUE", "IN FORCE", "RANGE", "MEANING"], &rows)
}

/// `kanade machine meta <pc> [--set k=v] [--unset k]`: shows the attributes, or edits them
/// (read, change, write back whole) and shows the result.
pub async fn meta(
    client: &crate::client::ApiClient,
    args: crate::cli::MetaArgs,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let edits = meta_edits(&args.set, &args.unset).map_err(BadInput::err)?;
    let mut meta = client.agent_meta(&args.pc).await?;
    if !edits.is_empty() {
        for (key, value) in edits {
            meta.set(&key, value);
        }
        meta = client.set_agent_meta(&args.pc, &meta).await?;
    }
    match global.json {
        true => io.json(&meta)?,
        false if meta.entries.is_empty() => {
            io.print(&format!("{} has no attributes\n", args.pc))?
        }
        false => {
            let rows: Vec<Vec<String>> = meta
                .entries
                .iter()
                .map(|e| vec![e.key.clone(), render::cell(&e.value)])
                .collect();
            io.print(&render::table(&["KEY", "VALUE"], &rows))?
        }
    }
    Ok(EXIT_OK)
}

/// The edits `--set k=v` and `--unset k` ask for, each key checked.
pub fn meta_edits(
    set: &[String],
    unset: &[String],
) -> Result<Vec<(String, Option<String>)>, String> {
    let mut edits = Vec::new();
    for pair in set {
        let (key, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("--set {pair}: write KEY=VALUE"))?;
        kanade_protocol::meta::check_key(key).map_err(|e| format!("--set {pair}: {e}"))?;
        edits.push((key.to_owned(), Some(value.to_owned())));
    }
    for key in unset {
        kanade_protocol::meta::check_key(key).map_err(|e| format!("--unset {key}: {e}"))?;
        edits.push((key.clone(), None));
    }
    Ok(edits)
}

/// `kanade group derive <group> --where <condition>`: checks the condition's text, defines the
/// group and shows the machines it matches now.
pub async fn derive(
    client: &crate::client::ApiClient,
    group: &str,
    condition: &str,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    kanade_protocol::derived::check_condition(condition)
        .map_err(|e| BadInput::err(format!("--where {e}")))?;
    let request = kanade_protocol::derived::DerivedGroupRequest {
        name: group.to_owned(),
        condition: condition.to_owned(),
    };
    let view = client.derive_group(&request).await?;
    match global.json {
        true => io.json(&view)?,
        false => io.print(&format!(
            "derived group {} matches {} machine(s){}\n",
            view.name,
            view.members.len(),
            members_line(&view.members)
        ))?,
    }
    Ok(EXIT_OK)
}

fn members_line(members: &[String]) -> String {
    match members.len() {
        0 => String::new(),
        n if n <= 20 => format!(": {}", members.join(", ")),
        _ => format!(": {}, ...", members[..20].join(", ")),
    }
}

/// `kanade group derived`: every derived group with its condition and members now.
pub async fn derived(
    client: &crate::client::ApiClient,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let groups = client.derived_groups().await?;
    if global.json {
        io.json(&groups)?;
        return Ok(EXIT_OK);
    }
    if groups.is_empty() {
        io.print("no derived groups: define one with `kanade group derive <group> --where <condition>`\n")?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = groups
        .iter()
        .map(|g| {
            vec![
                g.name.clone(),
                match &g.error {
                    Some(e) => format!("error: {}", render::cell(e)),
                    None => g.members.len().to_string(),
                },
                render::cell(&g.condition),
            ]
        })
        .collect();
    io.print(&render::table(&["GROUP", "MEMBERS", "WHERE"], &rows))?;
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_checks_the_key_and_range_before_sending() {
        let p = patch("session_ttl_hours", "12").unwrap();
        assert_eq!(p["session_ttl_hours"], Value::from(12));
        assert_eq!(
            patch("agent_prune_days", "unset").unwrap()["agent_prune_days"],
            Value::Null
        );
        assert!(
            patch("session_ttl_hours", "0")
                .unwrap_err()
                .starts_with("session_ttl_hours:")
        );
        assert!(patch("colour", "1").unwrap_err().starts_with("colour:"));
    }

    #[test]
    fn meta_edits_need_key_equals_value_and_legal_keys() {
        let edits = meta_edits(&["owner=alice=b".into()], &["notes".into()]).unwrap();
        assert_eq!(edits[0], ("owner".to_owned(), Some("alice=b".to_owned())));
        assert_eq!(edits[1], ("notes".to_owned(), None));
        assert!(
            meta_edits(&["owner".into()], &[])
                .unwrap_err()
                .contains("KEY=VALUE")
        );
        assert!(meta_edits(&["a b=c".into()], &[]).is_err());
    }
}
