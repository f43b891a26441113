//! Heartbeats arrive once the agent takes commands and then on the interval; pings get a
//! fresh heartbeat.

use std::time::Duration;

use futures::StreamExt;
use kanade_protocol::subject;
use kanade_protocol::wire::Heartbeat;

use crate::support::{Agent, Broker, WAIT, command, pc_id};

#[tokio::test]
async fn heartbeats_flow_and_pings_are_answered() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("hb");
    let mut beats = broker
        .client
        .subscribe(subject::heartbeat(&pc))
        .await
        .unwrap();
    broker.client.flush().await.unwrap();
    let agent = Agent::spawn(&broker, &pc, dir.path());

    // The interval in tests is 500 ms: expect several beats well within the deadline.
    let mut received = Vec::new();
    let collected = tokio::time::timeout(WAIT, async {
        while received.len() < 3 {
            let message = beats.next().await.expect("subscription open");
            let beat: Heartbeat = serde_json::from_slice(&message.payload).unwrap();
            received.push(beat);
        }
    })
    .await;
    assert!(collected.is_ok(), "only {} heartbeats", received.len());
    let beat = &received[2];
    assert_eq!(beat.pc_id, pc);
    assert_eq!(beat.agent_version, kanade_protocol::VERSION);
    assert_eq!(beat.os_family, std::env::consts::OS);
    assert!(!beat.hostname.is_empty());
    assert!(beat.agent_rss_bytes.is_some_and(|rss| rss > 0), "{beat:?}");
    assert!(beat.agent_cpu_pct.is_some());
    // The agent's own cumulative disk I/O and the command format it speaks (reference §3.4).
    assert!(beat.agent_disk_read_bytes.is_some(), "{beat:?}");
    assert!(beat.agent_disk_written_bytes.is_some(), "{beat:?}");
    assert_eq!(beat.command_protocols, Some(vec!["legacy".to_owned()]));
    assert!(received[0].at < received[2].at);

    let reply = broker
        .client
        .request(subject::ping(&pc), "".into())
        .await
        .expect("ping answered");
    let pong: Heartbeat = serde_json::from_slice(&reply.payload).unwrap();
    assert_eq!(pong.pc_id, pc);
    assert!(pong.at >= beat.at - chrono::TimeDelta::from_std(Duration::from_secs(1)).unwrap());
    agent.stop().await;
}

#[tokio::test]
async fn a_machine_that_heartbeats_takes_commands() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("hbready");
    let mut beats = broker
        .client
        .subscribe(subject::heartbeat(&pc))
        .await
        .unwrap();
    broker.client.flush().await.unwrap();
    let agent = Agent::spawn(&broker, &pc, dir.path());
    let first = tokio::time::timeout(WAIT, beats.next()).await;
    assert!(matches!(first, Ok(Some(_))), "no heartbeat");
    // A brand-new machine's catch-up starts at "new": only a live subscription
    // catches this command, and it must already be in place.
    let cmd = command("echo online means ready");
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.stdout, "online means ready\n");
    agent.stop().await;
}
