//! `GET /api/events/stream`: Server-Sent Events of what changed (executions, results,
//! liveness, timeline), so dashboards update without polling. A subscriber that falls behind
//! receives a `lagged` event and should refetch what it shows.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::auth::{Require, Viewer};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(stream))
}

#[utoipa::path(
    get,
    path = "/api/events/stream",
    responses(
        (status = 200, description = "Server-sent events, one per change (`LiveEvent` as JSON in `data`); never ends", content_type = "text/event-stream", body = String),
    ),
)]
async fn stream(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let receiver = state.live.subscribe();
    let events = futures::stream::unfold(receiver, |mut rx| async move {
        let event = match rx.recv().await {
            Ok(event) => {
                let data = serde_json::to_string(&event).unwrap_or_default();
                Event::default().event(event.name()).data(data)
            }
            Err(RecvError::Lagged(missed)) => {
                Event::default().event("lagged").data(missed.to_string())
            }
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), rx))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
