//! Rolling back past a schema change: a backend that finds its database migrated by a newer
//! build (a higher `user_version`, a table and a column it does not know) keeps a copy, boots
//! on a rebuilt read model with the accounts carried across, and replays every result.
//! `arm-for-swap` copies the database beside the last-good binary. With the real binary: a
//! swapped-in version that migrated the database and then crash-loops is rolled back by the
//! boot sentinel, and the restored binary serves the replayed results. (The newer build is
//! simulated by what its migration leaves in the file: one more `user_version`, a table.)

use std::process::Command;
use std::time::Duration;

use kanade_protocol::api::ExecResponse;
use kanade_protocol::subject;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{HELLO, TestBackend, publish, result_for, wait_for};

fn users(b: &TestBackend) -> Vec<String> {
    let conn = rusqlite::Connection::open(b.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT username, role, password_hash, created_at FROM users ORDER BY username")
        .unwrap();
    stmt.query_map([], |r| {
        Ok(format!(
            "{}|{}|{}|{}",
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?
        ))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test]
async fn an_older_backend_boots_on_a_newer_schema_and_replays_everything() {
    let mut b = TestBackend::start().await;
    let vera = b.account("vera", "viewer").await;
    let created = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&json!({"target": {"pcs": ["pc1", "pc2"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let fired: ExecResponse = resp.json().await.unwrap();
    for pc in ["pc1", "pc2"] {
        let r = result_for(&fired, pc, 0);
        publish(&b, subject::results(&fired.request_id), &r).await;
    }
    wait_for("projection", Duration::from_secs(15), || async {
        b.query_i64("SELECT COUNT(*) FROM execution_results") == 2
    })
    .await;
    let accounts = users(&b);
    assert_eq!(accounts.len(), 2);

    // What a newer build's migration would leave behind: one more version, a table and a
    // column this build has never heard of.
    b.kill().await;
    let known = kanade_backend::store::snapshot::schema_version();
    let future = known + 1;
    {
        let conn = rusqlite::Connection::open(b.db_path()).unwrap();
        conn.execute_batch(&format!(
            "CREATE TABLE future_things (id INTEGER PRIMARY KEY, what TEXT NOT NULL);
             INSERT INTO future_things (what) VALUES ('from the future');
             ALTER TABLE users ADD COLUMN future_flag TEXT NOT NULL DEFAULT 'x';
             PRAGMA user_version = {future};"
        ))
        .unwrap();
    }

    b.boot().await;
    wait_for(
        "the results replayed into the rebuilt database",
        Duration::from_secs(20),
        || async {
            b.query_i64("SELECT COUNT(*) FROM execution_results") == 2
                && b.query_i64("SELECT COUNT(*) FROM executions WHERE status = 'completed'") == 1
        },
    )
    .await;
    assert_eq!(b.query_i64("PRAGMA user_version"), known as i64);
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM sqlite_master WHERE name = 'future_things'"),
        0,
        "the read model was rebuilt with this build's schema"
    );
    assert_eq!(users(&b), accounts, "accounts carried across");
    let backup = b
        .db_path()
        .with_file_name(format!("backend.db.schema-{future}.bak"));
    let conn = rusqlite::Connection::open(&backup).unwrap();
    let kept: String = conn
        .query_row("SELECT what FROM future_things", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, "from the future", "the newer database was kept aside");

    // It serves: the admin's session and vera's still work, the results read back.
    let me = b.http.get(b.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let me = vera.get(b.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK);
    let results = b
        .http
        .get(b.url(&format!("/api/executions/{}", fired.exec_id)))
        .send()
        .await
        .unwrap();
    assert_eq!(results.status(), StatusCode::OK);
    let detail: serde_json::Value = results.json().await.unwrap();
    assert_eq!(detail["status"], "completed", "{detail}");
    assert_eq!(
        detail["results"].as_array().map(Vec::len),
        Some(2),
        "{detail}"
    );
}

#[test]
fn arm_for_swap_copies_the_database_beside_last_good() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("kanade-backend");
    std::fs::copy(env!("CARGO_BIN_EXE_kanade-backend"), &exe).unwrap();
    let db = dir.path().join("data/backend.db");
    kanade_backend::store::migrate_file(&db).unwrap();
    let config = dir.path().join("backend.toml");
    std::fs::write(
        &config,
        format!("[db]\nsqlite_path = {:?}\n", db.to_str().unwrap()),
    )
    .unwrap();
    let out = Command::new(&exe)
        .args([
            "--config",
            config.to_str().unwrap(),
            "arm-for-swap",
            "9.9.9",
        ])
        .arg(&exe)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let copy = dir.path().join("kanade-backend.last-good.db");
    assert_eq!(
        kanade_backend::store::snapshot::schema_version_of(&copy).unwrap(),
        kanade_backend::store::snapshot::schema_version()
    );
    // The sentinel was armed for 9.9.9; a boot of this build clears it, nothing else to do.
    let _ = std::fs::remove_file(dir.path().join("kanade-backend.boot-sentinel.json"));
}

/// The real binary through the boot sentinel: a version armed by `arm-for-swap` that keeps
/// failing is rolled back to last-good, and last-good, meeting the database that version
/// migrated forward, rebuilds it and serves every result again.
#[tokio::test]
async fn a_rollback_through_the_sentinel_serves_the_replayed_results() {
    let mut b = TestBackend::start().await;
    let created = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(created.status().is_success());
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&json!({"target": {"pcs": ["pc1", "pc2"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    let fired: ExecResponse = resp.json().await.unwrap();
    for pc in ["pc1", "pc2"] {
        let r = result_for(&fired, pc, 0);
        publish(&b, subject::results(&fired.request_id), &r).await;
    }
    wait_for("projection", Duration::from_secs(15), || async {
        b.query_i64("SELECT COUNT(*) FROM execution_results") == 2
    })
    .await;
    b.kill().await;

    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("kanade-backend");
    std::fs::copy(env!("CARGO_BIN_EXE_kanade-backend"), &exe).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let good = dir.path().join("backend.toml");
    std::fs::write(
        &good,
        format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\n[nats]\nurl = {:?}\nca_file = {:?}\n[db]\nsqlite_path = {:?}\n",
            b.config.nats.url,
            b.config.nats.ca_file.as_ref().unwrap(),
            b.db_path()
        ),
    )
    .unwrap();
    let run = |config: &std::path::Path, args: &[&str]| {
        Command::new(&exe)
            .arg("--config")
            .arg(config)
            .args(args)
            .env_remove("KANADE_BACKEND_CONFIG")
            .output()
            .unwrap()
    };
    let version = kanade_protocol::VERSION;
    let out = run(&good, &["arm-for-swap", version, exe.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("kanade-backend.last-good.db").is_file());

    // The new version migrated the database forward, then keeps failing to start.
    let future = kanade_backend::store::snapshot::schema_version() + 1;
    rusqlite::Connection::open(b.db_path())
        .unwrap()
        .execute_batch(&format!(
            "CREATE TABLE future_things (id INTEGER PRIMARY KEY); PRAGMA user_version = {future};"
        ))
        .unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[server]\nbind = 42\n").unwrap();
    for _ in 1..=3 {
        assert!(!run(&bad, &["serve"]).status.success());
    }
    let out = run(&bad, &["serve"]);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("rolled back"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The restored last-good binary boots on the newer database and serves every result.
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let mut child = tokio::process::Command::new(&exe)
        .arg("--config")
        .arg(&good)
        .arg("serve")
        .env_remove("KANADE_BACKEND_CONFIG")
        .env(
            "KANADE_BOOTSTRAP_ADMIN_PASSWORD",
            crate::support::ADMIN_PASSWORD,
        )
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::new();
    wait_for(
        "the rolled-back backend to serve",
        Duration::from_secs(30),
        || {
            let (http, url) = (http.clone(), format!("{base}/health"));
            async move {
                http.get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        },
    )
    .await;
    wait_for("results replayed", Duration::from_secs(20), || async {
        b.query_i64("SELECT COUNT(*) FROM execution_results") == 2
    })
    .await;
    b.base = base.clone();
    let token = b.login("admin", crate::support::ADMIN_PASSWORD).await;
    let detail: serde_json::Value = http
        .get(format!("{base}/api/executions/{}", fired.exec_id))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(detail["status"], "completed", "{detail}");
    let logged = std::fs::read_to_string(dir.path().join("serve.log")).unwrap();
    assert!(logged.contains("newer backend"), "{logged}");
    let _ = child.kill().await;
}
