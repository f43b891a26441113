//! `kanade schedule create|validate|export|list|get|delete|enable|disable|upcoming`. `create`
//! and `validate` take files, folders and multi-document files; every document is checked
//! locally first (exit 2 naming the offending field), then `create` uploads the texts as
//! written, all or nothing, so `schedule get` shows them with their comments.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use anyhow::Context;
use kanade_protocol::schedule::Schedule;

use crate::cli::{Global, ScheduleCommand};
use crate::commands::documents::{self, Checked, Document};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_BAD_INPUT, EXIT_OK, render};

pub async fn run(
    command: ScheduleCommand,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    if let ScheduleCommand::Validate {
        paths,
        jobs,
        offline,
    } = &command
    {
        return validate(paths, jobs, *offline, global, io).await;
    }
    let client = api_client(global)?;
    match command {
        ScheduleCommand::Validate { .. } => unreachable!("handled above"),
        ScheduleCommand::Create { paths } => return create(&client, &paths, global, io).await,
        ScheduleCommand::Export {
            id,
            all,
            out,
            force,
        } => {
            let what = documents::Export {
                id,
                all,
                out,
                force,
            };
            return export(&client, what, io).await;
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
                        s.last_fire.map_or_else(|| "never".to_owned(), render::time),
                        next(s.next_fire),
                    ]
                })
                .collect();
            if rows.is_empty() {
                io.print("none\n")?;
                return Ok(EXIT_OK);
            }
            io.print(&render::table(
                &["id", "job", "enabled", "when", "last fire", "next fire"],
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

/// A schedule checked as `POST /api/schedules` would (but for its job being registered), and
/// the text that goes up as written.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedSchedule {
    pub schedule: Schedule,
    pub text: String,
}

/// Every document behind `paths`, checked one by one and then as a set (ids differ).
pub fn check_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Checked<PreparedSchedule>>> {
    let mut checked: Vec<Checked<PreparedSchedule>> = documents::read(paths)?
        .into_iter()
        .map(|document| match document {
            Ok(Document { path, number, text }) => Checked {
                label: format!("{}#{number}", path.display()),
                outcome: Schedule::parse(&text)
                    .map(|schedule| PreparedSchedule { schedule, text })
                    .map_err(|err| err.to_string()),
                warning: None,
            },
            Err((label, message)) => Checked {
                label,
                outcome: Err(message),
                warning: None,
            },
        })
        .collect();
    documents::refuse_duplicates(&mut checked, |s| s.schedule.id.as_str(), "schedule");
    Ok(checked)
}

fn id_of(prepared: &PreparedSchedule) -> &str {
    &prepared.schedule.id
}

async fn validate(
    paths: &[PathBuf],
    job_paths: &[PathBuf],
    offline: bool,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let mut checked = check_all(paths)?;
    let mut jobs_ok = true;
    let mut known: HashSet<String> = HashSet::new();
    if !job_paths.is_empty() {
        let jobs = crate::commands::job::check_all(job_paths)?;
        jobs_ok = documents::report(&jobs, |job| job.manifest.id.as_str(), io)?;
        known.extend(
            jobs.iter()
                .filter_map(|c| c.outcome.as_ref().ok())
                .map(|job| job.manifest.id.clone()),
        );
    }
    let wanted: Vec<&str> = checked
        .iter()
        .filter_map(|c| c.outcome.as_ref().ok())
        .map(|s| s.schedule.job_id.as_str())
        .filter(|job| !known.contains(*job))
        .collect();
    let registered = match (offline, wanted.is_empty()) {
        (true, _) => Err("--offline".to_owned()),
        (false, true) => Ok(None),
        (false, false) => registered_jobs(global).await.map(Some),
    };
    match &registered {
        Ok(Some(registered)) => {
            for entry in checked.iter_mut() {
                let Ok(prepared) = &entry.outcome else { continue };
                let job = &prepared.schedule.job_id;
                if !known.contains(job) && !registered.contains(job) {
                    entry.warning = Some(format!(
                        "job_id: no job `{job}` is registered (nor in --jobs); the server refuses the schedule until it is"
                    ));
                }
            }
            io.note(&format!(
                "job ids checked against the {} jobs registered at {}",
                registered.len(),
                global.backend_url
            ));
        }
        Ok(None) => {}
        Err(why) => io.note(&format!(
            "job ids not checked against the registered jobs ({why}); the server checks them at create"
        )),
    }
    let schedules_ok = documents::report(&checked, id_of, io)?;
    match schedules_ok && jobs_ok {
        true => Ok(EXIT_OK),
        false => Ok(EXIT_BAD_INPUT),
    }
}

/// The ids of the registered jobs, or why the backend could not say (within 10 s).
async fn registered_jobs(global: &Global) -> Result<HashSet<String>, String> {
    let client = api_client(global).map_err(|err| format!("{err:#}"))?;
    let listed = tokio::time::timeout(std::time::Duration::from_secs(10), client.list_jobs())
        .await
        .map_err(|_| format!("no answer from {} within 10 s", global.backend_url))?
        .map_err(|err| format!("{err}"))?;
    Ok(listed.into_iter().map(|job| job.id).collect())
}

async fn create(
    client: &crate::client::ApiClient,
    paths: &[PathBuf],
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let checked = check_all(paths)?;
    documents::refuse(&checked, io)?;
    let (labels, all): (Vec<String>, Vec<PreparedSchedule>) = checked
        .into_iter()
        .filter_map(|c| c.outcome.ok().map(|s| (c.label, s)))
        .unzip();
    if let [one] = all.as_slice() {
        let detail = client.create_schedule_yaml(&one.text).await?;
        match global.json {
            true => io.json(&detail)?,
            false => io.print(&format!(
                "registered schedule {} ({}); next fire {}\n",
                detail.schedule.id,
                detail.schedule.when.describe(),
                next(detail.next_fire)
            ))?,
        }
        return Ok(EXIT_OK);
    }
    let texts = all.iter().map(|s| s.text.clone()).collect();
    let response = client
        .create_schedules_batch(texts)
        .await
        .map_err(|err| documents::locate(err.into(), &labels))?;
    if global.json {
        io.json(&response)?;
        return Ok(EXIT_OK);
    }
    for ((written, prepared), label) in response.written.iter().zip(&all).zip(&labels) {
        io.print(&format!(
            "{} schedule {} ({}) from {label}\n",
            if written.replaced {
                "replaced"
            } else {
                "registered"
            },
            written.id,
            prepared.schedule.when.describe()
        ))?;
    }
    Ok(EXIT_OK)
}

/// The text a schedule was registered as (or the schedule as YAML when the text is missing).
fn text_of(detail: kanade_protocol::schedule::ScheduleDetail) -> anyhow::Result<String> {
    match detail.yaml {
        Some(text) => Ok(text),
        None => serde_saphyr::to_string(&detail.schedule).context("rendering the schedule"),
    }
}

async fn export(
    client: &crate::client::ApiClient,
    what: documents::Export,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let ids = async || {
        let all = client.list_schedules().await?;
        anyhow::Ok(all.into_iter().map(|s| s.id).collect())
    };
    let text = async |id: &str| text_of(client.get_schedule(id).await?);
    documents::export("schedule", what, ids, text, io).await
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
