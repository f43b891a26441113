//! Wipe and replay: the read model is disposable. After a wipe the accounts are byte for byte
//! the same, and the projectors rebuild every other table from the streams.

use std::time::Duration;

use kanade_protocol::api::ExecResponse;
use kanade_protocol::subject;
use kanade_protocol::wire::ExecResult;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{HELLO, TestBackend, wait_for};

fn dump(b: &TestBackend, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(b.db_path()).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |row| {
        let mut cols = Vec::with_capacity(n);
        for i in 0..n {
            cols.push(format!("{:?}", row.get::<_, rusqlite::types::Value>(i)?));
        }
        Ok(cols.join("|"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

#[tokio::test]
async fn wipe_keeps_accounts_and_replay_rebuilds_the_rest() {
    let mut b = TestBackend::start().await;
    let _vera = b.account("vera", "viewer").await;
    assert!(
        b.http
            .post(b.url("/api/jobs"))
            .body(HELLO)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let mut fired = Vec::new();
    for _ in 0..3 {
        let resp = b
            .http
            .post(b.url("/api/exec/hello"))
            .json(&json!({"target": {"pcs": ["pc1", "pc2"]}, "allow_unknown": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::ACCEPTED);
        fired.push(resp.json::<ExecResponse>().await.unwrap());
    }
    for (i, f) in fired.iter().enumerate() {
        for pc in ["pc1", "pc2"] {
            let now = chrono::Utc::now();
            let r = ExecResult {
                result_id: format!("{}-{pc}", f.exec_id),
                request_id: f.request_id.clone(),
                exec_id: f.exec_id.clone(),
                pc_id: pc.into(),
                job_id: "hello".into(),
                version: "1".into(),
                exit_code: i32::from(pc == "pc2" && i == 1),
                stdout: "hi".into(),
                stderr: String::new(),
                stdout_object: None,
                stderr_object: None,
                started_at: now,
                finished_at: now,
                skipped: false,
                schedule_id: None,
            };
            b.js.publish(
                subject::results(&f.request_id),
                serde_json::to_vec(&r).unwrap().into(),
            )
            .await
            .unwrap()
            .await
            .unwrap();
        }
    }
    wait_for("projection", Duration::from_secs(15), || async {
        b.query_i64("SELECT COUNT(*) FROM executions WHERE status = 'completed'") == 3
            && b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'exec'") == 3
    })
    .await;
    let tables = [
        ("users", "SELECT * FROM users ORDER BY username"),
        ("executions", "SELECT * FROM executions ORDER BY exec_id"),
        (
            "results",
            "SELECT * FROM execution_results ORDER BY result_id",
        ),
        (
            "audit",
            "SELECT actor, action, target, payload, occurred_at, client_addr, stream_seq FROM audit_log ORDER BY stream_seq",
        ),
        ("sessions", "SELECT * FROM sessions ORDER BY jti"),
    ];
    let before: Vec<Vec<String>> = tables.iter().map(|(_, sql)| dump(&b, sql)).collect();

    b.kill().await;
    let report = kanade_backend::wipe::wipe(&b.db_path()).unwrap();
    assert_eq!(report.accounts, 2);
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM execution_results"), 0);
    assert_eq!(
        dump(&b, tables[0].1),
        before[0],
        "accounts byte for byte, timestamps included"
    );

    b.boot().await;
    wait_for("replay", Duration::from_secs(20), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log") as usize == before[3].len()
            && b.query_i64("SELECT COUNT(*) FROM executions WHERE status = 'completed'") == 3
            && b.query_i64("SELECT COUNT(*) FROM execution_results") == 6
    })
    .await;
    for ((name, sql), old) in tables.iter().zip(&before) {
        assert_eq!(&dump(&b, sql), old, "{name} after replay");
    }
    let me = b.http.get(b.url("/api/auth/me")).send().await.unwrap();
    assert_eq!(me.status(), StatusCode::OK, "sessions survive the wipe");
}

#[test]
fn wipe_refuses_a_database_it_cannot_read_and_accepts_a_missing_one() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("backend.db");
    std::fs::write(
        &path,
        b"this is not a sqlite database, it only looks like one to a wipe",
    )
    .unwrap();
    let err = kanade_backend::wipe::wipe(&path)
        .err()
        .expect("must refuse");
    assert!(format!("{err:#}").contains("refusing to wipe"), "{err:#}");
    assert_eq!(
        std::fs::read(&path).unwrap(),
        b"this is not a sqlite database, it only looks like one to a wipe"
    );

    let missing = dir.path().join("fresh/backend.db");
    std::fs::create_dir_all(missing.parent().unwrap()).unwrap();
    let report = kanade_backend::wipe::wipe(&missing).unwrap();
    assert!(!report.existed);
}
