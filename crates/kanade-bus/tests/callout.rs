//! nats-server's auth callout answered with `kanade_bus::natsjwt` against a real server: a
//! client that proves its nkey gets exactly the subjects granted to it, the server enforces
//! them (a publish or subscription outside them never reaches anyone), and a client that
//! proves nothing is refused.

use std::time::Duration;

use futures::StreamExt;
use kanade_bus::natsjwt::{self, AuthRequest, Grant, Permissions};
use kanade_testkit::{NatsOptions, NatsServer};
use nkeys::KeyPair;

/// The backend is an nkey user: with one nkey user configured, the server hands every client a
/// nonce to sign, which is how a machine proves its key to the callout.
fn server(issuer: &KeyPair, backend: &KeyPair) -> NatsServer {
    NatsServer::start_with(NatsOptions {
        config: Some(format!(
            r#"
accounts {{
  KANADE {{ jetstream: enabled, users: [ {{ nkey: "{backend}" }} ] }}
}}
authorization {{
  timeout: 3
  auth_callout {{
    issuer: "{issuer}"
    auth_users: [ "{backend}" ]
    account: KANADE
  }}
}}
"#,
            issuer = issuer.public_key(),
            backend = backend.public_key(),
        )),
        ..NatsOptions::default()
    })
}

/// `options` pinned to the test broker's CA: TLS only, nothing else trusted.
fn pinned(options: async_nats::ConnectOptions, server: &NatsServer) -> async_nats::ConnectOptions {
    options
        .add_root_certificates(server.ca_file().expect("the test broker serves TLS"))
        .require_tls(true)
}

async fn backend(server: &NatsServer, key: &KeyPair) -> async_nats::Client {
    pinned(
        async_nats::ConnectOptions::with_nkey(key.seed().unwrap()),
        server,
    )
    .connect(server.url())
    .await
    .unwrap()
}

/// Answers every request: an nkey that signed the nonce gets `heartbeat.<pc>` to publish and
/// `commands.pc.<pc>` + its own inbox to subscribe; anything else is refused.
fn answer_callouts(client: async_nats::Client, issuer: KeyPair) -> Seen {
    let seen = Seen::default();
    let record = seen.clone();
    tokio::spawn(async move {
        let mut requests = client
            .subscribe(natsjwt::AUTH_CALLOUT_SUBJECT)
            .await
            .unwrap();
        while let Some(msg) = requests.next().await {
            let request = AuthRequest::decode(&msg.payload).unwrap();
            record.lock().unwrap().push(request.clone());
            let pc = request
                .name
                .strip_prefix("kanade-agent/")
                .unwrap_or("")
                .to_owned();
            let grant = Grant {
                account: "KANADE".into(),
                name: format!("agent/{pc}"),
                permissions: Permissions {
                    publish: vec![format!("heartbeat.{pc}")],
                    subscribe: vec![format!("commands.pc.{pc}"), format!("_INBOX_{pc}.>")],
                    responses: false,
                },
                expires: chrono::Utc::now() + chrono::Duration::minutes(10),
            };
            let answer = match request.client_nkey.is_some() && request.nonce_verified {
                true => Ok(&grant),
                false => Err("prove a machine key"),
            };
            let reply = natsjwt::respond(&request, answer, &issuer).unwrap();
            client
                .publish(msg.reply.unwrap(), reply.into())
                .await
                .unwrap();
        }
    });
    seen
}

/// Every request the callout was asked.
type Seen = std::sync::Arc<std::sync::Mutex<Vec<AuthRequest>>>;

type Events = tokio::sync::mpsc::UnboundedReceiver<String>;

/// An agent-like connection and the server errors it is told about (permission violations).
async fn agent(
    server: &NatsServer,
    pc: &str,
    key: &KeyPair,
) -> anyhow::Result<(async_nats::Client, Events)> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let client = pinned(async_nats::ConnectOptions::new(), server)
        .nkey(key.seed().unwrap())
        .name(format!("kanade-agent/{pc}"))
        .custom_inbox_prefix(format!("_INBOX_{pc}"))
        .event_callback(move |event| {
            let tx = tx.clone();
            async move {
                if let async_nats::Event::ServerError(err) = event {
                    let _ = tx.send(err.to_string());
                }
            }
        })
        .connect(server.url())
        .await?;
    Ok((client, rx))
}

