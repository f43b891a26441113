//! `GET /api/executions/{exec_id}/tail`: the live output of a running execution as
//! Server-Sent Events, relayed from `job.tail.<pc>.<exec_id>`. The backend subscribes only
//! while someone watches (one core subscription per open stream, dropped with it): output
//! written before the stream opened is not replayed, and chunks are lossy by design — the
//! stored result stays the source of truth. The stream ends (event `end`) once the execution
//! (or, with `?pc=`, that machine's run) is finished. Operator or admin: output can hold
//! secrets.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::{Stream, StreamExt};
use kanade_protocol::reach::TailChunk;
use kanade_protocol::subject;
use serde::Deserialize;
use tokio::sync::mpsc;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Operator, Require};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;

/// How often the relay looks whether the run it follows is finished.
const CHECK_EVERY: Duration = Duration::from_millis(500);
/// After the run is finished, chunks still on their way are relayed this long.
const END_GRACE: Duration = Duration::from_millis(750);

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(tail))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct TailQuery {
    /// Only this machine's output (and end when its run is finished).
    pc: Option<String>,
}

/// One server-sent event as the document describes it (each event of the stream has this
/// shape: its name in `event`, its JSON in `data`).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct SseEvent {
    /// `chunk` or `end`.
    event: Option<String>,
    /// A `TailChunk` as JSON for `chunk`; `{"status": …}` for `end`.
    data: String,
    id: Option<String>,
    retry: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/executions/{exec_id}/tail",
    params(("exec_id" = String, Path, description = "The execution id"), TailQuery),
    responses(
        (status = 200, description = "Server-sent events: `chunk` (a `TailChunk` as JSON: pc_id, stream, text, dropped_bytes, done) as output arrives, then one `end` (`{\"status\": …}`) when the execution, or the named machine's run, is finished", content_type = "text/event-stream", body = SseEvent),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such execution"),
    ),
)]
async fn tail(
    State(state): State<AppState>,
    _caller: Require<Operator>,
    Path(exec_id): Path<String>,
    AppQuery(q): AppQuery<TailQuery>,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    if let Some(pc) = q.pc.as_deref().filter(|pc| !subject::is_valid_pc_id(pc)) {
        return Err(ApiError::bad_request(format!(
            "pc: `{pc}` is not a valid machine id"
        )));
    }
    if finished(&state, &exec_id, q.pc.as_deref()).await?.is_none() {
        return Err(ApiError::not_found(format!("execution {exec_id}")));
    }
    let mut subs = Vec::new();
    for filter in subject::job_tail_filters(&exec_id, q.pc.as_deref()) {
        let sub = state
            .nats
            .subscribe(filter)
            .await
            .map_err(|e| ApiError::unavailable("cannot follow the live output", e))?;
        subs.push(sub);
    }
    let sub = futures::stream::select_all(subs);
    let (tx, rx) = mpsc::channel::<Event>(256);
    tokio::spawn(relay(state, exec_id, q.pc, sub, tx));
    let events = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|event| (Ok(event), rx))
    });
    Ok(Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// Moves chunks from the broker to the stream until the run is finished or the watcher left
/// (the send fails; the subscription is dropped with this task).
async fn relay(
    state: AppState,
    exec_id: String,
    pc: Option<String>,
    mut sub: futures::stream::SelectAll<async_nats::Subscriber>,
    tx: mpsc::Sender<Event>,
) {
    let mut checks = tokio::time::interval(CHECK_EVERY);
    let mut ending: Option<(tokio::time::Instant, String)> = None;
    loop {
        let until = ending
            .as_ref()
            .map(|(at, _)| *at)
            .unwrap_or_else(|| tokio::time::Instant::now() + Duration::from_secs(3600));
        tokio::select! {
            msg = sub.next() => {
                let Some(msg) = msg else { break };
                let Ok(chunk) = serde_json::from_slice::<TailChunk>(&msg.payload) else {
                    continue;
                };
                // Only the machine the subject names may speak for itself.
                if subject::check_sender(&msg.subject, &chunk.pc_id).is_err()
                    || chunk.exec_id != exec_id
                {
                    continue;
                }
                let data = serde_json::to_string(&chunk).unwrap_or_default();
                // A watcher that cannot keep up loses chunks rather than holding the broker.
                match tx.try_send(Event::default().event("chunk").data(data)) {
                    Err(mpsc::error::TrySendError::Closed(_)) => return,
                    _ => continue,
                }
            }
            _ = checks.tick(), if ending.is_none() => {
                match finished(&state, &exec_id, pc.as_deref()).await {
                    Ok(Some(Some(status))) => {
                        ending = Some((tokio::time::Instant::now() + END_GRACE, status));
                    }
                    Ok(None) => break,
                    Ok(Some(None)) | Err(_) => {}
                }
                if tx.is_closed() {
                    return;
                }
            }
            _ = tokio::time::sleep_until(until), if ending.is_some() => break,
        }
    }
    let status = ending.map(|(_, s)| s).unwrap_or_else(|| "gone".to_owned());
    let data = serde_json::json!({ "status": status }).to_string();
    let _ = tx.send(Event::default().event("end").data(data)).await;
}

/// `None`: no such execution; `Some(None)`: still running; `Some(Some(status))`: finished
/// (the execution's status, or with `pc` that machine's run: `finished`).
async fn finished(
    state: &AppState,
    exec_id: &str,
    pc: Option<&str>,
) -> ApiResult<Option<Option<String>>> {
    let (id, pc) = (exec_id.to_owned(), pc.map(str::to_owned));
    let found = state
        .store
        .read(move |c| {
            let Some(execution) = store::executions::get(c, &id)? else {
                return Ok(None);
            };
            if matches!(
                execution.status.as_str(),
                "completed" | "expired" | "rejected"
            ) {
                return Ok(Some(Some(execution.status)));
            }
            let Some(pc) = pc else {
                return Ok(Some(None));
            };
            let done = store::results::for_execution(c, &id)?
                .iter()
                .any(|r| r.pc_id == pc && r.exit_code.is_some());
            Ok(Some(done.then(|| "finished".to_owned())))
        })
        .await?;
    Ok(found)
}
