//! JetStream resources against a real nats-server: setup creates everything, is idempotent,
//! and widens a narrower existing config.

use async_nats::jetstream;
use kanade_bus::{Access, Role, connect_with, ensure_resources, stream_status};
use kanade_protocol::names;
use kanade_testkit::NatsServer;

/// Pinned to the test broker's CA (the broker serves TLS only).
fn access(server: &NatsServer) -> Access {
    Access::pinned(server.ca_file().expect("the test broker serves TLS"))
}

#[tokio::test]
async fn setup_creates_everything_and_converges() {
    let server = NatsServer::start();
    let client = connect_with(Role::Cli, &server.url(), &access(&server))
        .await
        .unwrap();
    let js = jetstream::new(client);

    // A partial, narrower setup done by an older version: EXEC with a small cap.
    let mut old = kanade_bus::resources::stream_config(&names::STREAMS[0]);
    old.max_bytes = 1024 * 1024;
    js.create_stream(old).await.unwrap();

    let first = ensure_resources(&js).await.unwrap();
    let second = ensure_resources(&js).await.unwrap();
    assert_eq!(first, second);
    assert_eq!(first.streams.len(), names::STREAMS.len());

    let mut exec = js.get_stream(names::STREAM_EXEC).await.unwrap();
    let info = exec.info().await.unwrap();
    assert_eq!(info.config.max_bytes, names::STREAMS[0].max_bytes);
    assert_eq!(info.config.max_messages_per_subject, 1);

    for bucket in names::KV_BUCKETS {
        js.get_key_value(bucket.name).await.unwrap();
    }
    for store in names::OBJECT_STORES {
        js.get_object_store(store.name).await.unwrap();
    }
    js.publish("results.r1", "{}".into())
        .await
        .unwrap()
        .await
        .unwrap();
    let results = js.get_stream(names::STREAM_RESULTS).await.unwrap();
    results
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            durable_name: Some("probe".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    let status = stream_status(&js).await.unwrap();
    // Streams, then every KV bucket and object store (their backing streams).
    assert_eq!(
        status.len(),
        names::STREAMS.len() + names::KV_BUCKETS.len() + names::OBJECT_STORES.len()
    );
    let results = status
        .iter()
        .find(|s| s.name == names::STREAM_RESULTS)
        .unwrap();
    assert_eq!((results.messages, results.consumers), (1, 1));
    assert_eq!(results.consumer_list[0].name, "probe");
    assert_eq!(results.consumer_list[0].pending, 1);
    assert!(
        status
            .iter()
            .filter(|s| s.name != names::STREAM_RESULTS)
            .all(|s| s.messages == 0)
    );
}

#[test]
fn connection_names_follow_the_role() {
    assert_eq!(
        Role::Agent {
            pc_id: "pc1".into()
        }
        .connection_name(),
        "kanade-agent/pc1"
    );
    assert_eq!(Role::Backend.connection_name(), "kanade-backend");
    assert_eq!(Role::Cli.connection_name(), "kanade-cli");
}

#[tokio::test]
async fn concurrent_kv_edits_never_lose_each_other() {
    let server = NatsServer::start();
    let client = connect_with(Role::Cli, &server.url(), &access(&server))
        .await
        .unwrap();
    let js = jetstream::new(client);
    ensure_resources(&js).await.unwrap();
    let kv = js.get_key_value(names::KV_AGENT_GROUPS).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..20 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move {
            kanade_bus::kv::modify::<Vec<String>, _>(&kv, "pc1", |current| {
                let mut groups = current.unwrap_or_default();
                groups.push(format!("g{i:02}"));
                Ok(Some(groups))
            })
            .await
            .unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let (groups, _) = kanade_bus::kv::read::<Vec<String>>(&kv, "pc1")
        .await
        .unwrap();
    let mut groups = groups.unwrap();
    groups.sort();
    assert_eq!(
        groups,
        (0..20).map(|i| format!("g{i:02}")).collect::<Vec<_>>()
    );
    // Deleting through modify, then creating again, works.
    kanade_bus::kv::modify::<Vec<String>, _>(&kv, "pc1", |_| Ok(None))
        .await
        .unwrap();
    assert!(
        kanade_bus::kv::read::<Vec<String>>(&kv, "pc1")
            .await
            .unwrap()
            .0
            .is_none()
    );
    kanade_bus::kv::modify::<Vec<String>, _>(&kv, "pc1", |_| Ok(Some(vec!["x".into()])))
        .await
        .unwrap();
    assert_eq!(
        kanade_bus::kv::read::<Vec<String>>(&kv, "pc1")
            .await
            .unwrap()
            .0
            .unwrap(),
        ["x"]
    );
}
