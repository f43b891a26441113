//! Unit tests of `explode`.

use super::*;
use kanade_protocol::manifest::Manifest;

fn spec(yaml_columns: &str, pk: &str) -> ExplodeSpec {
    let text = format!(
        "id: j\nversion: 1\nexecute: {{shell: sh, script: x, timeout: 5s}}\ninventory:\n  explode:\n    - {{field: apps, table: inv_apps, primary_key: [{pk}], columns: [{yaml_columns}]}}\n"
    );
    Manifest::parse(&text)
        .unwrap()
        .inventory
        .unwrap()
        .explode
        .remove(0)
}

fn schema(conn: &Connection) -> String {
    let mut stmt = conn
        .prepare("SELECT name, type, pk FROM pragma_table_info('inv_apps')")
        .unwrap();
    let cols: Vec<String> = stmt
        .query_map([], |r| {
            Ok(format!(
                "{}:{}:{}",
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?
            ))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let mut stmt = conn
        .prepare("SELECT name FROM pragma_index_list('inv_apps') WHERE origin = 'c' ORDER BY name")
        .unwrap();
    let idx: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    format!("{} | {}", cols.join(" "), idx.join(" "))
}

fn apply(conn: &mut Connection, spec: &ExplodeSpec) {
    let tx = conn.transaction().unwrap();
    reconcile(&tx, spec).unwrap();
    tx.commit().unwrap();
}

#[test]
fn tables_are_created_extended_in_place_and_rebuilt() {
    let mut conn = Connection::open_in_memory().unwrap();
    let v1 = spec(
        "{field: name, index: true}, {field: size, type: integer}",
        "name",
    );
    apply(&mut conn, &v1);
    assert_eq!(
        schema(&conn),
        "pc_id:TEXT:1 job_id:TEXT:2 collected_at:TEXT:0 name:TEXT:3 size:INTEGER:0 | idx_inv_apps_name"
    );
    let tx = conn.transaction().unwrap();
    let (rows, problems) = normalise(
        &v1,
        &[
            serde_json::json!({"name": "a", "size": "12"}),
            serde_json::json!({"size": 1}),
            serde_json::json!(3),
        ],
    );
    assert_eq!(problems.len(), 2);
    replace(&tx, &v1, "pc1", "j", "t", &rows).unwrap();
    tx.commit().unwrap();

    let v2 = spec(
        "{field: name}, {field: vendor, index: true}, {field: size, type: integer}",
        "name",
    );
    apply(&mut conn, &v2);
    assert_eq!(
        schema(&conn),
        "pc_id:TEXT:1 job_id:TEXT:2 collected_at:TEXT:0 name:TEXT:3 size:INTEGER:0 vendor:TEXT:0 | idx_inv_apps_vendor"
    );
    let v3 = spec("{field: name}, {field: size, type: real}", "name");
    apply(&mut conn, &v3);
    assert_eq!(
        schema(&conn),
        "pc_id:TEXT:1 job_id:TEXT:2 collected_at:TEXT:0 name:TEXT:3 size:REAL:0 | "
    );
    let size: f64 = conn
        .query_row("SELECT size FROM inv_apps WHERE name = 'a'", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(size, 12.0, "the row survived the rebuild");
}

#[test]
fn values_follow_the_column_type() {
    let cases = [
        (
            serde_json::json!("42"),
            ColumnType::Integer,
            SqlValue::Integer(42),
        ),
        (
            serde_json::json!(4.0),
            ColumnType::Integer,
            SqlValue::Integer(4),
        ),
        (
            serde_json::json!(true),
            ColumnType::Integer,
            SqlValue::Integer(1),
        ),
        (
            serde_json::json!("x"),
            ColumnType::Integer,
            SqlValue::Text("x".into()),
        ),
        (
            serde_json::json!(7),
            ColumnType::Text,
            SqlValue::Text("7".into()),
        ),
        (
            serde_json::json!([1]),
            ColumnType::Text,
            SqlValue::Text("[1]".into()),
        ),
        (
            serde_json::json!("2.5"),
            ColumnType::Real,
            SqlValue::Real(2.5),
        ),
    ];
    for (json, kind, want) in cases {
        assert_eq!(to_sql(&json, kind), want, "{json} as {kind:?}");
    }
}
