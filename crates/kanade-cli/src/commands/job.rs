//! `kanade job create|validate|export|list|get|delete|status`, and `kanade revoke|unrevoke
//! <job>`. `create` and `validate` take files, folders and multi-document files; every
//! document is checked locally first (as the server would) and `execute.script_file` is
//! inlined, which the API does not accept. `create` then registers them all or nothing.

use std::path::{Path, PathBuf};

use anyhow::Context;
use kanade_protocol::manifest::{Manifest, ManifestError};

use crate::cli::{Global, JobCommand};
use crate::commands::documents::{self, Checked, Document};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_BAD_INPUT, EXIT_OK, render};

pub async fn run(command: JobCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    match command {
        JobCommand::Create { paths } => create(&paths, global, io).await,
        JobCommand::Validate { paths } => validate(&paths, io),
        JobCommand::Export {
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
            export(what, global, io).await
        }
        JobCommand::List => list(global, io).await,
        JobCommand::Get { id } => get(&id, global, io).await,
        JobCommand::Delete { id } => delete(&id, global, io).await,
        JobCommand::Status { id } => status(&id, global, io).await,
    }
}

/// A manifest ready to upload: the parsed form and the text the server receives.
#[derive(Debug, Clone, PartialEq)]
pub struct PreparedJob {
    pub manifest: Manifest,
    pub text: String,
}

/// Reads and checks the manifest at `path` (one document). Without `script_file` the text goes
/// up as written (comments and all, so `job get` shows it); with one, the file (relative to the
/// manifest's folder) is inlined into `execute.script` and the manifest is re-serialised as YAML.
pub fn prepare(path: &Path) -> anyhow::Result<PreparedJob> {
    let text = std::fs::read_to_string(path)
        .map_err(|err| BadInput::err(format!("cannot read {}: {err}", path.display())))?;
    prepare_text(path, text).map_err(|err| BadInput::err(format!("{}: {err}", path.display())))
}

/// Checks one document of the manifest file at `path` exactly as `POST /api/jobs` would once
/// `execute.script_file` is inlined. The error names the field.
pub fn prepare_text(path: &Path, text: String) -> Result<PreparedJob, String> {
    let manifest = Manifest::parse(&text).map_err(|err| err.to_string())?;
    let Some(script_file) = manifest.execute.script_file.clone() else {
        return Ok(PreparedJob { manifest, text });
    };
    let folder = path.parent().unwrap_or(Path::new("."));
    let script_path = folder.join(&script_file);
    let script = std::fs::read_to_string(&script_path).map_err(|err| {
        format!(
            "execute.script_file: cannot read {}: {err}",
            script_path.display()
        )
    })?;
    let mut manifest = manifest;
    manifest.execute.script = Some(script);
    manifest.execute.script_file = None;
    manifest
        .validate()
        .map_err(|err| format!("(after inlining): {err}"))?;
    let text = serde_saphyr::to_string(&manifest)
        .map_err(|err| format!("re-serialising the manifest: {err}"))?;
    Ok(PreparedJob { manifest, text })
}

/// Every document behind `paths`, checked one by one and then as a set: ids differ and no two
/// jobs claim one explode table (names compare case-insensitively, as SQLite's do).
pub fn check_all(paths: &[PathBuf]) -> anyhow::Result<Vec<Checked<PreparedJob>>> {
    let mut checked: Vec<Checked<PreparedJob>> = documents::read(paths)?
        .into_iter()
        .map(|document| match document {
            Ok(Document { path, number, text }) => Checked {
                label: format!("{}#{number}", path.display()),
                outcome: prepare_text(&path, text),
                warning: None,
            },
            Err((label, message)) => Checked {
                label,
                outcome: Err(message),
                warning: None,
            },
        })
        .collect();
    documents::refuse_duplicates(&mut checked, |job| job.manifest.id.as_str(), "job");
    let mut tables: std::collections::HashMap<String, (String, String)> = Default::default();
    for entry in checked.iter_mut() {
        let Ok(job) = &entry.outcome else { continue };
        let mut clash = None;
        for (path, spec) in job.manifest.explode_specs() {
            let key = spec.table.to_ascii_lowercase();
            if let Some((owner, at)) = tables.get(&key) {
                clash = Some(ManifestError::Invalid {
                    field: format!("{path}.table"),
                    message: format!(
                        "table `{}` is also claimed by job `{owner}` at {at}",
                        spec.table
                    ),
                });
                break;
            }
            tables.insert(key, (job.manifest.id.clone(), entry.label.clone()));
        }
        if let Some(err) = clash {
            entry.outcome = Err(err.to_string());
        }
    }
    Ok(checked)
}

