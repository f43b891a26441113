//! One command on this machine, from its gates to its result: the version pin, revoke and
//! deadline gates (`check_gates`), jitter, a slot under `max_local_concurrent`, whose account
//! runs it (`run_as`) and in which folder (`workdir`), the script with its retries and live
//! output, emitted timeline events, `collect` and `finalize`, and the started event (for a
//! run still going after `STARTED_EVENT_AFTER`) and the result handed to the outbox. The
//! intake loop in `commands` decides which commands get here.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use async_nats::{Subscriber, connection::State};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kanade_bus::kv_cache::{KvCache, Lookup};
use kanade_protocol::manifest::EmitKind;
use kanade_protocol::names::{self, exit_code};
use kanade_protocol::subject;
use kanade_protocol::wire::{Command, EmitHint, EventStarted, ResultLinks, SCRIPT_REVOKED};
use tokio::sync::watch;

use crate::emit;
use crate::outbox::Entry;
use crate::process::{self, Stop};
use crate::run_env::{Env, fit_for_broker, record, result_of};
use crate::slots::Slots;
use crate::staleness::GateCache;

#[derive(Clone)]
pub(crate) struct JobEnv {
    pub(crate) env: Env,
    /// `None` until the broker was reached once.
    pub(crate) script_current: Option<kv::Store>,
    pub(crate) script_status: Option<kv::Store>,
    /// The pins and revocations read before, kept current by their puts: a command of a
    /// job seen before costs no KV read (the reads were most of the broker's work in a
    /// fan-out, see BENCHMARKS.md).
    pub(crate) gate_cache: Option<KvCache>,
    pub(crate) slots: Arc<Slots>,
    /// The pin and revocation last read, for the staleness policy.
    pub(crate) gates: Arc<GateCache>,
}

pub use crate::verify::Refusal;

/// The gates in their order: version pin, revoke, deadline (run_as is decided just before the
/// start, in `run_as::identity`, since who is logged on changes). `pinned` and `status` are the
/// values of `script_current[cmd.id]` and `script_status[cmd.id]` (`None` when missing).
pub fn check_gates(
    cmd: &Command,
    pinned: Option<&str>,
    status: Option<&str>,
    now: DateTime<Utc>,
) -> Option<Refusal> {
    if let Some(pinned) = pinned
        && pinned != cmd.version
    {
        return Some(Refusal {
            exit_code: exit_code::VERSION_MISMATCH,
            reason: format!(
                "kanade: job {} is pinned to version {pinned}, this command carries version {}",
                cmd.id, cmd.version
            ),
        });
    }
    if status == Some(SCRIPT_REVOKED) {
        return Some(Refusal {
            exit_code: exit_code::REVOKED,
            reason: format!("kanade: job {} is revoked", cmd.id),
        });
    }
    check_deadline(cmd, now)
}

pub fn check_deadline(cmd: &Command, now: DateTime<Utc>) -> Option<Refusal> {
    match cmd.deadline_at {
        Some(deadline) if deadline < now => Some(Refusal {
            exit_code: exit_code::DEADLINE_PASSED,
            reason: format!(
                "kanade: the deadline {} passed before the script could start",
                deadline.to_rfc3339()
            ),
        }),
        _ => None,
    }
}

