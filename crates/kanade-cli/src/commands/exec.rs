//! `kanade exec <job> (--pcs | --groups | --all)`: start an execution, say which machines it
//! targets (online or not), and with `--wait` poll it with a live progress bar until every
//! machine reported, or every online one did plus `--grace`, then print one row per machine
//! and name those that never answered. Exits 1 when any machine failed, was skipped or never
//! reported, or the wait timed out. While the fleet is frozen it says so before sending (the
//! run goes out anyway; a rollout's waves wait for the thaw). A job with `require_approval`
//! sends nothing: it prints the execution id and that it awaits another operator's approval
//! (`--wait` then waits for the approval and the run, or ends at a rejection).

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use kanade_protocol::api::{
    ExecRequest, ExecResponse, ExecutionDetail, ExecutionSummary, Target, TargetMachine,
    frozen_exec_warning,
};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::outcome::OutcomeCounts;
use kanade_protocol::schedule::{Rollout, Wave};
use kanade_protocol::{manifest, subject};
use reqwest::StatusCode;

use crate::cli::{ExecArgs, Global};
use crate::client::ApiClient;
use crate::commands::{Io, api_client, results};
use crate::{BadInput, EXIT_FAILED, EXIT_OK, render};

/// How often `--wait` asks the backend.
const POLL_EVERY: Duration = Duration::from_millis(300);
/// The execution row may appear a moment after the API accepted the request.
const NOT_FOUND_GRACE: Duration = Duration::from_secs(10);

pub async fn run(args: ExecArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let now = Utc::now();
    if !manifest::is_valid_id(&args.job) {
        return Err(BadInput::err(format!(
            "`{}` is not a valid job id",
            args.job
        )));
    }
    let rollout = rollout_from_flags(&args.wave, args.halt_on_failure_pct)?;
    let target = match rollout {
        Some(_) => Target::default(),
        None => target_from_flags(args.all, &args.pcs, &args.groups)?,
    };
    let deadline_at = match args.deadline.as_deref() {
        Some(text) => Some(parse_deadline(text, now).map_err(BadInput::err)?),
        None => None,
    };
    let request = ExecRequest {
        target,
        jitter: args.jitter,
        deadline_at,
        rollout,
        retry: None,
        allow_unknown: args.allow_unknown,
    };
    request
        .validate(now)
        .map_err(|err| BadInput::err(err.to_string()))?;

    if args.follow && global.json {
        return Err(BadInput::err(
            "--follow prints the machines' output as text: leave out --json (or use --wait --json)",
        ));
    }
    let client = api_client(global)?;
    let frozen = freeze_note(&client, request.rollout.is_some()).await;
    if let Some(note) = &frozen {
        io.note(&format!("warning: {note}"));
    }
    let response = client.exec(&args.job, &request).await?;
    for warning in &response.warnings {
        // The freeze warning was given before sending, unless it came on meanwhile.
        if frozen.is_none() || warning.code != kanade_protocol::api::WARNING_FLEET_FROZEN {
            io.note(&format!("warning: {}", warning.message));
        }
    }
    if let Some(note) = approval_note(&response) {
        io.note(&note);
    }
    if let Some(note) = delivery_note(&response) {
        io.note(&note);
    }
    if !global.json && !response.machines.is_empty() {
        io.note(&targets_line(&response.machines));
    }
    if !args.wait && !args.follow {
        match global.json {
            true => io.json(&response)?,
            false => io.print(&format!("{}\n", response.exec_id))?,
        }
        return Ok(EXIT_OK);
    }
    if !global.json {
        io.print(&format!(
            "{}\n{} v{} on {} machine(s)\n",
            response.exec_id, response.job_id, response.version, response.target_count
        ))?;
    }
    let bar = progress_bar(global.json || args.follow, response.target_count);
    let waiting = wait(&client, &response, args.wait_timeout.0, args.grace.0, &bar);
    let waited = match args.follow {
        true => {
            let several = response.target_count != 1;
            let exec_id = response.exec_id.clone();
            crate::commands::reach::follow_while(&client, &exec_id, several, io, waiting).await
        }
        false => waiting.await,
    };
    bar.finish_and_clear();
    let (detail, timed_out) = waited?;
    let silent = never_answered(&response.machines, &detail);
    if global.json {
        io.json(&detail)?;
    } else {
        let table = results::summary_table(&client, &detail.results, &request.target.pcs).await;
        io.print(&table)?;
        io.print(&format!("{}\n", summary_line(&detail.execution)))?;
    }
    if !silent.is_empty() {
        io.note(&format!(
            "never answered: {}; their results still count when they come back: `kanade results {}`",
            names_with_state(&silent),
            response.exec_id
        ));
    }
    let failed = outcome_failed(&detail) || timed_out;
    if timed_out {
        io.note(&format!(
            "error: gave up waiting after {}; follow up with `kanade results {}`",
            args.wait_timeout, response.exec_id
        ));
    }
    Ok(if failed { EXIT_FAILED } else { EXIT_OK })
}

