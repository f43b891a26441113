//! RESULTS → `execution_results` (+ the execution's counters), and for jobs with hints the
//! inventory, explode tables, history and check status (see `projector::hints`). Alerts the
//! checks decide are handed to the alert queue once the batch is committed.

use chrono::Utc;
use kanade_protocol::api::LiveEvent;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::{ExecResult, ResultLinks, legacy_result_id};
use rusqlite::Transaction;

use crate::alerts::{Alert, AlertQueue};
use crate::manifests::ManifestCache;
use crate::projector::{Durable, Meta, Projection, hints};
use crate::store;

/// A result as reported, with the original's links `ExecResult` does not carry.
pub struct Reported {
    pub result: ExecResult,
    pub links: ResultLinks,
}

impl std::ops::Deref for Reported {
    type Target = ExecResult;
    fn deref(&self) -> &ExecResult {
        &self.result
    }
}

pub struct Results {
    pub manifests: ManifestCache,
    pub alerts: AlertQueue,
    /// RESULTS sequence already seen before a rebuild; no alerts at or below it.
    pub horizon: u64,
    /// Execution counter changes of the batch being applied, written once per execution
    /// just before the batch commits (one UPDATE per result cost 28 % of ingest).
    pub deltas: std::sync::Mutex<store::executions::Deltas>,
}

impl Projection for Results {
    type Event = Reported;
    type Effect = Alert;
    const DURABLE: Durable = Durable {
        stream: names::STREAM_RESULTS,
        consumer: names::CONSUMER_RESULTS,
        filter: subject::RESULTS_FILTER,
    };

    fn decode(subject: &str, payload: &[u8]) -> Result<Reported, String> {
        let mut result: ExecResult = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if result.exec_id.is_empty() || result.pc_id.is_empty() {
            return Err("exec_id and pc_id must not be empty".to_owned());
        }
        subject::check_sender(subject, &result.pc_id)?;
        // Older agents mint no result id: derive it as the original does.
        if result.result_id.is_empty() {
            if result.request_id.is_empty() {
                return Err("a result without result_id needs a request_id".to_owned());
            }
            result.result_id = legacy_result_id(&result.request_id, &result.pc_id);
        }
        // Read a second time only for a result that carries a link (few do).
        let linked = ["\"collect_object\"", "\"parent_result_id\""]
            .iter()
            .any(|key| memchr::memmem::find(payload, key.as_bytes()).is_some());
        let links: ResultLinks = match linked {
            true => serde_json::from_slice(payload).unwrap_or_default(),
            false => ResultLinks::default(),
        };
        Ok(Reported { result, links })
    }

    fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &Reported,
        meta: Meta,
        effects: &mut Vec<Alert>,
    ) -> rusqlite::Result<()> {
        let finalize = event.links.parent_result_id.is_some()
            && event
                .job_id
                .ends_with(kanade_protocol::collect::FINALIZE_SUFFIX);
        let applied = match finalize {
            // A finalize step's result (`<job>__finalize` with a parent) is stored but not
            // counted: the counters count machines, and the run it follows counted already.
            true => {
                let mut uncounted = store::executions::Deltas::default();
                store::results::apply_result_counting(tx, event, meta.published, &mut uncounted)?
            }
            false => {
                let mut deltas = self.deltas.lock().unwrap_or_else(|p| p.into_inner());
                store::results::apply_result_counting(tx, event, meta.published, &mut deltas)?
            }
        };
        if !applied {
            return Ok(());
        }
        if event.links != ResultLinks::default() {
            store::results::set_links(tx, &event.result_id, &event.links)?;
        }
        let Some(manifest) = self.manifests.get(&event.job_id) else {
            return Ok(());
        };
        let run = hints::Run {
            manifest: &manifest,
            result: event,
            meta,
            horizon: self.horizon,
            now: Utc::now(),
        };
        hints::apply(tx, &run, effects)
    }

    fn begin_batch(&self) {
        *self.deltas.lock().unwrap_or_else(|p| p.into_inner()) =
            store::executions::Deltas::default();
    }

    fn before_commit(&self, tx: &Transaction<'_>) -> rusqlite::Result<()> {
        self.deltas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .apply(tx)
    }

    fn live(event: &Reported) -> Vec<LiveEvent> {
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

    fn committed(&self, effects: Vec<Alert>) {
        for alert in effects {
            self.alerts.send(alert);
        }
    }
}
