//! Self-update with real binaries: a copy of the built agent is "installed" in a temp folder
//! and run as a child process. The same binary is published as the new release; the debug-only
//! `KANADE_AGENT_VERSION_OVERRIDE` makes the child believe it runs another version before and
//! after the swap. Covers the swap and restart in place, a refused digest (once per publish),
//! and the boot sentinel: a version that keeps failing to start is rolled back, quarantined,
//! reported in heartbeats and not installed again.

use std::path::{Path, PathBuf};

use async_nats::jetstream::object_store::ObjectMetadata;
use kanade_protocol::names;
use kanade_protocol::wire::ObsEvent;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::support::{
    AGENT_BIN, Broker, ChildAgent, WAIT, eventually, output_retrying, pc_id, wait_heartbeat,
    write_agent_toml,
};

const OVERRIDE: &str = "KANADE_AGENT_VERSION_OVERRIDE";

/// A machine with the agent installed at `<dir>/bin/kanade-agent`.
struct Install {
    _dir: tempfile::TempDir,
    pc: String,
    exe: PathBuf,
    config: PathBuf,
    data_dir: PathBuf,
    original: Vec<u8>,
}

impl Install {
    fn new(broker: &Broker, name: &str) -> Install {
        let dir = tempfile::tempdir().unwrap();
        let pc = pc_id(name);
        std::fs::create_dir_all(dir.path().join("bin")).unwrap();
        let exe = dir.path().join("bin/kanade-agent");
        std::fs::copy(AGENT_BIN, &exe).unwrap();
        let config = dir.path().join("agent.toml");
        let data_dir = dir.path().join("data");
        write_agent_toml(&config, broker, &pc, &data_dir);
        let original = std::fs::read(&exe).unwrap();
        Install {
            _dir: dir,
            pc,
            exe,
            config,
            data_dir,
            original,
        }
    }

    fn beside(&self, suffix: &str) -> PathBuf {
        let mut name = self.exe.file_name().unwrap().to_os_string();
        name.push(suffix);
        self.exe.with_file_name(name)
    }

    async fn start(&self, version: &str, healthy_after_secs: &str) -> ChildAgent {
        ChildAgent::start(
            &self.exe,
            &self.config,
            &[
                (OVERRIDE, version),
                ("KANADE_AGENT_HEALTHY_AFTER_SECS", healthy_after_secs),
            ],
        )
        .await
    }