/// What a manual run does while the fleet is frozen, from `GET /api/freeze` (an unreadable
/// freeze counts as frozen); `None` when it is not frozen or the backend cannot say.
pub async fn freeze_note(client: &ApiClient, rollout: bool) -> Option<String> {
    match client.freeze_status().await {
        Ok(status) if status.frozen => Some(frozen_exec_warning(status.freeze.as_ref(), rollout)),
        Ok(_) => None,
        Err(err) if err.code() == Some("freeze_unreadable") => {
            Some(frozen_exec_warning(None, rollout))
        }
        Err(_) => None,
    }
}

/// The `--pcs` / `--groups` / `--all` flags as an API target, each name checked.
pub fn target_from_flags(all: bool, pcs: &[String], groups: &[String]) -> anyhow::Result<Target> {
    for (flag, names) in [("--pcs", pcs), ("--groups", groups)] {
        let valid = |n: &String| match flag {
            "--pcs" => subject::is_valid_pc_id(n),
            _ => subject::is_valid_token(n),
        };
        if let Some(bad) = names.iter().find(|n| !valid(n)) {
            return Err(BadInput::err(format!(
                "{flag}: `{bad}` is not a valid name (letters, digits, '-' and '_' only)"
            )));
        }
    }
    let target = Target {
        all,
        pcs: pcs.to_vec(),
        groups: groups.to_vec(),
    };
    target
        .validate()
        .map_err(|_| BadInput::err("name the machines: --pcs a,b or --groups g1,g2 or --all"))?;
    Ok(target)
}

/// `--wave group:delay,...` (delay as 0, 30s, 10m ...; a bare group means no delay) and
/// `--halt-on-failure-pct` as an API rollout, checked like the server checks it.
pub fn rollout_from_flags(waves: &[String], halt: Option<f64>) -> anyhow::Result<Option<Rollout>> {
    if waves.is_empty() {
        return match halt {
            Some(_) => Err(BadInput::err("--halt-on-failure-pct needs --wave")),
            None => Ok(None),
        };
    }
    let mut parsed = Vec::with_capacity(waves.len());
    for wave in waves {
        let (group, delay) = wave.split_once(':').unwrap_or((wave.as_str(), "0"));
        let delay: HumanDuration = delay
            .parse()
            .map_err(|err| BadInput::err(format!("--wave {wave}: {err}")))?;
        parsed.push(Wave {
            group: group.trim().to_owned(),
            delay,
        });
    }
    let rollout = Rollout {
        waves: parsed,
        halt_on_failure_pct: halt,
    };
    rollout.validate("--wave").map_err(|err| {
        let text = err
            .to_string()
            .replace("--wave.halt_on_failure_pct", "--halt-on-failure-pct");
        BadInput::err(text)
    })?;
    Ok(Some(rollout))
}

