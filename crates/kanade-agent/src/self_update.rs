//! Self-update: the agent follows `EffectiveConfig.target_version`. When a target is set,
//! differs from the running version and is not quarantined on this machine, it waits a random
//! time within `target_version_jitter`, downloads `<target>-<platform>` (else `<target>`) from
//! object store `agent_releases` into `<data_dir>/staging/`, checks the SHA-256 against the
//! object's `sha256` metadata, arms the boot sentinel (the running exe becomes last-good),
//! swaps the file atomically (`<exe>.new` with the exe's permissions, renamed over the exe),
//! records a `self_update` timeline event and asks `run` to restart; `main` then executes the
//! new file in place (same arguments), or exits with `EXIT_RESTART` for the service manager
//! when that fails.
//!
//! Rules:
//! - The agent never picks a version itself: with no target it stays where it is. A target
//!   lower than the running version is still the operator's choice and is followed (that is
//!   how a bad release is backed out fleet-wide).
//! - A release that fails verification (digest mismatch, no digest) is refused once: a
//!   `self_update_refused` event, and no new download until that release object is replaced
//!   (a new publish under the same key) or the target changes.
//! - A swap is remembered in `<data_dir>/last_swap.json` until the next start. A binary that
//!   comes back reporting another version than the target it was published as is refused
//!   the same way, so a mislabelled release cannot restart the agent in a loop. A start after
//!   the sentinel rolled a version back records `self_update_rolled_back`.
//! - Transient failures (broker away, release not published yet) are retried with backoff.
//!
//! Test hooks: in debug builds only, `KANADE_AGENT_VERSION_OVERRIDE` replaces the version the
//! agent believes it runs (heartbeats, the sentinel, the comparison with the target), because
//! tests can build only one binary. While it is set, the exec after a swap sets it to the
//! target version (standing in for what a real new binary would report) and the exec after a
//! rollback removes it. Release builds ignore it. `KANADE_AGENT_HEALTHY_AFTER_SECS` shortens
//! the uptime after which a boot is confirmed healthy (default `kanade_sentinel::HEALTHY_AFTER`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use async_nats::connection::State;
use async_nats::jetstream::{
    self,
    object_store::{GetErrorKind, Object, ObjectStore, Watch},
};
use chrono::Utc;
use futures::StreamExt;
use kanade_protocol::config::EffectiveConfig;
use kanade_protocol::names;
use kanade_protocol::wire::ObsEvent;
use kanade_sentinel::{BootDecision, BootSentinel};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::io::AsyncReadExt;
use tokio::sync::watch;

use crate::outbox::{Entry, Outbox};

/// Debug builds only: the version this process claims to run (see the module docs).
pub const VERSION_OVERRIDE_ENV: &str = "KANADE_AGENT_VERSION_OVERRIDE";
/// Seconds of connected uptime after which a boot counts as healthy.
pub const HEALTHY_AFTER_ENV: &str = "KANADE_AGENT_HEALTHY_AFTER_SECS";
/// Exit code asking the service manager to start the (new or restored) executable, used when
/// executing it in place is not possible. The systemd unit restarts on any exit.
pub const EXIT_RESTART: i32 = 64;

const MIN_BACKOFF: Duration = Duration::from_secs(5);
const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// Without a working watch of `agent_releases`, a refused release is looked at this often.
const RELEASE_POLL: Duration = Duration::from_secs(600);
const LAST_SWAP: &str = "last_swap.json";

/// The version this process runs: `kanade_protocol::VERSION`, or in debug builds the test
/// override when set.
pub fn running_version() -> String {
    #[cfg(debug_assertions)]
    if let Some(version) = std::env::var(VERSION_OVERRIDE_ENV)
        .ok()
        .filter(|v| !v.trim().is_empty())
    {
        return version.trim().to_owned();
    }
    kanade_protocol::VERSION.to_owned()
}

/// How long a boot must stay connected before it is confirmed healthy.
pub fn healthy_after() -> Duration {
    std::env::var(HEALTHY_AFTER_ENV)
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(kanade_sentinel::HEALTHY_AFTER)
}

