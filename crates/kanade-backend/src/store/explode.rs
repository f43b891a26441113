//! Explode tables: one real table per inventory `explode:` spec, holding one row per array item
//! of each machine's latest run. Columns are `pc_id`, `job_id`, `collected_at` and the spec's
//! typed columns; the primary key is `(pc_id, job_id, <spec primary_key…>)`; `index: true`
//! columns get `idx_<table>_<column>`.
//!
//! Every identifier comes from a validated spec (`inv_` prefix, `[A-Za-z_][A-Za-z0-9_]{0,63}`)
//! and is checked again here before it is double-quoted into SQL; values are always bound.

use std::collections::BTreeMap;

use kanade_protocol::api::InventorySearch;
use kanade_protocol::manifest::{ColumnType, ExplodeSpec, is_explode_table, is_sql_identifier};
use rusqlite::types::{Value as SqlValue, ValueRef};
use rusqlite::{Connection, Transaction, params_from_iter};
use serde_json::{Map, Value};

/// The rows of one machine in one table, by identity (the JSON of the primary key values).
pub type Rows = BTreeMap<String, Map<String, Value>>;

/// A search condition, already checked against the spec.
#[derive(Debug, Clone, PartialEq)]
pub struct Filter {
    pub column: String,
    pub op: Op,
    pub values: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Contains,
    StartsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    In,
}

impl Op {
    pub fn parse(text: &str) -> Option<Op> {
        Some(match text {
            "eq" => Op::Eq,
            "ne" => Op::Ne,
            "contains" => Op::Contains,
            "startswith" => Op::StartsWith,
            "gt" => Op::Gt,
            "gte" => Op::Gte,
            "lt" => Op::Lt,
            "lte" => Op::Lte,
            "in" => Op::In,
            _ => return None,
        })
    }
}

struct Column {
    name: String,
    sql_type: &'static str,
    /// 1-based position in the primary key, 0 when not part of it.
    pk: usize,
}

fn sql_type(kind: ColumnType) -> &'static str {
    match kind {
        ColumnType::Text => "TEXT",
        ColumnType::Integer => "INTEGER",
        ColumnType::Real => "REAL",
    }
}

fn unsafe_name(name: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidParameterName(format!("refusing unsafe SQL identifier `{name}`"))
}

/// `"name"`, after checking it is an identifier a spec may use.
fn quote(name: &str) -> rusqlite::Result<String> {
    match is_sql_identifier(name) {
        true => Ok(format!("\"{name}\"")),
        false => Err(unsafe_name(name)),
    }
}

/// Whether every identifier of `spec` is one this module will quote.
pub fn is_safe(spec: &ExplodeSpec) -> bool {
    is_explode_table(&spec.table)
        && spec.columns.iter().all(|c| is_sql_identifier(&c.field))
        && spec
            .primary_key
            .iter()
            .all(|k| spec.columns.iter().any(|c| &c.field == k))
}

/// The columns of the spec's table in order: the three kanade adds, then the declared ones.
pub fn column_names(spec: &ExplodeSpec) -> Vec<String> {
    desired(spec).into_iter().map(|c| c.name).collect()
}

fn desired(spec: &ExplodeSpec) -> Vec<Column> {
    let mut columns = vec![
        Column {
            name: "pc_id".into(),
            sql_type: "TEXT",
            pk: 1,
        },
        Column {
            name: "job_id".into(),
            sql_type: "TEXT",
            pk: 2,
        },
        Column {
            name: "collected_at".into(),
            sql_type: "TEXT",
            pk: 0,
        },
    ];
    for column in &spec.columns {
        let pk = spec
            .primary_key
            .iter()
            .position(|k| k == &column.field)
            .map_or(0, |i| i + 3);
        columns.push(Column {
            name: column.field.clone(),
            sql_type: sql_type(column.kind),
            pk,
        });
    }
    columns
}

fn create_sql(table: &str, columns: &[Column]) -> rusqlite::Result<String> {
    let mut defs = Vec::with_capacity(columns.len() + 1);
    for column in columns {
        let not_null = if column.pk > 0 || column.name == "collected_at" {
            " NOT NULL"
        } else {
            ""
        };
        defs.push(format!(
            "{} {}{not_null}",
            quote(&column.name)?,
            column.sql_type
        ));
    }
    let mut pk: Vec<&Column> = columns.iter().filter(|c| c.pk > 0).collect();
    pk.sort_by_key(|c| c.pk);
    let keys = pk
        .iter()
        .map(|c| quote(&c.name))
        .collect::<rusqlite::Result<Vec<_>>>()?;
    defs.push(format!("PRIMARY KEY ({})", keys.join(", ")));
    Ok(format!("CREATE TABLE {table} ({})", defs.join(", ")))
}