/// One command on this machine, from gates to the recorded result. `bypass_local_limit`
/// (the original's, for end-user jobs) starts it without waiting for a slot.
pub(crate) async fn execute(job: JobEnv, cmd: Command, bypass_local_limit: bool) {
    let result_id = kanade_protocol::wire::new_result_id();
    let env = &job.env;
    let policy = cmd.staleness.unwrap_or_default();
    // Only the default `cached` policy takes the gate cache; `strict` reads live every time.
    let cache = policy.mode == kanade_protocol::staleness::Staleness::Cached;
    let live = read_gate_values(&job, &cmd.id, cache);
    let refusal = match job.gates.values(&cmd.id, policy, live).await {
        Ok((pinned, status)) => check_gates(&cmd, pinned.as_deref(), status.as_deref(), Utc::now()),
        Err(reason) => Some(Refusal {
            exit_code: exit_code::STALE,
            reason,
        }),
    };
    if let Some(refusal) = refusal {
        return skip(env, &cmd, result_id, refusal).await;
    }
    // From here on a kill request counts, also while the command waits to start.
    let kill = match env.client.subscribe(subject::kill(&cmd.exec_id)).await {
        Ok(sub) => Some(sub),
        Err(err) => {
            tracing::warn!(error = %err, "cannot listen for kill requests of this run");
            None
        }
    };
    let mut stop = std::pin::pin!(stop_signal(kill, env.stop.clone()));
    if let Some(jitter) = cmd.jitter_secs.filter(|secs| *secs > 0) {
        let delay = Duration::from_millis(fastrand::u64(0..=jitter.saturating_mul(1000)));
        tracing::debug!(
            request_id = cmd.request_id,
            ?delay,
            "jitter before starting"
        );
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            reason = stop.as_mut() => {
                return skip(env, &cmd, result_id, not_started(reason)).await;
            }
        }
    }
    let _slot = match bypass_local_limit {
        true => None,
        false => tokio::select! {
            slot = job.slots.acquire() => Some(slot),
            reason = stop.as_mut() => {
                return skip(env, &cmd, result_id, not_started(reason)).await;
            }
        },
    };
    if let Some(refusal) = check_deadline(&cmd, Utc::now()) {
        return skip(env, &cmd, result_id, refusal).await;
    }
    let identity = match crate::run_as::identity(cmd.run_as, &env.sessions_dir) {
        Ok(identity) => identity,
        Err(refusal) => return skip(env, &cmd, result_id, refusal).await,
    };
    let started_at = Utc::now();
    let invocation = match process::invocation(cmd.shell, &cmd.script) {
        Ok(invocation) => invocation,
        Err(reason) => {
            let result = result_of(env, &cmd, result_id, 1, String::new(), reason, started_at);
            return record(env, Entry::Result(result)).await;
        }
    };
    let cwd = match cmd.cwd.as_deref().filter(|c| !c.trim().is_empty()) {
        None => None,
        Some(cwd) => match crate::workdir::resolve(cwd, &identity.env) {
            Ok(dir) => Some(dir),
            Err(reason) => {
                let result = result_of(env, &cmd, result_id, 1, String::new(), reason, started_at);
                return record(env, Entry::Result(result)).await;
            }
        },
    };
    // 0 (unset) means the longest timeout a job may ask for; larger values are capped to it.
    let timeout_secs = match cmd.timeout_secs {
        0 => kanade_protocol::manifest::MAX_TIMEOUT_SECS,
        secs => secs.min(kanade_protocol::manifest::MAX_TIMEOUT_SECS),
    };
    let started = EventStarted {
        result_id: result_id.clone(),
        request_id: cmd.request_id.clone(),
        exec_id: cmd.exec_id.clone(),
        pc_id: env.pc_id.clone(),
        job_id: cmd.id.clone(),
        version: cmd.version.clone(),
        started_at,
        timeout_secs: Some(timeout_secs),
    };
    let emits_events = matches!(
        cmd.emit,
        Some(EmitHint {
            kind: EmitKind::Events
        })
    );
    // Live output of every attempt on `job.tail.<pc>.<exec_id>`; ends with a `done` chunk
    // sent before the result is recorded.
    let (live_tx, live_task) = crate::live::start(
        env.client.clone(),
        crate::live::Run {
            pc_id: env.pc_id.clone(),
            exec_id: cmd.exec_id.clone(),
            result_id: result_id.clone(),
        },
    );
    let mut options = process::RunOptions {
        cwd,
        timeout: Duration::from_secs(timeout_secs),
        spill_stdout: env.outbox.spill_path(&result_id, "stdout"),
        spill_stderr: env.outbox.spill_path(&result_id, "stderr"),
        line_times: emits_events,
        live: Some(live_tx),
        identity,
    };
    let first = process::run(&invocation, &options, stop.as_mut());
    let (mut outcome, mut announced) = announce_if_still_running(env, &started, first).await;
    // Retries: a non-zero exit runs the script again after the backoff, up to `max` more
    // times. Exit -1 (killed, timed out, shutting down) is never retried; a kill or shutdown
    // during the backoff ends the retries. The result reports the last attempt.
    let mut attempt = 1;
    let retry = cmd.retry.filter(|r| r.max > 0);
    while let Some(spec) = retry {
        if outcome.exit_code == 0
            || outcome.exit_code == exit_code::KILLED
            || attempt > spec.max.min(10)
        {
            break;
        }
        tracing::info!(
            request_id = cmd.request_id,
            exit_code = outcome.exit_code,
            attempt,
            "job failed; retrying after backoff"
        );
        // Retrying: the run goes on past the backoff, so it is announced now at the latest.
        if !announced {
            record(env, Entry::Started(started.clone())).await;
            announced = true;
        }
        let waited = tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(spec.backoff_secs)) => true,
            _ = stop.as_mut() => false,
        };
        if !waited {
            outcome
                .stderr
                .text
                .push_str("\nkanade: retries stopped (killed or shutting down)");
            break;
        }
        attempt += 1;
        let first_started = outcome.started_at;
        outcome = process::run(&invocation, &options, stop.as_mut()).await;
        outcome.started_at = first_started;
        if !outcome.stderr.text.is_empty() && !outcome.stderr.text.ends_with('\n') {
            outcome.stderr.text.push('\n');
        }
        outcome.stderr.text.push_str(&format!(
            "kanade: attempt {attempt} of {}",
            spec.max.min(10) + 1
        ));
    }
    drop(options.live.take());
    if tokio::time::timeout(crate::live::FINISH_GRACE, live_task)
        .await
        .is_err()
    {
        tracing::debug!("the last live output chunk did not go out in time");
    }
    tracing::info!(
        request_id = cmd.request_id,
        exit_code = outcome.exit_code,
        elapsed_ms = (outcome.finished_at - outcome.started_at).num_milliseconds(),
        "job finished"
    );
    if emits_events {
        // The stored result keeps the run's stdout as it was; the summary joins stderr.
        let mut parsed = parse_emitted(env, &cmd, &mut outcome, &options.spill_stdout).await;
        let note = format!(
            "kanade: {}\n{}",
            parsed.summary().trim_end(),
            parsed.stderr_note()
        );
        if !parsed.events.is_empty() {
            // Before the result: whoever sees the result can find the events.
            record(env, Entry::Events(std::mem::take(&mut parsed.events))).await;
        }
        if !note.is_empty() {
            if !outcome.stderr.text.is_empty() && !outcome.stderr.text.ends_with('\n') {
                outcome.stderr.text.push('\n');
            }
            outcome.stderr.text.push_str(&note);
        }
    }
    let mut result = result_of(
        env,
        &cmd,
        result_id.clone(),
        outcome.exit_code,
        outcome.stdout.text,
        outcome.stderr.text,
        outcome.started_at,
    );
    result.finished_at = outcome.finished_at;
    if outcome.stdout.spilled {
        result.stdout_object = Some(names::output_object_key(&result_id, "stdout"));
    }
    if outcome.stderr.spilled {
        result.stderr_object = Some(names::output_object_key(&result_id, "stderr"));
    }
    // `collect` and `finalize` follow a clean exit only.
    let clean = outcome.exit_code == 0;
    let collected = match &cmd.collect {
        Some(hint) if clean => {
            let spill = outcome
                .stdout
                .spilled
                .then_some(options.spill_stdout.as_path());
            let collected = crate::collect::run(
                &env.client,
                hint,
                crate::collect::key_now(&env.pc_id, &cmd.id),
                &result.stdout,
                spill,
                options.cwd.clone().map(std::path::PathBuf::from),
                env.outbox.spill_path(&result_id, "collect.zip"),
            )
            .await;
            if !collected.outcome.ok {
                // A run whose files could not be collected has not done its job.
                result.exit_code = 1;
            }
            if !result.stderr.is_empty() && !result.stderr.ends_with('\n') {
                result.stderr.push('\n');
            }
            result.stderr.push_str(&collected.note());
            Some(collected)
        }
        Some(_) => {
            if !result.stderr.is_empty() && !result.stderr.ends_with('\n') {
                result.stderr.push('\n');
            }
            result.stderr.push_str(&format!(
                "kanade: nothing collected (the script exited {})",
                outcome.exit_code
            ));
            None
        }
        None => None,
    };
    fit_for_broker(&mut result, env.client.server_info().max_payload);
    let entry = match collected.as_ref().and_then(|c| c.key.clone()) {
        Some(key) => Entry::Linked(
            result,
            ResultLinks {
                collect_object: Some(key),
                parent_result_id: None,
            },
        ),
        None => Entry::Result(result),
    };
    record(env, entry).await;
    if let Some(spec) = cmd.finalize.as_ref().filter(|_| clean) {
        crate::finalize::run(
            env,
            &cmd,
            spec,
            &result_id,
            collected.as_ref(),
            stop.as_mut(),
        )
        .await;
    }
}

