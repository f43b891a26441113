//! Live configuration from KV `agent_config`: cadence changes apply without a restart, scopes
//! layer global → groups (alphabetical) → pc, bad values are ignored, the watch survives a
//! broker restart, and `max_local_concurrent` bounds running scripts.

use std::time::Duration;

use kanade_protocol::names::exit_code;
use kanade_protocol::subject;
use serde_json::json;

use crate::support::{Agent, Beats, Broker, WAIT, command, eventually, pc_id};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test]
async fn a_global_heartbeat_interval_applies_live() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("cadence");
    let mut beats = Beats::subscribe(&broker, &pc).await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    // agent.toml says 500 ms and KV says nothing yet.
    beats.wait_cadence(ms(350)..ms(800), 2).await;

    broker
        .set_config("global", json!({"heartbeat_interval": "1500ms"}))
        .await;
    beats.wait_cadence(ms(1300)..ms(2000), 2).await;
    agent.stop().await;
}

#[tokio::test]
async fn the_pc_scope_beats_groups_which_apply_alphabetically_over_global() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("layers");
    broker.set_groups(&pc, &["zeta", "alpha"]).await;
    broker
        .set_config("global", json!({"heartbeat_interval": "1500ms"}))
        .await;
    broker
        .set_config("groups.alpha", json!({"heartbeat_interval": "2s"}))
        .await;
    broker
        .set_config("groups.zeta", json!({"heartbeat_interval": "250ms"}))
        .await;
    broker
        .set_config(&format!("pcs.{pc}"), json!({"heartbeat_interval": "1s"}))
        .await;
    // A group this machine is not in changes nothing.
    broker
        .set_config("groups.other", json!({"heartbeat_interval": "100ms"}))
        .await;
    let mut beats = Beats::subscribe(&broker, &pc).await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    beats.wait_cadence(ms(850)..ms(1300), 2).await;

    // Without the pc scope, zeta (applied after alpha) wins.
    broker
        .kv_delete(
            kanade_protocol::names::KV_AGENT_CONFIG,
            &format!("pcs.{pc}"),
        )
        .await;
    beats.wait_cadence(ms(150)..ms(450), 3).await;
    agent.stop().await;
}

#[tokio::test]
async fn bad_config_values_are_ignored_and_the_agent_keeps_working() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("badcfg");
    broker
        .kv_put(
            kanade_protocol::names::KV_AGENT_CONFIG,
            "global",
            "{not json",
        )
        .await;
    let mut beats = Beats::subscribe(&broker, &pc).await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let pc_key = format!("pcs.{pc}");
    // An unknown field and a bad duration: neither decodes.
    broker.set_config(&pc_key, json!({"heartbeat": "1s"})).await;
    broker
        .set_config(&pc_key, json!({"heartbeat_interval": "soon"}))
        .await;
    let cmd = command("echo still here");
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    assert_eq!(
        broker.wait_result(&cmd.request_id).await.stdout,
        "still here\n"
    );
    beats.wait_cadence(ms(350)..ms(800), 2).await;

    // A good value after the bad ones applies.
    broker
        .set_config(&pc_key, json!({"heartbeat_interval": "1500ms"}))
        .await;
    beats.wait_cadence(ms(1300)..ms(2000), 2).await;
    agent.stop().await;
}

#[tokio::test]
async fn the_config_watch_survives_a_broker_restart() {
    let mut broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("cfgrestart");
    let mut beats = Beats::subscribe(&broker, &pc).await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    beats.wait_cadence(ms(350)..ms(800), 2).await;

    broker.server.restart();
    broker
        .set_config("global", json!({"heartbeat_interval": "1500ms"}))
        .await;
    beats.wait_cadence(ms(1300)..ms(2000), 2).await;
    agent.stop().await;
}