/// `--deadline`: an RFC 3339 instant, or a duration from `now` such as `10m`.
pub fn parse_deadline(text: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    if let Ok(at) = DateTime::parse_from_rfc3339(text.trim()) {
        return Ok(at.with_timezone(&Utc));
    }
    let duration: HumanDuration = text.parse().map_err(|_| {
        format!(
            "--deadline: `{text}` is neither an RFC 3339 time (2026-01-31T18:00:00Z) nor a duration (10m)"
        )
    })?;
    chrono::TimeDelta::from_std(duration.0)
        .ok()
        .and_then(|delta| now.checked_add_signed(delta))
        .ok_or_else(|| format!("--deadline: `{text}` is too far in the future"))
}

/// `targets 3 machine(s): a (online), b (offline), ...` (the first 20 named).
pub fn targets_line(machines: &[TargetMachine]) -> String {
    let offline = machines.iter().filter(|m| !m.online).count();
    format!(
        "targets {} machine(s), {} online, {} offline: {}",
        machines.len(),
        machines.len() - offline,
        offline,
        names_with_state(machines)
    )
}

fn names_with_state(machines: &[TargetMachine]) -> String {
    const SHOWN: usize = 20;
    let mut text = machines
        .iter()
        .take(SHOWN)
        .map(|m| {
            format!(
                "{} ({})",
                m.pc_id,
                if m.online { "online" } else { "offline" }
            )
        })
        .collect::<Vec<_>>()
        .join(", ");
    if machines.len() > SHOWN {
        text.push_str(&format!(" and {} more", machines.len() - SHOWN));
    }
    text
}

/// The targeted machines without a finished (or skipped) result in `detail`.
pub fn never_answered(machines: &[TargetMachine], detail: &ExecutionDetail) -> Vec<TargetMachine> {
    let answered: BTreeSet<&str> = detail
        .results
        .iter()
        .filter(|r| r.exit_code.is_some() || r.skipped)
        .map(|r| r.pc_id.as_str())
        .collect();
    machines
        .iter()
        .filter(|m| !answered.contains(m.pc_id.as_str()))
        .cloned()
        .collect()
}

/// True once every machine the backend saw online when the command left has a result.
/// Never true for `all` (no machine list): that waits for the whole count.
pub fn online_all_answered(machines: &[TargetMachine], detail: &ExecutionDetail) -> bool {
    !machines.is_empty() && never_answered(machines, detail).iter().all(|m| !m.online)
}

