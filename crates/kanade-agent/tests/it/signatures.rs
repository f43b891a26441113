//! Command signatures against a real broker and agent: forged, retargeted, expired and replayed
//! commands never run (the first three are refused with exit 123 and a reason), mode `report`
//! runs them, the heartbeat reports the keys and the mode, and a rotation keeps both keys
//! working until the old one is retired.

use chrono::{TimeDelta, Utc};
use kanade_protocol::names::{self, exit_code};
use kanade_protocol::signing::SigningKey;
use kanade_protocol::subject;
use kanade_protocol::wire::{Command, ExecResult};

use crate::support::{Agent, Broker, command, pc_id, wait_heartbeat};

/// A command that leaves `marker` behind if it ever runs.
fn marking(dir: &std::path::Path, marker: &str) -> (Command, std::path::PathBuf) {
    let path = dir.join(marker);
    (command(&format!("touch '{}'", path.display())), path)
}

async fn refused(broker: &Broker, cmd: &Command, why: &str) -> ExecResult {
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(
        result.exit_code,
        exit_code::SIGNATURE_REFUSED,
        "{result:#?}"
    );
    assert!(result.skipped, "{result:#?}");
    assert!(
        result
            .stderr
            .contains(&format!("command signature refused ({why})")),
        "{}",
        result.stderr
    );
    assert!(broker.started_events(&cmd.exec_id).await.is_empty());
    result
}

#[tokio::test]
async fn forged_and_expired_commands_on_commands_all_are_refused_naming_why() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let pc = pc_id("forged");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let all = subject::COMMANDS_ALL;

    let (unsigned, unsigned_ran) = marking(work.path(), "unsigned");
    broker.send_unsigned(all, &unsigned).await;
    refused(&broker, &unsigned, "unsigned").await;

    let (tampered, tampered_ran) = marking(work.path(), "tampered");
    let mut tampered = broker.key.signed(&tampered, all, Utc::now());
    tampered.emergency = true;
    broker.send_unsigned(all, &tampered).await;
    refused(&broker, &tampered, "bad signature").await;

    let stranger = SigningKey::generate();
    let (foreign, foreign_ran) = marking(work.path(), "foreign");
    let foreign = stranger.signed(&foreign, all, Utc::now());
    broker.send_unsigned(all, &foreign).await;
    let result = refused(&broker, &foreign, "unknown key").await;
    assert!(
        result.stderr.contains(stranger.key_id()),
        "{}",
        result.stderr
    );

    let (old, old_ran) = marking(work.path(), "old");
    let old = broker
        .key
        .signed(&old, all, Utc::now() - TimeDelta::days(9));
    broker.send_unsigned(all, &old).await;
    refused(&broker, &old, "expired").await;

    let (ahead, ahead_ran) = marking(work.path(), "ahead");
    let ahead = broker
        .key
        .signed(&ahead, all, Utc::now() + TimeDelta::hours(1));
    broker.send_unsigned(all, &ahead).await;
    refused(&broker, &ahead, "expired").await;

    // A properly signed command still runs, and nothing above did.
    let ok = command("echo signed");
    broker.send(all, &ok).await;
    assert_eq!(broker.wait_result(&ok.request_id).await.stdout, "signed\n");
    for ran in [unsigned_ran, tampered_ran, foreign_ran, old_ran, ahead_ran] {
        assert!(!ran.exists(), "{} ran", ran.display());
    }
    agent.stop().await;
}

