//! Replicated resources on a real three-node JetStream cluster: setup with three replicas puts
//! every stream, bucket and object store on all three nodes with a leader, status shows each
//! follower's lag, a node killed with `kill -9` costs no acknowledged message, and a migration
//! back to one replica keeps the data.

use std::time::Duration;

use async_nats::jetstream;
use kanade_bus::resources::ensure_resources_replicated;
use kanade_bus::{Access, Role, connect_with, stream_status};
use kanade_protocol::names;
use kanade_testkit::NatsCluster;

const WAIT: Duration = Duration::from_secs(60);

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{what} did not happen within {WAIT:?}");
}

#[tokio::test]
async fn three_replicas_survive_a_killed_node_and_migrate_back() {
    let mut cluster = NatsCluster::start(3);
    let client = connect_with(
        Role::Cli,
        &cluster.url(),
        &Access::pinned(cluster.ca_file()),
    )
    .await
    .unwrap();
    let js = jetstream::new(client);
    // The cluster elects its JetStream meta leader a moment after the nodes listen.
    eventually("a replicated setup", || async {
        ensure_resources_replicated(&js, Some(3)).await.is_ok()
    })
    .await;

    let every = names::STREAMS.len() + names::KV_BUCKETS.len() + names::OBJECT_STORES.len();
    eventually("every resource led, with two current followers", || async {
        let Ok(status) = stream_status(&js).await else {
            return false;
        };
        status.len() == every
            && status.iter().all(|s| {
                s.replicas == 3
                    && s.leader.is_some()
                    && s.peers.len() == 2
                    && s.peers.iter().all(|p| p.current)
            })
    })
    .await;

    // Acknowledged messages survive a node's crash, whichever it was.
    let results = names::STREAM_RESULTS;
    for i in 0..50 {
        js.publish(format!("results.pc1.r{i}"), "before".into())
            .await
            .unwrap()
            .await
            .unwrap();
    }
    cluster.kill(0);
    let down = cluster.node_name(0).to_owned();
    for i in 50..100 {
        // The client moves to another node; a publish may need a retry while it does.
        let subject = format!("results.pc1.r{i}");
        eventually("a publish acknowledged with a node down", || {
            let (js, subject) = (js.clone(), subject.clone());
            async move {
                match js.publish(subject, "during".into()).await {
                    Ok(ack) => ack.await.is_ok(),
                    Err(_) => false,
                }
            }
        })
        .await;
    }
    eventually("the dead node shown as not current", || async {
        stream_status(&js).await.is_ok_and(|status| {
            status.iter().any(|s| {
                s.name == results
                    && s.peers
                        .iter()
                        .any(|p| p.name == down && (!p.current || p.offline))
            })
        })
    })
    .await;
    cluster.restart(0);
    eventually("the node caught up again", || async {
        stream_status(&js).await.is_ok_and(|status| {
            status
                .iter()
                .all(|s| s.peers.len() == 2 && s.peers.iter().all(|p| p.current && p.lag == 0))
        })
    })
    .await;
    let mut stream = js.get_stream(results).await.unwrap();
    assert!(
        stream.info().await.unwrap().state.messages >= 100,
        "acknowledged results were lost"
    );

    // Back to one copy: the data stays.
    eventually("a migration to one replica", || async {
        ensure_resources_replicated(&js, Some(1)).await.is_ok()
    })
    .await;
    eventually("every resource down to one copy", || async {
        stream_status(&js)
            .await
            .is_ok_and(|status| status.iter().all(|s| s.replicas == 1 && s.peers.is_empty()))
    })
    .await;
    let mut stream = js.get_stream(results).await.unwrap();
    assert!(stream.info().await.unwrap().state.messages >= 100);
    // Replica counts other than 1, 3, 5 are refused before anything is sent.
    let err = ensure_resources_replicated(&js, Some(2)).await.unwrap_err();
    assert!(err.to_string().contains("1, 3 or 5"), "{err}");
}
