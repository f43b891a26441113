//! `break_glass_run`, `kanade run` and `kanade kill` against a real nats-server, with a responder
//! task playing the agent on `commands.pc.<pc>`: it answers on `results.<request_id>` after a
//! stray message. Both commands leave an audit event in stream `AUDIT`.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use chrono::Utc;
use futures::StreamExt;
use kanade_bus::ensure_resources;
use kanade_protocol::manifest::Shell;
use kanade_protocol::signing::{self, SigningKey};
use kanade_protocol::wire::{AuditEvent, Command, ExecResult};
use kanade_protocol::{names, subject};
use kanade_testkit::NatsServer;

use crate::support::{connect, kanade_on};

/// A broker with kanade's streams, and a responder for `pc` running until the test ends.
async fn broker_with_responder(pc: &str) -> (NatsServer, async_nats::Client) {
    let server = NatsServer::start();
    let client = connect(&server).await;
    ensure_resources(&jetstream::new(client.clone()))
        .await
        .unwrap();
    let mut commands = client.subscribe(subject::commands_pc(pc)).await.unwrap();
    client.flush().await.unwrap();
    let responder = client.clone();
    tokio::spawn(async move {
        while let Some(message) = commands.next().await {
            let command: Command = serde_json::from_slice(&message.payload).unwrap();
            let reply = subject::results(&command.request_id);
            responder
                .publish(reply.clone(), "not json".into())
                .await
                .unwrap();
            let result = answer(&command);
            let payload = serde_json::to_vec(&result).unwrap();
            responder.publish(reply, payload.into()).await.unwrap();
        }
    });
    (server, client)
}

/// The fake agent's behaviour: `skip` is refused as past its deadline, `fail` exits 3.
fn answer(command: &Command) -> ExecResult {
    let (exit_code, skipped) = match command.script.as_str() {
        s if s.contains("skip") => (names::exit_code::DEADLINE_PASSED, true),
        s if s.contains("fail") => (3, false),
        _ => (0, false),
    };
    ExecResult {
        result_id: uuid::Uuid::new_v4().to_string(),
        request_id: command.request_id.clone(),
        exec_id: command.exec_id.clone(),
        pc_id: "pc-1".to_owned(),
        job_id: command.id.clone(),
        version: command.version.clone(),
        exit_code,
        stdout: format!("ran {} with {}\n", command.script, command.shell.as_str()),
        stderr: if exit_code == 0 { "" } else { "oops\n" }.to_owned(),
        stdout_object: None,
        stderr_object: None,
        started_at: Utc::now(),
        finished_at: Utc::now(),
        skipped,
        schedule_id: None,
    }
}

#[tokio::test]
async fn returns_the_result_and_leaves_the_signed_command_in_exec() {
    let (_server, client) = broker_with_responder("pc-1").await;
    let key = SigningKey::generate();

    let result = kanade_cli::run::break_glass_run(
        &client,
        "pc-1",
        Shell::Bash,
        "uname -a",
        Duration::from_secs(10),
        Some(&key),
    )
    .await
    .unwrap();
    assert_eq!(result.exit_code, 0);
    assert_eq!(result.stdout, "ran uname -a with bash\n");
    assert_eq!(result.job_id, "_adhoc");

    let js = jetstream::new(client);
    let stored = js
        .get_stream(names::STREAM_EXEC)
        .await
        .unwrap()
        .get_last_raw_message_by_subject("commands.pc.pc-1")
        .await
        .unwrap();
    let command: Command = serde_json::from_slice(&stored.payload).unwrap();
    assert_eq!(command.request_id, result.request_id);
    assert_eq!(command.exec_id, result.exec_id);
    assert_eq!(
        (command.id.as_str(), command.version.as_str()),
        ("_adhoc", "0")
    );
    assert_eq!(command.issued_by.as_deref(), Some("kanade-cli"));
    assert_eq!(command.timeout_secs, 10);
    assert!(command.deadline_at.unwrap() > command.issued_at);
    let keys = std::collections::BTreeMap::from([(key.key_id().to_owned(), key.public_key())]);
    let now = Utc::now();
    let max_age = signing::DEFAULT_MAX_AGE;
    assert!(signing::verify(&command, "commands.pc.pc-1", &keys, now, max_age).is_ok());
    assert!(signing::verify(&command, "commands.all", &keys, now, max_age).is_err());
}

