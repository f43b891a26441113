//! EVENTS (`events.started.>`) → the in-flight `execution_results` row a result later completes
//! (applied `DELAY` after publication, so a short run's result usually comes first and its
//! started event then writes nothing).

use kanade_protocol::api::LiveEvent;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::{EventStarted, legacy_result_id};
use rusqlite::Transaction;

use crate::projector::{Durable, Meta, Projection};
use crate::store;

pub struct Started;

impl Projection for Started {
    type Event = EventStarted;
    type Effect = ();
    const DURABLE: Durable = Durable {
        stream: names::STREAM_EVENTS,
        consumer: names::CONSUMER_EVENTS,
        filter: subject::EVENTS_STARTED_FILTER,
    };
    /// A run that ends within this gets its row from its result alone: the result projector
    /// inserts it, and the started event finds it there and writes nothing (one row write
    /// per run instead of two; the run shows as running this much later).
    const DELAY: std::time::Duration = std::time::Duration::from_millis(500);

    fn decode(subject: &str, payload: &[u8]) -> Result<EventStarted, String> {
        let mut ev: EventStarted = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if ev.exec_id.is_empty() || ev.pc_id.is_empty() {
            return Err("exec_id and pc_id must not be empty".to_owned());
        }
        kanade_protocol::subject::check_sender(subject, &ev.pc_id)?;
        // Older agents mint no result id; without a request id either, `apply` takes the
        // execution's and derives it there.
        if ev.result_id.is_empty() && !ev.request_id.is_empty() {
            ev.result_id = legacy_result_id(&ev.request_id, &ev.pc_id);
        }
        Ok(ev)
    }

    fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &EventStarted,
        meta: Meta,
        _effects: &mut Vec<()>,
    ) -> rusqlite::Result<()> {
        store::results::apply_started(tx, event, meta.published)
    }
    fn live(event: &EventStarted) -> Vec<LiveEvent> {
        vec![
            LiveEvent::Result {
                exec_id: event.exec_id.clone(),
                pc_id: event.pc_id.clone(),
                result_id: event.result_id.clone(),
                exit_code: None,
            },
            LiveEvent::Execution {
                exec_id: event.exec_id.clone(),
                job_id: event.job_id.clone(),
            },
        ]
    }
}