#[tokio::test]
async fn one_slot_runs_commands_one_after_the_other_and_queued_ones_can_be_killed() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("slots");
    broker
        .set_config(&format!("pcs.{pc}"), json!({"max_local_concurrent": 1}))
        .await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let first = command("sleep 1; echo first");
    let second = command("sleep 1; echo second");
    broker.send(&subject::commands_pc(&pc), &first).await;
    broker.send(&subject::commands_pc(&pc), &second).await;
    let a = broker.wait_result(&first.request_id).await;
    let b = broker.wait_result(&second.request_id).await;
    assert_eq!(
        (a.stdout.as_str(), b.stdout.as_str()),
        ("first\n", "second\n")
    );
    let (earlier, later) = if a.started_at <= b.started_at {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert!(
        earlier.finished_at <= later.started_at,
        "runs overlap: {earlier:#?} {later:#?}"
    );

    // A queued command killed before it starts never runs.
    let long = command("sleep 30");
    let queued = command("echo should not run");
    broker.send(&subject::commands_pc(&pc), &long).await;
    let running = eventually(WAIT, || async {
        !broker.started_events(&long.exec_id).await.is_empty()
    })
    .await;
    assert!(running, "the long command never started");
    broker.send(&subject::commands_pc(&pc), &queued).await;
    // Kill requests are core NATS: repeat until the queued command reports.
    let killed = eventually(WAIT, || async {
        let _ = broker
            .client
            .publish(subject::kill(&queued.exec_id), "".into())
            .await;
        !broker.results(&queued.request_id).await.is_empty()
    })
    .await;
    assert!(killed, "the queued command was not killed");
    let result = broker.wait_result(&queued.request_id).await;
    assert!(result.skipped, "{result:#?}");
    assert_eq!(result.exit_code, exit_code::KILLED);
    assert!(
        result.stderr.contains("before the script started"),
        "{result:#?}"
    );
    assert!(broker.started_events(&queued.exec_id).await.is_empty());
    let _ = broker
        .client
        .publish(subject::kill(&long.exec_id), "".into())
        .await;
    let long_result = broker.wait_result(&long.request_id).await;
    assert_eq!(long_result.exit_code, exit_code::KILLED);
    agent.stop().await;
}

/// Signs `cmd` for `subject` and sends it with the original's extra fields `extras` merged in
/// (the signature does not cover them).
async fn send_with(
    broker: &Broker,
    subject: &str,
    cmd: &kanade_protocol::wire::Command,
    extras: serde_json::Value,
) {
    let signed = broker.key.signed(cmd, subject, chrono::Utc::now());
    let mut value = serde_json::to_value(&signed).unwrap();
    for (k, v) in extras.as_object().unwrap() {
        value[k] = v.clone();
    }
    broker
        .send_raw(subject, serde_json::to_vec(&value).unwrap())
        .await;
}

/// The original's `bypass_local_limit` starts a run without waiting for a slot, and a command
/// that needs `script_object`, `check`, or a `collect`/`finalize` in a shape this agent cannot
/// read is not run without them: it is skipped with exit 119 saying which.
#[tokio::test]
async fn bypass_runs_beside_a_full_slot_and_unsupported_parts_are_refused_by_name() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("bypass");
    broker
        .set_config(&format!("pcs.{pc}"), json!({"max_local_concurrent": 1}))
        .await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let to = subject::commands_pc(&pc);

    let long = command("sleep 30");
    broker.send(&to, &long).await;
    let running = eventually(WAIT, || async {
        !broker.started_events(&long.exec_id).await.is_empty()
    })
    .await;
    assert!(running, "the long run never started");
    let urgent = command("echo urgent");
    send_with(&broker, &to, &urgent, json!({"bypass_local_limit": true})).await;
    let result = broker.wait_result(&urgent.request_id).await;
    assert_eq!((result.exit_code, result.stdout.as_str()), (0, "urgent\n"));
    assert!(
        broker.results(&long.request_id).await.is_empty(),
        "the slot holder is still running"
    );

    let stored = command("");
    send_with(
        &broker,
        &to,
        &stored,
        json!({"script_object": "disk/3", "script_object_sha256": "ab12", "check": {"name": "disk-free"}}),
    )
    .await;
    let result = broker.wait_result(&stored.request_id).await;
    assert!(result.skipped);
    assert_eq!(result.exit_code, exit_code::NOT_BUILT);
    assert!(
        result.stderr.contains("script_object") && result.stderr.contains("check"),
        "{}",
        result.stderr
    );
    let collect = command("echo must not run");
    send_with(
        &broker,
        &to,
        &collect,
        json!({"collect": {"paths": ["/var/log"]}}),
    )
    .await;
    let result = broker.wait_result(&collect.request_id).await;
    assert_eq!(
        (result.exit_code, result.stdout.as_str()),
        (exit_code::NOT_BUILT, "")
    );
    assert!(
        result.stderr.contains("collect/finalize"),
        "{}",
        result.stderr
    );
    agent.stop().await;
}