fn not_started(reason: Stop) -> Refusal {
    let reason = match reason {
        Stop::Operator => "kanade: killed by operator before the script started",
        Stop::Timeout | Stop::Shutdown => "kanade: the agent shut down before the script started",
    };
    Refusal {
        exit_code: exit_code::KILLED,
        reason: reason.to_owned(),
    }
}

/// Turns an `emit: events` run's stdout into events: the whole output (the spill file when it
/// outgrew the inline cap, still uploaded with the result afterwards), read off the async
/// runtime. The output itself is left as it is.
async fn parse_emitted(
    env: &Env,
    cmd: &Command,
    outcome: &mut process::Outcome,
    spill: &std::path::Path,
) -> emit::Parsed {
    let text = outcome.stdout.text.clone();
    let line_times = std::mem::take(&mut outcome.stdout.line_times);
    let spilled = outcome.stdout.spilled;
    let spill = spill.to_path_buf();
    let pc_id = env.pc_id.clone();
    let job_id = cmd.id.clone();
    let finished_at = outcome.finished_at;
    let parsing = tokio::task::spawn_blocking(move || {
        let origin = emit::Origin {
            pc_id: &pc_id,
            job_id: &job_id,
            line_times: &line_times,
            finished_at,
        };
        let from_file = match spilled {
            true => std::fs::File::open(&spill).and_then(|file| emit::parse(file, &origin)),
            false => Err(std::io::Error::other("not spilled")),
        };
        match from_file {
            Ok(parsed) => parsed,
            Err(err) => {
                if spilled {
                    tracing::warn!(error = %err, "cannot read the full output; using the first 256 KiB");
                }
                emit::parse(text.as_bytes(), &origin).unwrap_or_default()
            }
        }
    });
    match parsing.await {
        Ok(parsed) => parsed,
        Err(err) => {
            tracing::error!(error = %err, "parsing emitted events failed");
            emit::Parsed::default()
        }
    }
}

