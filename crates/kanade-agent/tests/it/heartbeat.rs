//! Heartbeats arrive at start and on the interval; pings get a fresh heartbeat.

use std::time::Duration;

use futures::StreamExt;
use kanade_protocol::subject;
use kanade_protocol::wire::Heartbeat;

use crate::support::{Agent, Broker, WAIT, pc_id};

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
    let agent = Agent::spawn(&broker.url(), &pc, dir.path());

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
