//! Live group membership: joining a group in KV `agent_groups` makes a running agent take
//! `commands.group.<g>` (live and in its catch-up), leaving stops that, no restart.

use kanade_protocol::subject;

use crate::support::{Agent, Broker, WAIT, command, eventually, pc_id};

#[tokio::test]
async fn joining_and_leaving_a_group_applies_without_a_restart() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("live-grp");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let lab = subject::commands_group("lab");
    assert!(!agent.catch_up_subjects().contains(&lab));

    broker.set_groups(&pc, &["lab"]).await;
    // The filter is updated right after the live subscription is made.
    let joined = eventually(WAIT, || async { agent.catch_up_subjects().contains(&lab) }).await;
    assert!(joined, "filter: {:?}", agent.catch_up_subjects());
    let cmd = command("echo lab member");
    broker.send(&lab, &cmd).await;
    assert_eq!(
        broker.wait_result(&cmd.request_id).await.stdout,
        "lab member\n"
    );

    broker.set_groups(&pc, &[]).await;
    let left = eventually(WAIT, || async { !agent.catch_up_subjects().contains(&lab) }).await;
    assert!(left, "filter: {:?}", agent.catch_up_subjects());
    let ignored = command("echo not a member any more");
    broker.send(&lab, &ignored).await;
    // Sent after the group command: once it is done, the group command had its chance.
    let probe = command("sleep 0.5; echo probe");
    broker.send(&subject::commands_pc(&pc), &probe).await;
    broker.wait_result(&probe.request_id).await;
    assert!(broker.results(&ignored.request_id).await.is_empty());
    assert!(broker.started_events(&ignored.exec_id).await.is_empty());

    // Joining again later catches up on nothing it was not meant to run.
    broker.set_groups(&pc, &["lab", "ops"]).await;
    let rejoined = eventually(WAIT, || async {
        let filter = agent.catch_up_subjects();
        filter.contains(&lab) && filter.contains(&subject::commands_group("ops"))
    })
    .await;
    assert!(rejoined);
    let ops = command("echo ops member");
    broker.send(&subject::commands_group("ops"), &ops).await;
    broker.wait_result(&ops.request_id).await;
    assert!(broker.results(&ignored.request_id).await.is_empty());
    agent.stop().await;
}
