//! `kanade schedule create|list|get|delete|enable|disable|upcoming`. `create` checks the
//! schedule locally first (exit 2 naming the offending field), then uploads the text as
//! written, so `schedule get` shows it with its comments.

use std::path::Path;

use kanade_protocol::schedule::Schedule;

use crate::cli::{Global, ScheduleCommand};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(
    command: ScheduleCommand,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    match command {
        ScheduleCommand::Create { file } => {
            let text = read(&file)?;
            let detail = client.create_schedule_yaml(&text).await?;
            match global.json {
                true => io.json(&detail)?,
                false => io.print(&format!(
                    "registered schedule {} ({}); next fire {}\n",
                    detail.schedule.id,
                    detail.schedule.when.describe(),
                    next(detail.next_fire)
                ))?,
            }
        }
        ScheduleCommand::List => {
            let all = client.list_schedules().await?;
            if global.json {
                io.json(&all)?;
                return Ok(EXIT_OK);
            }
            let rows: Vec<Vec<String>> = all
                .iter()
                .map(|s| {
                    vec![
                        render::cell(&s.id),
                        render::cell(&s.job_id),
                        render::yes(s.enabled),
                        render::cell(&s.when),
                        next(s.next_fire),
                    ]
                })
                .collect();
            io.print(&render::table(
                &["id", "job", "enabled", "when", "next fire"],
                &rows,
            ))?;
        }
        ScheduleCommand::Get { id } => {
            let detail = client.get_schedule(&id).await?;
            if global.json {
                io.json(&detail)?;
                return Ok(EXIT_OK);
            }
            let text = match detail.yaml {
                Some(text) => text,
                None => serde_json::to_string_pretty(&detail.schedule)?,
            };
            io.print(&text)?;
            if !text.ends_with('\n') {
                io.print("\n")?;
            }
        }
        ScheduleCommand::Delete { id } => {
            client.delete_schedule(&id).await?;
            io.print(&format!("deleted schedule {id}\n"))?;
        }
        ScheduleCommand::Enable { id } => switch(&client, &id, true, global, io).await?,
        ScheduleCommand::Disable { id } => switch(&client, &id, false, global, io).await?,
        ScheduleCommand::Upcoming { limit } => {
            let fires = client.upcoming_fires(limit).await?;
            if global.json {
                io.json(&fires)?;
                return Ok(EXIT_OK);
            }
            let rows: Vec<Vec<String>> = fires
                .iter()
                .map(|f| {
                    vec![
                        render::time(f.at),
                        render::cell(&f.schedule_id),
                        render::cell(&f.job_id),
                    ]
                })
                .collect();
            io.print(&render::table(&["at", "schedule", "job"], &rows))?;
        }
    }
    Ok(EXIT_OK)
}

async fn switch(
    client: &crate::client::ApiClient,
    id: &str,
    enabled: bool,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<()> {
    let summary = client.set_schedule_enabled(id, enabled).await?;
    match global.json {
        true => io.json(&summary),
        false => io.print(&format!(
            "schedule {id} {}; next fire {}\n",
            if enabled { "enabled" } else { "disabled" },
            next(summary.next_fire)
        )),
    }
}

/// Reads and checks a schedule file: exit 2 naming the file and the field when it is wrong.
pub fn read(path: &Path) -> anyhow::Result<String> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| BadInput::err(format!("cannot read {}: {err}", path.display())))?;
    Schedule::parse(&text).map_err(|err| BadInput::err(format!("{}: {err}", path.display())))?;
    Ok(text)
}

fn next(at: Option<chrono::DateTime<chrono::Utc>>) -> String {
    at.map(render::time).unwrap_or_else(|| "-".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_schedule_file_is_checked_before_upload() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.yaml");
        let text = "# nightly\nid: nightly\njob_id: hello\nwhen: {calendar: {at: '03:00', days: [mon-fri]}}\ntarget: {all: true}\n";
        std::fs::write(&good, text).unwrap();
        assert_eq!(read(&good).unwrap(), text);
        let bad = dir.path().join("bad.yaml");
        std::fs::write(&bad, text.replace("mon-fri", "someday")).unwrap();
        let err = read(&bad).unwrap_err();
        assert!(err.is::<BadInput>());
        assert!(
            err.to_string()
                .contains("bad.yaml: when.calendar.days[0]: `someday` is not a day"),
            "{err}"
        );
        let err = read(&dir.path().join("none.yaml")).unwrap_err();
        assert!(err.is::<BadInput>());
    }
}
