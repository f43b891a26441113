//! Upgrade and roll back between two real builds: this one and a `schema-next` build of the same
//! source (one more migration, version `+schema-next`) that scripts/upgrade-check compiles and
//! hands over in `KANADE_BACKEND_NEXT`. The older binary serves and records results; it is armed
//! for the swap and replaced by the newer one, which migrates forward and serves; the newer one
//! then crash-loops, the boot sentinel restores last-good, and the older binary boots on the
//! newer database (WARN, the file kept aside), rebuilds it and serves every result, replayed.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use kanade_backend::store::snapshot::{schema_version, schema_version_of};
use kanade_protocol::api::ExecResponse;
use kanade_protocol::subject;
use kanade_testkit::NatsServer;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{ADMIN_PASSWORD, HELLO, client_with_token, connect, result_for, wait_for};

/// One backend process on `port` from the installed executable `exe`.
struct Running {
    child: tokio::process::Child,
    base: String,
    http: reqwest::Client,
}

fn run(exe: &Path, config: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(exe)
        .arg("--config")
        .arg(config)
        .args(args)
        .env_remove("KANADE_BACKEND_CONFIG")
        .output()
        .unwrap()
}

fn version_of(exe: &Path) -> String {
    let out = std::process::Command::new(exe)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().nth(1).unwrap().to_owned()
}

/// Starts `exe serve`, waits until the admin can sign in, and returns a client that is signed in.
async fn serve(exe: &Path, config: &Path, port: u16, log: &Path) -> Running {
    let log = std::fs::File::create(log).unwrap();
    let child = tokio::process::Command::new(exe)
        .arg("--config")
        .arg(config)
        .arg("serve")
        .env_remove("KANADE_BACKEND_CONFIG")
        .env("KANADE_BOOTSTRAP_ADMIN_PASSWORD", ADMIN_PASSWORD)
        .stdin(Stdio::null())
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let anon = reqwest::Client::new();
    let token = std::sync::Arc::new(std::sync::Mutex::new(None::<String>));
    wait_for("the backend to serve", Duration::from_secs(40), || {
        let (anon, url, token) = (
            anon.clone(),
            format!("{base}/api/auth/login"),
            token.clone(),
        );
        async move {
            let Ok(resp) = anon
                .post(url)
                .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
                .send()
                .await
            else {
                return false;
            };
            if !resp.status().is_success() {
                return false;
            }
            let body: kanade_protocol::api::LoginResponse = resp.json().await.unwrap();
            *token.lock().unwrap() = Some(body.token);
            true
        }
    })
    .await;
    let token = token.lock().unwrap().take().unwrap();
    Running {
        child,
        base,
        http: client_with_token(&token),
    }
}

