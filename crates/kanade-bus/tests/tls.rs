//! TLS against a real nats-server that serves TLS only: a client pinning the broker's CA gets
//! in and JetStream works over it; clear text, a client pinning another CA, and a missing CA
//! file are refused with errors that say so. A pinned client never falls back to a broker that
//! speaks clear text.

use std::time::Duration;

use kanade_bus::{Access, Role, connect, connect_with, ensure_resources};
use kanade_testkit::NatsServer;

#[tokio::test]
async fn a_client_pinning_the_brokers_ca_gets_in_and_nothing_else_does() {
    let server = NatsServer::start();
    let ca = server.ca_file().expect("a TLS server has a CA");
    assert!(server.url().starts_with("tls://"), "{}", server.url());

    let client = connect_with(Role::Cli, &server.url(), &Access::pinned(&ca))
        .await
        .unwrap();
    assert!(client.server_info().tls_required, "the broker demands TLS");
    let js = async_nats::jetstream::new(client.clone());
    ensure_resources(&js).await.unwrap();
    let mut sub = client.subscribe("tls.check").await.unwrap();
    client
        .publish("tls.check", "over tls".into())
        .await
        .unwrap();
    let msg = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut sub))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&msg.payload[..], b"over tls");

    // Pinning also works with a nats:// URL: the client upgrades and still verifies.
    let plain_scheme = server.url().replacen("tls://", "nats://", 1);
    connect_with(Role::Cli, &plain_scheme, &Access::pinned(&ca))
        .await
        .unwrap();
}

#[tokio::test]
async fn clear_text_and_a_foreign_ca_are_refused() {
    let server = NatsServer::start();
    let plain_scheme = server.url().replacen("tls://", "nats://", 1);
    let err = connect(Role::Cli, &plain_scheme).await.unwrap_err();
    assert!(format!("{err:#}").contains("connecting to NATS"), "{err:#}");

    // Another CA, e.g. the one of a broker an attacker runs: its certificate is not ours.
    let other = NatsServer::start();
    let foreign = other.ca_file().unwrap();
    let err = connect_with(Role::Cli, &server.url(), &Access::pinned(&foreign))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("connecting to NATS"), "{err:#}");

    assert!(
        format!("{err:#}").contains("not issued by the pinned CA"),
        "{err:#}"
    );

    // The system's roots do not know a local CA either; the error says what to do.
    let err = connect(Role::Cli, &server.url()).await.unwrap_err();
    assert!(format!("{err:#}").contains("KANADE_NATS_CA"), "{err:#}");
}

#[tokio::test]
async fn a_missing_ca_file_is_named() {
    let server = NatsServer::start();
    let missing = server.store_dir().join("no-such-ca.pem");
    let err = connect_with(
        Role::Agent {
            pc_id: "pc1".into(),
        },
        &server.url(),
        &Access::pinned(&missing),
    )
    .await
    .unwrap_err();
    let text = format!("{err:#}");
    assert!(text.contains("no-such-ca.pem"), "{text}");
    assert!(text.contains("CA certificate"), "{text}");
}

/// The one test here on a clear-text broker (`start_plain`), because clear text is what it is
/// about: a client that names a CA refuses a broker that does not offer TLS, rather than
/// talking to it unencrypted.
#[tokio::test]
async fn a_pinned_client_refuses_a_clear_text_broker() {
    let tls = NatsServer::start();
    let ca = tls.ca_file().unwrap();
    let plain = NatsServer::start_plain();
    assert!(plain.url().starts_with("nats://"), "{}", plain.url());
    assert_eq!(plain.ca_file(), None);
    let err = connect_with(Role::Cli, &plain.url(), &Access::pinned(&ca))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("connecting to NATS"), "{err:#}");
}
