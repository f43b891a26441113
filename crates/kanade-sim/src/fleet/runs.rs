//! What a command does on simulated machines, as the real agent decides and reports it: the
//! deadline, version pin and revocation gates (read through the agent's KV cache), the
//! started event of a run that lasts, the run time and the result. `run_one` is one machine
//! in its own task; `run_many` is one shared command on many machines of a connection in one
//! task, each machine's messages the same as `run_one`'s.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use async_nats::jetstream::kv;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use kanade_bus::kv_cache::{KvCache, Lookup, Values};
use kanade_protocol::names::{self, exit_code};
use kanade_protocol::subject;
use kanade_protocol::wire::{Command, EventStarted, ExecResult};
use tokio::sync::mpsc;

use super::{FleetConfig, Outgoing, Stats, inc};
use crate::output;

/// What a run task needs.
pub(super) struct RunCtx {
    pub(super) config: Arc<FleetConfig>,
    pub(super) out: mpsc::UnboundedSender<Outgoing>,
    pub(super) gates: Option<(kv::Store, kv::Store)>,
    /// The agent's read-through cache of the pin and revocation (`kanade_bus::kv_cache`),
    /// one per connection, kept current by the connection's `$KV` subscriptions.
    pub(super) gate_cache: Option<KvCache>,
    pub(super) stats: Arc<Stats>,
}

impl RunCtx {
    fn send(&self, subject: String, msg_id: String, payload: Vec<u8>) {
        self.stats.unacked.fetch_add(1, Ordering::Relaxed);
        let out = Outgoing {
            subject,
            msg_id,
            payload: Bytes::from(payload),
            attempts: 0,
        };
        if self.out.send(out).is_err() {
            self.stats.unacked.fetch_sub(1, Ordering::Relaxed);
            inc(&self.stats.js_lost);
        }
    }

    fn send_result(&self, result: &ExecResult) {
        inc(&self.stats.results);
        match serde_json::to_vec(result) {
            Ok(json) => self.send(
                subject::results_of(&result.pc_id, &result.request_id),
                result.result_id.clone(),
                json,
            ),
            Err(err) => tracing::error!(%err, "cannot encode a result"),
        }
    }
}

/// The buckets the gates read, in the order of `kv_cache::Values`.
pub(super) const GATE_BUCKETS: [&str; 2] = [names::KV_SCRIPT_CURRENT, names::KV_SCRIPT_STATUS];

fn gate_value(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes).trim().to_owned();
    serde_json::from_str::<String>(&text).unwrap_or(text)
}

async fn read_gate(store: &kv::Store, key: &str) -> Result<Option<Vec<u8>>, String> {
    match store.get(key).await {
        Ok(Some(bytes)) => Ok(Some(bytes.to_vec())),
        Ok(None) => Ok(None),
        Err(err) if err.kind() == kv::EntryErrorKind::InvalidKey => Ok(None),
        Err(err) => Err(err.to_string()),
    }
}

/// `script_current[job]` and `script_status[job]` as the agent takes them: from its cache,
/// else read live (the error names the bucket) and handed to the cache.
async fn gate_values(ctx: &RunCtx, job: &str) -> Result<Option<Values>, String> {
    let Some((current, status)) = ctx.gates.as_ref() else {
        return Ok(None);
    };
    let mark = match &ctx.gate_cache {
        Some(cache) => match cache.lookup(job).await {
            Lookup::Hit(values) => return Ok(Some(values)),
            Lookup::Miss(mark) => Some(mark),
        },
        None => None,
    };
    let pinned = read_gate(current, job)
        .await
        .map_err(|e| format!("kanade: cannot read script_current: {e}"))?;
    let revoked = read_gate(status, job)
        .await
        .map_err(|e| format!("kanade: cannot read script_status: {e}"))?;
    let values = vec![pinned, revoked];
    if let (Some(cache), Some(mark)) = (&ctx.gate_cache, mark) {
        cache.learn(job, values.clone(), mark).await;
    }
    Ok(Some(values))
}