/// Brings the spec's table to the spec's shape: creates it when missing; adds new columns in
/// place (`ALTER TABLE … ADD COLUMN`); any other change (a type, the primary key, a removed
/// column) rebuilds it inside the caller's transaction, keeping the rows that still fit.
/// Then creates the wanted indexes and drops the ones no longer wanted.
pub fn reconcile(tx: &Transaction<'_>, spec: &ExplodeSpec) -> rusqlite::Result<()> {
    if !is_safe(spec) {
        return Err(unsafe_name(&spec.table));
    }
    let table = quote(&spec.table)?;
    let want = desired(spec);
    let have: Vec<(String, String, usize)> = {
        let mut stmt = tx.prepare("SELECT name, type, pk FROM pragma_table_info(?1)")?;
        stmt.query_map([&spec.table], |r| {
            let pk: i64 = r.get(2)?;
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                usize::try_from(pk).unwrap_or(0),
            ))
        })?
        .collect::<rusqlite::Result<_>>()?
    };
    if have.is_empty() {
        tx.execute_batch(&create_sql(&table, &want)?)?;
    } else {
        let same = |w: &Column, h: &(String, String, usize)| {
            w.name.eq_ignore_ascii_case(&h.0)
                && w.sql_type.eq_ignore_ascii_case(&h.1)
                && w.pk == h.2
        };
        let kept_in_place = have.iter().all(|h| want.iter().any(|w| same(w, h)));
        let added: Vec<&Column> = want
            .iter()
            .filter(|w| !have.iter().any(|h| w.name.eq_ignore_ascii_case(&h.0)))
            .collect();
        if kept_in_place && added.iter().all(|c| c.pk == 0) {
            for column in added {
                tx.execute_batch(&format!(
                    "ALTER TABLE {table} ADD COLUMN {} {}",
                    quote(&column.name)?,
                    column.sql_type
                ))?;
            }
        } else {
            rebuild(tx, spec, &want, &have)?;
        }
    }
    reconcile_indexes(tx, spec)
}

fn rebuild(
    tx: &Transaction<'_>,
    spec: &ExplodeSpec,
    want: &[Column],
    have: &[(String, String, usize)],
) -> rusqlite::Result<()> {
    let table = quote(&spec.table)?;
    // A space cannot appear in a spec's table name, so this never names a real table.
    let scratch = format!("\"{} rebuild\"", spec.table);
    tx.execute_batch(&format!("DROP TABLE IF EXISTS {scratch}"))?;
    tx.execute_batch(&create_sql(&scratch, want)?)?;
    let common = want
        .iter()
        .filter(|w| have.iter().any(|h| w.name.eq_ignore_ascii_case(&h.0)))
        .map(|w| quote(&w.name))
        .collect::<rusqlite::Result<Vec<_>>>()?
        .join(", ");
    tx.execute_batch(&format!(
        "INSERT OR IGNORE INTO {scratch} ({common}) SELECT {common} FROM {table};
         DROP TABLE {table};
         ALTER TABLE {scratch} RENAME TO {table};"
    ))?;
    tracing::info!(table = %spec.table, "explode table rebuilt for its changed spec");
    Ok(())
}

fn reconcile_indexes(tx: &Transaction<'_>, spec: &ExplodeSpec) -> rusqlite::Result<()> {
    let table = quote(&spec.table)?;
    let prefix = format!("idx_{}_", spec.table);
    let wanted: Vec<(String, &str)> = spec
        .columns
        .iter()
        .filter(|c| c.index)
        .map(|c| (format!("{prefix}{}", c.field), c.field.as_str()))
        .collect();
    let existing: Vec<String> = {
        let mut stmt = tx.prepare("SELECT name FROM pragma_index_list(?1) WHERE origin = 'c'")?;
        stmt.query_map([&spec.table], |r| r.get(0))?
            .collect::<rusqlite::Result<_>>()?
    };
    for name in &existing {
        let ours = name.len() > prefix.len() && name[..prefix.len()].eq_ignore_ascii_case(&prefix);
        if ours && !wanted.iter().any(|(w, _)| w.eq_ignore_ascii_case(name)) {
            // The name is `idx_` + a checked table + `_` + a checked column.
            if is_sql_identifier(&name[prefix.len()..]) {
                tx.execute_batch(&format!("DROP INDEX IF EXISTS \"{name}\""))?;
            }
        }
    }
    for (name, column) in wanted {
        tx.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS \"{name}\" ON {table} ({})",
            quote(column)?
        ))?;
    }
    Ok(())
}

