//! Command signing through the real router and broker: every published command carries a
//! signature for its own subject by a key in `command_keys`; rotate, add and retire keys
//! (admin, audited); the break-glass sign route; heartbeats' signing fields in the agents API.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::Utc;
use kanade_protocol::api::{AgentRow, CommandKeyRow, ErrorBody, ExecResponse, SignCommandResponse};
use kanade_protocol::names;
use kanade_protocol::signing::{self, SigningKey};
use kanade_protocol::subject;
use kanade_protocol::wire::{Command, Heartbeat, Shell};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{HELLO, TestBackend, wait_for};

async fn keys(b: &TestBackend) -> Vec<CommandKeyRow> {
    b.get("/api/command-keys").await
}

fn keyset(rows: &[CommandKeyRow]) -> BTreeMap<String, String> {
    rows.iter()
        .map(|r| (r.key.key_id.clone(), r.key.public_key.clone()))
        .collect()
}

fn current(rows: &[CommandKeyRow]) -> String {
    let current: Vec<_> = rows.iter().filter(|r| r.current).collect();
    assert_eq!(current.len(), 1, "{rows:#?}");
    current[0].key.key_id.clone()
}

async fn exec_hello(b: &TestBackend, target: serde_json::Value) -> ExecResponse {
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&json!({ "target": target, "allow_unknown": true }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    resp.json().await.unwrap()
}

async fn stored_command(b: &TestBackend, subject: &str) -> Command {
    let stream = b.js.get_stream(names::STREAM_EXEC).await.unwrap();
    let msg = stream
        .get_last_raw_message_by_subject(subject)
        .await
        .unwrap();
    serde_json::from_slice(&msg.payload).unwrap()
}

async fn audited(b: &TestBackend, action: &str) {
    let sql = format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'");
    wait_for(action, Duration::from_secs(10), || async {
        b.query_i64(&sql) >= 1
    })
    .await;
}

fn sample() -> Command {
    Command {
        id: "_adhoc".into(),
        version: "0".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        exec_id: uuid::Uuid::new_v4().to_string(),
        shell: Shell::Sh,
        script: "echo hi".into(),
        timeout_secs: 10,
        jitter_secs: None,
        deadline_at: None,
        cwd: None,
        run_as: None,
        staleness: None,
        emit: None,
        emergency: true,
        issued_at: Utc::now(),
        issued_by: Some("kanade-cli".into()),
        retry: None,
        collect: None,
        finalize: None,
        signature: None,
    }
}

#[tokio::test]
async fn each_published_command_is_signed_for_its_own_subject() {
    let b = TestBackend::start().await;
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let rows = keys(&b).await;
    assert_eq!(
        rows.len(),
        1,
        "a key is created and published at first start"
    );
    let fired = exec_hello(&b, json!({"pcs": ["pc-a"], "groups": ["lab"]})).await;
    for subject in &fired.subjects {
        let cmd = stored_command(&b, subject).await;
        let signed_by = signing::verify(
            &cmd,
            subject,
            &keyset(&rows),
            Utc::now(),
            signing::DEFAULT_MAX_AGE,
        );
        assert_eq!(signed_by, Ok(current(&rows)), "{subject}");
        let elsewhere = signing::verify(
            &cmd,
            "commands.all",
            &keyset(&rows),
            Utc::now(),
            signing::DEFAULT_MAX_AGE,
        );
        assert!(elsewhere.is_err(), "{subject} replayed to commands.all");
    }
}

#[tokio::test]
async fn rotation_switches_signing_keeps_the_old_key_until_retired_and_survives_restart() {
    let mut b = TestBackend::start().await;
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    let old = current(&keys(&b).await);

    let resp = b
        .http
        .post(b.url("/api/command-keys/rotate"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let rotated: CommandKeyRow = resp.json().await.unwrap();
    assert!(rotated.current && rotated.key.key_id != old);
    let rows = keys(&b).await;
    assert_eq!(rows.len(), 2, "both keys are trusted during the switch");
    assert_eq!(current(&rows), rotated.key.key_id);
    audited(&b, "command_keys.rotate").await;

    let fired = exec_hello(&b, json!({"pcs": ["pc-r"]})).await;
    let cmd = stored_command(&b, &fired.subjects[0]).await;
    assert_eq!(cmd.signature.unwrap().key_id, rotated.key.key_id);

    // The current key cannot be retired; an unknown one is a 404; neither changes anything.
    let path = format!("/api/command-keys/{}", rotated.key.key_id);
    let resp = b.http.delete(b.url(&path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    let resp = b
        .http
        .delete(b.url("/api/command-keys/k0000"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(keys(&b).await.len(), 2);

    let resp = b
        .http
        .delete(b.url(&format!("/api/command-keys/{old}")))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    audited(&b, "command_keys.retire").await;
    let rows = keys(&b).await;
    assert_eq!(rows.len(), 1);

    // The seed was stored: a restart signs with the rotated key and does not bring back the old.
    b.kill().await;
    b.boot().await;
    let rows = keys(&b).await;
    assert_eq!(
        (rows.len(), current(&rows)),
        (1, rotated.key.key_id.clone())
    );
}

#[tokio::test]
async fn the_sign_route_signs_for_the_named_subject_and_refuses_bad_requests() {
    let b = TestBackend::start().await;
    let operator = b.account("otto", "operator").await;
    let cmd = sample();
    let resp = operator
        .post(b.url("/api/commands/sign"))
        .json(&json!({"command": cmd, "target": "commands.pc.pc-1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let signed: SignCommandResponse = resp.json().await.unwrap();
    let rows = keys(&b).await;
    let check = |subject: &str| {
        signing::verify(
            &signed.command,
            subject,
            &keyset(&rows),
            Utc::now(),
            signing::DEFAULT_MAX_AGE,
        )
    };
    assert!(check("commands.pc.pc-1").is_ok());
    assert!(check("commands.pc.pc-2").is_err());
    audited(&b, "command.sign").await;

    for (body, status, field) in [
        (
            json!({"command": cmd, "target": "commands.>"}),
            422,
            Some("target"),
        ),
        (
            json!({"command": cmd, "target": "results.x"}),
            422,
            Some("target"),
        ),
        (
            json!({"command": {"request_id": "a.b"}, "target": "commands.all"}),
            400,
            Some("command"),
        ),
        (
            json!({"command": cmd, "target": "commands.all", "extra": 1}),
            400,
            Some("extra"),
        ),
    ] {
        let resp = operator
            .post(b.url("/api/commands/sign"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), status, "{body}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert_eq!(err.error.field.as_deref(), field, "{body}");
    }
    let mut bad_id = cmd.clone();
    bad_id.request_id = "a.>".into();
    let resp = operator
        .post(b.url("/api/commands/sign"))
        .json(&json!({"command": bad_id, "target": "commands.all"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.field.as_deref(), Some("command.request_id"));
}

#[tokio::test]
async fn a_break_glass_public_key_can_be_trusted_and_bad_ones_are_refused() {
    let b = TestBackend::start().await;
    let key = SigningKey::generate();
    let resp = b
        .http
        .post(b.url("/api/command-keys"))
        .json(&json!({"public_key": key.public_key()}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let row: CommandKeyRow = resp.json().await.unwrap();
    assert_eq!(
        (row.key.key_id.as_str(), row.current),
        (key.key_id(), false)
    );
    audited(&b, "command_keys.add").await;
    for bad in [key.seed(), "hello".to_owned(), String::new()] {
        let resp = b
            .http
            .post(b.url("/api/command-keys"))
            .json(&json!({"public_key": bad}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let err: ErrorBody = resp.json().await.unwrap();
        assert_eq!(err.error.field.as_deref(), Some("public_key"));
        assert!(!err.error.message.contains(&key.seed()));
    }
    assert_eq!(keys(&b).await.len(), 2);
}

#[tokio::test]
async fn heartbeats_signing_fields_reach_the_agents_api() {
    let b = TestBackend::start().await;
    let nats = b.nats_client().await;
    for (pc, keys, enforcing) in [
        (
            "pc-new",
            Some(vec!["k1".to_owned(), "k2".to_owned()]),
            Some(false),
        ),
        ("pc-old", None, None),
    ] {
        let hb = Heartbeat {
            pc_id: pc.to_owned(),
            at: Utc::now(),
            agent_version: "0.1.0".into(),
            hostname: format!("{pc}.lan"),
            os_family: "linux".into(),
            os_version: "12".into(),
            agent_cpu_pct: None,
            agent_rss_bytes: None,
            quarantined_versions: vec![],
            command_keys: keys,
            enforcing,
            ..Default::default()
        };
        nats.publish(
            subject::heartbeat(pc),
            serde_json::to_vec(&hb).unwrap().into(),
        )
        .await
        .unwrap();
    }
    nats.flush().await.unwrap();
    wait_for("two agents", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM agents") == 2
    })
    .await;
    let new: AgentRow = b.get("/api/agents/pc-new").await;
    assert_eq!(
        new.command_keys,
        Some(vec!["k1".to_owned(), "k2".to_owned()])
    );
    assert_eq!(new.enforcing, Some(false));
    let old: AgentRow = b.get("/api/agents/pc-old").await;
    assert_eq!((old.command_keys, old.enforcing), (None, None));
}
