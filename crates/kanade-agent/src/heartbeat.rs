//! Liveness: a `Heartbeat` on `heartbeat.<pc_id>` (core NATS, lossy by design) as soon as
//! the agent takes commands and then every live `heartbeat_interval` (a new interval applies
//! at once, counted from the last heartbeat), and a fresh one as the reply to
//! `agents.<pc_id>.ping`. It carries the host name, OS, agent version, the agent's own
//! CPU, memory and cumulative disk use, who is logged on (`logon`), the command formats it
//! speaks, the versions the boot sentinel quarantined on this machine, the command signing keys
//! it trusts, whether it enforces signatures, and the machine's addresses, uptime and load
//! (`host_facts`).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use kanade_protocol::config::{EffectiveConfig, SignatureMode};
use kanade_protocol::subject;
use kanade_protocol::wire::{Heartbeat, PROTOCOL_LEGACY};
use kanade_sentinel::BootSentinel;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};
use tokio::sync::watch;

use crate::config_supervisor::next_tick;
use crate::keyring::Keyring;

const READY_WAIT: Duration = Duration::from_secs(10);

/// What a heartbeat reports about command signatures.
pub struct Signing {
    pub keyring: Keyring,
    pub config: watch::Receiver<EffectiveConfig>,
}

/// Builds heartbeats. Measuring CPU needs the previous sample, so one probe lives as long as
/// the agent; it refreshes only the agent's own process.
pub struct Probe {
    pc_id: String,
    version: String,
    /// Present when the agent runs from an installed executable.
    sentinel: Option<BootSentinel>,
    hostname: String,
    os_version: String,
    system: Option<System>,
    pid: Option<Pid>,
    signing: Signing,
    /// logind's session files, for who is logged on (`[agent] sessions_dir`).
    sessions_dir: std::path::PathBuf,
}

impl Probe {
    pub fn new(
        pc_id: &str,
        version: &str,
        sentinel: Option<BootSentinel>,
        signing: Signing,
        sessions_dir: &std::path::Path,
    ) -> Probe {
        let hostname = System::host_name().unwrap_or_default();
        let os_version = match (System::name(), System::os_version()) {
            (Ok(name), Ok(version)) => format!("{name} {version}"),
            (Ok(name), Err(_)) => name,
            (Err(_), Ok(version)) => version,
            (Err(_), Err(_)) => String::new(),
        };
        Probe {
            pc_id: pc_id.to_owned(),
            version: version.to_owned(),
            sentinel,
            hostname,
            os_version,
            system: System::new().ok(),
            pid: sysinfo::get_current_pid().ok(),
            signing,
            sessions_dir: sessions_dir.to_owned(),
        }
    }

    pub fn sample(&mut self) -> Heartbeat {
        let mut cpu = None;
        let mut rss = None;
        let mut disk = None;
        if let (Some(system), Some(pid)) = (self.system.as_mut(), self.pid) {
            system.refresh_processes_specifics(
                ProcessesToUpdate::Some(&[pid]),
                true,
                ProcessRefreshKind::nothing()
                    .with_cpu()
                    .with_memory()
                    .with_disk_usage()
                    .without_tasks(),
            );
            if let Some(process) = system.process(pid) {
                cpu = Some(process.cpu_usage());
                rss = Some(process.memory());
                let usage = process.disk_usage();
                disk = Some((usage.total_read_bytes, usage.total_written_bytes));
            }
        }
        let logon = crate::logon::current(&self.sessions_dir);
        Heartbeat {
            pc_id: self.pc_id.clone(),
            at: Utc::now(),
            agent_version: self.version.clone(),
            hostname: self.hostname.clone(),
            os_family: std::env::consts::OS.to_owned(),
            os_version: self.os_version.clone(),
            agent_cpu_pct: cpu,
            agent_rss_bytes: rss,
            agent_disk_read_bytes: disk.map(|d| d.0),
            agent_disk_written_bytes: disk.map(|d| d.1),
            last_logon_display_name: logon.as_ref().and_then(|l| l.display_name.clone()),
            last_logon_user: logon.map(|l| l.user),
            command_protocols: Some(vec![PROTOCOL_LEGACY.to_owned()]),
            quarantined_versions: self
                .sentinel
                .as_ref()
                .map(BootSentinel::quarantined)
                .unwrap_or_default(),
            command_keys: Some(self.signing.keyring.ids()),
            enforcing: Some(
                self.signing.config.borrow().command_signatures == SignatureMode::Enforce,
            ),
            ip_addresses: crate::host_facts::ip_addresses(),
            uptime_secs: crate::host_facts::uptime_secs(),
            load_avg: crate::host_facts::load_avg(),
        }
    }
}

fn encode(probe: &Mutex<Probe>) -> Option<bytes::Bytes> {
    let heartbeat = match probe.lock() {
        Ok(mut probe) => probe.sample(),
        Err(poisoned) => poisoned.into_inner().sample(),
    };
    match serde_json::to_vec(&heartbeat) {
        Ok(json) => Some(json.into()),
        Err(err) => {
            tracing::error!(error = %err, "cannot encode a heartbeat");
            None
        }
    }
}

/// Publishes a heartbeat as soon as the agent takes commands and then every
/// `heartbeat_interval` of the live config. Runs until aborted.
///
/// Whoever sees a heartbeat treats the machine as online, so the first one waits until
/// `ready` (command subscriptions in place) — at most `READY_WAIT`, so an agent that cannot
/// finish its setup still shows up.
pub async fn run(
    client: async_nats::Client,
    probe: Arc<Mutex<Probe>>,
    pc_id: String,
    mut config: watch::Receiver<EffectiveConfig>,
    mut ready: watch::Receiver<bool>,
) {
    let subject = subject::heartbeat(&pc_id);
    let waited = tokio::time::timeout(READY_WAIT, async {
        let _ = ready.wait_for(|r| *r).await;
    })
    .await;
    if waited.is_err() {
        tracing::warn!("command intake not ready yet; sending heartbeats anyway");
    }
    loop {
        let sent_at = tokio::time::Instant::now();
        if let Some(payload) = encode(&probe)
            && let Err(err) = client.publish(subject.clone(), payload).await
        {
            tracing::debug!(error = %err, "heartbeat not sent");
        }
        next_tick(&mut config, sent_at, |c| c.heartbeat_interval.0).await;
    }
}

/// Answers `agents.<pc_id>.ping` with a fresh heartbeat. Runs until aborted.
pub async fn answer_pings(client: async_nats::Client, probe: Arc<Mutex<Probe>>, pc_id: String) {
    let mut pings = loop {
        match client.subscribe(subject::ping(&pc_id)).await {
            Ok(sub) => break sub,
            Err(err) => {
                tracing::warn!(error = %err, "cannot subscribe to pings; retrying");
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        }
    };
    while let Some(message) = pings.next().await {
        let Some(reply) = message.reply else {
            continue;
        };
        let Some(payload) = encode(&probe) else {
            continue;
        };
        if let Err(err) = client.publish(reply, payload).await {
            tracing::debug!(error = %err, "ping reply not sent");
        }
    }
}