fn validate(paths: &[PathBuf], io: &mut Io<'_>) -> anyhow::Result<i32> {
    let checked = check_all(paths)?;
    match documents::report(&checked, |job| job.manifest.id.as_str(), io)? {
        true => Ok(EXIT_OK),
        false => Ok(EXIT_BAD_INPUT),
    }
}

async fn create(paths: &[PathBuf], global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let checked = check_all(paths)?;
    documents::refuse(&checked, io)?;
    let (labels, jobs): (Vec<String>, Vec<PreparedJob>) = checked
        .into_iter()
        .filter_map(|c| c.outcome.ok().map(|job| (c.label, job)))
        .unzip();
    let client = api_client(global)?;
    if let [job] = jobs.as_slice() {
        let detail = client.create_job_yaml(&job.text).await?;
        if global.json {
            io.json(&detail)?;
        } else {
            io.print(&format!(
                "registered job {} (version {})\n",
                detail.manifest.id, detail.manifest.version
            ))?;
        }
        return Ok(EXIT_OK);
    }
    let texts = jobs.iter().map(|job| job.text.clone()).collect();
    let response = client
        .create_jobs_batch(texts)
        .await
        .map_err(|err| documents::locate(err.into(), &labels))?;
    if global.json {
        io.json(&response)?;
        return Ok(EXIT_OK);
    }
    for ((written, job), label) in response.written.iter().zip(&jobs).zip(&labels) {
        io.print(&format!(
            "{} job {} (version {}) from {label}\n",
            if written.replaced {
                "replaced"
            } else {
                "registered"
            },
            written.id,
            job.manifest.version
        ))?;
    }
    Ok(EXIT_OK)
}

/// The text a job was registered as (or its manifest as YAML when the text is missing).
fn text_of(detail: kanade_protocol::api::JobDetail) -> anyhow::Result<String> {
    match detail.yaml {
        Some(text) => Ok(text),
        None => serde_saphyr::to_string(&detail.manifest).context("rendering the manifest"),
    }
}

async fn export(what: documents::Export, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let ids = async || {
        let jobs = client.list_jobs().await?;
        anyhow::Ok(jobs.into_iter().map(|job| job.id).collect())
    };
    let text = async |id: &str| text_of(client.get_job(id).await?);
    documents::export("job", what, ids, text, io).await
}