/// The executable this process was started from, which self-update replaces.
#[derive(Debug, Clone)]
pub struct Installed {
    pub exe: PathBuf,
    pub version: String,
    pub sentinel: BootSentinel,
}

impl Installed {
    /// The first thing `main` does: counts this boot with the sentinel. When the running
    /// version crash-looped, the sentinel has restored last-good and this executes it (or
    /// exits with `EXIT_RESTART`); it never returns then. `None` when the executable cannot
    /// be located (no self-update).
    pub fn boot() -> Option<Installed> {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(err) => {
                eprintln!(
                    "kanade-agent: cannot locate the running executable ({err}); self-update is off"
                );
                return None;
            }
        };
        let version = running_version();
        let sentinel = BootSentinel::new(&exe, &version);
        match sentinel.check_on_boot(kanade_sentinel::DEFAULT_MAX_ATTEMPTS) {
            Ok(BootDecision::Proceed) => {}
            Ok(BootDecision::RolledBack { from }) => {
                eprintln!(
                    "kanade-agent: version {from} failed to start {} times; the last good \
                     executable is restored and {from} is quarantined — restarting",
                    kanade_sentinel::DEFAULT_MAX_ATTEMPTS + 1
                );
                let err = exec(&exe, None);
                eprintln!(
                    "kanade-agent: cannot execute the restored {}: {err}",
                    exe.display()
                );
                std::process::exit(EXIT_RESTART);
            }
            Err(err) => {
                // A broken sentinel must not keep the agent down.
                eprintln!("kanade-agent: boot sentinel failed ({err}); starting anyway");
            }
        }
        Some(Installed {
            exe,
            version,
            sentinel,
        })
    }
}

/// A completed swap: `main` executes `exe`, which now holds version `to`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restart {
    pub exe: PathBuf,
    pub from: String,
    pub to: String,
}

/// Replaces this process with `exe`, same arguments. `version` is the test override for the
/// new image (debug builds, and only when the override is in use: set to `Some`, removed on
/// `None`). Returns only when that failed.
pub fn exec(exe: &Path, version: Option<&str>) -> std::io::Error {
    let mut command = std::process::Command::new(exe);
    command.args(std::env::args_os().skip(1));
    #[cfg(debug_assertions)]
    if std::env::var_os(VERSION_OVERRIDE_ENV).is_some() {
        match version {
            Some(version) => command.env(VERSION_OVERRIDE_ENV, version),
            None => command.env_remove(VERSION_OVERRIDE_ENV),
        };
    }
    #[cfg(not(debug_assertions))]
    let _ = version;
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        let mut attempts = 0;
        loop {
            let err = command.exec();
            attempts += 1;
            // ETXTBSY: a child forked at the moment the file was still open for writing.
            if err.raw_os_error() == Some(26) && attempts < 5 {
                std::thread::sleep(Duration::from_millis(100));
                continue;
            }
            return err;
        }
    }
    #[cfg(not(unix))]
    std::io::Error::other("executing in place is only supported on Unix")
}

/// What to do about the configured target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// No target set: stay.
    NoTarget,
    /// Already running the target.
    Current,
    /// The target crash-looped here before; the sentinel quarantined it.
    Quarantined(String),
    /// Move to this version.
    Update(String),
}

/// The pure core: any explicitly set target other than the running version is followed,
/// higher or lower, unless it is quarantined.
pub fn decide(target: Option<&str>, running: &str, quarantined: &[String]) -> Decision {
    let Some(target) = target.map(str::trim).filter(|t| !t.is_empty()) else {
        return Decision::NoTarget;
    };
    if target == running {
        return Decision::Current;
    }
    if quarantined.iter().any(|q| q == target) {
        return Decision::Quarantined(target.to_owned());
    }
    Decision::Update(target.to_owned())
}

/// What self-update needs from the agent.
pub struct Ctx {
    pub client: async_nats::Client,
    pub pc_id: String,
    pub outbox: Arc<Outbox>,
    pub data_dir: PathBuf,
    pub installed: Installed,
}

/// One stored release object, as far as refusing it goes: replaced objects get a new nuid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct ReleaseId {
    key: String,
    nuid: String,
}

