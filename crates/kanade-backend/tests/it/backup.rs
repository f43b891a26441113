//! `backup` and `restore`: a backup taken while the backend runs, restored into a new broker
//! and a new database, brings back every job, schedule, account and result.

use std::time::Duration;

use kanade_backend::BackendConfig;
use kanade_protocol::api::ExecResponse;
use kanade_protocol::subject;
use kanade_testkit::NatsServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{HELLO, TestBackend, connect, publish, result_for, use_broker, wait_for};

const NIGHTLY: &str =
    "id: nightly\njob_id: hello\nwhen: {cron: '0 3 * * *'}\ntarget: {all: true}\n";

async fn publish_results(b: &TestBackend, fired: &ExecResponse) {
    for pc in ["pc1", "pc2"] {
        let r = result_for(fired, pc, i32::from(pc == "pc2"));
        publish(b, subject::results(&fired.request_id), &r).await;
    }
}

async fn get(client: &reqwest::Client, b: &TestBackend, path: &str) -> Value {
    let resp = client.get(b.url(path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "GET {path}");
    resp.json().await.unwrap()
}

#[tokio::test]
async fn a_backup_restores_into_an_empty_broker_and_database() {
    let b = TestBackend::start().await;
    b.account("vera", "viewer").await;
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let resp = b
        .http
        .post(b.url("/api/schedules"))
        .body(NIGHTLY)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.text().await.unwrap());
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&json!({"target": {"pcs": ["pc1", "pc2"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let fired: ExecResponse = resp.json().await.unwrap();
    publish_results(&b, &fired).await;
    wait_for("projection", Duration::from_secs(15), || async {
        b.query_i64("SELECT COUNT(*) FROM execution_results") == 2
    })
    .await;

    // Online: the backend keeps running while the backup is written.
    let saved = tempfile::tempdir().unwrap();
    let dir = saved.path().join("backup-1");
    let manifest = kanade_backend::backup::backup(&b.config, &dir)
        .await
        .unwrap();
    assert!(manifest.schema.is_some());
    assert!(
        manifest.files.iter().any(|f| f == "jwt-secret"),
        "{:?}",
        manifest.files
    );
    assert!(
        manifest
            .streams
            .iter()
            .any(|s| s.name == "KV_jobs" && s.messages >= 1),
        "{:?}",
        manifest.streams
    );
    let again = kanade_backend::backup::backup(&b.config, &dir).await;
    assert!(
        format!("{:#}", again.unwrap_err()).contains("not empty"),
        "a backup never mixes into another"
    );

    // A new machine: an empty broker and an empty data folder.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = NatsServer::start();
    let data = tempfile::tempdir().unwrap();
    let mut config = BackendConfig::default();
    use_broker(&mut config, &nats);
    config.db.sqlite_path = data.path().join("backend.db");
    let done = kanade_backend::backup::restore(&config, &dir, false)
        .await
        .unwrap();
    assert_eq!(done.accounts, Some(2));
    assert!(done.messages > 0);
    assert_eq!(
        std::fs::read(data.path().join("jwt-secret")).unwrap(),
        std::fs::read(b.config.data_dir().join("jwt-secret")).unwrap(),
        "the session key is the same, so sessions stay valid"
    );
    let twice = kanade_backend::backup::restore(&config, &dir, false).await;
    assert!(
        format!("{:#}", twice.unwrap_err()).contains("already exists with accounts"),
        "a restore refuses a database in use"
    );
    let twice = kanade_backend::backup::restore(&config, &dir, true).await;
    assert!(
        format!("{:#}", twice.unwrap_err()).contains("restore wants an empty broker"),
        "a restore refuses a broker in use"
    );

    config.secrets.bootstrap_admin_password = b.config.secrets.bootstrap_admin_password.clone();
    let js = async_nats::jetstream::new(connect(&nats).await);
    let restored = TestBackend::with_config(nats, data, js, config).await;
    wait_for("results replayed", Duration::from_secs(20), || async {
        restored.query_i64("SELECT COUNT(*) FROM execution_results") == 2
    })
    .await;
    let jobs = get(&restored.http, &restored, "/api/jobs").await;
    assert!(jobs.to_string().contains("\"hello\""), "{jobs}");
    let schedules = get(&restored.http, &restored, "/api/schedules").await;
    assert!(schedules.to_string().contains("\"nightly\""), "{schedules}");
    let detail = get(
        &restored.http,
        &restored,
        &format!("/api/executions/{}", fired.exec_id),
    )
    .await;
    assert_eq!(detail["status"], "completed", "{detail}");
    assert_eq!(detail["failure_count"], 1, "{detail}");
    let vera = restored.login("vera", "vera-second-password").await;
    assert!(!vera.is_empty(), "vera signs in with her own password");
}
