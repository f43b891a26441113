//! EVENTS (`events.started.>`) → the in-flight `execution_results` row a result later completes.

use kanade_protocol::api::LiveEvent;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::EventStarted;
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

    fn decode(_subject: &str, payload: &[u8]) -> Result<EventStarted, String> {
        let ev: EventStarted = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if ev.result_id.is_empty() || ev.exec_id.is_empty() || ev.pc_id.is_empty() {
            return Err("result_id, exec_id and pc_id must not be empty".to_owned());
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
