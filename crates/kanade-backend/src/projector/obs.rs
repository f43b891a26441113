//! OBS_EVENTS (`obs.>`) → `obs_events`, the per-machine timeline.

use kanade_protocol::api::LiveEvent;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::ObsEvent;
use rusqlite::Transaction;

use crate::projector::{Durable, Meta, Projection};
use crate::store;

pub struct Timeline;

impl Projection for Timeline {
    type Event = ObsEvent;
    type Effect = ();
    const DURABLE: Durable = Durable {
        stream: names::STREAM_OBS_EVENTS,
        consumer: names::CONSUMER_OBS_EVENTS,
        filter: subject::OBS_FILTER,
    };

    fn decode(subject: &str, payload: &[u8]) -> Result<ObsEvent, String> {
        let ev: ObsEvent = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if ev.pc_id.is_empty() || ev.kind.is_empty() || ev.source.is_empty() {
            return Err("pc_id, kind and source must not be empty".to_owned());
        }
        kanade_protocol::subject::check_sender(subject, &ev.pc_id)?;
        Ok(ev)
    }

    fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &ObsEvent,
        meta: Meta,
        _effects: &mut Vec<()>,
    ) -> rusqlite::Result<()> {
        store::obs::insert(tx, event, meta.published, meta.stream_seq)
    }
    fn live(event: &ObsEvent) -> Vec<LiveEvent> {
        vec![LiveEvent::Timeline {
            pc_id: event.pc_id.clone(),
            kind: event.kind.clone(),
        }]
    }
}
