//! Command signatures across the whole system: the backend signs, a real agent verifies, and a
//! key rotation through the API never stops commands: old-key and new-key commands both run
//! during the switch, and once the old key is retired its signatures are refused (exit 123).

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use kanade_protocol::api::Target;
use kanade_protocol::names::exit_code;
use kanade_protocol::signing::SigningKey;
use kanade_protocol::subject;
use kanade_protocol::wire::{Command, ExecResult, Shell};

use crate::support::{System, wait_for};

const JOB: &str = "id: hi\nversion: 1\nexecute:\n  shell: sh\n  script: echo hi\n  timeout: 10s\n";

fn adhoc(script: &str) -> Command {
    Command {
        id: "_adhoc".into(),
        version: "0".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        exec_id: uuid::Uuid::new_v4().to_string(),
        shell: Shell::Sh,
        script: script.into(),
        timeout_secs: 10,
        jitter_secs: None,
        deadline_at: None,
        cwd: None,
        run_as: None,
        staleness: None,
        emit: None,
        emergency: false,
        issued_at: Utc::now(),
        issued_by: Some("test".into()),
        retry: None,
        collect: None,
        finalize: None,
        signature: None,
    }
}

/// Publishes `cmd` signed by `key` to `pc` and returns the agent's result.
async fn run_signed(system: &System, key: &SigningKey, pc: &str, cmd: &Command) -> ExecResult {
    let client = system.nats_client().await;
    let mut results = client
        .subscribe(subject::results_of(pc, &cmd.request_id))
        .await
        .unwrap();
    client.flush().await.unwrap();
    let target = subject::commands_pc(pc);
    let payload = serde_json::to_vec(&key.signed(cmd, &target, Utc::now())).unwrap();
    let js = async_nats::jetstream::new(client.clone());
    js.publish(target, payload.into())
        .await
        .unwrap()
        .await
        .unwrap();
    let message = tokio::time::timeout(Duration::from_secs(30), results.next())
        .await
        .expect("a result")
        .unwrap();
    serde_json::from_slice(&message.payload).unwrap()
}

async fn agent_keys(system: &System, pc: &str) -> Option<Vec<String>> {
    system
        .api
        .get_agent(pc)
        .await
        .ok()
        .and_then(|a| a.command_keys)
}

#[tokio::test]
async fn a_rotation_keeps_commands_running_and_retiring_cuts_the_old_key_off() {
    let pc = "pc-rotate";
    let system = System::start(&[pc]).await;
    system.api.create_job_yaml(JOB).await.unwrap();
    let target = Target {
        pcs: vec![pc.to_owned()],
        ..Target::default()
    };
    let fired = system.exec("hi", target.clone()).await;
    assert_eq!(
        system
            .wait_completed(&fired.exec_id)
            .await
            .execution
            .success_count,
        1
    );

    let seed =
        std::fs::read_to_string(system.dir.path().join("backend/command_signing.seed")).unwrap();
    let old = SigningKey::from_seed(&seed).unwrap();
    let new = system.api.rotate_command_key().await.unwrap().key.key_id;
    assert_ne!(new, old.key_id());

    // During the switch: the backend signs with the new key, the old key still works.
    let fired = system.exec("hi", target.clone()).await;
    assert_eq!(
        system
            .wait_completed(&fired.exec_id)
            .await
            .execution
            .success_count,
        1
    );
    let by_old = run_signed(&system, &old, pc, &adhoc("echo old")).await;
    assert_eq!((by_old.exit_code, by_old.stdout.as_str()), (0, "old\n"));
    wait_for(
        "the agent reports both keys",
        Duration::from_secs(30),
        || async {
            agent_keys(&system, pc)
                .await
                .is_some_and(|keys| keys.len() == 2 && keys.contains(&new))
        },
    )
    .await;

    system.api.retire_command_key(old.key_id()).await.unwrap();
    wait_for(
        "the agent drops the old key",
        Duration::from_secs(30),
        || async { agent_keys(&system, pc).await == Some(vec![new.clone()]) },
    )
    .await;
    let refused = run_signed(&system, &old, pc, &adhoc("echo too late")).await;
    assert_eq!(
        refused.exit_code,
        exit_code::SIGNATURE_REFUSED,
        "{refused:#?}"
    );
    assert!(
        refused.skipped && refused.stderr.contains("unknown key"),
        "{refused:#?}"
    );
    let fired = system.exec("hi", target).await;
    assert_eq!(
        system
            .wait_completed(&fired.exec_id)
            .await
            .execution
            .success_count,
        1
    );
}