/// `<data_dir>/last_swap.json`: the swap this start should be the result of.
#[derive(Debug, Serialize, Deserialize)]
struct LastSwap {
    from: String,
    to: String,
    release: ReleaseId,
}

enum Failure {
    /// The release was refused before and has not changed.
    Unchanged,
    /// Verification failed; not retried until the release changes.
    Refused { release: ReleaseId, reason: String },
    /// Worth another try after a pause.
    Retry(anyhow::Error),
}

/// Follows the target version until a swap is done; returns it for `main` to restart into.
pub async fn run(ctx: Ctx, mut config: watch::Receiver<EffectiveConfig>) -> Restart {
    let js = jetstream::new(ctx.client.clone());
    let mut refused = recover_last_swap(&ctx).await;
    let mut releases: Option<Watch> = None;
    let mut backoff = Duration::ZERO;
    let mut last_decision = None;
    loop {
        let (target, jitter) = {
            let current = config.borrow_and_update();
            (
                current.target_version.clone(),
                current.target_version_jitter.0,
            )
        };
        let quarantined = ctx.installed.sentinel.quarantined();
        let decision = decide(target.as_deref(), &ctx.installed.version, &quarantined);
        if last_decision.as_ref() != Some(&decision) {
            log_decision(&decision, &ctx.installed.version);
            last_decision = Some(decision.clone());
        }
        let Decision::Update(target) = decision else {
            config_changed(&mut config).await;
            continue;
        };
        if !jitter.is_zero() {
            let delay = Duration::from_millis(fastrand::u64(0..=jitter.as_millis() as u64));
            tracing::info!(
                target,
                ?delay,
                "waiting before the update (target_version_jitter)"
            );
            // Other config changes do not start the wait again; a new target does.
            if !wait_jitter(&mut config, &target, delay).await {
                continue;
            }
        }
        while ctx.client.connection_state() != State::Connected {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let store = match js.get_object_store(names::OBJ_AGENT_RELEASES).await {
            Ok(store) => store,
            Err(err) => {
                backoff = next_backoff(backoff);
                tracing::warn!(error = %err, ?backoff, "cannot open object store agent_releases; retrying");
                wait_for_change(&mut config, &mut releases, &target, Some(backoff)).await;
                continue;
            }
        };
        if releases.is_none() {
            // Before the download, so a publish during it is not missed.
            releases = store.watch().await.ok();
        }
        let wait = match attempt(&ctx, &store, &target, refused.as_ref()).await {
            Ok(restart) => return restart,
            Err(Failure::Unchanged) => None,
            Err(Failure::Refused { release, reason }) => {
                tracing::error!(target, key = release.key, reason, "refusing the release");
                record(
                    &ctx,
                    event(
                        &ctx.pc_id,
                        "self_update_refused",
                        format!("self_update_refused:{}:{}", release.key, release.nuid),
                        serde_json::json!({
                            "from": ctx.installed.version, "to": target,
                            "key": release.key, "reason": reason,
                        }),
                    ),
                )
                .await;
                refused = Some(release);
                backoff = Duration::ZERO;
                None
            }
            Err(Failure::Retry(err)) => {
                backoff = next_backoff(backoff);
                tracing::warn!(
                    target,
                    error = format!("{err:#}"),
                    ?backoff,
                    "self-update failed; retrying"
                );
                Some(backoff)
            }
        };
        wait_for_change(&mut config, &mut releases, &target, wait).await;
    }
}

fn log_decision(decision: &Decision, running: &str) {
    match decision {
        Decision::NoTarget => tracing::debug!(running, "no target version set"),
        Decision::Current => tracing::info!(running, "running the target version"),
        Decision::Quarantined(target) => tracing::warn!(
            running,
            target,
            "target version {target} is quarantined on this machine (it failed to start here); not updating"
        ),
        Decision::Update(target) => {
            tracing::info!(running, target, "updating to the target version")
        }
    }
}

/// Sleeps `delay`; false when the target changed meanwhile.
async fn wait_jitter(
    config: &mut watch::Receiver<EffectiveConfig>,
    target: &str,
    delay: Duration,
) -> bool {
    let until = tokio::time::Instant::now() + delay;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return true,
            _ = config_changed(config) => {
                if config.borrow().target_version.as_deref().map(str::trim) != Some(target) {
                    return false;
                }
            }
        }
    }
}

fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).clamp(MIN_BACKOFF, MAX_BACKOFF)
}

/// Resolves when the live config changed (never, once the supervisor is gone).
async fn config_changed(config: &mut watch::Receiver<EffectiveConfig>) {
    if config.changed().await.is_err() {
        std::future::pending::<()>().await;
    }
}

/// Waits for a config change, a new publish of `target`'s release, or `timeout`.
async fn wait_for_change(
    config: &mut watch::Receiver<EffectiveConfig>,
    releases: &mut Option<Watch>,
    target: &str,
    timeout: Option<Duration>,
) {
    let timeout = match (timeout, releases.is_some()) {
        (Some(timeout), _) => timeout,
        (None, true) => Duration::MAX,
        (None, false) => RELEASE_POLL,
    };
    let keys = [
        names::release_key(target, &names::platform()),
        target.to_owned(),
    ];
    let released = async {
        let Some(watch) = releases.as_mut() else {
            return std::future::pending::<bool>().await;
        };
        loop {
            match watch.next().await {
                Some(Ok(info)) if keys.contains(&info.name) => return true,
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return false,
            }
        }
    };
    tokio::select! {
        _ = config_changed(config) => {}
        working = released => {
            if !working {
                tracing::debug!("the watch of agent_releases ended");
                *releases = None;
            }
        }
        _ = sleep_for(timeout) => {}
    }
}

async fn sleep_for(duration: Duration) {
    match tokio::time::Instant::now().checked_add(duration) {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Download, verify, arm, swap.
async fn attempt(
    ctx: &Ctx,
    store: &ObjectStore,
    target: &str,
    refused: Option<&ReleaseId>,
) -> Result<Restart, Failure> {
    let mut object = open_release(store, target).await?;
    let info = object.info().clone();
    let release = ReleaseId {
        key: info.name.clone(),
        nuid: info.nuid.clone(),
    };
    if refused == Some(&release) {
        return Err(Failure::Unchanged);
    }
    let expected = info
        .metadata
        .get("sha256")
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit()));
    let Some(expected) = expected else {
        return Err(Failure::Refused {
            release,
            reason: "the release has no sha256 metadata to verify it against".to_owned(),
        });
    };
    let staging = ctx.data_dir.join("staging");
    std::fs::create_dir_all(&staging)
        .with_context(|| format!("creating {}", staging.display()))
        .map_err(Failure::Retry)?;
    let stem = ctx
        .installed
        .exe
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("kanade-agent")
        .to_owned();
    let part = staging.join(format!("{stem}.{target}.part"));
    let staged = staging.join(format!("{stem}.{target}.staged"));
    tracing::info!(
        key = release.key,
        size = info.size,
        "downloading the release"
    );
    let actual = download(&mut object, &part)
        .await
        .with_context(|| format!("downloading {}", release.key))
        .map_err(|err| {
            let _ = std::fs::remove_file(&part);
            Failure::Retry(err)
        })?;
    if actual != expected {
        let _ = std::fs::remove_file(&part);
        return Err(Failure::Refused {
            release,
            reason: format!(
                "sha256 mismatch: the release says {expected}, the download is {actual}"
            ),
        });
    }
    std::fs::rename(&part, &staged)
        .with_context(|| format!("staging {}", staged.display()))
        .map_err(Failure::Retry)?;
    // The sentinel may have quarantined it meanwhile (another process of this install).
    if ctx.installed.sentinel.is_quarantined(target) {
        let _ = std::fs::remove_file(&staged);
        return Err(Failure::Retry(anyhow::anyhow!(
            "{target} was quarantined meanwhile"
        )));
    }
    let sentinel = ctx.installed.sentinel.clone();
    let exe = ctx.installed.exe.clone();
    let to = target.to_owned();
    tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
        sentinel
            .arm_for_swap(&to)
            .context("arming the boot sentinel")?;
        swap(&staged, &exe).with_context(|| format!("swapping {}", exe.display()))?;
        let _ = std::fs::remove_file(&staged);
        Ok(())
    })
    .await
    .context("swap task failed")
    .and_then(|res| res)
    .map_err(Failure::Retry)?;
    let last = LastSwap {
        from: ctx.installed.version.clone(),
        to: target.to_owned(),
        release: release.clone(),
    };
    if let Err(err) = serde_json::to_vec(&last)
        .map_err(std::io::Error::other)
        .and_then(|bytes| crate::outbox::write_atomic(&ctx.data_dir.join(LAST_SWAP), &bytes))
    {
        tracing::warn!(error = %err, "cannot record the swap; the loop guard is off for it");
    }
    tracing::info!(
        from = ctx.installed.version,
        to = target,
        "swapped the executable; restarting"
    );
    record(
        ctx,
        event(
            &ctx.pc_id,
            "self_update",
            format!("self_update:{}:{}", release.key, release.nuid),
            serde_json::json!({
                "from": ctx.installed.version, "to": target,
                "key": release.key, "sha256": expected,
            }),
        ),
    )
    .await;
    Ok(Restart {
        exe: ctx.installed.exe.clone(),
        from: ctx.installed.version.clone(),
        to: target.to_owned(),
    })
}

