//! Start-up against a broker with too little storage: `/health` answers at once, `degraded`
//! with the reason and what to change, the API says it is starting, and the backend becomes
//! healthy by itself once the broker has room.

use std::time::Duration;

use kanade_backend::BackendConfig;
use kanade_protocol::api::{ErrorBody, Health};
use kanade_testkit::NatsServer;
use reqwest::StatusCode;

use crate::support::{ADMIN_PASSWORD, wait_for};

async fn health(http: &reqwest::Client, base: &str) -> Option<(StatusCode, Health)> {
    let resp = http.get(format!("{base}/health")).send().await.ok()?;
    let status = resp.status();
    Some((status, resp.json().await.ok()?))
}

#[tokio::test]
async fn health_explains_a_broker_without_room_and_recovers_when_it_has_some() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut nats = NatsServer::start_with_file_store(1 << 20);
    let dir = tempfile::tempdir().unwrap();
    let mut config = BackendConfig::default();
    crate::support::use_broker(&mut config, &nats);
    config.db.sqlite_path = dir.path().join("backend.db");
    config.secrets.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(kanade_backend::serve(
        config,
        listener,
        std::future::pending(),
    ));
    let http = reqwest::Client::new();

    wait_for(
        "/health to explain the storage problem",
        Duration::from_secs(30),
        || async { matches!(health(&http, &base).await, Some((_, h)) if h.status == "degraded") },
    )
    .await;
    let (status, h) = health(&http, &base).await.unwrap();
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let reason = h.reason.clone().unwrap_or_default();
    assert!(reason.contains("stream"), "{reason}");
    assert!(
        reason.contains("max_file_store"),
        "says what to change: {reason}"
    );
    assert!(h.db && h.nats, "{h:?}");
    let resp = http.get(format!("{base}/api/jobs")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.json::<ErrorBody>().await.unwrap().error.code,
        "starting"
    );

    nats.set_file_store(Some(kanade_testkit::nats::TEST_FILE_STORE));
    wait_for(
        "the backend to become healthy",
        Duration::from_secs(60),
        || async {
            matches!(health(&http, &base).await, Some((StatusCode::OK, h)) if h.status == "ok")
        },
    )
    .await;
    assert!(health(&http, &base).await.unwrap().1.reason.is_none());
    task.abort();
}