/// Why a run is refused, as the real agent decides it: deadline, version pin, revoke.
async fn refusal(ctx: &RunCtx, cmd: &Command) -> Option<(i32, String)> {
    if cmd.deadline_at.is_some_and(|d| d < Utc::now()) {
        return Some((
            exit_code::DEADLINE_PASSED,
            "kanade: the deadline passed".into(),
        ));
    }
    let values = match gate_values(ctx, &cmd.id).await {
        Ok(Some(values)) => values,
        Ok(None) => return None,
        Err(reason) => return Some((exit_code::STALE, reason)),
    };
    let mut values = values.into_iter().map(|v| v.as_deref().map(gate_value));
    let (pinned, status) = (values.next().flatten(), values.next().flatten());
    if let Some(pinned) = pinned
        && pinned != cmd.version
    {
        return Some((
            exit_code::VERSION_MISMATCH,
            format!("kanade: job {} is pinned to version {pinned}", cmd.id),
        ));
    }
    match status {
        Some(s) if s == kanade_protocol::wire::SCRIPT_REVOKED => Some((
            exit_code::REVOKED,
            format!("kanade: job {} is revoked", cmd.id),
        )),
        _ => None,
    }
}

/// One command on one simulated machine: gates, started event (for a run longer than
/// `STARTED_EVENT_AFTER`), run time, result.
pub(super) async fn run_one(ctx: Arc<RunCtx>, pc_id: Arc<str>, cmd: Arc<Command>) {
    let result_id = result_id();
    if let Some(jitter) = cmd.jitter_secs.filter(|j| *j > 0) {
        tokio::time::sleep(Duration::from_millis(fastrand::u64(0..=jitter * 1000))).await;
    }
    let mut result = new_result(&cmd, &pc_id, result_id, Utc::now());
    if let Some(refused) = refusal(&ctx, &cmd).await {
        skip(&ctx, result, refused);
        return;
    }
    let timeout_secs = timeout_secs(&cmd);
    result.started_at = Utc::now();
    inc(&ctx.stats.runs_started);
    let run = ctx.config.run_time.sample();
    let limit = Duration::from_secs(timeout_secs);
    // As the real agent: a run is announced only once it has gone on for a while.
    let (ran, announce_after) = (run.min(limit), kanade_protocol::wire::STARTED_EVENT_AFTER);
    if ran > announce_after {
        tokio::time::sleep(announce_after).await;
        announce(&ctx, &result, timeout_secs);
        tokio::time::sleep(ran - announce_after).await;
    } else {
        tokio::time::sleep(ran).await;
    }
    finish(&ctx, result, run > limit, timeout_secs);
}

/// A machine's result of `cmd` as it starts: exit 0, no output yet.
fn new_result(cmd: &Command, pc_id: &str, result_id: String, at: DateTime<Utc>) -> ExecResult {
    ExecResult {
        result_id,
        request_id: cmd.request_id.clone(),
        exec_id: cmd.exec_id.clone(),
        pc_id: pc_id.to_owned(),
        job_id: cmd.id.clone(),
        version: cmd.version.clone(),
        exit_code: 0,
        stdout: String::new(),
        stderr: String::new(),
        stdout_object: None,
        stderr_object: None,
        started_at: at,
        finished_at: at,
        skipped: false,
        schedule_id: None,
    }
}

/// The run's timeout as the agent applies it (none: the longest allowed).
fn timeout_secs(cmd: &Command) -> u64 {
    match cmd.timeout_secs {
        0 => kanade_protocol::manifest::MAX_TIMEOUT_SECS,
        s => s.min(kanade_protocol::manifest::MAX_TIMEOUT_SECS),
    }
}

/// Sends the result of a run the machine refused, saying why.
fn skip(ctx: &RunCtx, mut result: ExecResult, (code, reason): (i32, String)) {
    inc(&ctx.stats.skipped);
    result.exit_code = code;
    result.stderr = reason;
    result.skipped = true;
    result.finished_at = Utc::now();
    ctx.send_result(&result);
}

/// Sends the started event of the run `result` is for.
fn announce(ctx: &RunCtx, result: &ExecResult, timeout_secs: u64) {
    let started = EventStarted {
        result_id: result.result_id.clone(),
        request_id: result.request_id.clone(),
        exec_id: result.exec_id.clone(),
        pc_id: result.pc_id.clone(),
        job_id: result.job_id.clone(),
        version: result.version.clone(),
        started_at: result.started_at,
        timeout_secs: Some(timeout_secs),
    };
    match serde_json::to_vec(&started) {
        Ok(json) => ctx.send(
            subject::events_started(&result.exec_id, &result.pc_id),
            format!("started-{}", result.result_id),
            json,
        ),
        Err(err) => tracing::error!(%err, "cannot encode a started event"),
    }
}