/// A JSON value as the column type stores it, so what is written and what is compared in
/// history diffs are the same.
pub fn to_sql(value: &Value, kind: ColumnType) -> SqlValue {
    let text_of = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    match (value, kind) {
        (Value::Null, _) => SqlValue::Null,
        (Value::Bool(b), ColumnType::Text) => SqlValue::Text(b.to_string()),
        (Value::Bool(b), ColumnType::Integer) => SqlValue::Integer(i64::from(*b)),
        (Value::Bool(b), ColumnType::Real) => SqlValue::Real(f64::from(u8::from(*b))),
        (Value::Number(n), ColumnType::Integer) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => SqlValue::Integer(i),
            (None, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => SqlValue::Integer(f as i64),
            (None, Some(f)) => SqlValue::Real(f),
            (None, None) => SqlValue::Text(n.to_string()),
        },
        (Value::Number(n), ColumnType::Real) => match n.as_f64() {
            Some(f) => SqlValue::Real(f),
            None => SqlValue::Text(n.to_string()),
        },
        (Value::String(s), ColumnType::Integer) => text_param(s, kind),
        (Value::String(s), ColumnType::Real) => text_param(s, kind),
        (other, _) => SqlValue::Text(text_of(other)),
    }
}

/// A text (from a query string or a JSON string) as the column type stores it: a number
/// when it reads as one in a numeric column, else the text.
pub fn text_param(text: &str, kind: ColumnType) -> SqlValue {
    let trimmed = text.trim();
    match kind {
        ColumnType::Text => SqlValue::Text(text.to_owned()),
        ColumnType::Integer => match (trimmed.parse::<i64>(), trimmed.parse::<f64>()) {
            (Ok(i), _) => SqlValue::Integer(i),
            (_, Ok(f)) if f.is_finite() => SqlValue::Real(f),
            _ => SqlValue::Text(text.to_owned()),
        },
        ColumnType::Real => match trimmed.parse::<f64>() {
            Ok(f) if f.is_finite() => SqlValue::Real(f),
            _ => SqlValue::Text(text.to_owned()),
        },
    }
}

/// A stored value as JSON.
pub fn to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        ValueRef::Real(f) => serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::String(String::from_utf8_lossy(b).into_owned()),
    }
}

/// The identity of a row: its primary key values as a JSON object, in spec order.
pub fn identity(spec: &ExplodeSpec, row: &Map<String, Value>) -> String {
    let mut key = Map::new();
    for field in &spec.primary_key {
        key.insert(
            field.clone(),
            row.get(field).cloned().unwrap_or(Value::Null),
        );
    }
    Value::Object(key).to_string()
}

/// One machine's current rows of a spec (declared columns only), by identity.
pub fn rows(
    tx: &Transaction<'_>,
    spec: &ExplodeSpec,
    pc_id: &str,
    job_id: &str,
) -> rusqlite::Result<Rows> {
    let columns = spec
        .columns
        .iter()
        .map(|c| quote(&c.field))
        .collect::<rusqlite::Result<Vec<_>>>()?
        .join(", ");
    let mut stmt = tx.prepare(&format!(
        "SELECT {columns} FROM {} WHERE pc_id = ?1 AND job_id = ?2",
        quote(&spec.table)?
    ))?;
    let mut out = Rows::new();
    let mut found = stmt.query([pc_id, job_id])?;
    while let Some(row) = found.next()? {
        let mut item = Map::new();
        for (i, column) in spec.columns.iter().enumerate() {
            item.insert(column.field.clone(), to_json(row.get_ref(i)?));
        }
        out.insert(identity(spec, &item), item);
    }
    Ok(out)
}

/// The rows `items` (one run's array) become, normalised to the column types, by identity.
/// Items that are not objects or lack a primary key value are left out and reported.
pub fn normalise(spec: &ExplodeSpec, items: &[Value]) -> (Rows, Vec<String>) {
    let mut rows = Rows::new();
    let mut problems = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let Value::Object(object) = item else {
            problems.push(format!("{}[{i}] is not an object", spec.field));
            continue;
        };
        let mut row = Map::new();
        for column in &spec.columns {
            let value = object.get(&column.field).unwrap_or(&Value::Null);
            row.insert(
                column.field.clone(),
                to_json(ValueRef::from(&to_sql(value, column.kind))),
            );
        }
        if let Some(missing) = spec.primary_key.iter().find(|k| row[k.as_str()].is_null()) {
            problems.push(format!(
                "{}[{i}] has no value for primary key `{missing}`",
                spec.field
            ));
            continue;
        }
        rows.insert(identity(spec, &row), row);
    }
    (rows, problems)
}