/// `script_current[job]` and `script_status[job]`: from the gate cache when `use_cache` and it
/// holds the job, else read live, a few tries each, and handed to the cache. A key that cannot exist (not
/// KV-safe, such as `run:<id>`) reads as missing. Err carries the stderr text.
async fn read_gate_values(
    job: &JobEnv,
    job_id: &str,
    use_cache: bool,
) -> Result<(Option<String>, Option<String>), String> {
    let (Some(current), Some(status)) = (&job.script_current, &job.script_status) else {
        return Err("kanade: the broker has not been reached since the agent started".to_owned());
    };
    // Disconnected (a local fire during an outage): no KV read could answer; the staleness
    // policy decides at once instead of after the reads' timeouts.
    if job.env.client.connection_state() != State::Connected {
        return Err("kanade: the broker is not reachable".to_owned());
    }
    let gate_cache = job.gate_cache.as_ref().filter(|_| use_cache);
    let mark = match gate_cache {
        Some(cache) => match cache.lookup(job_id).await {
            Lookup::Hit(values) => {
                let mut values = values.into_iter().map(|v| v.as_deref().map(gate_text));
                return Ok((values.next().flatten(), values.next().flatten()));
            }
            Lookup::Miss(mark) => Some(mark),
        },
        None => None,
    };
    let pinned = read_value(current, job_id)
        .await
        .map_err(|err| format!("kanade: cannot read script_current: {err}"))?;
    let status = read_value(status, job_id)
        .await
        .map_err(|err| format!("kanade: cannot read script_status: {err}"))?;
    if let (Some(cache), Some(mark)) = (gate_cache, mark) {
        let raw = |v: &Option<String>| v.as_ref().map(|s| s.as_bytes().to_vec());
        cache
            .learn(job_id, vec![raw(&pinned), raw(&status)], mark)
            .await;
    }
    Ok((pinned, status))
}

