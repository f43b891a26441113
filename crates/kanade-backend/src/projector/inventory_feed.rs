//! INVENTORY (`inventory.<pc>.<kind>`) → `inventory_facts`: the original kanade's legacy
//! inventory feed (agents before its v0.14 published WMI snapshots, `hw`, `sw` or `net`, on
//! their own stream; later ones send inventory as job results, which the results projector
//! handles from the job's `inventory` hint). Each message is one JSON object, kept as the
//! facts of job `legacy-<kind>` for the machine its subject names, newest wins, so it shows
//! with the other inventory and derived-group conditions can read it. Nothing here touches
//! results, so a machine's inventory is never projected twice.

use chrono::{DateTime, Utc};
use kanade_protocol::names;
use kanade_protocol::subject;
use rusqlite::Transaction;

use crate::projector::{Durable, Meta, Projection};
use crate::store::inventory::{self, NewFacts};

pub struct LegacyFeed;

/// One legacy snapshot.
#[derive(Debug)]
pub struct Snapshot {
    pub pc_id: String,
    pub job_id: String,
    pub facts: serde_json::Value,
    pub collected_at: Option<DateTime<Utc>>,
}

impl Projection for LegacyFeed {
    type Event = Snapshot;
    type Effect = ();
    const DURABLE: Durable = Durable {
        stream: names::STREAM_INVENTORY,
        consumer: names::CONSUMER_INVENTORY,
        filter: subject::INVENTORY_FILTER,
    };

    fn decode(subject: &str, payload: &[u8]) -> Result<Snapshot, String> {
        let (pc_id, kind) = subject::inventory_parts(subject)
            .ok_or_else(|| format!("{subject} is not inventory.<pc>.<kind>"))?;
        kanade_protocol::ids::IdKind::Machine
            .check(pc_id)
            .map_err(|e| e.to_string())?;
        let facts: serde_json::Value =
            serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if !facts.is_object() {
            return Err("a legacy inventory snapshot is a JSON object".to_owned());
        }
        let collected_at = ["collected_at", "timestamp", "ts"]
            .iter()
            .find_map(|k| facts.get(*k).and_then(|v| v.as_str()))
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.to_utc());
        Ok(Snapshot {
            pc_id: pc_id.to_owned(),
            job_id: format!("legacy-{kind}"),
            facts,
            collected_at,
        })
    }

    fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &Snapshot,
        meta: Meta,
        _effects: &mut Vec<()>,
    ) -> rusqlite::Result<()> {
        let collected_at = event.collected_at.unwrap_or(meta.published);
        if let Some((current, _)) = inventory::current(tx, &event.pc_id, &event.job_id)?
            && current > collected_at
        {
            return Ok(());
        }
        inventory::upsert(
            tx,
            &NewFacts {
                pc_id: &event.pc_id,
                job_id: &event.job_id,
                facts: &event.facts,
                display: &serde_json::json!([]),
                summary: &serde_json::json!({}),
                collected_at,
                recorded_at: meta.published,
            },
        )
    }
}