/// Replaces one machine's rows of a spec with `rows`.
pub fn replace(
    tx: &Transaction<'_>,
    spec: &ExplodeSpec,
    pc_id: &str,
    job_id: &str,
    collected_at: &str,
    rows: &Rows,
) -> rusqlite::Result<()> {
    let table = quote(&spec.table)?;
    tx.execute(
        &format!("DELETE FROM {table} WHERE pc_id = ?1 AND job_id = ?2"),
        [pc_id, job_id],
    )?;
    let mut names = vec![
        "\"pc_id\"".to_owned(),
        "\"job_id\"".to_owned(),
        "\"collected_at\"".to_owned(),
    ];
    for column in &spec.columns {
        names.push(quote(&column.field)?);
    }
    let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
    let mut stmt = tx.prepare(&format!(
        "INSERT OR REPLACE INTO {table} ({}) VALUES ({})",
        names.join(", "),
        marks.join(", ")
    ))?;
    for row in rows.values() {
        let mut values = vec![
            SqlValue::Text(pc_id.to_owned()),
            SqlValue::Text(job_id.to_owned()),
            SqlValue::Text(collected_at.to_owned()),
        ];
        for column in &spec.columns {
            values.push(to_sql(&row[column.field.as_str()], column.kind));
        }
        stmt.execute(params_from_iter(values))?;
    }
    Ok(())
}

/// Rows of the spec's table matching every filter, ordered by machine then primary key.
pub fn search(
    conn: &Connection,
    spec: &ExplodeSpec,
    filters: &[Filter],
    limit: u32,
    offset: u64,
) -> rusqlite::Result<InventorySearch> {
    let table = quote(&spec.table)?;
    let kind_of = |column: &str| {
        spec.columns
            .iter()
            .find(|c| c.field == column)
            .map_or(ColumnType::Text, |c| c.kind)
    };
    let mut conditions = Vec::new();
    let mut values: Vec<SqlValue> = Vec::new();
    for filter in filters {
        let column = quote(&filter.column)?;
        let kind = kind_of(&filter.column);
        let mut bind = |value: SqlValue| {
            values.push(value);
            format!("?{}", values.len())
        };
        let first = filter.values.first().cloned().unwrap_or_default();
        let condition = match filter.op {
            Op::Eq => format!("{column} = {}", bind(text_param(&first, kind))),
            Op::Ne => format!("{column} IS NOT {}", bind(text_param(&first, kind))),
            Op::Gt => format!("{column} > {}", bind(text_param(&first, kind))),
            Op::Gte => format!("{column} >= {}", bind(text_param(&first, kind))),
            Op::Lt => format!("{column} < {}", bind(text_param(&first, kind))),
            Op::Lte => format!("{column} <= {}", bind(text_param(&first, kind))),
            Op::Contains => format!(
                "{column} LIKE {} ESCAPE '\\'",
                bind(SqlValue::Text(format!("%{}%", escape_like(&first))))
            ),
            Op::StartsWith => format!(
                "{column} LIKE {} ESCAPE '\\'",
                bind(SqlValue::Text(format!("{}%", escape_like(&first))))
            ),
            Op::In => {
                let marks: Vec<String> = filter
                    .values
                    .iter()
                    .map(|v| bind(text_param(v, kind)))
                    .collect();
                format!("{column} IN ({})", marks.join(", "))
            }
        };
        conditions.push(condition);
    }
    let condition = match conditions.is_empty() {
        true => "1".to_owned(),
        false => conditions.join(" AND "),
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM {table} WHERE {condition}"),
        params_from_iter(values.iter()),
        |r| r.get(0),
    )?;
    let columns = column_names(spec);
    let mut order = vec!["\"pc_id\"".to_owned()];
    for key in &spec.primary_key {
        order.push(quote(key)?);
    }
    let select = columns
        .iter()
        .map(|c| quote(c))
        .collect::<rusqlite::Result<Vec<_>>>()?
        .join(", ");
    values.push(SqlValue::Integer(i64::from(limit)));
    values.push(SqlValue::Integer(i64::try_from(offset).unwrap_or(i64::MAX)));
    let n = values.len();
    let mut stmt = conn.prepare(&format!(
        "SELECT {select} FROM {table} WHERE {condition} ORDER BY {} LIMIT ?{} OFFSET ?{n}",
        order.join(", "),
        n - 1
    ))?;
    let mut found = stmt.query(params_from_iter(values.iter()))?;
    let mut items = Vec::new();
    while let Some(row) = found.next()? {
        let mut item = Map::new();
        for (i, column) in columns.iter().enumerate() {
            item.insert(column.clone(), to_json(row.get_ref(i)?));
        }
        items.push(item);
    }
    Ok(InventorySearch {
        table: spec.table.clone(),
        columns,
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit,
        offset,
    })
}

fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests;