#[tokio::test]
async fn a_command_signed_for_one_machine_is_refused_on_another_subject() {
    let broker = Broker::start().await;
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let work = tempfile::tempdir().unwrap();
    let (pc_a, pc_b) = (pc_id("sig-a"), pc_id("sig-b"));
    let a = Agent::start(&broker, &pc_a, dir_a.path()).await;
    let b = Agent::start(&broker, &pc_b, dir_b.path()).await;

    let (cmd, ran) = marking(work.path(), "retargeted");
    let for_a = broker
        .key
        .signed(&cmd, &subject::commands_pc(&pc_a), Utc::now());
    broker
        .send_unsigned(&subject::commands_pc(&pc_b), &for_a)
        .await;
    let result = refused(&broker, &for_a, "target mismatch").await;
    assert_eq!(result.pc_id, pc_b);
    assert!(
        result
            .stderr
            .contains(&format!("signed for commands.pc.{pc_a}")),
        "{}",
        result.stderr
    );

    let (cmd, ran_all) = marking(work.path(), "to-all");
    let for_a = broker
        .key
        .signed(&cmd, &subject::commands_pc(&pc_a), Utc::now());
    broker.send_unsigned(subject::COMMANDS_ALL, &for_a).await;
    let results = broker.wait_results(&for_a.request_id, 2).await;
    assert!(
        results
            .iter()
            .all(|r| r.exit_code == exit_code::SIGNATURE_REFUSED && r.skipped),
        "{results:#?}"
    );
    assert!(!ran.exists() && !ran_all.exists());
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_replayed_request_id_never_runs_again() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let pc = pc_id("replay");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let log = work.path().join("runs");
    let cmd = command(&format!("echo run >> '{}'", log.display()));
    let target = subject::commands_pc(&pc);
    let signed = broker.key.signed(&cmd, &target, Utc::now());
    broker.send_unsigned(&target, &signed).await;
    assert_eq!(broker.wait_result(&cmd.request_id).await.exit_code, 0);

    // The very same signed bytes again, live and after a restart (catch-up).
    broker.send_unsigned(&target, &signed).await;
    agent.stop().await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    broker.send_unsigned(&target, &signed).await;
    let probe = command("echo probe");
    broker.send(&target, &probe).await;
    broker.wait_result(&probe.request_id).await;
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "run\n");
    assert_eq!(broker.results(&cmd.request_id).await.len(), 1);
    agent.stop().await;
}

#[tokio::test]
async fn report_mode_runs_what_enforce_refuses_and_heartbeats_say_which() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("report");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let key_id = broker.key.key_id().to_owned();
    let beat = wait_heartbeat(&broker, &pc, |b| {
        b.command_keys.as_deref() == Some(std::slice::from_ref(&key_id))
    })
    .await;
    assert_eq!(beat.enforcing, Some(true), "enforce is the default");

    broker
        .set_config(
            "global",
            serde_json::json!({"command_signatures": "report"}),
        )
        .await;
    wait_heartbeat(&broker, &pc, |b| b.enforcing == Some(false)).await;
    let unsigned = command("echo reported");
    broker
        .send_unsigned(&subject::commands_pc(&pc), &unsigned)
        .await;
    let result = broker.wait_result(&unsigned.request_id).await;
    assert_eq!(
        (result.exit_code, result.stdout.as_str()),
        (0, "reported\n")
    );

    broker
        .set_config(
            &kanade_protocol::config::pc_key(&pc),
            serde_json::json!({"command_signatures": "enforce"}),
        )
        .await;
    wait_heartbeat(&broker, &pc, |b| b.enforcing == Some(true)).await;
    let unsigned = command("echo refused");
    broker
        .send_unsigned(&subject::commands_pc(&pc), &unsigned)
        .await;
    refused(&broker, &unsigned, "unsigned").await;
    agent.stop().await;
}

#[tokio::test]
async fn both_keys_work_during_a_rotation_and_a_retired_key_is_refused() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("rotate");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let target = subject::commands_pc(&pc);
    let old = &broker.key;

    // The new key is published; the very next command uses it (no waiting for the watch).
    let new = SigningKey::generate();
    broker.trust(&new).await;
    let by_new = command("echo new");
    broker
        .send_unsigned(&target, &new.signed(&by_new, &target, Utc::now()))
        .await;
    assert_eq!(broker.wait_result(&by_new.request_id).await.stdout, "new\n");
    let by_old = command("echo old");
    broker
        .send_unsigned(&target, &old.signed(&by_old, &target, Utc::now()))
        .await;
    assert_eq!(broker.wait_result(&by_old.request_id).await.stdout, "old\n");
    let (a, b) = (old.key_id().to_owned(), new.key_id().to_owned());
    wait_heartbeat(&broker, &pc, |beat| {
        beat.command_keys
            .as_ref()
            .is_some_and(|keys| keys.contains(&a) && keys.contains(&b))
    })
    .await;

    // Retired: deleted from command_keys, learned through the watch.
    let kv = broker
        .js
        .get_key_value(names::KV_COMMAND_KEYS)
        .await
        .unwrap();
    kv.purge(old.key_id()).await.unwrap();
    wait_heartbeat(&broker, &pc, |beat| {
        beat.command_keys.as_deref() == Some(std::slice::from_ref(&b))
    })
    .await;
    let late = command("echo too late");
    broker
        .send_unsigned(&target, &old.signed(&late, &target, Utc::now()))
        .await;
    refused(&broker, &late, "unknown key").await;
    let still = command("echo still");
    broker
        .send_unsigned(&target, &new.signed(&still, &target, Utc::now()))
        .await;
    assert_eq!(
        broker.wait_result(&still.request_id).await.stdout,
        "still\n"
    );
    agent.stop().await;
}
