//! Break-glass `kanade run`: send one ad-hoc command to one machine straight over NATS and wait
//! for its result, so an operator can act while the backend is down.
//!
//! The command goes through JetStream (stream `EXEC` keeps it, and the PubAck proves the broker
//! has it); the result is read on core NATS from `results.<request_id>`, subscribed before the
//! command is published so a fast agent cannot answer into the void. `start` and
//! `PendingRun::result` split the two halves so `kanade run` can record its audit event once
//! the broker has the command.

use std::time::Duration;

use anyhow::{Context, bail};
use async_nats::jetstream::{self, context::PublishErrorKind};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::manifest::Shell;
use kanade_protocol::signing::SigningKey;
use kanade_protocol::subject;
use kanade_protocol::wire::{Command, ExecResult};

use crate::BadInput;

/// Job id every break-glass command carries.
pub const ADHOC_JOB_ID: &str = kanade_protocol::names::ADHOC_JOB_ID;
/// Who the commands say issued them.
pub const ISSUED_BY: &str = "kanade-cli";
/// The agent is never told to start later than this after we publish, so a command the
/// operator has given up on cannot surprise anyone by running hours later on replay.
const MIN_START_WINDOW: Duration = Duration::from_secs(60);
/// Extra time on top of the script timeout for the agent to report.
const MAX_GRACE: Duration = Duration::from_secs(5);

/// Runs `script` on `pc_id` and returns its result, signed with `key` when given (a break-glass
/// key; unsigned otherwise). The script gets `timeout`; the result is awaited a little longer
/// (up to 5 s more) for the agent to report.
pub async fn break_glass_run(
    nats: &async_nats::Client,
    pc_id: &str,
    shell: Shell,
    script: &str,
    timeout: Duration,
    key: Option<&SigningKey>,
) -> anyhow::Result<ExecResult> {
    let now = Utc::now();
    let mut command = adhoc_command(pc_id, shell, script, timeout, now)?;
    if let Some(key) = key {
        command = key.signed(&command, &subject::commands_pc(pc_id), now);
    }
    start(nats, pc_id, &command).await?.result().await
}

/// The command a break-glass run sends: job `_adhoc` version 0, fresh request and exec ids,
/// flagged as an emergency, and a start deadline so a late replay cannot run it.
pub fn adhoc_command(
    pc_id: &str,
    shell: Shell,
    script: &str,
    timeout: Duration,
    now: DateTime<Utc>,
) -> anyhow::Result<Command> {
    if !subject::is_valid_pc_id(pc_id) {
        return Err(BadInput::err(format!(
            "`{pc_id}` is not a valid machine id (letters, digits, '-' and '_', in at most 4 labels separated by '.')"
        )));
    }
    if timeout.is_zero() {
        return Err(BadInput::err("--timeout must be at least 1s"));
    }
    let timeout_secs = timeout.as_secs_f64().ceil() as u64;
    let start_window = chrono::TimeDelta::from_std(result_wait(timeout).max(MIN_START_WINDOW))
        .context("the timeout is too long")?;
    Ok(Command {
        id: ADHOC_JOB_ID.to_owned(),
        version: "0".to_owned(),
        request_id: uuid::Uuid::new_v4().to_string(),
        exec_id: uuid::Uuid::new_v4().to_string(),
        shell,
        script: script.to_owned(),
        timeout_secs,
        jitter_secs: None,
        retry: None,
        deadline_at: Some(now + start_window),
        cwd: None,
        run_as: None,
        staleness: None,
        emit: None,
        emergency: true,
        issued_at: now,
        issued_by: Some(ISSUED_BY.to_owned()),
        collect: None,
        finalize: None,
        signature: None,
    })
}

/// A command the broker has acknowledged, whose result has not arrived yet.
pub struct PendingRun {
    /// Our agents answer on `results.<pc>.<request>`, the original's on `results.<request>`.
    results: futures::stream::SelectAll<async_nats::Subscriber>,
    pc_id: String,
    request_id: String,
    wait: Duration,
}

/// Subscribes to the command's result subject, then publishes `command` on
/// `commands.pc.<pc_id>` through JetStream and waits for the broker's acknowledgement.
pub async fn start(
    nats: &async_nats::Client,
    pc_id: &str,
    command: &Command,
) -> anyhow::Result<PendingRun> {
    let request_id = command.request_id.clone();
    let mut results = futures::stream::SelectAll::new();
    for subject in [
        subject::results_of(pc_id, &request_id),
        subject::results(&request_id),
    ] {
        results.push(
            nats.subscribe(subject)
                .await
                .context("subscribing to the result subject")?,
        );
    }
    nats.flush()
        .await
        .context("flushing the result subscription to NATS")?;

    let payload = serde_json::to_vec(command).context("encoding the command")?;
    let commands_subject = subject::commands_pc(pc_id);
    let publish = jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .message_id(&request_id);
    let js = jetstream::new(nats.clone());
    let ack = js
        .send_publish(commands_subject.clone(), publish)
        .await
        .with_context(|| format!("publishing the command on {commands_subject}"))?;
    ack.await.map_err(|err| match err.kind() {
        PublishErrorKind::StreamNotFound => anyhow::anyhow!(
            "the broker has no stream for {commands_subject}: run `kanade jetstream setup` first"
        ),
        _ => anyhow::Error::new(err).context(format!(
            "the broker did not acknowledge the command on {commands_subject}"
        )),
    })?;
    Ok(PendingRun {
        results,
        pc_id: pc_id.to_owned(),
        request_id,
        wait: result_wait(Duration::from_secs(command.timeout_secs)),
    })
}

