//! RESULTS → `execution_results` (+ the execution's counters).

use kanade_protocol::api::LiveEvent;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::ExecResult;
use rusqlite::Transaction;

use crate::projector::{Durable, Meta, Projection};
use crate::store;

pub struct Results;

impl Projection for Results {
    type Event = ExecResult;
    const DURABLE: Durable = Durable {
        stream: names::STREAM_RESULTS,
        consumer: names::CONSUMER_RESULTS,
        filter: subject::RESULTS_FILTER,
    };

    fn decode(_subject: &str, payload: &[u8]) -> Result<ExecResult, String> {
        let result: ExecResult = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if result.result_id.is_empty() || result.exec_id.is_empty() || result.pc_id.is_empty() {
            return Err("result_id, exec_id and pc_id must not be empty".to_owned());
        }
        Ok(result)
    }

    fn apply(tx: &Transaction<'_>, event: &ExecResult, meta: Meta) -> rusqlite::Result<()> {
        store::results::apply_result(tx, event, meta.published)
    }
    fn live(event: &ExecResult) -> Vec<LiveEvent> {
        vec![
            LiveEvent::Result {
                exec_id: event.exec_id.clone(),
                pc_id: event.pc_id.clone(),
                result_id: event.result_id.clone(),
                exit_code: Some(event.exit_code),
            },
            LiveEvent::Execution {
                exec_id: event.exec_id.clone(),
                job_id: event.job_id.clone(),
            },
        ]
    }
}
