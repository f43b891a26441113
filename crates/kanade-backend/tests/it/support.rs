//! A backend started in-process on a free port, with its own nats-server and database, and
//! helpers to call it and to wait for conditions.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use kanade_backend::BackendConfig;
use kanade_testkit::NatsServer;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

pub struct TestBackend {
    pub nats: NatsServer,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub http: reqwest::Client,
    pub js: jetstream::Context,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestBackend {
    pub async fn start() -> TestBackend {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().unwrap();
        let client = kanade_bus::connect(kanade_bus::Role::Cli, &nats.url())
            .await
            .unwrap();
        let js = jetstream::new(client);
        let mut backend = TestBackend {
            nats,
            dir,
            base: String::new(),
            http: reqwest::Client::new(),
            js,
            task: None,
        };
        backend.boot().await;
        backend
    }

    pub fn db_path(&self) -> PathBuf {
        self.dir.path().join("backend.db")
    }

    /// Starts the backend (again) on a fresh port with the same broker and database.
    pub async fn boot(&mut self) {
        let mut config = BackendConfig::default();
        config.nats.url = self.nats.url();
        config.db.sqlite_path = self.db_path();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.base = format!("http://{}", listener.local_addr().unwrap());
        self.task = Some(tokio::spawn(kanade_backend::serve(
            config,
            listener,
            std::future::pending(),
        )));
        let http = self.http.clone();
        let url = format!("{}/health", self.base);
        wait_for("backend health", Duration::from_secs(20), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                http.get(&url)
                    .send()
                    .await
                    .map(|r| r.status().is_success())
                    .unwrap_or(false)
            }
        })
        .await;
    }

    /// Stops the backend abruptly, as a crash would (no graceful shutdown).
    pub async fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> T {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.json().await.unwrap()
    }

    /// Runs a read-only query against the backend's database file.
    pub fn query_i64(&self, sql: &str) -> i64 {
        let conn = rusqlite::Connection::open(self.db_path()).unwrap();
        conn.query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

impl Drop for TestBackend {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Polls `check` until it holds, failing the test with `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub const HELLO: &str = "
id: hello
version: 1
description: say hello
execute:
  shell: sh
  script: echo hello
  timeout: 30s
";
