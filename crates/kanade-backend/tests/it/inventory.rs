//! Inventory against the real broker and SQLite: facts, explode tables with their indexes and
//! history for a job run on two machines, schema changes of a spec, search with every
//! operator, hostile names refused, and broken payloads recorded on the result.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kanade_protocol::api::{
    InventoryChange, InventoryFacts, InventoryJobPage, InventorySearch, Page, ResultDetail,
};
use kanade_protocol::subject;
use kanade_protocol::wire::ExecResult;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestBackend, wait_for};

/// Registers a job from YAML, failing the test unless the backend accepts it.
pub async fn register(b: &TestBackend, yaml: &str) {
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(yaml.to_owned())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    assert!(
        status.is_success(),
        "register: {status} {}",
        resp.text().await.unwrap()
    );
}

/// A finished run of `job` on `pc` that printed `stdout`, as an agent would publish it.
pub fn run(
    job: &str,
    pc: &str,
    stdout: &str,
    exit_code: i32,
    finished_at: DateTime<Utc>,
) -> ExecResult {
    let id = uuid::Uuid::new_v4().to_string();
    ExecResult {
        result_id: id.clone(),
        request_id: id.clone(),
        exec_id: id,
        pc_id: pc.to_owned(),
        job_id: job.to_owned(),
        version: "1".to_owned(),
        exit_code,
        stdout: stdout.to_owned(),
        stderr: String::new(),
        stdout_object: None,
        stderr_object: None,
        started_at: finished_at - chrono::Duration::seconds(1),
        finished_at,
        skipped: false,
        schedule_id: None,
    }
}

