//! `kanade inventory show <job> [--pc P]` and `kanade inventory search <table> col__op=v…`.

use kanade_protocol::api::{InventoryFacts, InventoryJobPage};
use kanade_protocol::manifest::DisplayField;
use serde_json::Value;

use crate::cli::{Global, InventoryCommand};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(
    command: InventoryCommand,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    match command {
        InventoryCommand::Show { job, pc, limit } => {
            show(&job, pc.as_deref(), limit, global, io).await
        }
        InventoryCommand::Search {
            table,
            filters,
            limit,
        } => search(&table, &filters, limit, global, io).await,
    }
}

async fn show(
    job: &str,
    pc: Option<&str>,
    limit: Option<u32>,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let page = client.inventory_for_job(job, pc, limit, None).await?;
    if let Some(pc) = pc {
        let Some(facts) = page.page.items.iter().find(|f| f.pc_id == pc) else {
            anyhow::bail!("no inventory of job {job} from machine {pc}");
        };
        if global.json {
            io.json(facts)?;
            return Ok(EXIT_OK);
        }
        io.print(&machine_view(&page, facts))?;
        return Ok(EXIT_OK);
    }
    if global.json {
        io.json(&page)?;
        return Ok(EXIT_OK);
    }
    io.print(&fleet_table(&page))?;
    if page.page.total > page.page.items.len() as u64 {
        io.note(&format!(
            "({} of {} machines; --limit shows more)",
            page.page.items.len(),
            page.page.total
        ));
    }
    Ok(EXIT_OK)
}

/// The columns of the machine table: the summary fields, else the display fields that are
/// not tables.
fn fleet_fields(page: &InventoryJobPage) -> Vec<DisplayField> {
    match page.summary.is_empty() {
        false => page.summary.clone(),
        true => page
            .display
            .iter()
            .filter(|f| f.kind.as_deref() != Some("table"))
            .cloned()
            .collect(),
    }
}

pub fn fleet_table(page: &InventoryJobPage) -> String {
    let fields = fleet_fields(page);
    let mut headers = vec!["pc".to_owned(), "collected".to_owned()];
    headers.extend(
        fields
            .iter()
            .map(|f| f.label.clone().unwrap_or_else(|| f.field.clone())),
    );
    let rows: Vec<Vec<String>> = page
        .page
        .items
        .iter()
        .map(|facts| {
            let mut row = vec![render::cell(&facts.pc_id), render::time(facts.collected_at)];
            row.extend(
                fields
                    .iter()
                    .map(|f| value_cell(lookup(&facts.facts, &f.field), f)),
            );
            row
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    render::table(&headers, &rows)
}

/// One machine: each scalar display field as `label  value`, each table field as a table.
/// Without display hints, every top-level field.
pub fn machine_view(page: &InventoryJobPage, facts: &InventoryFacts) -> String {
    let fields: Vec<DisplayField> = match page.display.is_empty() {
        false => page.display.clone(),
        true => facts
            .facts
            .as_object()
            .map(|o| {
                o.keys()
                    .map(|k| DisplayField {
                        field: k.clone(),
                        label: None,
                        kind: None,
                        columns: Vec::new(),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    };
    let mut pairs = vec![
        ("machine", facts.pc_id.clone()),
        ("collected", render::time(facts.collected_at)),
    ];
    let labels: Vec<String> = fields
        .iter()
        .map(|f| f.label.clone().unwrap_or_else(|| f.field.clone()))
        .collect();
    let mut tables = String::new();
    for (field, label) in fields.iter().zip(&labels) {
        let value = lookup(&facts.facts, &field.field);
        match value {
            Some(Value::Array(items))
                if field.kind.as_deref() == Some("table") || items.iter().all(Value::is_object) =>
            {
                tables.push_str(&format!("\n{label}:\n"));
                tables.push_str(&array_table(items, &field.columns));
            }
            _ => pairs.push((label.as_str(), value_cell(value, field))),
        }
    }
    let mut out = render::pairs(&pairs);
    out.push_str(&tables);
    out
}

fn array_table(items: &[Value], columns: &[DisplayField]) -> String {
    let columns: Vec<DisplayField> = match columns.is_empty() {
        false => columns.to_vec(),
        true => {
            let mut keys: Vec<String> = Vec::new();
            for item in items {
                for key in item
                    .as_object()
                    .map(|o| o.keys().cloned().collect::<Vec<_>>())
                    .unwrap_or_default()
                {
                    if !keys.contains(&key) {
                        keys.push(key);
                    }
                }
            }
            keys.into_iter()
                .map(|field| DisplayField {
                    field,
                    label: None,
                    kind: None,
                    columns: Vec::new(),
                })
                .collect()
        }
    };
    let headers: Vec<String> = columns
        .iter()
        .map(|c| c.label.clone().unwrap_or_else(|| c.field.clone()))
        .collect();
    let rows: Vec<Vec<String>> = items
        .iter()
        .map(|item| {
            columns
                .iter()
                .map(|c| value_cell(item.get(&c.field), c))
                .collect()
        })
        .collect();
    let headers: Vec<&str> = headers.iter().map(String::as_str).collect();
    render::table(&headers, &rows)
}

fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    kanade_protocol::hints::lookup(value, path)
}

/// A value as one cell, honouring `type: bytes` and `type: timestamp`.
pub fn value_cell(value: Option<&Value>, field: &DisplayField) -> String {
    match (value, field.kind.as_deref()) {
        (None | Some(Value::Null), _) => String::new(),
        (Some(Value::Number(n)), Some("bytes")) => n
            .as_u64()
            .map(render::bytes)
            .unwrap_or_else(|| n.to_string()),
        (Some(Value::Number(n)), Some("timestamp")) => n
            .as_i64()
            .and_then(|s| chrono::DateTime::from_timestamp(s, 0))
            .map(render::time)
            .unwrap_or_else(|| n.to_string()),
        (Some(Value::String(s)), _) => render::cell(s),
        (Some(other), _) => render::cell(&other.to_string()),
    }
}

async fn search(
    table: &str,
    filters: &[String],
    limit: Option<u32>,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let pairs = filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| BadInput::err(format!("`{f}` is not column__op=value")))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let client = api_client(global)?;
    let found = client.inventory_search(table, &pairs, limit, None).await?;
    if global.json {
        io.json(&found)?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = found
        .items
        .iter()
        .map(|item| {
            found
                .columns
                .iter()
                .map(|c| match item.get(c) {
                    None | Some(Value::Null) => String::new(),
                    Some(Value::String(s)) => render::cell(s),
                    Some(other) => render::cell(&other.to_string()),
                })
                .collect()
        })
        .collect();
    let headers: Vec<&str> = found.columns.iter().map(String::as_str).collect();
    io.print(&render::table(&headers, &rows))?;
    io.note(&format!("{} of {} rows", found.items.len(), found.total));
    Ok(EXIT_OK)
}
