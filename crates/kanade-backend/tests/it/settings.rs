//! Server settings (`GET`/`PUT /api/settings`, KV `server_settings`): viewers read, only admins
//! write; a bad value is 422 naming the setting and changes nothing; every write is audited;
//! and each setting takes effect where it should (sign-in lifetime, the ages of the
//! result_output and collections stores, pruning of silent machines); backend.toml's
//! `[retention] terminal_transcripts` is the terminal_transcripts store's age.

use std::time::Duration;

use kanade_protocol::api::{ErrorBody, LoginResponse};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::names;
use kanade_protocol::settings::SettingsView;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ADMIN_PASSWORD, TestBackend, wait_for};

fn value(view: &SettingsView, key: &str) -> (Option<u32>, Option<u32>) {
    let row = view.settings.iter().find(|r| r.key == key).unwrap();
    (row.value, row.effective)
}

async fn put(
    client: &reqwest::Client,
    b: &TestBackend,
    body: serde_json::Value,
) -> reqwest::Response {
    client
        .put(b.url("/api/settings"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn only_admins_change_settings_and_bad_values_name_the_setting() {
    let b = TestBackend::start().await;
    let viewer = b.account("vera", "viewer").await;
    let operator = b.account("otto", "operator").await;

    let resp = viewer.get(b.url("/api/settings")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let view: SettingsView = resp.json().await.unwrap();
    let configured = Some((b.config.auth.session_ttl.0.as_secs() / 3600) as u32);
    assert_eq!(value(&view, "session_ttl_hours"), (None, configured));
    assert_eq!(
        value(&view, "result_output_retention_days"),
        (None, Some(30))
    );
    assert_eq!(value(&view, "agent_prune_days"), (None, None));

    for client in [&viewer, &operator] {
        let resp = put(client, &b, json!({"session_ttl_hours": 2})).await;
        assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    }

    let resp = put(
        &b.http,
        &b,
        json!({"session_ttl_hours": 2, "agent_prune_days": 0}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.field.as_deref(), Some("agent_prune_days"));
    assert!(
        err.error.message.contains("agent_prune_days"),
        "{}",
        err.error.message
    );
    let resp = put(&b.http, &b, json!({"colour": "blue"})).await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.field.as_deref(), Some("colour"));
    let view: SettingsView = b.get("/api/settings").await;
    assert_eq!(
        value(&view, "session_ttl_hours"),
        (None, configured),
        "nothing was written"
    );

    // The sign-in lifetime follows the setting.
    let resp = put(&b.http, &b, json!({"session_ttl_hours": 2})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let view: SettingsView = resp.json().await.unwrap();
    assert_eq!(value(&view, "session_ttl_hours"), (Some(2), Some(2)));
    let login: LoginResponse = b
        .anon
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let lasts = login.expires_at - chrono::Utc::now();
    assert!(
        lasts <= chrono::Duration::hours(2) && lasts > chrono::Duration::minutes(110),
        "{lasts}"
    );

    // Unset again: backend.toml's value is in force.
    let resp = put(&b.http, &b, json!({"session_ttl_hours": null})).await;
    let view: SettingsView = resp.json().await.unwrap();
    assert_eq!(value(&view, "session_ttl_hours"), (None, configured));

    wait_for(
        "the settings writes in the audit log",
        Duration::from_secs(10),
        || async {
            b.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'settings.set' AND actor = 'admin'",
            ) == 2
        },
    )
    .await;
}

#[tokio::test]
async fn output_retention_reaches_the_store_and_silent_machines_are_pruned() {
    let b = TestBackend::start_with(|config| {
        config.telemetry.housekeeping_interval = HumanDuration(Duration::from_millis(200));
    })
    .await;
    let resp = put(&b.http, &b, json!({"result_output_retention_days": 7})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream =
        b.js.get_stream(format!("OBJ_{}", names::OBJ_RESULT_OUTPUT))
            .await
            .unwrap();
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_age, Duration::from_secs(7 * 24 * 3600));

    // A restart keeps the setting in force (start-up resets the store to its spec first).
    let mut b = b;
    b.kill().await;
    b.boot().await;
    let info = stream.info().await.unwrap();
    assert_eq!(info.config.max_age, Duration::from_secs(7 * 24 * 3600));

    // Two machines: one silent for 40 days, one heard from now.
    let conn = rusqlite::Connection::open(b.db_path()).unwrap();
    let old = (chrono::Utc::now() - chrono::Duration::days(40)).to_rfc3339();
    let now = chrono::Utc::now().to_rfc3339();
    for (pc, at) in [("silent-pc", &old), ("live-pc", &now)] {
        conn.execute(
            "INSERT INTO agents (pc_id, first_seen, last_heartbeat, updated_at) VALUES (?1, ?2, ?2, ?2)",
            [pc, at.as_str()],
        )
        .unwrap();
    }
    let resp = put(&b.http, &b, json!({"agent_prune_days": 30})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    wait_for(
        "the silent machine pruned",
        Duration::from_secs(10),
        || async { b.query_i64("SELECT COUNT(*) FROM agents WHERE pc_id = 'silent-pc'") == 0 },
    )
    .await;
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM agents WHERE pc_id = 'live-pc'"),
        1
    );
}

const DAY: u64 = 24 * 3600;

/// The age the broker keeps an object store's objects for (its backing stream's max_age).
async fn store_age(b: &TestBackend, store: &str) -> Duration {
    let mut stream = b.js.get_stream(format!("OBJ_{store}")).await.unwrap();
    stream.info().await.unwrap().config.max_age
}

#[tokio::test]
async fn collect_retention_reaches_the_collections_store_on_save_at_start_and_when_unset() {
    let mut b = TestBackend::start().await;
    assert_eq!(
        store_age(&b, names::OBJ_COLLECTIONS).await,
        Duration::from_secs(30 * DAY),
        "the default"
    );

    let resp = put(&b.http, &b, json!({"collect_retention_days": 3})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        store_age(&b, names::OBJ_COLLECTIONS).await,
        Duration::from_secs(3 * DAY)
    );
    assert_eq!(
        store_age(&b, names::OBJ_RESULT_OUTPUT).await,
        Duration::from_secs(30 * DAY),
        "the other store keeps its own age"
    );

    // A refused value changes nothing on the broker.
    let resp = put(&b.http, &b, json!({"collect_retention_days": 0})).await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        store_age(&b, names::OBJ_COLLECTIONS).await,
        Duration::from_secs(3 * DAY)
    );

    // Start-up resets the store to its spec, then applies the setting again.
    b.kill().await;
    b.boot().await;
    assert_eq!(
        store_age(&b, names::OBJ_COLLECTIONS).await,
        Duration::from_secs(3 * DAY)
    );

    // Unset: back to the default.
    let resp = put(&b.http, &b, json!({"collect_retention_days": null})).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        store_age(&b, names::OBJ_COLLECTIONS).await,
        Duration::from_secs(30 * DAY)
    );
}

#[tokio::test]
async fn transcript_retention_from_backend_toml_reaches_the_store_at_each_start() {
    let mut b = TestBackend::start_with(|config| {
        config.retention.terminal_transcripts = HumanDuration(Duration::from_secs(2 * DAY));
    })
    .await;
    assert_eq!(
        store_age(&b, names::OBJ_TERMINAL_TRANSCRIPTS).await,
        Duration::from_secs(2 * DAY)
    );

    // backend.toml changes take effect at the next start.
    b.kill().await;
    b.config.retention.terminal_transcripts = HumanDuration(Duration::from_secs(45 * DAY));
    b.boot().await;
    assert_eq!(
        store_age(&b, names::OBJ_TERMINAL_TRANSCRIPTS).await,
        Duration::from_secs(45 * DAY)
    );
}
