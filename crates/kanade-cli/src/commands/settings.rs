//! `kanade settings list|get KEY|set KEY VALUE`: the server settings in KV `server_settings`.
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
}
