//! AUDIT → `audit_log` (idempotent on the stream sequence). An `exec` event also (re)creates
//! its `executions` row, so a wiped read model gets its executions back on replay; the
//! `approval.*` events do the same for the two-person rule's requests and their decisions, and
//! a break-glass `run` event makes its one-machine execution (job `_adhoc`).

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
            // A break-glass `kanade run` (the CLI records it straight on the broker): its
            // execution appears like any other, job `_adhoc` on one machine, by its actor.
            "run" => match break_glass_record(event) {
                Some(record) => store::executions::restore(tx, &record)?,
                None => tracing::warn!("run audit event without exec_id, request_id or target"),
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

/// The one-machine execution of a break-glass `run` event.
fn break_glass_record(event: &AuditEvent) -> Option<ExecutionRecord> {
    let field = |name: &str| {
        event
            .payload
            .get(name)
            .and_then(|v| v.as_str())
            .filter(|v| subject::is_valid_token(v))
            .map(str::to_owned)
    };
    let pc_id = event
        .target
        .clone()
        .filter(|pc| subject::is_valid_pc_id(pc))?;
    Some(ExecutionRecord {
        exec_id: field("exec_id")?,
        job_id: names::ADHOC_JOB_ID.to_owned(),
        version: "0".to_owned(),
        request_id: field("request_id")?,
        initiated_by: event.actor.clone(),
        initiated_at: event.occurred_at,
        target_count: 1,
        subjects: vec![subject::commands_pc(&pc_id)],
        deadline_at: None,
    })
}
