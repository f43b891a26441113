//! AUDIT → `audit_log` (idempotent on the stream sequence). An `exec` event also (re)creates
//! its `executions` row, so a wiped read model gets its executions back on replay; the
//! `approval.*` events do the same for the two-person rule's requests and their decisions.

use kanade_protocol::approval::{self, ApprovalDecision, ApprovalRecord};
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
        match event.action.as_str() {
            "exec" => match serde_json::from_value::<ExecutionRecord>(event.payload.clone()) {
                Ok(record) => store::executions::restore(tx, &record)?,
                Err(err) => tracing::warn!(%err, "exec audit event without an execution record"),
            },
            approval::ACTION_REQUEST => {
                match serde_json::from_value::<ApprovalRecord>(event.payload.clone()) {
                    Ok(record) => store::approvals::insert(tx, &record)?,
                    Err(err) => tracing::warn!(%err, "approval request without its record"),
                }
            }
            approval::ACTION_APPROVE | approval::ACTION_REJECT | approval::ACTION_EXPIRE => {
                match serde_json::from_value::<ApprovalDecision>(event.payload.clone()) {
                    Ok(d) => {
                        let decision = store::approvals::Decision {
                            exec_id: d.exec_id,
                            state: d.state,
                            by: event.actor.clone(),
                            at: event.occurred_at,
                            reason: d.reason,
                            target_count: d.target_count,
                        };
                        store::approvals::decide(tx, &decision)?;
                    }
                    Err(err) => tracing::warn!(%err, "approval decision without its record"),
                }
            }
            _ => {}
        }
        Ok(())
    }
}