#[tokio::test]
async fn times_out_cleanly_without_a_responder() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    ensure_resources(&jetstream::new(client.clone()))
        .await
        .unwrap();

    let started = Instant::now();
    let err = kanade_cli::run::break_glass_run(
        &client,
        "pc-2",
        Shell::Sh,
        "true",
        Duration::from_secs(1),
        None,
    )
    .await
    .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(
        err.to_string(),
        "no result from pc-2 within 2s — is its agent running?"
    );
    assert!(
        elapsed >= Duration::from_secs(2) && elapsed < Duration::from_secs(30),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn without_streams_it_says_to_run_setup() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    let err = kanade_cli::run::break_glass_run(
        &client,
        "pc-3",
        Shell::Sh,
        "true",
        Duration::from_secs(1),
        None,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("run `kanade jetstream setup` first"),
        "{err:#}"
    );
}

/// A break-glass seed file (0600) as `kanade keys break-glass` writes it.
fn seed_file(dir: &std::path::Path) -> (String, SigningKey) {
    let key = SigningKey::generate();
    let path = dir.join("break-glass.seed");
    std::fs::write(&path, format!("{}\n", key.seed())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    (path.to_str().unwrap().to_owned(), key)
}

#[tokio::test]
async fn kanade_run_exits_with_the_script_exit_code() {
    let (server, _client) = broker_with_responder("pc-1").await;
    let dir = tempfile::tempdir().unwrap();
    let (seed, _key) = seed_file(dir.path());

    let ok = kanade_on(
        &server,
        &["run", "pc-1", "--signing-key", &seed, "--", "echo", "hi"],
    )
    .await;
    assert_eq!(
        (ok.code, ok.stdout.as_str(), ok.stderr.as_str()),
        (0, "ran echo hi with sh\n", "")
    );

    // Without a key and without a backend to sign, it goes out unsigned, with a warning.
    let unsigned = kanade_on(
        &server,
        &[
            "--backend-url",
            "http://127.0.0.1:1",
            "run",
            "pc-1",
            "--",
            "echo",
            "hi",
        ],
    )
    .await;
    assert_eq!(unsigned.code, 0, "{unsigned:?}");
    assert!(
        unsigned
            .stderr
            .contains("warning: sending the command unsigned"),
        "{unsigned:?}"
    );

    // A seed file others may read is bad input, and nothing is sent.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let exposed = kanade_on(
        &server,
        &["run", "pc-1", "--signing-key", &seed, "--", "true"],
    )
    .await;
    assert_eq!(exposed.code, 2, "{exposed:?}");
    assert!(exposed.stderr.contains("chmod 600"), "{exposed:?}");
    std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o600)).unwrap();

    let failed = kanade_on(
        &server,
        &["run", "pc-1", "--signing-key", &seed, "--", "fail"],
    )
    .await;
    assert_eq!(
        (failed.code, failed.stderr.as_str()),
        (3, "oops\n"),
        "{failed:?}"
    );

    let skipped = kanade_on(
        &server,
        &["run", "pc-1", "--signing-key", &seed, "--", "skip"],
    )
    .await;
    assert_eq!(skipped.code, 1, "{skipped:?}");
    assert!(
        skipped
            .stderr
            .contains("error: skipped: the deadline passed before it could start on pc-1"),
        "{}",
        skipped.stderr
    );

    let bad = kanade_on(&server, &["run", "pc.1.2.3.4", "--", "true"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr
            .contains("`pc.1.2.3.4` is not a valid machine id")
    );
}

/// The last audit event on `audit.<action>` in stream `AUDIT`.
async fn last_audit(client: &async_nats::Client, action: &str) -> AuditEvent {
    let stored = jetstream::new(client.clone())
        .get_stream(names::STREAM_AUDIT)
        .await
        .unwrap()
        .get_last_raw_message_by_subject(&subject::audit(action))
        .await
        .unwrap();
    serde_json::from_slice(&stored.payload).unwrap()
}