    async fn set_target(&self, broker: &Broker, version: &str) {
        broker
            .set_config(
                &format!("pcs.{}", self.pc),
                // No random wait (the default spreads a fleet over 10 minutes).
                json!({ "target_version": version, "target_version_jitter": "0s" }),
            )
            .await;
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Stores a release as the backend does: `<version>-<platform>` with its digest in metadata.
async fn publish_release(broker: &Broker, version: &str, binary: &[u8], sha256: &str) {
    let store = broker
        .js
        .get_object_store(names::OBJ_AGENT_RELEASES)
        .await
        .unwrap();
    let platform = names::platform();
    let mut meta = ObjectMetadata {
        name: names::release_key(version, &platform),
        description: Some(format!("kanade-agent {version} for {platform}")),
        ..Default::default()
    };
    meta.metadata.insert("version".into(), version.into());
    meta.metadata.insert("platform".into(), platform);
    meta.metadata.insert("sha256".into(), sha256.into());
    meta.metadata.insert("published_by".into(), "test".into());
    let mut reader = binary;
    store.put(meta, &mut reader).await.unwrap();
}

async fn events_of(broker: &Broker, pc: &str, kind: &str) -> Vec<ObsEvent> {
    broker
        .obs_events(pc)
        .await
        .into_iter()
        .filter(|e| e.kind == kind)
        .collect()
}

async fn wait_events(broker: &Broker, pc: &str, kind: &str, n: usize) -> Vec<ObsEvent> {
    let landed = eventually(WAIT, || async {
        events_of(broker, pc, kind).await.len() >= n
    })
    .await;
    let events = events_of(broker, pc, kind).await;
    assert!(landed, "expected {n} {kind} event(s): {events:#?}");
    events
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_default()
}

#[tokio::test]
async fn an_installed_agent_updates_itself_and_restarts_as_the_new_version() {
    let broker = Broker::start().await;
    let install = Install::new(&broker, "upd");
    publish_release(
        &broker,
        "9.9.9",
        &install.original,
        &sha256_hex(&install.original),
    )
    .await;
    install.set_target(&broker, "9.9.9").await;
    let agent = install.start("1.0.0", "1").await;

    let beat = wait_heartbeat(&broker, &install.pc, |b| b.agent_version == "9.9.9").await;
    assert!(beat.quarantined_versions.is_empty(), "{beat:#?}");
    // The same process, executed in place: it is still our child and still running.
    let mut agent = agent;
    assert!(agent.child.try_wait().unwrap().is_none());
    assert_eq!(read(&install.exe), install.original);
    assert_eq!(read(&install.beside(".last-good")), install.original);
    assert!(!install.beside(".new").exists());

    let updates = wait_events(&broker, &install.pc, "self_update", 1).await;
    assert_eq!(updates[0].payload["from"], "1.0.0");
    assert_eq!(updates[0].payload["to"], "9.9.9");
    assert_eq!(
        updates[0].payload["sha256"],
        sha256_hex(&install.original).as_str()
    );
    let starts = wait_events(&broker, &install.pc, "agent_started", 2).await;
    let versions: Vec<_> = starts
        .iter()
        .map(|e| e.payload["version"].clone())
        .collect();
    assert_eq!(versions, [json!("1.0.0"), json!("9.9.9")]);

    // Healthy after a second connected: the sentinel's pending record is cleared.
    let pending = install.beside(".boot-sentinel.json");
    assert!(
        eventually(WAIT, || async { !pending.exists() }).await,
        "the new version was never confirmed healthy:\n{}",
        agent.output()
    );
    let staging = std::fs::read_dir(install.data_dir.join("staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staging, 0, "staging left behind");
    assert_eq!(
        events_of(&broker, &install.pc, "self_update").await.len(),
        1
    );
    agent.stop().await;
}

#[tokio::test]
async fn a_release_with_the_wrong_digest_is_refused_once_per_publish() {
    let broker = Broker::start().await;
    let install = Install::new(&broker, "digest");
    publish_release(&broker, "7.7.7", b"not the agent", &"0".repeat(64)).await;
    install.set_target(&broker, "7.7.7").await;
    let agent = install.start("1.0.0", "3600").await;

    let refused = wait_events(&broker, &install.pc, "self_update_refused", 1).await;
    assert_eq!(refused[0].payload["to"], "7.7.7");
    let reason = refused[0].payload["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("sha256 mismatch"), "{reason}");
    assert_eq!(read(&install.exe), install.original, "exe touched");
    assert!(!install.beside(".boot-sentinel.json").exists());
    assert!(!install.beside(".new").exists());

    // A config change makes the agent look again, but the same release is not downloaded
    // again: the heartbeat cadence proves the change arrived.
    broker
        .set_config(
            &format!("pcs.{}", install.pc),
            json!({"target_version": "7.7.7", "target_version_jitter": "0s", "heartbeat_interval": "200ms"}),
        )
        .await;
    let mut beats = crate::support::Beats::subscribe(&broker, &install.pc).await;
    beats
        .wait_cadence(
            std::time::Duration::from_millis(100)..std::time::Duration::from_millis(400),
            2,
        )
        .await;
    agent.wait_for_output("refusing the release").await;
    assert_eq!(
        events_of(&broker, &install.pc, "self_update_refused")
            .await
            .len(),
        1
    );

    // A new publish under the same key is looked at (and refused again).
    publish_release(&broker, "7.7.7", b"still not the agent", &"1".repeat(64)).await;
    let refused = wait_events(&broker, &install.pc, "self_update_refused", 2).await;
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert_eq!(read(&install.exe), install.original, "exe touched");
    let staged = std::fs::read_dir(install.data_dir.join("staging"))
        .map(|d| d.count())
        .unwrap_or(0);
    assert_eq!(staged, 0, "a refused download was left in staging");
    agent.stop().await;
}

#[tokio::test]
async fn a_version_that_keeps_failing_to_start_is_rolled_back_quarantined_and_not_retried() {
    let broker = Broker::start().await;
    let install = Install::new(&broker, "crash");
    let script = b"#!/bin/sh\nexit 1\n";
    publish_release(&broker, "6.6.6", script, &sha256_hex(script)).await;
    install.set_target(&broker, "6.6.6").await;

    // The update installs the script and executes it in place: it exits at once.
    let mut agent = install.start("1.0.0", "3600").await;
    let status = tokio::time::timeout(WAIT, agent.child.wait())
        .await
        .expect("the updated process ends")
        .unwrap();
    assert_eq!(status.code(), Some(1), "{}", agent.output());
    assert_eq!(read(&install.exe), script);
    assert_eq!(read(&install.beside(".last-good")), install.original);

    // The script cannot count its boots; a build of 6.6.6 that fails to start can. The
    // service manager restarts it, and on the fourth start the sentinel rolls back.
    let mut broken = install.original.clone();
    broken.extend_from_slice(b"\nbroken 6.6.6 build\n");
    std::fs::write(&install.exe, &broken).unwrap();
    let bad_config = install.config.with_file_name("bad.toml");
    std::fs::write(&bad_config, "[agent]\nid = \"no*stars\"\n").unwrap();
    for start in 1..=4 {
        let mut command = tokio::process::Command::new(&install.exe);
        command
            .arg("--config")
            .arg(&bad_config)
            .env(OVERRIDE, "6.6.6");
        let output = output_retrying(&mut command).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "start {start}: {stderr}");
        assert!(
            stderr.contains("agent id \"no*stars\""),
            "start {start}: {stderr}"
        );
        let rolled_back = stderr.contains("6.6.6 is quarantined");
        assert_eq!(rolled_back, start == 4, "start {start}: {stderr}");
    }
    assert_eq!(read(&install.exe), install.original, "last-good restored");
    assert_eq!(read(&install.beside(".rollback-bak")), broken);
    assert!(!install.beside(".boot-sentinel.json").exists());

    // The restored agent reports the quarantine and leaves the target alone.
    let agent = install.start("1.0.0", "3600").await;
    let beat = wait_heartbeat(&broker, &install.pc, |b| {
        b.quarantined_versions == ["6.6.6"]
    })
    .await;
    assert_eq!(beat.agent_version, "1.0.0");
    agent
        .wait_for_output("target version 6.6.6 is quarantined on this machine")
        .await;
    let rolled_back = wait_events(&broker, &install.pc, "self_update_rolled_back", 1).await;
    assert_eq!(rolled_back[0].payload["from"], "6.6.6");
    assert_eq!(rolled_back[0].payload["to"], "1.0.0");
    let updates = wait_events(&broker, &install.pc, "self_update", 1).await;
    assert_eq!(updates.len(), 1, "{updates:#?}");
    assert_eq!(read(&install.exe), install.original);
    agent.stop().await;
}
