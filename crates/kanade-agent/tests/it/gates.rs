//! Gates before running: version pin, revoke and deadline each produce one skipped
//! result with the reserved exit code, and the script never starts. The fleet freeze is not a
//! gate: a frozen fleet's agent runs what it gets.

use kanade_protocol::names::{self, exit_code};
use kanade_protocol::subject;
use kanade_protocol::wire::{Command, ExecResult, FREEZE_KEY, Freeze};

use crate::support::{Agent, Broker, command, pc_id};

async fn skipped(broker: &Broker, pc: &str, cmd: &Command) -> ExecResult {
    broker.send(&subject::commands_pc(pc), cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert!(result.skipped, "{result:#?}");
    assert_eq!(result.stdout, "");
    assert!(broker.started_events(&cmd.exec_id).await.is_empty());
    result
}

#[tokio::test]
async fn pinned_revoked_and_late_commands_are_skipped_with_reserved_codes() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("gate");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    // Version pin: script_current says 2, the command carries 1.
    let pinned = command("echo should not run");
    broker
        .kv_put(names::KV_SCRIPT_CURRENT, &pinned.id, "2")
        .await;
    let result = skipped(&broker, &pc, &pinned).await;
    assert_eq!(result.exit_code, exit_code::VERSION_MISMATCH);
    assert!(
        result.stderr.contains("pinned to version 2"),
        "{}",
        result.stderr
    );

    // The matching pin runs.
    let mut matching = command("echo pinned ok");
    matching.id = pinned.id.clone();
    matching.version = "2".into();
    broker.send(&subject::commands_pc(&pc), &matching).await;
    let result = broker.wait_result(&matching.request_id).await;
    assert!(!result.skipped);
    assert_eq!(result.stdout, "pinned ok\n");

    // Revoked.
    let revoked = command("echo should not run");
    broker
        .kv_put(names::KV_SCRIPT_STATUS, &revoked.id, "REVOKED")
        .await;
    let result = skipped(&broker, &pc, &revoked).await;
    assert_eq!(result.exit_code, exit_code::REVOKED);
    assert!(result.stderr.contains("revoked"), "{}", result.stderr);

    // Deadline in the past.
    let mut late = command("echo should not run");
    late.deadline_at = Some(chrono::Utc::now() - chrono::TimeDelta::seconds(5));
    let result = skipped(&broker, &pc, &late).await;
    assert_eq!(result.exit_code, exit_code::DEADLINE_PASSED);
    assert!(result.stderr.contains("deadline"), "{}", result.stderr);

    // A pin mismatch wins over a revoke (gate order).
    let both = command("echo should not run");
    broker.kv_put(names::KV_SCRIPT_CURRENT, &both.id, "9").await;
    broker
        .kv_put(names::KV_SCRIPT_STATUS, &both.id, "REVOKED")
        .await;
    let result = skipped(&broker, &pc, &both).await;
    assert_eq!(result.exit_code, exit_code::VERSION_MISMATCH);
    agent.stop().await;
}

#[tokio::test]
async fn a_jittered_command_still_runs() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("jit");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let mut cmd = command("echo jittered");
    cmd.jitter_secs = Some(1);
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.stdout, "jittered\n");

    agent.stop().await;
}

#[tokio::test]
async fn a_frozen_fleet_still_runs_every_command_it_gets() {
    // The freeze holds only the backend's scheduled fires and waves; a command that reached
    // the machine (a manual exec, a break-glass run, one queued before the freeze) runs.
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("frozen");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let now = chrono::Utc::now();
    let freeze = Freeze {
        from: None,
        until: Some(now + chrono::TimeDelta::hours(1)),
        reason: Some("quarter close".into()),
        set_by: Some("ops".into()),
        set_at: now,
    };
    broker
        .kv_put(
            names::KV_FLEET_CONFIG,
            FREEZE_KEY,
            &serde_json::to_string(&freeze).unwrap(),
        )
        .await;
    let routine = command("echo ran while frozen");
    broker.send(&subject::commands_pc(&pc), &routine).await;
    let result = broker.wait_result(&routine.request_id).await;
    assert!(!result.skipped, "{result:#?}");
    assert_eq!(
        (result.exit_code, result.stdout.as_str()),
        (0, "ran while frozen\n")
    );

    // A corrupt freeze record (which the backend's scheduler counts as frozen) changes
    // nothing here either.
    broker
        .kv_put(names::KV_FLEET_CONFIG, FREEZE_KEY, "{not json")
        .await;
    let again = command("echo ran again");
    broker.send(&subject::commands_pc(&pc), &again).await;
    let result = broker.wait_result(&again.request_id).await;
    assert!(!result.skipped, "{result:#?}");
    assert_eq!(result.stdout, "ran again\n");

    // The gates still apply: a revoked job is skipped as revoked.
    let revoked = command("echo should not run");
    broker
        .kv_put(names::KV_SCRIPT_STATUS, &revoked.id, "REVOKED")
        .await;
    let result = skipped(&broker, &pc, &revoked).await;
    assert_eq!(result.exit_code, exit_code::REVOKED);
    agent.stop().await;
}