#[tokio::test]
async fn kanade_run_records_an_audit_event_without_the_script() {
    let (server, client) = broker_with_responder("pc-1").await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    let (seed, key) = seed_file(dir.path());

    let ok = kanade_on(
        &server,
        &[
            "--config-dir",
            folder,
            "run",
            "pc-1",
            "--signing-key",
            &seed,
            "--shell",
            "bash",
            "--timeout",
            "7s",
            "--",
            "echo first;\nexport PASS=hunter2-secret",
        ],
    )
    .await;
    assert_eq!(ok.code, 0, "{ok:?}");
    assert_eq!(ok.stderr, "", "{ok:?}");

    let event = last_audit(&client, "run").await;
    let os_user = kanade_cli::audit::os_user();
    assert_eq!(event.actor, format!("cli:{os_user}"));
    assert_eq!(event.action, "run");
    assert_eq!(event.target.as_deref(), Some("pc-1"));
    assert_eq!(event.client_addr, None);
    let command: Command = {
        let stored = jetstream::new(client.clone())
            .get_stream(names::STREAM_EXEC)
            .await
            .unwrap()
            .get_last_raw_message_by_subject("commands.pc.pc-1")
            .await
            .unwrap();
        serde_json::from_slice(&stored.payload).unwrap()
    };
    let p = &event.payload;
    assert_eq!(p["request_id"], command.request_id.as_str());
    assert_eq!(p["exec_id"], command.exec_id.as_str());
    assert_eq!(p["shell"], "bash");
    assert_eq!(p["timeout_secs"], 7);
    assert_eq!(p["script_bytes"], command.script.len());
    assert_eq!(p["script_first_line"], "echo first;");
    assert_eq!(p["os_user"], os_user.as_str());
    assert_eq!(event.occurred_at, command.issued_at);
    assert_eq!(command.signature.unwrap().key_id, key.key_id());
    let text = serde_json::to_string(&event).unwrap();
    assert!(!text.contains("hunter2-secret"), "{text}");

    // Signed in, the run is recorded under the account's name.
    kanade_cli::session::save(
        dir.path(),
        &kanade_cli::session::Session {
            backend_url: "http://127.0.0.1:1".into(),
            token: "t".into(),
            username: "alice".into(),
            expires_at: Utc::now() + chrono::TimeDelta::hours(1),
        },
    )
    .unwrap();
    let signed_in = kanade_on(
        &server,
        &[
            "--config-dir",
            folder,
            "run",
            "pc-1",
            "--signing-key",
            &seed,
            "--",
            "true",
        ],
    )
    .await;
    assert_eq!(signed_in.code, 0, "{signed_in:?}");
    assert_eq!(last_audit(&client, "run").await.actor, "alice");
}

#[tokio::test]
async fn kanade_kill_publishes_on_the_kill_subject_and_audits_it() {
    let server = NatsServer::start();
    let client = connect(&server).await;
    ensure_resources(&jetstream::new(client.clone()))
        .await
        .unwrap();
    let mut kills = client.subscribe(subject::kill("exec-42")).await.unwrap();
    client.flush().await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let out = kanade_on(
        &server,
        &[
            "--config-dir",
            dir.path().to_str().unwrap(),
            "kill",
            "exec-42",
        ],
    )
    .await;
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, "kill sent to every machine running exec-42\n", "")
    );
    let message = tokio::time::timeout(Duration::from_secs(30), kills.next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(message.subject.as_str(), "kill.exec-42");
    assert!(message.payload.is_empty());

    let event = last_audit(&client, "kill").await;
    assert_eq!(event.action, "kill");
    assert_eq!(event.target.as_deref(), Some("exec-42"));
    assert!(event.actor.starts_with("cli:"), "{}", event.actor);

    let bad = kanade_on(&server, &["kill", "exec.42"]).await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(bad.stderr.contains("`exec.42` is not a valid execution id"));
}

#[tokio::test]
async fn a_kill_the_audit_log_cannot_take_is_still_sent_with_a_warning() {
    // No streams at all: the kill (core NATS) goes out, the audit event has nowhere to go.
    let server = NatsServer::start();
    let client = connect(&server).await;
    let mut kills = client.subscribe(subject::kill("exec-7")).await.unwrap();
    client.flush().await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    let out = kanade_on(
        &server,
        &[
            "--config-dir",
            dir.path().to_str().unwrap(),
            "kill",
            "exec-7",
        ],
    )
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.stdout, "kill sent to every machine running exec-7\n");
    assert!(
        out.stderr.starts_with(
            "warning: the kill was sent but not recorded in the audit log: the broker has no stream for audit.kill"
        ),
        "{out:?}"
    );
    let message = tokio::time::timeout(Duration::from_secs(30), kills.next())
        .await
        .unwrap()
        .unwrap();
    assert!(message.payload.is_empty());
}