/// Sends the result of a run that ended now: killed at its timeout, failed at the fleet's
/// rate, or done, with the machine's output.
fn finish(ctx: &RunCtx, mut result: ExecResult, killed: bool, timeout_secs: u64) {
    let failed = fastrand::f64() < ctx.config.fail_rate;
    if killed {
        result.exit_code = exit_code::KILLED;
        result.stderr = format!("kanade: timed out after {timeout_secs}s; process tree killed");
    } else if failed {
        result.exit_code = 1;
        result.stderr = "simulated failure\n".to_owned();
    }
    result.stdout = output::stdout(
        &result.pc_id,
        ctx.config.payload,
        ctx.config.output_bytes,
        failed,
    );
    result.finished_at = Utc::now();
    ctx.send_result(&result);
}

/// A result id as the agent mints it (`wire::new_result_id`, a UUIDv7), its random bits from
/// the simulator's fast generator: the uuid crate asks the kernel for them on every call, a
/// visible share of a 100,000-machine fan-out.
fn result_id() -> String {
    let millis = u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default();
    let random: [u8; 10] = std::array::from_fn(|_| fastrand::u8(..));
    uuid::Builder::from_unix_timestamp_millis(millis, &random)
        .into_uuid()
        .to_string()
}

pub(super) struct RunGuard(pub(super) Arc<Stats>);

impl Drop for RunGuard {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// In-flight runs of a `run_many`, given back as each machine reports (all at once if the
/// task ends early).
struct ManyGuard {
    stats: Arc<Stats>,
    left: i64,
}

impl ManyGuard {
    fn done(&mut self) {
        self.left -= 1;
        self.stats.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Drop for ManyGuard {
    fn drop(&mut self) {
        self.stats.in_flight.fetch_sub(self.left, Ordering::Relaxed);
    }
}

/// What a machine of `run_many` sends next, and when (from the command's arrival).
enum Due {
    Started(usize),
    Result(usize),
}

/// One shared command (no jitter) on `machines` of one connection, all of whom received it at
/// the same moment: the gates are taken once, as each of these machines would take them then
/// from the connection's cache, and every machine's started event (for a run longer than
/// `STARTED_EVENT_AFTER`) and result are the messages `run_one` sends, at the same times,
/// from one task and one timer instead of a task and a timer per machine (most of the
/// simulator's CPU in a 100,000-machine fan-out). The caller counted the runs in flight.
pub(super) async fn run_many(ctx: Arc<RunCtx>, machines: Vec<Arc<str>>, cmd: Arc<Command>) {
    let mut guard = ManyGuard {
        stats: ctx.stats.clone(),
        left: machines.len() as i64,
    };
    let t0 = tokio::time::Instant::now();
    let started_at = Utc::now();
    let results: Vec<ExecResult> = machines
        .iter()
        .map(|pc_id| new_result(&cmd, pc_id, result_id(), started_at))
        .collect();
    if let Some(refused) = refusal(&ctx, &cmd).await {
        for result in results {
            skip(&ctx, result, refused.clone());
            guard.done();
        }
        return;
    }
    let timeout_secs = timeout_secs(&cmd);
    let limit = Duration::from_secs(timeout_secs);
    let announce_after = kanade_protocol::wire::STARTED_EVENT_AFTER;
    let mut killed = vec![false; results.len()];
    let mut schedule: Vec<(Duration, Due)> = Vec::with_capacity(results.len());
    for (i, was_killed) in killed.iter_mut().enumerate() {
        inc(&ctx.stats.runs_started);
        let run = ctx.config.run_time.sample();
        let ran = run.min(limit);
        *was_killed = run > limit;
        if ran > announce_after {
            schedule.push((announce_after, Due::Started(i)));
        }
        schedule.push((ran, Due::Result(i)));
    }
    schedule.sort_by_key(|(at, _)| *at);
    let mut results: Vec<Option<ExecResult>> = results.into_iter().map(Some).collect();
    for (at, due) in schedule {
        tokio::time::sleep_until(t0 + at).await;
        match due {
            Due::Started(i) => {
                if let Some(result) = &results[i] {
                    announce(&ctx, result, timeout_secs);
                }
            }
            Due::Result(i) => {
                if let Some(result) = results[i].take() {
                    finish(&ctx, result, killed[i], timeout_secs);
                    guard.done();
                }
            }
        }
    }
}
