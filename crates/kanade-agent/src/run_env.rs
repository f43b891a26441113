//! What running a command needs from the agent (`Env`) and how a run's result is built,
//! shortened to fit one broker message and recorded in the outbox: shared by the command loop
//! (`commands`) and the post-run step (`finalize`).

use std::sync::Arc;
use std::time::Duration;

use async_nats::Client;
use chrono::{DateTime, Utc};
use kanade_protocol::wire::{Command, ExecResult};
use tokio::sync::{mpsc, watch};

use crate::config_supervisor::Live;
use crate::keyring::Keyring;
use crate::outbox::{Entry, Outbox};

/// Encoded results stay below this (or 90 % of the server's `max_payload` when smaller).
const MAX_RESULT_JSON: usize = 900 * 1024;

/// What the command loop needs from the agent.
#[derive(Clone)]
pub struct Env {
    pub pc_id: String,
    pub client: Client,
    pub outbox: Arc<Outbox>,
    /// Turns true when the agent shuts down.
    pub stop: watch::Receiver<bool>,
    /// Set to true once the command subscriptions are in place.
    pub ready: watch::Sender<bool>,
    /// Live config (concurrency limit, signature mode) and group membership.
    pub live: Live,
    /// The command signing keys this agent trusts.
    pub keyring: Keyring,
    /// Where the catch-up marks are kept.
    pub data_dir: std::path::PathBuf,
    /// logind's session files, for `run_as: user` and `system_gui`.
    pub sessions_dir: std::path::PathBuf,
    /// Told of every result recorded (the local scheduler's completion memory).
    pub finished: Option<mpsc::UnboundedSender<crate::local_scheduler::Finished>>,
    /// How often to catch up while connected (`[agent] catch_up_every`); zero: never.
    pub catch_up_every: Duration,
}

pub(crate) fn result_of(
    env: &Env,
    cmd: &Command,
    result_id: String,
    exit_code: i32,
    stdout: String,
    stderr: String,
    started_at: DateTime<Utc>,
) -> ExecResult {
    ExecResult {
        result_id,
        request_id: cmd.request_id.clone(),
        exec_id: cmd.exec_id.clone(),
        pc_id: env.pc_id.clone(),
        job_id: cmd.id.clone(),
        version: cmd.version.clone(),
        exit_code,
        stdout,
        stderr,
        stdout_object: None,
        stderr_object: None,
        started_at,
        finished_at: Utc::now(),
        skipped: false,
        schedule_id: local_schedule(cmd),
    }
}

/// The agent-side schedule a local fire came from: those are unsigned and issued by
/// `scheduler:<id>` (`local_scheduler::command`), so the backend can record their execution.
fn local_schedule(cmd: &Command) -> Option<String> {
    if cmd.signature.is_some() {
        return None;
    }
    let id = cmd.issued_by.as_deref()?.strip_prefix("scheduler:")?;
    Some(id.to_owned())
}

pub(crate) async fn record(env: &Env, entry: Entry) {
    // A finalize step's result (it has a parent) is not the run the local scheduler waits for.
    let run = match &entry {
        Entry::Result(result) => Some(result),
        Entry::Linked(result, links) if links.parent_result_id.is_none() => Some(result),
        _ => None,
    };
    if let (Some(tap), Some(result)) = (&env.finished, run) {
        let _ = tap.send(crate::local_scheduler::Finished {
            request_id: result.request_id.clone(),
            exit_code: result.exit_code,
            skipped: result.skipped,
            at: result.finished_at,
        });
    }
    if let Err(err) = env.outbox.push(&entry).await {
        tracing::error!(
            error = format!("{err:#}"),
            ?entry,
            "cannot write to the outbox; message lost"
        );
    }
}

/// Shortens the inline output until the encoded result fits in one broker message; binary
/// output can grow up to six-fold when encoded as JSON.
pub(crate) fn fit_for_broker(result: &mut ExecResult, server_max_payload: usize) {
    let limit = match server_max_payload {
        0 => MAX_RESULT_JSON,
        max => MAX_RESULT_JSON.min(max / 10 * 9),
    };
    let mut shortened = false;
    loop {
        let size = serde_json::to_vec(result).map(|v| v.len()).unwrap_or(0);
        if size <= limit {
            break;
        }
        let field = if result.stdout.len() >= result.stderr.len() {
            &mut result.stdout
        } else {
            &mut result.stderr
        };
        if field.is_empty() {
            break;
        }
        let mut cut = field.len() / 2;
        while !field.is_char_boundary(cut) {
            cut -= 1;
        }
        field.truncate(cut);
        shortened = true;
    }
    if shortened {
        result
            .stderr
            .push_str("\nkanade: output shortened to fit the broker's message size limit\n");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn oversized_results_are_shortened_to_fit() {
        let now = Utc::now();
        let mut result = ExecResult {
            result_id: "x".into(),
            request_id: "r".into(),
            exec_id: "e".into(),
            pc_id: "p".into(),
            job_id: "j".into(),
            version: "1".into(),
            exit_code: 0,
            // Control characters encode as \u0001: six bytes each.
            stdout: "\u{1}".repeat(256 * 1024),
            stderr: "é".repeat(100 * 1024),
            stdout_object: None,
            stderr_object: None,
            started_at: now,
            finished_at: now,
            skipped: false,
            schedule_id: None,
        };
        fit_for_broker(&mut result, 1024 * 1024);
        assert!(serde_json::to_vec(&result).unwrap().len() <= MAX_RESULT_JSON);
        assert!(result.stderr.ends_with("message size limit\n"));
    }
}