pub async fn publish(b: &TestBackend, result: &ExecResult) {
    b.js.publish(
        subject::results(&result.request_id),
        serde_json::to_vec(result).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

/// Waits until the results projector recorded `result`.
pub async fn projected(b: &TestBackend, result: &ExecResult) {
    let sql = format!(
        "SELECT COUNT(*) FROM execution_results WHERE result_id = '{}' AND finished_at IS NOT NULL",
        result.result_id
    );
    wait_for(
        "the result to be projected",
        Duration::from_secs(15),
        || {
            let n = b.query_i64(&sql);
            async move { n == 1 }
        },
    )
    .await;
}

pub fn rows(b: &TestBackend, sql: &str) -> Vec<String> {
    let conn = rusqlite::Connection::open(b.db_path()).unwrap();
    let mut stmt = conn.prepare(sql).unwrap();
    let n = stmt.column_count();
    stmt.query_map([], |row| {
        let mut cols = Vec::with_capacity(n);
        for i in 0..n {
            cols.push(match row.get::<_, rusqlite::types::Value>(i)? {
                rusqlite::types::Value::Null => "NULL".to_owned(),
                rusqlite::types::Value::Integer(v) => v.to_string(),
                rusqlite::types::Value::Real(v) => format!("{v:?}"),
                rusqlite::types::Value::Text(v) => v,
                rusqlite::types::Value::Blob(_) => "<blob>".to_owned(),
            });
        }
        Ok(cols.join("|"))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

const APPS: &str = "
id: apps
version: 1
execute: {shell: sh, script: list-apps, timeout: 30s}
inventory:
  display: [{field: os, label: OS}, {field: apps, label: Apps, type: table}]
  summary: [{field: os}]
  history_scalars: [os]
  explode:
    - field: apps
      table: inv_apps
      primary_key: [name]
      track_history: true
      columns:
        - {field: name, index: true}
        - {field: version}
        - {field: size, type: integer, index: true}
";

fn apps_json(os: &str, apps: &[(&str, &str, i64)]) -> String {
    let apps: Vec<Value> = apps
        .iter()
        .map(|(name, version, size)| json!({"name": name, "version": version, "size": size}))
        .collect();
    json!({"os": os, "apps": apps}).to_string()
}

#[tokio::test]
async fn facts_explode_rows_indexes_and_history_for_two_machines() {
    let mut b = TestBackend::start().await;
    register(&b, APPS).await;
    let schema = "SELECT name FROM sqlite_master WHERE tbl_name = 'inv_apps' ORDER BY name";
    assert_eq!(
        rows(&b, schema),
        [
            "idx_inv_apps_name",
            "idx_inv_apps_size",
            "inv_apps",
            "sqlite_autoindex_inv_apps_1"
        ],
        "the table and its indexes exist as soon as the job is registered"
    );

    let t0 = Utc::now() - chrono::Duration::minutes(5);
    let first = [
        run(
            "apps",
            "pc1",
            &apps_json("debian 12", &[("a", "1.0", 10), ("b", "2.0", 20)]),
            0,
            t0,
        ),
        run(
            "apps",
            "pc2",
            &apps_json("debian 13", &[("a", "1.1", 11)]),
            0,
            t0,
        ),
    ];
    for r in &first {
        publish(&b, r).await;
    }
    let second = run(
        "apps",
        "pc1",
        &apps_json("debian 13", &[("a", "1.5", 10), ("c", "3.0", 30)]),
        0,
        t0 + chrono::Duration::minutes(1),
    );
    publish(&b, &second).await;
    // A failed run changes nothing.
    let failed = run(
        "apps",
        "pc1",
        "{\"os\": \"broken\", \"apps\": []}",
        1,
        t0 + chrono::Duration::minutes(2),
    );
    publish(&b, &failed).await;
    projected(&b, &failed).await;

    let page: InventoryJobPage = b.get("/api/inventory/apps").await;
    assert_eq!(page.page.total, 2);
    assert_eq!(page.display[0].label.as_deref(), Some("OS"));
    assert_eq!(page.explode[0].table, "inv_apps");
    let summaries: Vec<String> = page
        .page
        .items
        .iter()
        .map(|f| format!("{} {}", f.pc_id, f.summary))
        .collect();
    assert_eq!(
        summaries,
        ["pc1 {\"os\":\"debian 13\"}", "pc2 {\"os\":\"debian 13\"}"]
    );
    let mine: Vec<InventoryFacts> = b.get("/api/agents/pc1/inventory").await;
    assert_eq!(
        (mine.len(), mine[0].facts["apps"][1]["name"].as_str()),
        (1, Some("c"))
    );
    assert_eq!(
        mine[0].collected_at.timestamp(),
        second.finished_at.timestamp()
    );

    let table = "SELECT pc_id, job_id, name, version, size FROM inv_apps ORDER BY pc_id, name";
    let before_wipe = rows(&b, table);
    assert_eq!(
        before_wipe,
        [
            "pc1|apps|a|1.5|10",
            "pc1|apps|c|3.0|30",
            "pc2|apps|a|1.1|11"
        ]
    );

    let history: Page<InventoryChange> =
        b.get("/api/inventory/history?pc_id=pc1&job_id=apps").await;
    let mut changes: Vec<String> = history
        .items
        .iter()
        .map(|c| {
            format!(
                "{} {} {} {} -> {}",
                c.field_path, c.change_kind, c.identity, c.before, c.after
            )
        })
        .collect();
    changes.sort();
    assert_eq!(
        changes,
        [
            "apps added {\"name\":\"c\"} null -> {\"name\":\"c\",\"size\":30,\"version\":\"3.0\"}",
            "apps changed {\"name\":\"a\"} {\"name\":\"a\",\"size\":10,\"version\":\"1.0\"} -> {\"name\":\"a\",\"size\":10,\"version\":\"1.5\"}",
            "apps removed {\"name\":\"b\"} {\"name\":\"b\",\"size\":20,\"version\":\"2.0\"} -> null",
            "os changed null \"debian 12\" -> \"debian 13\"",
        ]
    );
    let pc2: Page<InventoryChange> = b.get("/api/inventory/history?pc_id=pc2").await;
    assert_eq!(
        pc2.total, 0,
        "a first collection is the baseline, not a change"
    );

    // The read model is disposable: after a wipe the table is recreated at start and the
    // replayed results rebuild the same rows and history.
    b.kill().await;
    kanade_backend::wipe::wipe(&b.db_path()).unwrap();
    b.boot().await;
    wait_for("inventory replay", Duration::from_secs(20), || {
        let n = b.query_i64("SELECT COUNT(*) FROM inventory_history");
        async move { n == 4 }
    })
    .await;
    assert_eq!(rows(&b, table), before_wipe);
    assert_eq!(rows(&b, schema).len(), 4, "indexes recreated");
}

#[tokio::test]
async fn a_spec_change_adds_columns_in_place_and_rebuilds_on_a_type_change() {
    let b = TestBackend::start().await;
    register(&b, APPS).await;
    let r = run(
        "apps",
        "pc1",
        &apps_json("x", &[("a", "1", 5), ("b", "2", 6)]),
        0,
        Utc::now(),
    );
    publish(&b, &r).await;
    projected(&b, &r).await;
    let columns = "SELECT name || ':' || type FROM pragma_table_info('inv_apps')";
    let sql_of = "SELECT sql FROM sqlite_master WHERE name = 'inv_apps'";

    let with_vendor = APPS.replace(
        "        - {field: version}\n",
        "        - {field: version}\n        - {field: vendor}\n",
    );
    register(&b, &with_vendor).await;
    assert_eq!(
        rows(&b, columns),
        [
            "pc_id:TEXT",
            "job_id:TEXT",
            "collected_at:TEXT",
            "name:TEXT",
            "version:TEXT",
            "size:INTEGER",
            "vendor:TEXT"
        ]
    );
    // ALTER TABLE appends after the last column; a rebuild would follow the spec's order.
    let altered = rows(&b, sql_of).remove(0);
    assert!(
        altered.contains("\"size\" INTEGER, \"vendor\" TEXT, PRIMARY KEY"),
        "added in place by ALTER TABLE: {altered}"
    );
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM inv_apps"), 2);

    let real_size = with_vendor.replace(
        "{field: size, type: integer, index: true}",
        "{field: size, type: real}",
    );
    register(&b, &real_size).await;
    assert_eq!(
        rows(&b, columns),
        [
            "pc_id:TEXT",
            "job_id:TEXT",
            "collected_at:TEXT",
            "name:TEXT",
            "version:TEXT",
            "vendor:TEXT",
            "size:REAL"
        ]
    );
    let rebuilt = rows(&b, sql_of).remove(0);
    assert!(
        rebuilt.contains("\"version\" TEXT, \"vendor\" TEXT, \"size\" REAL, PRIMARY KEY"),
        "rebuilt in the spec's order: {rebuilt}"
    );
    assert_eq!(
        rows(&b, "SELECT name, size FROM inv_apps ORDER BY name"),
        ["a|5.0", "b|6.0"]
    );
    assert_eq!(
        rows(
            &b,
            "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'inv_apps' AND name LIKE 'idx%'"
        ),
        ["idx_inv_apps_name"],
        "the dropped index is gone"
    );
}

#[tokio::test]
async fn search_supports_every_operator_and_names_what_it_refuses() {
    let b = TestBackend::start().await;
    register(&b, APPS).await;
    let now = Utc::now();
    let runs = [
        run(
            "apps",
            "pc1",
            &apps_json("x", &[("alpha", "1.0", 10), ("beta_x", "2.0", 20)]),
            0,
            now,
        ),
        run(
            "apps",
            "pc2",
            &apps_json("x", &[("alpha", "1.1", 30), ("gamma", "3%", 40)]),
            0,
            now,
        ),
    ];
    for r in &runs {
        publish(&b, r).await;
        projected(&b, r).await;
    }
    let cases = [
        ("name=alpha", "pc1/alpha pc2/alpha"),
        ("name__eq=alpha&pc_id=pc2", "pc2/alpha"),
        ("name__ne=alpha", "pc1/beta_x pc2/gamma"),
        ("name__contains=ET", "pc1/beta_x"),
        ("name__contains=_", "pc1/beta_x"),
        ("version__contains=%25", "pc2/gamma"),
        ("name__startswith=al", "pc1/alpha pc2/alpha"),
        ("size__gt=20", "pc2/alpha pc2/gamma"),
        ("size__gte=20", "pc1/beta_x pc2/alpha pc2/gamma"),
        ("size__lt=20", "pc1/alpha"),
        ("size__lte=20", "pc1/alpha pc1/beta_x"),
        ("size__in=10,40,99", "pc1/alpha pc2/gamma"),
        ("name__in=gamma,beta_x&size__gt=25", "pc2/gamma"),
        ("name=x'%20OR%201=1%20--", ""),
        ("", "pc1/alpha pc1/beta_x pc2/alpha pc2/gamma"),
    ];
    for (query, want) in cases {
        let found: InventorySearch = b
            .get(&format!("/api/inventory/search?table=inv_apps&{query}"))
            .await;
        let got: Vec<String> = found
            .items
            .iter()
            .map(|r| {
                format!(
                    "{}/{}",
                    r["pc_id"].as_str().unwrap(),
                    r["name"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(got.join(" "), want, "{query}");
        assert_eq!(found.total as usize, got.len(), "{query}");
    }
    let paged: InventorySearch = b
        .get("/api/inventory/search?table=inv_apps&limit=1&offset=1")
        .await;
    assert_eq!(
        (
            paged.total,
            paged.items.len(),
            paged.items[0]["name"].as_str()
        ),
        (4, 1, Some("beta_x"))
    );
    assert_eq!(
        paged.columns,
        ["pc_id", "job_id", "collected_at", "name", "version", "size"]
    );

    let refusals = [
        ("table=inv_nope", "table", "unknown table `inv_nope`"),
        ("", "table", "`table` is required"),
        (
            "table=inv_apps&colour=red",
            "colour",
            "unknown column `colour`",
        ),
        (
            "table=inv_apps&name__like=a",
            "name__like",
            "unknown operator `like`",
        ),
        (
            "table=inv_apps&limit=many",
            "limit",
            "must be a non-negative number",
        ),
    ];
    for (query, field, message) in refusals {
        let resp = b
            .http
            .get(b.url(&format!("/api/inventory/search?{query}")))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{query}");
        let text = body["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{query}: {text}");
    }
}

#[tokio::test]
async fn hostile_and_clashing_table_names_are_refused_with_422() {
    let b = TestBackend::start().await;
    register(&b, APPS).await;
    let cases = [
        (
            "table: inv_apps",
            "table: 'x; DROP TABLE users'",
            "inventory.explode[0].table",
        ),
        (
            "table: inv_apps",
            "table: users",
            "inventory.explode[0].table",
        ),
        (
            "table: inv_apps",
            "table: 'inv_a\"; DROP TABLE users; --'",
            "inventory.explode[0].table",
        ),
        (
            "{field: version}",
            "{field: 'v\"); DROP TABLE users; --'}",
            "inventory.explode[0].columns[1].field",
        ),
        ("id: apps", "id: other-apps", "inventory.explode[0].table"),
    ];
    for (from, to, field) in cases {
        let resp = b
            .http
            .post(b.url("/api/jobs"))
            .body(APPS.replace(from, to))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{to}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"]["field"], field, "{to}: {body}");
    }
    assert!(
        b.query_i64("SELECT COUNT(*) FROM users") >= 1,
        "users untouched"
    );
    assert_eq!(
        b.query_i64(
            "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name GLOB 'inv_*'"
        ),
        1
    );
}

#[tokio::test]
async fn a_broken_block_is_recorded_on_the_result_and_the_other_block_still_applies() {
    let b = TestBackend::start().await;
    register(
        &b,
        "
id: both
version: 1
execute: {shell: sh, script: x, timeout: 30s}
inventory: {}
check: {name: both-check, label: Both}
",
    )
    .await;
    let stdout = "#KANADE-INVENTORY-BEGIN\n{\"os\": \"linux\",,}\n#KANADE-INVENTORY-END\n\
                  #KANADE-CHECK-BEGIN\n{\"status\": \"warn\", \"detail\": \"meh\"}\n#KANADE-CHECK-END\n";
    let r = run("both", "pc1", stdout, 0, Utc::now());
    publish(&b, &r).await;
    projected(&b, &r).await;
    let detail: ResultDetail = b.get(&format!("/api/results/{}", r.result_id)).await;
    assert_eq!(detail.hint_errors.len(), 1, "{:?}", detail.hint_errors);
    assert!(detail.hint_errors[0].starts_with("inventory: the payload is not valid JSON"));
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM inventory_facts"), 0);
    assert_eq!(
        rows(&b, "SELECT status, detail, label FROM check_status"),
        ["warn|meh|Both"]
    );
}

#[tokio::test]
async fn the_shipped_jobs_register_and_their_real_output_fills_the_tables() {
    let b = TestBackend::start().await;
    let dir = std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../jobs"));
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 7, "{files:?}");
    let mut results = Vec::new();
    for path in &files {
        let text = std::fs::read_to_string(path).unwrap();
        register(&b, &text).await;
        let manifest = kanade_protocol::manifest::Manifest::parse(&text).unwrap();
        let output = std::process::Command::new("sh")
            .arg("-c")
            .arg(manifest.script().unwrap())
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let code = output.status.code().unwrap_or(-1);
        let r = run(&manifest.id, "this-host", &stdout, code, Utc::now());
        publish(&b, &r).await;
        results.push(r);
    }
    for r in &results {
        projected(&b, r).await;
        let detail: ResultDetail = b.get(&format!("/api/results/{}", r.result_id)).await;
        assert!(
            detail.hint_errors.is_empty(),
            "{}: {:?}",
            r.job_id,
            detail.hint_errors
        );
    }
    assert!(b.query_i64("SELECT COUNT(*) FROM inv_packages WHERE pc_id = 'this-host'") > 0);
    assert!(b.query_i64("SELECT COUNT(*) FROM inv_filesystems WHERE mount = '/'") == 1);
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM check_status WHERE pc_id = 'this-host'"),
        4,
        "disk-usage, ssh-root-login, ssh-password-auth, security-updates"
    );
    let name = rows(&b, "SELECT name FROM inv_packages ORDER BY name LIMIT 1").remove(0);
    let found: InventorySearch = b
        .get(&format!(
            "/api/inventory/search?table=inv_packages&name={name}"
        ))
        .await;
    assert!(found.total >= 1, "{name} is found by name");
}

/// Explode tables may carry the original's names (`inventory_sw_apps`), never one of kanade's
/// own: the protocol's lists of kanade's tables and indexes, which decide that, must name
/// everything the migrations create.
#[tokio::test]
async fn explode_tables_take_the_original_s_names_and_never_kanade_s_own() {
    let b = TestBackend::start().await;
    let kinds = |kind: &str| {
        rows(
            &b,
            &format!(
                "SELECT name FROM sqlite_master WHERE type = '{kind}' AND name NOT LIKE 'sqlite_%' ORDER BY name"
            ),
        )
    };
    let mut tables = kinds("table");
    tables.extend(kinds("view"));
    for table in &tables {
        assert!(
            kanade_protocol::manifest::KANADE_TABLES.contains(&table.as_str()),
            "kanade's table {table} is missing from manifest::KANADE_TABLES"
        );
    }
    for index in kinds("index") {
        assert!(
            kanade_protocol::manifest::KANADE_INDEXES.contains(&index.as_str()),
            "kanade's index {index} is missing from manifest::KANADE_INDEXES"
        );
    }

    register(
        &b,
        &APPS.replace("table: inv_apps", "table: inventory_sw_apps"),
    )
    .await;
    let schema =
        "SELECT name FROM sqlite_master WHERE tbl_name = 'inventory_sw_apps' AND type = 'table'";
    assert_eq!(rows(&b, schema), ["inventory_sw_apps"]);
    let clash = b
        .http
        .post(b.url("/api/jobs"))
        .body(APPS.replace("table: inv_apps", "table: audit_log"))
        .send()
        .await
        .unwrap();
    assert_eq!(clash.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
