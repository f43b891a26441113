//! `inventory_facts` (the latest inventory object per machine and job) and
//! `inventory_history` (what changed between two runs).

use chrono::{DateTime, Utc};
use kanade_protocol::api::{InventoryChange, InventoryFacts, Page};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::store::{parse_ts, ts};

/// The stored facts of one machine and job: when they were collected and the object.
pub fn current(
    tx: &Transaction<'_>,
    pc_id: &str,
    job_id: &str,
) -> rusqlite::Result<Option<(DateTime<Utc>, serde_json::Value)>> {
    let row: Option<(String, String)> = tx
        .query_row(
            "SELECT collected_at, facts_json FROM inventory_facts WHERE pc_id = ?1 AND job_id = ?2",
            [pc_id, job_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    Ok(row.map(|(at, facts)| {
        (
            parse_ts(Some(at)).unwrap_or(DateTime::<Utc>::MIN_UTC),
            serde_json::from_str(&facts).unwrap_or(serde_json::Value::Null),
        )
    }))
}

pub struct NewFacts<'a> {
    pub pc_id: &'a str,
    pub job_id: &'a str,
    pub facts: &'a serde_json::Value,
    pub display: &'a serde_json::Value,
    pub summary: &'a serde_json::Value,
    pub collected_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

pub fn upsert(tx: &Transaction<'_>, f: &NewFacts<'_>) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO inventory_facts (pc_id, job_id, facts_json, display_json, summary_json,
             collected_at, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (pc_id, job_id) DO UPDATE SET
             facts_json = excluded.facts_json, display_json = excluded.display_json,
             summary_json = excluded.summary_json, collected_at = excluded.collected_at,
             recorded_at = excluded.recorded_at",
        params![
            f.pc_id,
            f.job_id,
            f.facts.to_string(),
            f.display.to_string(),
            f.summary.to_string(),
            ts(f.collected_at),
            ts(f.recorded_at),
        ],
    )?;
    Ok(())
}

pub struct Change<'a> {
    pub pc_id: &'a str,
    pub job_id: &'a str,
    pub field_path: &'a str,
    pub identity: serde_json::Value,
    pub kind: &'static str,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub observed_at: DateTime<Utc>,
}

pub fn record_change(tx: &Transaction<'_>, c: &Change<'_>) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO inventory_history (pc_id, job_id, field_path, identity_json, change_kind,
             before_json, after_json, observed_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        c.pc_id,
        c.job_id,
        c.field_path,
        c.identity.to_string(),
        c.kind,
        c.before.to_string(),
        c.after.to_string(),
        ts(c.observed_at),
    ])?;
    Ok(())
}

fn json(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::Null)
}

fn facts(row: &Row<'_>) -> rusqlite::Result<InventoryFacts> {
    Ok(InventoryFacts {
        pc_id: row.get(0)?,
        job_id: row.get(1)?,
        facts: json(row.get(2)?),
        summary: json(row.get(3)?),
        collected_at: parse_ts(row.get(4)?).unwrap_or_default(),
        recorded_at: parse_ts(row.get(5)?).unwrap_or_default(),
    })
}

const FACT_COLUMNS: &str = "pc_id, job_id, facts_json, summary_json, collected_at, recorded_at";

/// One job across machines, by machine id; `pc` narrows to ids containing it.
pub fn for_job(
    conn: &Connection,
    job_id: &str,
    pc: Option<&str>,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Page<InventoryFacts>> {
    let condition = "job_id = ?1 AND (?2 IS NULL OR instr(pc_id, ?2) > 0)";
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM inventory_facts WHERE {condition}"),
        params![job_id, pc],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FACT_COLUMNS} FROM inventory_facts WHERE {condition}
         ORDER BY pc_id LIMIT ?3 OFFSET ?4"
    ))?;
    let items = stmt
        .query_map(
            params![job_id, pc, limit, i64::try_from(offset).unwrap_or(i64::MAX)],
            facts,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit,
        offset,
    })
}

/// Every job's inventory of one machine, by job id.
pub fn for_pc(conn: &Connection, pc_id: &str) -> rusqlite::Result<Vec<InventoryFacts>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {FACT_COLUMNS} FROM inventory_facts WHERE pc_id = ?1 ORDER BY job_id"
    ))?;
    stmt.query_map([pc_id], facts)?.collect()
}

/// Changes, newest first, optionally for one machine and/or one job.
pub fn history(
    conn: &Connection,
    pc_id: Option<&str>,
    job_id: Option<&str>,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Page<InventoryChange>> {
    let condition = "(?1 IS NULL OR pc_id = ?1) AND (?2 IS NULL OR job_id = ?2)";
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM inventory_history WHERE {condition}"),
        params![pc_id, job_id],
        |r| r.get(0),
    )?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT id, pc_id, job_id, field_path, identity_json, change_kind, before_json,
             after_json, observed_at
         FROM inventory_history WHERE {condition}
         ORDER BY observed_at DESC, id DESC LIMIT ?3 OFFSET ?4"
    ))?;
    let items = stmt
        .query_map(
            params![
                pc_id,
                job_id,
                limit,
                i64::try_from(offset).unwrap_or(i64::MAX)
            ],
            |r| {
                Ok(InventoryChange {
                    id: r.get(0)?,
                    pc_id: r.get(1)?,
                    job_id: r.get(2)?,
                    field_path: r.get(3)?,
                    identity: json(r.get(4)?),
                    change_kind: r.get(5)?,
                    before: json(r.get(6)?),
                    after: json(r.get(7)?),
                    observed_at: parse_ts(r.get(8)?).unwrap_or_default(),
                })
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit,
        offset,
    })
}