/// Polls until the execution finished, or every online target answered and `grace` passed
/// since, or `timeout` passed; the bool says it timed out.
async fn wait(
    client: &ApiClient,
    response: &ExecResponse,
    timeout: Duration,
    grace: Duration,
    bar: &ProgressBar,
) -> anyhow::Result<(ExecutionDetail, bool)> {
    let started = tokio::time::Instant::now();
    let mut last = None;
    let mut online_done_at: Option<tokio::time::Instant> = None;
    loop {
        match client.get_execution(&response.exec_id).await {
            Ok(detail) => {
                let execution = &detail.execution;
                bar.set_length(execution.target_count.max(0) as u64);
                bar.set_position(reported(execution));
                bar.set_message(progress_message(&detail));
                if finished(execution) {
                    return Ok((detail, false));
                }
                if online_all_answered(&response.machines, &detail) {
                    let since = *online_done_at.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() >= grace {
                        return Ok((detail, false));
                    }
                }
                last = Some(detail);
            }
            Err(err)
                if err.status() == Some(StatusCode::NOT_FOUND)
                    && last.is_none()
                    && started.elapsed() < NOT_FOUND_GRACE => {}
            Err(err) => {
                return Err(err).with_context(|| {
                    format!(
                        "following execution {} (job {})",
                        response.exec_id, response.job_id
                    )
                });
            }
        }
        if started.elapsed() >= timeout {
            let detail = last.with_context(|| {
                format!(
                    "execution {} never showed up in the backend",
                    response.exec_id
                )
            })?;
            return Ok((detail, true));
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// Machines that reported, whatever the outcome.
pub fn reported(execution: &ExecutionSummary) -> u64 {
    let n = execution.success_count + execution.failure_count + execution.skipped_count;
    n.max(0) as u64
}

/// Done when the backend says so, or every targeted machine reported. A rejected or expired
/// request of a job with `require_approval` is done too: nothing was sent.
pub fn finished(execution: &ExecutionSummary) -> bool {
    matches!(
        execution.status.as_str(),
        "completed" | "expired" | "rejected"
    ) || (execution.target_count > 0 && reported(execution) >= execution.target_count as u64)
}

/// True when any machine failed, was skipped or did not report.
pub fn outcome_failed(detail: &ExecutionDetail) -> bool {
    let execution = &detail.execution;
    execution.failure_count > 0
        || execution.skipped_count > 0
        || reported(execution) < execution.target_count.max(0) as u64
        || detail.results.iter().any(render::failed)
}

/// What to do next when the job requires approval: nothing was sent yet.
pub fn approval_note(response: &ExecResponse) -> Option<String> {
    (response.status == kanade_protocol::approval::STATUS_AWAITING).then(|| {
        format!(
            "execution {} awaits approval: nothing was sent. Another operator approves it with \
             `kanade approve {}` (or rejects it with `kanade reject {}`); `kanade approvals` lists the pending ones",
            response.exec_id, response.exec_id, response.exec_id
        )
    })
}

/// A warning when the broker did not acknowledge the command: it may have run.
pub fn delivery_note(response: &ExecResponse) -> Option<String> {
    (response.status == "unconfirmed").then(|| {
        format!(
            "warning: the broker did not acknowledge execution {} in time; it may have run \
             (status unconfirmed). The backend keeps retrying; results still count: \
             `kanade results {}`",
            response.exec_id, response.exec_id
        )
    })
}

pub fn summary_line(execution: &ExecutionSummary) -> String {
    format!(
        "{} v{}: {}, of {} ({})",
        render::job_label(execution),
        execution.version,
        counts(execution).describe(),
        execution.target_count,
        execution.status
    )
}

/// The execution's runs by outcome; from the three counters when the backend is older and
/// sends no `outcomes`.
pub fn counts(execution: &ExecutionSummary) -> OutcomeCounts {
    let c = &execution.outcomes;
    if *c != OutcomeCounts::default() {
        return c.clone();
    }
    let missing = (execution.target_count.max(0) as u64).saturating_sub(reported(execution));
    let over = matches!(execution.status.as_str(), "completed" | "expired");
    OutcomeCounts {
        ok: execution.success_count,
        failed: execution.failure_count,
        skipped: execution.skipped_count,
        not_reported: if over { missing as i64 } else { 0 },
        waiting: if over { 0 } else { missing as i64 },
        ..OutcomeCounts::default()
    }
}

/// The progress line's words: the counts by outcome, then who it still waits for by name.
pub fn progress_message(detail: &ExecutionDetail) -> String {
    let counts = counts(&detail.execution).describe();
    match detail.waiting_for.as_slice() {
        [] => counts,
        few @ [_, _, _] | few @ [_, _] | few @ [_] => {
            format!("{counts}; waiting for {}", few.join(", "))
        }
        [first, second, rest @ ..] => format!(
            "{counts}; waiting for {first}, {second} and {} more",
            rest.len()
        ),
    }
}

fn progress_bar(hidden: bool, target_count: i64) -> ProgressBar {
    if hidden {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(
        Some(target_count.max(0) as u64),
        ProgressDrawTarget::stderr(),
    );
    let style = ProgressStyle::with_template(
        "{spinner} [{bar:40}] {pos}/{len} results  {msg}  ({elapsed})",
    )
    .map(|style| style.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

#[cfg(test)]
mod tests;