impl Running {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    async fn execution(&self, exec_id: &str) -> Value {
        let resp = self
            .http
            .get(self.url(&format!("/api/executions/{exec_id}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    /// Fires `hello` on `pcs` and publishes each machine's result as its agent would.
    async fn fire(&self, js: &async_nats::jetstream::Context, pcs: &[&str]) -> ExecResponse {
        let resp = self
            .http
            .post(self.url("/api/exec/hello"))
            .json(&json!({"target": {"pcs": pcs}, "allow_unknown": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        let fired: ExecResponse = resp.json().await.unwrap();
        for pc in pcs {
            let r = result_for(&fired, pc, 0);
            js.publish(
                subject::results(&fired.request_id),
                serde_json::to_vec(&r).unwrap().into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
        fired
    }

    /// Waits until `exec_id` is completed with `n` results.
    async fn wait_results(&self, what: &str, exec_id: &str, n: usize) {
        wait_for(what, Duration::from_secs(30), || async {
            let detail = self.execution(exec_id).await;
            detail["status"] == "completed" && detail["results"].as_array().map(Vec::len) == Some(n)
        })
        .await;
    }

    /// Stops the process the way systemd does (SIGTERM) and waits for it to exit.
    async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("the backend stops within 20 s of SIGTERM")
            .unwrap();
    }
}

/// Replaces the installed executable the way a package upgrade does (new file, rename).
fn install(from: &Path, exe: &Path) {
    let tmp = exe.with_extension("new");
    std::fs::copy(from, &tmp).unwrap();
    std::fs::rename(&tmp, exe).unwrap();
}

fn next_build() -> PathBuf {
    let path = std::env::var_os("KANADE_BACKEND_NEXT").expect(
        "KANADE_BACKEND_NEXT names the schema-next build of kanade-backend; run scripts/upgrade-check",
    );
    let path = PathBuf::from(path);
    assert!(path.is_file(), "KANADE_BACKEND_NEXT: no file {path:?}");
    path
}

#[tokio::test]
#[ignore = "needs the schema-next build: scripts/upgrade-check"]
async fn upgrade_to_a_newer_build_then_roll_back_through_the_sentinel() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let next = next_build();
    let older = PathBuf::from(env!("CARGO_BIN_EXE_kanade-backend"));
    let known = schema_version();
    let (old_version, new_version) = (version_of(&older), version_of(&next));
    assert_ne!(
        old_version, new_version,
        "the two builds report different versions"
    );

    let nats = NatsServer::start();
    let js = async_nats::jetstream::new(connect(&nats).await);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("bin")).unwrap();
    let exe = dir.path().join("bin/kanade-backend");
    install(&older, &exe);
    let db = dir.path().join("data/backend.db");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("backend.toml");
    std::fs::write(
        &config,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\n[nats]\nurl = {:?}\nca_file = {:?}\n[db]\nsqlite_path = {:?}\n",
            nats.url(),
            nats.ca_file().unwrap(),
            db
        ),
    )
    .unwrap();
    let log = |name: &str| dir.path().join(name);

    // The older build serves and records results; an account is made with it.
    let old = serve(&exe, &config, port, &log("old.log")).await;
    let created = old
        .http
        .post(old.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success(), "{}", created.status());
    let account = old
        .http
        .post(old.url("/api/accounts"))
        .json(&json!({"username": "vera", "password": "vera-first-password", "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(account.status(), StatusCode::CREATED);
    let first = old.fire(&js, &["pc1", "pc2"]).await;
    old.wait_results("results under the older build", &first.exec_id, 2)
        .await;
    assert_eq!(schema_version_of(&db).unwrap(), known);

    // Upgrade: arm the sentinel (last-good + a copy of the database), swap, start the newer.
    let out = run(
        &exe,
        &config,
        &["arm-for-swap", &new_version, exe.to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last_good = dir.path().join("bin/kanade-backend.last-good");
    assert_eq!(
        std::fs::read(&last_good).unwrap(),
        std::fs::read(&older).unwrap()
    );
    let snapshot = dir.path().join("bin/kanade-backend.last-good.db");
    assert_eq!(schema_version_of(&snapshot).unwrap(), known);
    old.stop().await;
    install(&next, &exe);
    assert_eq!(version_of(&exe), new_version);
    let new = serve(&exe, &config, port, &log("new.log")).await;
    assert_eq!(
        schema_version_of(&db).unwrap(),
        known + 1,
        "the newer build migrated the database forward"
    );
    assert_eq!(
        new.execution(&first.exec_id).await["results"]
            .as_array()
            .map(Vec::len),
        Some(2),
        "the newer build serves the older one's results"
    );
    let second = new.fire(&js, &["pc3"]).await;
    new.wait_results("results under the newer build", &second.exec_id, 1)
        .await;

    // The newer build then crash-loops (it dies, and every restart fails before it is confirmed
    // healthy): the sentinel puts last-good back and quarantines the newer version.
    drop(new);
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nbind = 42\n").unwrap();
    let mut rolled_back = String::new();
    for _ in 0..=kanade_sentinel::DEFAULT_MAX_ATTEMPTS {
        let out = run(&exe, &bad, &["serve"]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        if stderr.contains("rolled back") {
            rolled_back = stderr;
            break;
        }
    }
    assert!(rolled_back.contains(&new_version), "{rolled_back:?}");
    assert_eq!(
        std::fs::read(&exe).unwrap(),
        std::fs::read(&older).unwrap(),
        "the older binary is installed again"
    );
    assert_eq!(version_of(&exe), old_version);
    let quarantine = run(&exe, &config, &["check-quarantine", &new_version]);
    assert_eq!(quarantine.status.code(), Some(3));

    // The older build meets the newer schema: WARN, the file kept aside, rebuilt, replayed.
    let back = serve(&exe, &config, port, &log("back.log")).await;
    back.wait_results("the older build's results replayed", &first.exec_id, 2)
        .await;
    back.wait_results("the newer build's results replayed", &second.exec_id, 1)
        .await;
    let logged = std::fs::read_to_string(log("back.log")).unwrap();
    let warned = logged
        .lines()
        .find(|l| l.contains("migrated by a newer backend"))
        .unwrap_or_else(|| panic!("no WARN about the newer schema in:\n{logged}"));
    assert!(warned.contains("WARN"), "{warned}");
    assert_eq!(schema_version_of(&db).unwrap(), known);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tables: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM sqlite_master WHERE name = 'schema_next_notes'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        tables, 0,
        "the read model was rebuilt with the older schema"
    );
    let kept = db.with_file_name(format!("backend.db.schema-{}.bak", known + 1));
    let conn = rusqlite::Connection::open(&kept).unwrap();
    let note: String = conn
        .query_row("SELECT note FROM schema_next_notes", [], |r| r.get(0))
        .unwrap();
    assert!(
        note.contains("schema-next"),
        "the newer database was kept aside"
    );
    let login = back
        .http
        .post(back.url("/api/auth/login"))
        .json(&json!({"username": "vera", "password": "vera-first-password"}))
        .send()
        .await
        .unwrap();
    assert!(
        login.status().is_success(),
        "the account made under the older build still signs in: {}",
        login.status()
    );
    back.stop().await;
}
