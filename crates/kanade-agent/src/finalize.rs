//! A job's `finalize` step: run after a clean exit of the main script, with the collection's
//! outcome in `KANADE_COLLECT_RESULT` (and the bundle key in `KANADE_COLLECT_KEY`). Its result
//! is job `<job>__finalize` of the same execution, linked to the main run by
//! `parent_result_id`; a failing step is logged and reported, never turned into a failure of
//! the main run.

use std::future::Future;
use std::time::Duration;

use kanade_protocol::collect::{self, FinalizeSpec};
use kanade_protocol::wire::{Command, ResultLinks};

use crate::collect::Collected;
use crate::outbox::Entry;
use crate::process::{self, Stop};
use crate::run_env::{Env, fit_for_broker, record, result_of};

/// Runs `spec` after the main run `parent_result_id` and records its own result.
pub async fn run(
    env: &Env,
    cmd: &Command,
    spec: &FinalizeSpec,
    parent_result_id: &str,
    collected: Option<&Collected>,
    stop: impl Future<Output = Stop>,
) {
    let result_id = kanade_protocol::wire::new_result_id();
    let step = Command {
        id: format!("{}{}", cmd.id, collect::FINALIZE_SUFFIX),
        ..cmd.clone()
    };
    let links = ResultLinks {
        collect_object: None,
        parent_result_id: Some(parent_result_id.to_owned()),
    };
    let started_at = chrono::Utc::now();
    let refuse = |exit_code: i32, reason: String, skipped: bool| {
        let mut result = result_of(
            env,
            &step,
            result_id.clone(),
            exit_code,
            String::new(),
            reason,
            started_at,
        );
        result.skipped = skipped;
        Entry::Linked(result, links.clone())
    };
    let mut identity = match crate::run_as::identity(spec.run_as, &env.sessions_dir) {
        Ok(identity) => identity,
        Err(refusal) => {
            return record(env, refuse(refusal.exit_code, refusal.reason, true)).await;
        }
    };
    if let Some(collected) = collected {
        let outcome = serde_json::to_string(&collected.outcome).unwrap_or_default();
        identity
            .env
            .push((collect::ENV_COLLECT_RESULT.to_owned(), outcome));
        if let Some(key) = &collected.key {
            identity
                .env
                .push((collect::ENV_COLLECT_KEY.to_owned(), key.clone()));
        }
    }
    identity.env.push((
        "KANADE_PARENT_RESULT_ID".to_owned(),
        parent_result_id.to_owned(),
    ));
    let invocation = match process::invocation(spec.shell, &spec.script) {
        Ok(invocation) => invocation,
        Err(reason) => return record(env, refuse(1, reason, false)).await,
    };
    let cwd = match spec.cwd.as_deref().filter(|c| !c.trim().is_empty()) {
        None => None,
        Some(cwd) => match crate::workdir::resolve(cwd, &identity.env) {
            Ok(dir) => Some(dir),
            Err(reason) => return record(env, refuse(1, reason, false)).await,
        },
    };
    let options = process::RunOptions {
        cwd,
        timeout: Duration::from_secs(spec.timeout_secs()),
        spill_stdout: env.outbox.spill_path(&result_id, "stdout"),
        spill_stderr: env.outbox.spill_path(&result_id, "stderr"),
        line_times: false,
        live: None,
        identity,
    };
    let outcome = process::run(&invocation, &options, stop).await;
    if outcome.exit_code != 0 {
        tracing::warn!(
            request_id = cmd.request_id,
            exit_code = outcome.exit_code,
            "the finalize step failed (the main run stands)"
        );
    }
    let mut result = result_of(
        env,
        &step,
        result_id.clone(),
        outcome.exit_code,
        outcome.stdout.text,
        outcome.stderr.text,
        outcome.started_at,
    );
    result.finished_at = outcome.finished_at;
    if outcome.stdout.spilled {
        result.stdout_object = Some(kanade_protocol::names::output_object_key(
            &result_id, "stdout",
        ));
    }
    if outcome.stderr.spilled {
        result.stderr_object = Some(kanade_protocol::names::output_object_key(
            &result_id, "stderr",
        ));
    }
    fit_for_broker(&mut result, env.client.server_info().max_payload);
    record(env, Entry::Linked(result, links)).await;
}
