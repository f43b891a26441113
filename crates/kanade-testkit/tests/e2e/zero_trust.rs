//! Zero trust against a real nats-server configured by `kanade-backend broker-config`: each
//! machine joins with its own key (an enrollment token, or an admin's approval), works with
//! only its own subjects, and is cut off at once when revoked. The attacker's view: a
//! machine's credentials reach nothing but that machine's own reports.

use std::time::Duration;

use futures::StreamExt;
use kanade_protocol::enrollment::IdentityStatus;
use kanade_protocol::subject;

use crate::support::{System, pcs, wait_for};

const BIG_OUTPUT: &str = "
id: big
version: 1
execute:
  shell: sh
  script: |
    head -c 400000 /dev/zero | tr '\\\\0' 'x'
    echo
  timeout: 20s
";

const HELLO: &str = "
id: hello
version: 1
execute:
  shell: sh
  script: echo hello from $(hostname)
  timeout: 20s
";

#[tokio::test]
async fn an_enrolled_machine_takes_commands_spills_output_and_follows_its_groups() {
    let system = System::start_zero_trust(&["zt-one"]).await;
    let registry = system.registry().await;
    let identity = registry.identity("zt-one").await.unwrap().unwrap();
    assert_eq!(identity.status, IdentityStatus::Approved);
    assert!(identity.decided_by.unwrap().starts_with("token:"));

    system.api.create_job_yaml(HELLO).await.unwrap();
    let fired = system.exec("hello", pcs(&["zt-one"])).await;
    let done = system.wait_completed(&fired.exec_id).await;
    assert_eq!(done.execution.success_count, 1, "{done:#?}");

    // Output above the inline cap goes through the object store the grant allows.
    system.api.create_job_yaml(BIG_OUTPUT).await.unwrap();
    let fired = system.exec("big", pcs(&["zt-one"])).await;
    let done = system.wait_completed(&fired.exec_id).await;
    assert_eq!(done.execution.success_count, 1, "{done:#?}");

    // Joining a group re-grants the machine its subjects; a command to the group arrives.
    system.api.add_agent_group("zt-one", "lab").await.unwrap();
    let api = &system.api;
    wait_for(
        "a group command answered",
        Duration::from_secs(60),
        || async move {
            let Ok(fired) = api
                .exec(
                    "hello",
                    &kanade_protocol::api::ExecRequest {
                        target: kanade_protocol::api::Target {
                            groups: vec!["lab".to_owned()],
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                )
                .await
            else {
                return false;
            };
            tokio::time::sleep(Duration::from_secs(3)).await;
            api.get_execution(&fired.exec_id)
                .await
                .is_ok_and(|e| e.execution.success_count == 1)
        },
    )
    .await;
    // Joining a group races the kick that re-grants: the agent may try the group's subjects
    // once before its reconnect, and is refused (then subscribed again, granted). Nothing else
    // may ever be refused.
    let violations: Vec<String> = system
        .broker_violations()
        .into_iter()
        .filter(|v| !v.contains("group.lab") && !v.contains("groups.lab"))
        .collect();
    assert!(
        violations.is_empty(),
        "the agent's work needed more than its grant: {violations:#?}"
    );
}

#[tokio::test]
async fn a_machine_without_a_token_waits_for_an_admin() {
    let mut system = System::start_zero_trust(&[]).await;
    system.enrollment_token = None;
    system.start_agent("zt-pending").await;
    let registry = system.registry().await;
    wait_for(
        "the machine recorded as pending",
        Duration::from_secs(30),
        || {
            let registry = registry.clone();
            async move {
                registry
                    .identity("zt-pending")
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|id| id.status == IdentityStatus::Pending)
            }
        },
    )
    .await;
    // Refused meanwhile: it never heartbeats.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        system.api.get_agent("zt-pending").await.is_err(),
        "a pending machine reached the backend"
    );
    registry
        .decide(
            "zt-pending",
            kanade_backend::access::Decision::Approve,
            "admin",
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    system.wait_online(1).await;
}

#[tokio::test]
async fn a_revoked_machine_is_cut_off_and_stays_out() {
    let system = System::start_zero_trust(&["zt-rev", "zt-ok"]).await;
    let admin = system.backend_nats().await;
    let mut beats = admin.subscribe(subject::heartbeat("zt-rev")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), beats.next())
        .await
        .expect("heartbeats before the revoke");

    let access = system.access().await;
    let (identity, closed) = access
        .decide(
            "zt-rev",
            kanade_backend::access::Decision::Revoke,
            "admin",
            Some("stolen laptop".to_owned()),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(identity.status, IdentityStatus::Revoked);
    assert_eq!(closed, 1, "its one connection is closed");
    // Heartbeats stop within seconds and do not come back (reconnects are refused).
    tokio::time::sleep(Duration::from_secs(2)).await;
    while tokio::time::timeout(Duration::from_millis(50), beats.next())
        .await
        .is_ok()
    {}
    assert!(
        tokio::time::timeout(Duration::from_secs(5), beats.next())
            .await
            .is_err(),
        "a revoked machine still heartbeats"
    );
    // The other machine is untouched.
    let mut other = admin.subscribe(subject::heartbeat("zt-ok")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), other.next())
        .await
        .expect("the other machine keeps working");
}
