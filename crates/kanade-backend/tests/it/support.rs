//! A backend started in-process on a free port, with its own nats-server (TLS only, its CA
//! pinned by the backend and by every test connection) and database, and helpers to call it
//! and to wait for conditions.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use kanade_backend::BackendConfig;
use kanade_protocol::api::ExecResponse;
use kanade_protocol::wire::ExecResult;
use kanade_testkit::NatsServer;
use serde::de::DeserializeOwned;
use tokio::task::JoinHandle;

pub const ADMIN_PASSWORD: &str = "admin-password-for-tests";

pub struct TestBackend {
    pub nats: NatsServer,
    _dir: tempfile::TempDir,
    pub base: String,
    /// Sends the admin's session token with every request.
    pub http: reqwest::Client,
    /// Sends no credentials.
    pub anon: reqwest::Client,
    pub js: jetstream::Context,
    pub config: BackendConfig,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl TestBackend {
    pub async fn start() -> TestBackend {
        TestBackend::start_with(|_| {}).await
    }

    /// `start` with `adjust` applied to the config first.
    pub async fn start_with(adjust: impl FnOnce(&mut BackendConfig)) -> TestBackend {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().unwrap();
        let js = jetstream::new(connect(&nats).await);
        let mut config = BackendConfig::default();
        use_broker(&mut config, &nats);
        config.db.sqlite_path = dir.path().join("backend.db");
        config.secrets.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned());
        adjust(&mut config);
        TestBackend::with_config(nats, dir, js, config).await
    }

    pub async fn with_config(
        nats: NatsServer,
        dir: tempfile::TempDir,
        js: jetstream::Context,
        config: BackendConfig,
    ) -> TestBackend {
        let mut backend = TestBackend {
            nats,
            _dir: dir,
            base: String::new(),
            http: reqwest::Client::new(),
            anon: reqwest::Client::new(),
            js,
            config,
            task: None,
        };
        backend.boot().await;
        if backend.config.secrets.bootstrap_admin_password.is_some() {
            let token = backend.login("admin", ADMIN_PASSWORD).await;
            backend.http = client_with_token(&token);
        }
        backend
    }

