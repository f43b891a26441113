//! AUDIT → `audit_log` (idempotent on the stream sequence). An `exec` event also (re)creates
//! its `executions` row, so a wiped read model gets its executions back on replay.

use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::{AuditEvent, ExecutionRecord};
use rusqlite::Transaction;

use crate::projector::{Durable, Meta, Projection};
use crate::store;

pub struct Audit;

impl Projection for Audit {
    type Event = AuditEvent;
    type Effect = ();
    const DURABLE: Durable = Durable {
        stream: names::STREAM_AUDIT,
        consumer: names::CONSUMER_AUDIT,
        filter: subject::AUDIT_FILTER,
    };

    fn decode(_subject: &str, payload: &[u8]) -> Result<AuditEvent, String> {
        let ev: AuditEvent = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if ev.actor.is_empty() || ev.action.is_empty() {
            return Err("actor and action must not be empty".to_owned());
        }
        Ok(ev)
    }

    fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &AuditEvent,
        meta: Meta,
        _effects: &mut Vec<()>,
    ) -> rusqlite::Result<()> {
        store::audit::insert(tx, event, meta.stream_seq)?;
        if event.action == "exec" {
            match serde_json::from_value::<ExecutionRecord>(event.payload.clone()) {
                Ok(record) => store::executions::restore(tx, &record)?,
                Err(err) => tracing::warn!(%err, "exec audit event without an execution record"),
            }
        }
        Ok(())
    }
}