async fn list(global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let jobs = api_client(global)?.list_jobs().await?;
    if global.json {
        io.json(&jobs)?;
        return Ok(EXIT_OK);
    }
    if jobs.is_empty() {
        io.print("no jobs yet: register one with `kanade job create <file.yaml>`\n")?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = jobs
        .iter()
        .map(|job| {
            vec![
                render::cell(&job.id),
                render::cell(&job.version),
                job.shell.clone(),
                job.timeout.to_string(),
                render::cell(&job.tags.join(",")),
                render::cell(job.description.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    io.print(&render::table(
        &["id", "version", "shell", "timeout", "tags", "description"],
        &rows,
    ))?;
    Ok(EXIT_OK)
}

async fn get(id: &str, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let detail = api_client(global)?.get_job(id).await?;
    if global.json {
        io.json(&detail.manifest)?;
        return Ok(EXIT_OK);
    }
    let text = match detail.yaml {
        Some(text) => text,
        None => serde_saphyr::to_string(&detail.manifest).context("rendering the manifest")?,
    };
    io.print(&text)?;
    if !text.ends_with('\n') {
        io.print("\n")?;
    }
    Ok(EXIT_OK)
}

async fn delete(id: &str, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    api_client(global)?.delete_job(id).await?;
    if !global.json {
        io.print(&format!("deleted job {id}\n"))?;
    }
    Ok(EXIT_OK)
}

fn check_id(id: &str) -> anyhow::Result<()> {
    if kanade_protocol::manifest::is_valid_id(id) {
        return Ok(());
    }
    Err(BadInput::err(format!("`{id}` is not a valid job id")))
}

async fn status(id: &str, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    check_id(id)?;
    let status = api_client(global)?.job_status(id).await?;
    if global.json {
        io.json(&status)?;
        return Ok(EXIT_OK);
    }
    io.print(&render::pairs(&[
        ("job", status.id.clone()),
        (
            "revoked",
            match status.revoked {
                true => "yes: agents refuse it".to_owned(),
                false => "no".to_owned(),
            },
        ),
        (
            "pinned version",
            status
                .pinned_version
                .clone()
                .unwrap_or_else(|| "-".to_owned()),
        ),
    ]))?;
    Ok(EXIT_OK)
}

/// `kanade revoke <job>` / `kanade unrevoke <job>`.
pub async fn revoke(
    id: &str,
    revoked: bool,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    check_id(id)?;
    let status = api_client(global)?.set_job_revoked(id, revoked).await?;
    match global.json {
        true => io.json(&status)?,
        false if status.revoked => io.print(&format!(
            "revoked job {id}: agents refuse it, including commands replayed after an outage\n"
        ))?,
        false => io.print(&format!("job {id} may run again\n"))?,
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    const WITH_FILE: &str = "
id: inv
version: 2
execute:
  shell: bash
  script_file: scripts/inv.sh
  timeout: 1m
tags: [inventory]
";

    #[test]
    fn script_file_is_inlined_relative_to_the_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let script = "#!/bin/bash\n# a: comment\necho \"{\\\"k\\\": 1}\"\n\tprintf '%s\\n' x\n";
        write(dir.path(), "jobs/scripts/inv.sh", script);
        let path = write(dir.path(), "jobs/inv.yaml", WITH_FILE);

        let prepared = prepare(&path).unwrap();
        assert_eq!(prepared.manifest.script(), Some(script));
        assert_eq!(prepared.manifest.execute.script_file, None);
        assert!(!prepared.text.contains("script_file"), "{}", prepared.text);
        // What the server receives parses back to the same manifest.
        assert_eq!(Manifest::parse(&prepared.text).unwrap(), prepared.manifest);
    }

    #[test]
    fn a_manifest_without_script_file_goes_up_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let text =
            "# keep me\nid: a\nversion: 1\nexecute: {shell: sh, script: 'true', timeout: 5s}\n";
        let path = write(dir.path(), "a.yaml", text);
        assert_eq!(prepare(&path).unwrap().text, text);
    }

    #[test]
    fn refusals_name_the_file_and_field() {
        let dir = tempfile::tempdir().unwrap();
        let missing_script = write(dir.path(), "inv.yaml", WITH_FILE);
        write(dir.path(), "scripts/empty.sh", "  \n");
        let empty_script = write(
            dir.path(),
            "empty.yaml",
            &WITH_FILE.replace("scripts/inv.sh", "scripts/empty.sh"),
        );
        let bad_field = write(
            dir.path(),
            "bad.yaml",
            &WITH_FILE.replace("timeout: 1m", "timeout: 1m\n  colour: red"),
        );
        let cases = [
            (missing_script, "inv.yaml: execute.script_file: cannot read"),
            (
                empty_script,
                "(after inlining): execute.script: is required",
            ),
            (
                bad_field,
                "bad.yaml: execute.colour: unknown field `colour`",
            ),
            (dir.path().join("none.yaml"), "cannot read"),
        ];
        for (path, want) in cases {
            let err = prepare(&path).unwrap_err();
            assert!(err.is::<BadInput>(), "{err}");
            assert!(err.to_string().contains(want), "want {want:?} in {err}");
        }
    }
}
