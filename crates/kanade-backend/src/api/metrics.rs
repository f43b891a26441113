//! `GET /metrics`: Prometheus text exposition. Needs a viewer (a scraper uses the static
//! service token); gauges of liveness and consumer lag are refreshed at scrape time.

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use chrono::Utc;
use kanade_protocol::names;

use crate::auth::{Require, Viewer};
use crate::error::ApiResult;
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scrape))
}

const CONSUMERS: &[(&str, &str)] = &[
    (names::STREAM_RESULTS, names::CONSUMER_RESULTS),
    (names::STREAM_EVENTS, names::CONSUMER_EVENTS),
    (names::STREAM_AUDIT, names::CONSUMER_AUDIT),
    (names::STREAM_OBS_EVENTS, names::CONSUMER_OBS_EVENTS),
];

#[utoipa::path(
    get,
    path = "/metrics",
    responses(
        (status = 200, description = "Prometheus text exposition", content_type = "text/plain; version=0.0.4", body = String),
    ),
)]
async fn scrape(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<impl IntoResponse> {
    let (now, window) = (Utc::now(), state.online_window());
    let (online, offline) = state
        .store
        .read(move |c| store::agents::liveness_counts(c, now, window))
        .await?;
    state.metrics.set_agents(online, offline);
    for (stream_name, consumer) in CONSUMERS {
        let Ok(stream) = state.js.get_stream(*stream_name).await else {
            continue;
        };
        let name = crate::projector::Replica(
            state
                .config
                .server
                .replica
                .as_deref()
                .map(std::sync::Arc::from),
        )
        .consumer(consumer);
        if let Ok(info) = stream.consumer_info(&name).await {
            state
                .metrics
                .set_lag(consumer, info.num_pending + info.num_ack_pending as u64);
        }
    }
    Ok((
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    ))
}