/// Waits for the server to report a violation naming `subject`: proof that it has processed
/// the operation (and refused it) before the test goes on.
async fn violation(events: &mut Events, subject: &str) {
    let wanted = format!("\"{subject}\"");
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(err) = events.recv().await {
            if err.contains("Permissions Violation") && err.contains(&wanted) {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no permissions violation for {subject}"));
}

/// Publishes until `sub` sees it: two connections' operations are not ordered with each other,
/// so a subscription made on one may reach the server after a publish made on the other.
async fn eventually_receives(
    publisher: &async_nats::Client,
    subject: &str,
    sub: &mut async_nats::Subscriber,
) -> async_nats::Message {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while tokio::time::Instant::now() < deadline {
        publisher
            .publish(subject.to_owned(), "ping".into())
            .await
            .unwrap();
        publisher.flush().await.unwrap();
        if let Ok(Some(msg)) = tokio::time::timeout(Duration::from_millis(200), sub.next()).await {
            return msg;
        }
    }
    panic!("{subject} never arrived");
}

async fn nothing_arrives(sub: &mut async_nats::Subscriber) -> bool {
    tokio::time::timeout(Duration::from_millis(300), sub.next())
        .await
        .is_err()
}

#[tokio::test]
async fn granted_subjects_are_all_a_machine_reaches() {
    let (issuer, backend_key) = (KeyPair::new_account(), KeyPair::new_user());
    let server = server(&issuer, &backend_key);
    let backend = backend(&server, &backend_key).await;
    let _callout = answer_callouts(backend.clone(), issuer);
    let (pc1, mut events) = agent(&server, "pc1", &KeyPair::new_user()).await.unwrap();

    // Allowed: its own heartbeat subject reaches the backend.
    let mut heartbeats = backend.subscribe("heartbeat.>").await.unwrap();
    let mut commands = backend.subscribe("commands.>").await.unwrap();
    let got = eventually_receives(&pc1, "heartbeat.pc1", &mut heartbeats).await;
    assert_eq!(got.subject.as_str(), "heartbeat.pc1");
    while tokio::time::timeout(Duration::from_millis(100), heartbeats.next())
        .await
        .is_ok()
    {}

    // Refused by the server: another machine's heartbeat, and any command.
    pc1.publish("heartbeat.pc2", "forged".into()).await.unwrap();
    pc1.publish("commands.all", "rm -rf /".into())
        .await
        .unwrap();
    pc1.flush().await.unwrap();
    violation(&mut events, "heartbeat.pc2").await;
    violation(&mut events, "commands.all").await;
    assert!(
        nothing_arrives(&mut heartbeats).await,
        "a forged heartbeat got through"
    );
    assert!(
        nothing_arrives(&mut commands).await,
        "a machine published a command"
    );

    // Its own commands arrive; another machine's subscription is refused.
    let mut own = pc1.subscribe("commands.pc.pc1").await.unwrap();
    let got = eventually_receives(&backend, "commands.pc.pc1", &mut own).await;
    assert_eq!(got.subject.as_str(), "commands.pc.pc1");
    let mut other = pc1.subscribe("commands.pc.pc2").await.unwrap();
    pc1.flush().await.unwrap();
    violation(&mut events, "commands.pc.pc2").await;
    backend
        .publish("commands.pc.pc2", "theirs".into())
        .await
        .unwrap();
    backend.flush().await.unwrap();
    assert!(
        nothing_arrives(&mut other).await,
        "read another machine's commands"
    );
}

#[tokio::test]
async fn a_client_that_proves_no_key_is_refused() {
    let (issuer, backend_key) = (KeyPair::new_account(), KeyPair::new_user());
    let server = server(&issuer, &backend_key);
    let backend = backend(&server, &backend_key).await;
    let seen = answer_callouts(backend.clone(), issuer);

    let err = pinned(async_nats::ConnectOptions::new(), &server)
        .name("kanade-agent/pc1")
        .connect(server.url())
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("authorization"),
        "{err}"
    );

    let err = pinned(
        async_nats::ConnectOptions::with_token("guess".into()),
        &server,
    )
    .connect(server.url())
    .await
    .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("authorization"),
        "{err}"
    );
    // The callout saw what each client presented.
    let seen = seen.lock().unwrap();
    let first = seen.iter().find(|r| r.name == "kanade-agent/pc1").unwrap();
    assert_eq!(
        (first.client_nkey.as_deref(), first.nonce_verified),
        (None, false)
    );
    assert!(
        seen.iter().any(|r| r.token.as_deref() == Some("guess")),
        "{seen:?}"
    );
}

#[tokio::test]
async fn a_grant_signed_by_another_issuer_is_refused() {
    let (issuer, backend_key) = (KeyPair::new_account(), KeyPair::new_user());
    let server = server(&issuer, &backend_key);
    let backend = backend(&server, &backend_key).await;
    // An attacker who can answer callouts but holds no issuer seed of ours.
    let _callout = answer_callouts(backend.clone(), KeyPair::new_account());
    let err = agent(&server, "pc1", &KeyPair::new_user())
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string().to_lowercase().contains("authorization"),
        "{err}"
    );
}