/// The staleness policy decides what happens when the pin and revocation cannot be read live
/// (here: the `script_status` bucket is gone): `cached` and `strict` (connected just now) use
/// what was read last, `unchecked` never reads, and `strict` with a limit already past skips
/// with 127.
#[tokio::test]
async fn without_a_live_read_the_staleness_policy_decides() {
    use kanade_protocol::duration::HumanDuration;
    use kanade_protocol::staleness::{Staleness, StalenessPolicy};

    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("stale");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let first = command("echo should not run");
    let job = first.id.clone();
    broker
        .kv_put(names::KV_SCRIPT_STATUS, &job, "REVOKED")
        .await;
    assert_eq!(
        skipped(&broker, &pc, &first).await.exit_code,
        exit_code::REVOKED
    );
    broker
        .js
        .delete_stream(format!("KV_{}", names::KV_SCRIPT_STATUS))
        .await
        .unwrap();

    let with = |mode, age: Option<u64>, script: &str| {
        let mut cmd = command(script);
        cmd.id = job.clone();
        cmd.staleness = Some(StalenessPolicy {
            mode,
            max_cache_age: age.map(HumanDuration::from_secs),
        });
        cmd
    };
    // Cached (also the default): the revocation read before still holds.
    let cached = with(Staleness::Cached, None, "echo should not run");
    assert_eq!(
        skipped(&broker, &pc, &cached).await.exit_code,
        exit_code::REVOKED
    );
    let strict = with(Staleness::Strict, Some(600), "echo should not run");
    assert_eq!(
        skipped(&broker, &pc, &strict).await.exit_code,
        exit_code::REVOKED
    );
    // Strict whose limit is already past: stale.
    let too_old = with(Staleness::Strict, Some(0), "echo should not run");
    let result = skipped(&broker, &pc, &too_old).await;
    assert_eq!(result.exit_code, exit_code::STALE, "{result:#?}");
    assert!(result.stderr.contains("too old"), "{}", result.stderr);
    // Unchecked ignores the pin and revocation altogether.
    let unchecked = with(Staleness::Unchecked, None, "echo ran unchecked");
    broker.send(&subject::commands_pc(&pc), &unchecked).await;
    let result = broker.wait_result(&unchecked.request_id).await;
    assert_eq!(result.stdout, "ran unchecked\n", "{result:#?}");
    agent.stop().await;
}

/// The agent keeps the pins and revocations of jobs it ran in a cache fed by their puts: a
/// revoke (or pin, or un-revoke) made after a job ran applies to the very next command of it,
/// sent right after the write was acknowledged, as with a live read.
#[tokio::test]
async fn changes_after_a_job_ran_apply_to_its_next_command_at_once() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("cache");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let first = command("echo first");
    let job = first.id.clone();
    broker.send(&subject::commands_pc(&pc), &first).await;
    assert_eq!(
        broker.wait_result(&first.request_id).await.stdout,
        "first\n"
    );
    let again = |script: &str| {
        let mut cmd = command(script);
        cmd.id = job.clone();
        cmd
    };
    for round in 0..3 {
        broker
            .kv_put(names::KV_SCRIPT_STATUS, &job, "REVOKED")
            .await;
        let revoked = again("echo should not run");
        assert_eq!(
            skipped(&broker, &pc, &revoked).await.exit_code,
            exit_code::REVOKED,
            "round {round}"
        );
        broker.kv_put(names::KV_SCRIPT_STATUS, &job, "ACTIVE").await;
        let active = again("echo active");
        broker.send(&subject::commands_pc(&pc), &active).await;
        let result = broker.wait_result(&active.request_id).await;
        assert_eq!(result.stdout, "active\n", "round {round}: {result:#?}");
    }
    broker.kv_put(names::KV_SCRIPT_CURRENT, &job, "2").await;
    let pinned = again("echo should not run");
    assert_eq!(
        skipped(&broker, &pc, &pinned).await.exit_code,
        exit_code::VERSION_MISMATCH
    );
    agent.stop().await;
}
