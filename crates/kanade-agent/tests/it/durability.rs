//! Nothing acknowledged is lost and nothing runs twice: broker outages during a run, agents
//! that were offline while commands were sent, and agents started before the broker.

use std::time::Duration;

use kanade_protocol::subject;

use crate::support::{Agent, Broker, WAIT, command, eventually, pc_id};

#[tokio::test]
async fn a_result_produced_while_the_broker_is_down_arrives_exactly_once() {
    let mut broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("outage");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let cmd = command("sleep 2; echo survived");
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let started = eventually(WAIT, || async {
        !broker.started_events(&cmd.exec_id).await.is_empty()
    })
    .await;
    assert!(started, "no started event");

    broker.server.stop();
    // The result is written to the outbox while the broker is away.
    let queued = eventually(WAIT, || async {
        agent
            .outbox_files()
            .iter()
            .any(|f| f.to_string_lossy().ends_with("-result.json"))
    })
    .await;
    assert!(queued, "result never reached the outbox");
    // Give the drainer time to try (and fail) while the broker is down.
    tokio::time::sleep(Duration::from_secs(1)).await;
    broker.server.restart();

    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.stdout, "survived\n");
    let drained = eventually(WAIT, || async { agent.outbox_files().is_empty() }).await;
    assert!(drained, "outbox not drained: {:?}", agent.outbox_files());
    assert_eq!(broker.results(&cmd.request_id).await.len(), 1);
    assert_eq!(broker.started_events(&cmd.exec_id).await.len(), 1);
    agent.stop().await;
}

#[tokio::test]
async fn an_agent_that_was_offline_runs_only_the_newest_command_once() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("offline");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    agent.stop().await;

    let older = command("echo older");
    let newer = command("echo newer");
    broker.send(&subject::commands_pc(&pc), &older).await;
    broker.send(&subject::commands_pc(&pc), &newer).await;

    let agent = Agent::spawn(&broker, &pc, dir.path());
    let result = broker.wait_result(&newer.request_id).await;
    assert_eq!(result.stdout, "newer\n");
    agent.wait_ready(&broker).await;
    assert!(broker.results(&older.request_id).await.is_empty());
    agent.stop().await;

    // A second restart replays nothing: the probe runs, the newest command does not again.
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let drained = eventually(WAIT, || async { agent.outbox_files().is_empty() }).await;
    assert!(drained);
    assert_eq!(broker.results(&newer.request_id).await.len(), 1);
    assert!(broker.results(&older.request_id).await.is_empty());
    agent.stop().await;
}

#[tokio::test]
async fn a_dropped_agent_replays_missed_commands_on_return() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("dropped");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    // Dropping the run future (a crash, as far as the agent can tell) instead of shutting
    // down cleanly.
    drop(agent);
    let gone = eventually(WAIT, || async {
        broker
            .client
            .request(subject::ping(&pc), "".into())
            .await
            .is_err()
    })
    .await;
    assert!(gone, "dropped agent still answers pings");

    let cmd = command("echo caught up");
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let agent = Agent::spawn(&broker, &pc, dir.path());
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.stdout, "caught up\n");
    agent.stop().await;
}

#[tokio::test]
async fn an_agent_started_before_the_broker_works_once_it_appears() {
    let mut broker = Broker::start().await;
    broker.server.stop();
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("early");
    let agent = Agent::spawn(&broker, &pc, dir.path());
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.server.restart();
    agent.wait_ready(&broker).await;
    agent.stop().await;
}
