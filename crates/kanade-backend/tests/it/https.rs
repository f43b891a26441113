//! HTTPS for the API and dashboard (`[server] tls_cert` + `tls_key`): served over TLS with the
//! certificate given, plain HTTP on that port gets nothing, and half a configuration or a key
//! that does not match is refused at start with the reason.

use std::time::Duration;

use kanade_backend::BackendConfig;
use kanade_testkit::NatsServer;

use crate::support::wait_for;

fn config(nats: &NatsServer, dir: &std::path::Path) -> BackendConfig {
    let mut config = BackendConfig::default();
    crate::support::use_broker(&mut config, nats);
    config.db.sqlite_path = dir.join("backend.db");
    config.secrets.bootstrap_admin_password = Some("https-admin-password".to_owned());
    config
}

#[tokio::test]
async fn the_api_is_served_over_https_with_the_configured_certificate() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let hosts = ["127.0.0.1".to_owned()];
    let (tls, _) = kanade_pki::ensure(&dir.path().join("tls"), &hosts).unwrap();
    let mut config = config(&nats, dir.path());
    config.server.tls_cert = Some(tls.server_cert.clone());
    config.server.tls_key = Some(tls.server_key.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let _backend = tokio::spawn(kanade_backend::serve(
        config,
        listener,
        std::future::pending(),
    ));

    let ca = reqwest::Certificate::from_pem(&std::fs::read(&tls.ca_cert).unwrap()).unwrap();
    let https = reqwest::Client::builder()
        .tls_certs_only([ca])
        .build()
        .unwrap();
    let base = format!("https://{addr}");
    wait_for("GET /health over HTTPS", Duration::from_secs(30), || {
        let (https, url) = (https.clone(), format!("{base}/health"));
        async move {
            https
                .get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let login = https
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": "admin", "password": "https-admin-password"}))
        .send()
        .await
        .unwrap();
    assert!(login.status().is_success(), "{}", login.status());

    // Clear text on the same port is not HTTP any more.
    let plain = reqwest::Client::new()
        .get(format!("http://{addr}/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());

    // A client that does not trust this CA refuses the server.
    let stranger = reqwest::Client::builder()
        .tls_certs_only(Vec::<reqwest::Certificate>::new())
        .build()
        .unwrap();
    assert!(stranger.get(format!("{base}/health")).send().await.is_err());
}

#[tokio::test]
async fn half_a_tls_configuration_or_a_mismatched_key_is_refused_at_start() {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let (tls, _) = kanade_pki::ensure(&dir.path().join("tls"), &["localhost".to_owned()]).unwrap();

    let mut half = config(&nats, dir.path());
    half.server.tls_cert = Some(tls.server_cert.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = kanade_backend::serve(half, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("tls_cert and tls_key go together"),
        "{err:#}"
    );

    let mut mismatched = config(&nats, dir.path());
    mismatched.server.tls_cert = Some(tls.server_cert.clone());
    mismatched.server.tls_key = Some(tls.ca_key.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = kanade_backend::serve(mismatched, listener, std::future::pending())
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains("do not belong together"),
        "{err:#}"
    );
}
