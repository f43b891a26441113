//! `kanade jetstream setup` and `status` against a real nats-server.

use kanade_testkit::NatsServer;

use crate::support::{broker_args, kanade, kanade_on};

#[tokio::test]
async fn setup_then_status_lists_every_stream() {
    let server = NatsServer::start();

    let before = kanade_on(&server, &["jetstream", "status"]).await;
    assert_eq!(before.code, 0, "{before:?}");
    assert!(
        before.stdout.contains("run `kanade jetstream setup`"),
        "{before:?}"
    );

    let setup = kanade_on(&server, &["jetstream", "setup"]).await;
    assert_eq!(setup.code, 0, "{setup:?}");
    assert!(
        setup
            .stdout
            .contains("streams:       EXEC, RESULTS, EVENTS, AUDIT, OBS_EVENTS, NOTIFICATIONS"),
        "{}",
        setup.stdout
    );
    assert!(
        setup.stdout.contains("kv buckets:    jobs,"),
        "{}",
        setup.stdout
    );
    assert!(
        setup
            .stdout
            .contains("object stores: agent_releases, result_output"),
        "{}",
        setup.stdout
    );

    // Idempotent, through the real-stdio entry point too.
    let [url, ca] = broker_args(&server);
    let again = [
        "kanade",
        "--nats-url",
        &url,
        "--nats-ca",
        &ca,
        "jetstream",
        "setup",
    ]
    .map(String::from);
    assert_eq!(kanade_cli::main_with(again).await, 0);

    let status = kanade_on(&server, &["jetstream", "status"]).await;
    assert_eq!(status.code, 0, "{status:?}");
    let lines: Vec<&str> = status.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        [
            "STREAM",
            "SUBJECTS",
            "MESSAGES",
            "BYTES",
            "CONSUMERS",
            "REPLICAS",
            "LEADER",
            "FOLLOWERS",
            "(LAG)"
        ]
    );
    // A single server: one copy, led by that server, no followers.
    let exec: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(
        exec[..7],
        ["EXEC", "commands.>", "0", "0", "B", "0", "1"],
        "{}",
        lines[1]
    );
    assert_eq!(exec.last(), Some(&"-"), "{}", lines[1]);
    // Streams, then every KV bucket and object store.
    let names = kanade_protocol::names::STREAMS.len()
        + kanade_protocol::names::KV_BUCKETS.len()
        + kanade_protocol::names::OBJECT_STORES.len();
    assert_eq!(lines.len(), 1 + names);
    assert!(status.stdout.contains("KV_jobs"), "{}", status.stdout);
    assert!(
        status.stdout.contains("OBJ_result_output"),
        "{}",
        status.stdout
    );

    let json = kanade_on(&server, &["--json", "jetstream", "status"]).await;
    let streams: Vec<kanade_protocol::api::StreamStatus> =
        serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(streams[0].name, "EXEC");
}

#[tokio::test]
async fn an_unreachable_broker_is_a_failure_not_bad_input() {
    let port = kanade_testkit::free_port();
    let url = format!("nats://127.0.0.1:{port}");
    let out = kanade(&["--nats-url", &url, "jetstream", "status"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with(&format!("error: connecting to NATS at {url}")),
        "{}",
        out.stderr
    );
}
