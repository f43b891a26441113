//! The derived-group sandbox (`POST /api/group-defs`) against an attacker's SQL: reads of
//! every table outside inventory, writes, ATTACH, extensions, pragmas, endless recursion,
//! memory bombs and quote tricks. Each is 422 naming `where` within seconds, nothing is
//! stored, and the database is unchanged.

use std::time::{Duration, Instant};

use kanade_protocol::api::ErrorBody;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestBackend;

/// Tables a condition may read; every other one must be refused.
fn readable(table: &str) -> bool {
    [
        "agents",
        "inventory_facts",
        "inventory_history",
        "check_status",
    ]
    .contains(&table)
        || table.starts_with("inv_")
}

async fn define(b: &TestBackend, condition: &str) -> (StatusCode, Option<ErrorBody>, Duration) {
    let started = Instant::now();
    let resp = b
        .http
        .post(b.url("/api/group-defs"))
        .json(&json!({"name": "evil", "where": condition}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let took = started.elapsed();
    let body = match status.is_success() {
        true => None,
        false => Some(resp.json::<ErrorBody>().await.unwrap()),
    };
    (status, body, took)
}

fn tables(b: &TestBackend) -> Vec<String> {
    let conn = rusqlite::Connection::open(b.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_master WHERE type IN ('table', 'view') ORDER BY name")
        .unwrap();
    stmt.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

#[tokio::test]
async fn hostile_sql_in_a_derived_group_is_refused_quickly_and_changes_nothing() {
    let b = TestBackend::start().await;
    let users_before = b.query_i64("SELECT COUNT(*) FROM users");
    let mut attacks: Vec<String> = tables(&b)
        .into_iter()
        .filter(|t| !readable(t))
        .map(|t| format!("EXISTS (SELECT 1 FROM \"{t}\")"))
        .collect();
    attacks.extend(
        [
            "EXISTS (SELECT 1 FROM main.users)",
            "EXISTS (SELECT 1 FROM temp.sqlite_master)",
            "EXISTS (SELECT 1 FROM sqlite_schema)",
            "EXISTS (SELECT 1 FROM pragma_table_info('users'))",
            "EXISTS (SELECT 1 FROM pragma_database_list)",
            "EXISTS (SELECT 1 FROM sqlite_dbpage)",
            "EXISTS (SELECT 1 FROM dbstat)",
            "load_extension('/tmp/evil.so') IS NULL",
            "load_extension('libc.so.6', 'system') IS NULL",
            "writefile('/tmp/kanade-evil', 'x') IS NULL",
            "readfile('/etc/passwd') IS NOT NULL",
            "1) ; ATTACH DATABASE '/tmp/evil.db' AS evil; SELECT (1",
            "1) UNION SELECT password_hash FROM users WHERE (1",
            "1 = 1) OR (1",
            "'a'' OR 1) --",
            "\"x\" = 1 /* comment",
            "(SELECT 1 FROM agents) IS NULL AND (DELETE FROM agents) IS NULL",
            "EXISTS (WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT 1 FROM n WHERE i < 0)",
            "(WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT count(*) FROM n) > 0",
            "length(randomblob(900000000)) > 0",
            "length(zeroblob(900000000) || zeroblob(900000000)) > 0",
            "length(printf('%.*c', 900000000, 'x')) > 0",
            "length(hex(randomblob(400000000))) > 0",
            "length(replace(printf('%.*c', 1000000, 'x'), 'x', printf('%.*c', 1000, 'y'))) > 0",
            "length(hex(randomblob(30000000)) || hex(randomblob(30000000))) > 0",
            "no_such_function(1)",
            "no_such_column = 1",
        ]
        .map(str::to_owned),
    );
    let mut failures = Vec::new();
    for attack in &attacks {
        let (status, body, took) = define(&b, attack).await;
        let field = body.as_ref().and_then(|e| e.error.field.clone());
        if status != StatusCode::UNPROCESSABLE_ENTITY || field.as_deref() != Some("where") {
            failures.push(format!("{attack}: {status} field {field:?}"));
        }
        if took > Duration::from_secs(10) {
            failures.push(format!("{attack}: took {took:?}"));
        }
    }
    // Backtracking patterns over a 60 MB text are one function call each: they must still
    // answer quickly (they are merely false, so they may be stored).
    for slow in [
        "printf('%.*c', 60000000, 'a') LIKE '%a%a%a%a%a%a%a%a%a%a%b'",
        "printf('%.*c', 60000000, 'a') GLOB '*a*a*a*a*a*a*a*a*a*a*b'",
    ] {
        let (status, _, took) = define(&b, slow).await;
        if !matches!(status.as_u16(), 201 | 422) || took > Duration::from_secs(10) {
            failures.push(format!("{slow}: {status} after {took:?}"));
        }
        let _ = b.http.delete(b.url("/api/group-defs/evil")).send().await;
    }
    assert!(failures.is_empty(), "{failures:#?}");
    let listed: Vec<serde_json::Value> = b.get("/api/group-defs").await;
    assert!(listed.is_empty(), "a refused condition was stored");
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM users"), users_before);
    assert!(!std::path::Path::new("/tmp/kanade-evil").exists());
    // The admin still works: the session table and the broker are intact.
    let resp = b
        .http
        .post(b.url("/api/group-defs"))
        .json(&json!({"name": "everyone", "where": "machine.pc_id IS NOT NULL"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
}