    /// Signs in and returns the session token, failing the test on refusal.
    pub async fn login(&self, username: &str, password: &str) -> String {
        let resp = self
            .anon
            .post(self.url("/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": password}))
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "login {username}: {}",
            resp.status()
        );
        let body: kanade_protocol::api::LoginResponse = resp.json().await.unwrap();
        body.token
    }

    /// Creates an account with `role` and returns a client signed in as it (password changed).
    pub async fn account(&self, username: &str, role: &str) -> reqwest::Client {
        let first = format!("{username}-first-password");
        let resp = self
            .http
            .post(self.url("/api/accounts"))
            .json(&serde_json::json!({"username": username, "password": first, "role": role}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            reqwest::StatusCode::CREATED,
            "create {username}"
        );
        let token = self.login(username, &first).await;
        let resp = client_with_token(&token)
            .post(self.url("/api/auth/change-password"))
            .json(&serde_json::json!({"current_password": first, "new_password": format!("{username}-second-password")}))
            .send()
            .await
            .unwrap();
        assert_eq!(
            resp.status(),
            reqwest::StatusCode::NO_CONTENT,
            "change password of {username}"
        );
        client_with_token(
            &self
                .login(username, &format!("{username}-second-password"))
                .await,
        )
    }

    /// A test connection to the backend's broker, pinned to its CA.
    pub async fn nats_client(&self) -> async_nats::Client {
        connect(&self.nats).await
    }

    pub fn db_path(&self) -> PathBuf {
        self.config.db.sqlite_path.clone()
    }

    /// One housekeeping pass over this backend's database, as a second process would run it,
    /// with the default settings changed by `adjust`.
    pub async fn housekeep(&self, adjust: impl FnOnce(&mut kanade_backend::BackendConfig)) {
        let store = kanade_backend::store::Store::open(&self.db_path())
            .await
            .unwrap();
        let mut config = kanade_backend::BackendConfig::default();
        adjust(&mut config);
        let retention = kanade_backend::housekeeping::retention(&config.retention);
        kanade_backend::housekeeping::once(&store, &config.telemetry, &retention)
            .await
            .unwrap();
    }

    /// Starts the backend (again) on a fresh port with the same broker and database.
    pub async fn boot(&mut self) {
        let config = self.config.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        self.base = format!("http://{}", listener.local_addr().unwrap());
        self.task = Some(tokio::spawn(kanade_backend::serve(
            config,
            listener,
            std::future::pending(),
        )));
        let http = self.anon.clone();
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

    /// `GET path` as the admin, as text (`/metrics`).
    pub async fn get_text(&self, path: &str) -> String {
        let resp = self.http.get(self.url(path)).send().await.unwrap();
        assert!(resp.status().is_success(), "GET {path}: {}", resp.status());
        resp.text().await.unwrap()
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

/// Points the backend's `[nats]` at `nats`: its URL and the CA to pin (the test broker serves
/// TLS only, so a config without the CA cannot connect).
pub fn use_broker(config: &mut BackendConfig, nats: &NatsServer) {
    config.nats.url = nats.url();
    config.nats.ca_file = nats.ca_file();
}

/// A test connection to `nats`, pinned to its CA (TLS only, nothing else trusted).
pub async fn connect(nats: &NatsServer) -> async_nats::Client {
    let access = kanade_bus::Access {
        ca_file: nats.ca_file(),
        ..Default::default()
    };
    kanade_bus::connect_with(kanade_bus::Role::Cli, &nats.url(), &access)
        .await
        .expect("connect a test client to the broker")
}

pub fn client_with_token(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    let value = reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap();
    headers.insert(reqwest::header::AUTHORIZATION, value);
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
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

/// A finished result of `fired` from `pc`, as an agent would publish it.
pub fn result_for(fired: &ExecResponse, pc: &str, exit_code: i32) -> ExecResult {
    let now = chrono::Utc::now();
    ExecResult {
        result_id: format!("{}-{pc}", fired.exec_id),
        request_id: fired.request_id.clone(),
        exec_id: fired.exec_id.clone(),
        pc_id: pc.to_owned(),
        job_id: "hello".to_owned(),
        version: "1".to_owned(),
        exit_code,
        stdout: format!("hello from {pc}\n"),
        stderr: String::new(),
        stdout_object: None,
        stderr_object: None,
        started_at: now,
        finished_at: now,
        skipped: false,
        schedule_id: None,
    }
}

/// Publishes `msg` as JSON on JetStream and waits for the broker's ack.
pub async fn publish<T: serde::Serialize>(b: &TestBackend, subject: String, msg: &T) {
    b.js.publish(subject, serde_json::to_vec(msg).unwrap().into())
        .await
        .unwrap()
        .await
        .unwrap();
}

/// `pc` heartbeats `ago` in the past (online when recent, known but offline when old), and
/// the call returns once the backend has projected it.
pub async fn beat(b: &TestBackend, pc: &str, ago: chrono::Duration) {
    let hb = kanade_protocol::wire::Heartbeat {
        pc_id: pc.to_owned(),
        at: chrono::Utc::now() - ago,
        agent_version: "0.1.0".into(),
        ..Default::default()
    };
    let nats = b.nats_client().await;
    nats.publish(
        kanade_protocol::subject::heartbeat(pc),
        serde_json::to_vec(&hb).unwrap().into(),
    )
    .await
    .unwrap();
    nats.flush().await.unwrap();
    let sql = format!("SELECT COUNT(*) FROM agents WHERE pc_id = '{pc}'");
    wait_for(
        "the heartbeat projected",
        Duration::from_secs(10),
        || async { b.query_i64(&sql) == 1 },
    )
    .await;
}
