//! The HTTP front door while the backend boots: `/health` answers at once, 503 with status
//! `starting` (or `degraded` and the reason, e.g. a broker with too little storage) and every
//! other route a 503 saying why, until `ready` hands over the full API router.

use std::sync::{Arc, RwLock};

use axum::Router;
use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kanade_protocol::api::Health;
use tower::ServiceExt;

use crate::error::ApiError;

#[derive(Clone, Default)]
pub struct Boot {
    inner: Arc<RwLock<State>>,
}

#[derive(Default)]
struct State {
    app: Option<Router>,
    nats: Option<async_nats::Client>,
    /// Why it is not ready yet; `None` while simply starting.
    problem: Option<String>,
}

impl Boot {
    /// The broker client, so `/health` can tell whether it is connected.
    pub fn connected(&self, nats: &async_nats::Client) {
        self.inner.write().unwrap_or_else(|e| e.into_inner()).nats = Some(nats.clone());
    }

    /// Startup is held up by `problem` (shown by `/health` until it clears or `ready`).
    pub fn degraded(&self, problem: Option<String>) {
        self.inner
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .problem = problem;
    }

    /// From now on every request goes to `app`.
    pub fn ready(&self, app: Router) {
        let mut state = self.inner.write().unwrap_or_else(|e| e.into_inner());
        state.app = Some(app);
        state.problem = None;
    }

    /// The router to serve from the start.
    pub fn router(&self) -> Router {
        let boot = self.clone();
        Router::new().fallback(move |req: Request| {
            let boot = boot.clone();
            async move { boot.handle(req).await }
        })
    }

    async fn handle(&self, req: Request) -> Response {
        let (app, nats, problem) = {
            let state = self.inner.read().unwrap_or_else(|e| e.into_inner());
            (state.app.clone(), state.nats.clone(), state.problem.clone())
        };
        if let Some(app) = app {
            return match app.oneshot(req).await {
                Ok(response) => response,
                Err(never) => match never {},
            };
        }
        let reason = problem
            .clone()
            .unwrap_or_else(|| "connecting to the broker and preparing JetStream".to_owned());
        if req.uri().path() == "/health" {
            let nats = nats
                .is_some_and(|n| n.connection_state() == async_nats::connection::State::Connected);
            let status = if problem.is_some() {
                "degraded"
            } else {
                "starting"
            };
            let body = Health {
                status: status.to_owned(),
                nats,
                db: true,
                reason: Some(reason),
            };
            return (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response();
        }
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "starting",
            format!("the backend is starting: {reason}"),
        )
        .into_response()
    }
}