/// `<target>-<platform>`, else `<target>` (how the original stored releases).
async fn open_release(store: &ObjectStore, target: &str) -> Result<Object, Failure> {
    let keys = [
        names::release_key(target, &names::platform()),
        target.to_owned(),
    ];
    for key in &keys {
        match store.get(key.as_str()).await {
            Ok(object) => return Ok(object),
            Err(err)
                if matches!(
                    err.kind(),
                    GetErrorKind::NotFound | GetErrorKind::InvalidName
                ) =>
            {
                continue;
            }
            Err(err) => {
                return Err(Failure::Retry(
                    anyhow::Error::new(err).context(format!("reading {key} from agent_releases")),
                ));
            }
        }
    }
    Err(Failure::Retry(anyhow::anyhow!(
        "agent_releases has neither {} nor {}",
        keys[0],
        keys[1]
    )))
}

/// Streams the object into `path`, returning the hex SHA-256 of what was written.
async fn download(object: &mut Object, path: &Path) -> anyhow::Result<String> {
    let mut file = std::fs::File::create(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = object.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])?;
    }
    file.sync_all()?;
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Copies `staged` to `<exe>.new` with the exe's permissions and renames it over the exe: a
/// process starting the exe sees either the old or the new file, never a partial one.
fn swap(staged: &Path, exe: &Path) -> std::io::Result<()> {
    let mut name = exe.file_name().unwrap_or_default().to_os_string();
    name.push(".new");
    let new = exe.with_file_name(name);
    std::fs::copy(staged, &new)?;
    let permissions = std::fs::metadata(exe)?.permissions();
    std::fs::set_permissions(&new, permissions)?;
    std::fs::File::open(&new)?.sync_all()?;
    std::fs::rename(&new, exe)?;
    #[cfg(unix)]
    if let Some(dir) = exe.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Reads and removes `last_swap.json`: logs the update that brought this start about, records
/// a rollback, and returns the release to refuse when the swapped binary is not the target.
async fn recover_last_swap(ctx: &Ctx) -> Option<ReleaseId> {
    let path = ctx.data_dir.join(LAST_SWAP);
    let bytes = std::fs::read(&path).ok()?;
    let _ = std::fs::remove_file(&path);
    let last: LastSwap = match serde_json::from_slice(&bytes) {
        Ok(last) => last,
        Err(err) => {
            tracing::warn!(error = %err, "ignoring an unreadable last_swap.json");
            return None;
        }
    };
    let running = &ctx.installed.version;
    if *running == last.to {
        tracing::info!(
            from = last.from,
            to = last.to,
            "running the updated version"
        );
        return None;
    }
    let now = Utc::now();
    if ctx.installed.sentinel.is_quarantined(&last.to) {
        tracing::warn!(
            version = last.to,
            running,
            "the update was rolled back by the boot sentinel"
        );
        record(
            ctx,
            event(
                &ctx.pc_id,
                "self_update_rolled_back",
                format!(
                    "self_update_rolled_back:{}:{}",
                    last.to,
                    now.timestamp_millis()
                ),
                serde_json::json!({ "from": last.to, "to": running }),
            ),
        )
        .await;
        return None;
    }
    let reason = format!(
        "the binary published as {} reports version {running}",
        last.to
    );
    tracing::error!(reason, "refusing the release");
    record(
        ctx,
        event(
            &ctx.pc_id,
            "self_update_refused",
            format!(
                "self_update_refused:{}:{}:version",
                last.release.key, last.release.nuid
            ),
            serde_json::json!({
                "from": last.from, "to": last.to, "key": last.release.key, "reason": reason,
            }),
        ),
    )
    .await;
    Some(last.release)
}

/// Confirms this boot to the sentinel once the agent took commands and stayed connected for
/// `healthy_after()`. Runs until aborted.
pub async fn confirm_when_healthy(
    client: async_nats::Client,
    sentinel: BootSentinel,
    mut ready: watch::Receiver<bool>,
) {
    let after = healthy_after();
    loop {
        let _ = ready.wait_for(|r| *r).await;
        while client.connection_state() != State::Connected {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        let connects = client.statistics().connects.load(Ordering::Relaxed);
        tokio::time::sleep(after).await;
        let steady = client.connection_state() == State::Connected
            && client.statistics().connects.load(Ordering::Relaxed) == connects;
        if !steady {
            continue;
        }
        let sentinel = sentinel.clone();
        match tokio::task::spawn_blocking(move || sentinel.confirm_healthy()).await {
            Ok(Ok(())) => tracing::info!(?after, "boot confirmed healthy"),
            Ok(Err(err)) => tracing::warn!(error = %err, "boot sentinel: cannot confirm this boot"),
            Err(err) => tracing::warn!(error = %err, "boot sentinel task failed"),
        }
        break;
    }
    std::future::pending::<()>().await
}

fn event(pc_id: &str, kind: &str, record_id: String, payload: serde_json::Value) -> ObsEvent {
    ObsEvent {
        pc_id: pc_id.to_owned(),
        at: Utc::now(),
        kind: kind.to_owned(),
        source: "agent".to_owned(),
        event_record_id: Some(record_id),
        payload,
    }
}

async fn record(ctx: &Ctx, event: ObsEvent) {
    if let Err(err) = ctx.outbox.push(&Entry::Events(vec![event])).await {
        tracing::error!(
            error = format!("{err:#}"),
            "cannot write a self-update event to the outbox"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_explicit_target_that_is_not_quarantined_moves_the_agent() {
        let none: Vec<String> = Vec::new();
        assert_eq!(decide(None, "1.2.0", &none), Decision::NoTarget);
        assert_eq!(decide(Some("  "), "1.2.0", &none), Decision::NoTarget);
        assert_eq!(decide(Some("1.2.0"), "1.2.0", &none), Decision::Current);
        assert_eq!(
            decide(Some("1.3.0"), "1.2.0", &none),
            Decision::Update("1.3.0".into())
        );
        // A lower target is the operator's explicit choice (backing out a bad release).
        assert_eq!(
            decide(Some("1.1.0"), "1.2.0", &none),
            Decision::Update("1.1.0".into())
        );
        let quarantined = vec!["1.3.0".to_owned()];
        assert_eq!(
            decide(Some("1.3.0"), "1.2.0", &quarantined),
            Decision::Quarantined("1.3.0".into())
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_swap_keeps_the_permissions_and_leaves_no_temp_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let exe = dir.path().join("kanade-agent");
        std::fs::write(&exe, "old").unwrap();
        std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o750)).unwrap();
        let staged = dir.path().join("staged");
        std::fs::write(&staged, "new").unwrap();
        swap(&staged, &exe).unwrap();
        assert_eq!(std::fs::read_to_string(&exe).unwrap(), "new");
        let mode = std::fs::metadata(&exe).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o750);
        assert!(!dir.path().join("kanade-agent.new").exists());
    }
}