impl PendingRun {
    /// Waits for the agent's result: the script's timeout plus a little grace.
    pub async fn result(mut self) -> anyhow::Result<ExecResult> {
        let (pc_id, wait) = (&self.pc_id, self.wait);
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let message = match tokio::time::timeout_at(deadline, self.results.next()).await {
                Ok(Some(message)) => message,
                Ok(None) => {
                    bail!("the NATS connection closed while waiting for {pc_id}'s result")
                }
                Err(_) => bail!(
                    "no result from {pc_id} within {} — is its agent running?",
                    HumanDuration(wait)
                ),
            };
            // Anything else on the subject (a stray or malformed message) is not our answer.
            match serde_json::from_slice::<ExecResult>(&message.payload) {
                Ok(result) if result.request_id == self.request_id && &result.pc_id == pc_id => {
                    return Ok(result);
                }
                _ => continue,
            }
        }
    }
}

/// The process exit code `kanade run` ends with for `result`, and why, when it is not simply
/// the script's own code: a skipped or killed run is 1; a code no process can exit with is 1.
pub fn process_exit_code(result: &ExecResult) -> (i32, Option<String>) {
    if let Some(meaning) = crate::render::exit_meaning(result.exit_code, result.skipped) {
        return (
            crate::EXIT_FAILED,
            Some(format!(
                "{} on {} (exit code {})",
                meaning, result.pc_id, result.exit_code
            )),
        );
    }
    match result.exit_code {
        0..=255 => (result.exit_code, None),
        other => (
            crate::EXIT_FAILED,
            Some(format!(
                "the script on {} ended with exit code {other}",
                result.pc_id
            )),
        ),
    }
}

/// How long `break_glass_run` waits for a script given `timeout`.
pub fn result_wait(timeout: Duration) -> Duration {
    timeout + timeout.min(MAX_GRACE)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn result(exit: i32, skipped: bool) -> ExecResult {
        ExecResult {
            result_id: "r".into(),
            request_id: "q".into(),
            exec_id: "e".into(),
            pc_id: "pc1".into(),
            job_id: ADHOC_JOB_ID.into(),
            version: "0".into(),
            exit_code: exit,
            stdout: String::new(),
            stderr: String::new(),
            stdout_object: None,
            stderr_object: None,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            skipped,
            schedule_id: None,
        }
    }

    #[test]
    fn exit_codes_map_to_a_process_exit_status() {
        let cases = [
            ((0, false), (0, "")),
            ((3, false), (3, "")),
            ((2, false), (2, "")),
            (
                (-1, false),
                (1, "killed, timed out or reaped on pc1 (exit code -1)"),
            ),
            (
                (125, true),
                (
                    1,
                    "skipped: the deadline passed before it could start on pc1 (exit code 125)",
                ),
            ),
            ((125, false), (125, "")),
            (
                (300, false),
                (1, "the script on pc1 ended with exit code 300"),
            ),
        ];
        for ((exit, skipped), (want_code, want_msg)) in cases {
            let (code, message) = process_exit_code(&result(exit, skipped));
            assert_eq!(code, want_code, "{exit} {skipped}");
            assert_eq!(message.unwrap_or_default(), want_msg, "{exit} {skipped}");
        }
    }

    #[test]
    fn an_adhoc_command_is_an_emergency_with_a_start_deadline() {
        let now: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
        let c = adhoc_command("pc-1", Shell::Sh, "true", Duration::from_millis(1500), now).unwrap();
        assert_eq!((c.id.as_str(), c.version.as_str()), (ADHOC_JOB_ID, "0"));
        assert!(c.emergency);
        assert_eq!(c.timeout_secs, 2);
        assert_eq!(c.deadline_at, Some(now + chrono::TimeDelta::seconds(60)));
        assert_ne!(c.request_id, c.exec_id);
        let err = adhoc_command("pc.1.2.3.4", Shell::Sh, "true", Duration::from_secs(1), now);
        assert!(err.unwrap_err().is::<BadInput>());
        let err = adhoc_command("pc", Shell::Sh, "true", Duration::ZERO, now);
        assert!(err.unwrap_err().is::<BadInput>());
    }

    #[test]
    fn the_wait_adds_a_bounded_grace() {
        assert_eq!(result_wait(Duration::from_secs(1)), Duration::from_secs(2));
        assert_eq!(
            result_wait(Duration::from_secs(60)),
            Duration::from_secs(65)
        );
    }
}