/// The buckets of the gate cache, in the order of its values.
/// Runs `work` and records `started` only if it is still running after
/// `STARTED_EVENT_AFTER`: a short run reports just its result. True when it was recorded.
async fn announce_if_still_running<T>(
    env: &Env,
    started: &EventStarted,
    work: impl std::future::Future<Output = T>,
) -> (T, bool) {
    tokio::pin!(work);
    tokio::select! {
        biased;
        done = &mut work => (done, false),
        () = tokio::time::sleep(kanade_protocol::wire::STARTED_EVENT_AFTER) => {
            record(env, Entry::Started(started.clone())).await;
            (work.await, true)
        }
    }
}

pub(crate) const GATE_BUCKETS: [&str; 2] = [names::KV_SCRIPT_CURRENT, names::KV_SCRIPT_STATUS];

/// A gate value as stored: a JSON string or the bare value.
fn gate_text(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).trim().to_owned();
    serde_json::from_str::<String>(&text).unwrap_or(text)
}

async fn read_value(store: &kv::Store, key: &str) -> Result<Option<String>, kv::EntryError> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match store.get(key).await {
            Ok(Some(bytes)) => return Ok(Some(gate_text(&bytes))),
            Ok(None) => return Ok(None),
            Err(err) if err.kind() == kv::EntryErrorKind::InvalidKey => return Ok(None),
            Err(err) if attempt >= 3 => return Err(err),
            Err(err) => {
                tracing::debug!(error = %err, key, "KV read failed; retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// Resolves once the agent is shutting down (or gone).
pub(crate) async fn stopping(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// Resolves when the operator kills this run or the agent shuts down.
async fn stop_signal(kill: Option<Subscriber>, mut stop: watch::Receiver<bool>) -> Stop {
    let operator = async move {
        if let Some(mut kill) = kill
            && kill.next().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await
    };
    tokio::select! {
        _ = operator => Stop::Operator,
        _ = stopping(&mut stop) => Stop::Shutdown,
    }
}

pub(crate) async fn skip(env: &Env, cmd: &Command, result_id: String, refusal: Refusal) {
    tracing::info!(
        request_id = cmd.request_id,
        exit_code = refusal.exit_code,
        reason = refusal.reason,
        "not running the command"
    );
    let now = Utc::now();
    let mut result = result_of(
        env,
        cmd,
        result_id,
        refusal.exit_code,
        String::new(),
        refusal.reason,
        now,
    );
    result.skipped = true;
    record(env, Entry::Result(result)).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanade_protocol::wire::Shell;

    fn cmd() -> Command {
        Command {
            id: "job".into(),
            version: "2".into(),
            request_id: "r".into(),
            exec_id: "e".into(),
            shell: Shell::Sh,
            script: "true".into(),
            timeout_secs: 5,
            jitter_secs: None,
            retry: None,
            deadline_at: None,
            cwd: None,
            run_as: None,
            staleness: None,
            emit: None,
            emergency: false,
            issued_at: Utc::now(),
            issued_by: None,
            collect: None,
            finalize: None,
            signature: None,
        }
    }

    #[test]
    fn gates_apply_in_order() {
        let now = Utc::now();
        let mut c = cmd();
        assert_eq!(check_gates(&c, None, None, now), None);
        assert_eq!(check_gates(&c, Some("2"), Some("ACTIVE"), now), None);
        c.deadline_at = Some(now - chrono::TimeDelta::seconds(1));
        let code = |r: Option<Refusal>| r.map(|r| r.exit_code);
        assert_eq!(
            code(check_gates(&c, Some("1"), Some("REVOKED"), now)),
            Some(124)
        );
        assert_eq!(
            code(check_gates(&c, Some("2"), Some("REVOKED"), now)),
            Some(126)
        );
        assert_eq!(code(check_gates(&c, None, None, now)), Some(125));
        c.deadline_at = Some(now + chrono::TimeDelta::seconds(60));
        assert_eq!(check_gates(&c, None, None, now), None);
    }
}
