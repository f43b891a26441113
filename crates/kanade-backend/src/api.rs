//! The HTTP API: merges the per-resource routers and applies the blanket layers.

mod accounts;
mod agent_logs;
mod agent_meta;
mod agents;
mod approvals;
mod audit;
mod collect;
mod compliance;
mod config;
mod events;
mod exec;
mod executions;
mod freeze;
mod group_contacts;
mod group_defs;
mod groups;
mod health;
mod install;
mod inventory;
mod jetstream;
mod jobs;
mod keys;
mod machines;
mod metrics;
mod notifications;
mod obs;
pub mod openapi;
mod output;
mod perf;
mod releases;
mod results;
mod rollouts;
mod saved_searches;
mod schedules;
mod session;
mod settings;
mod tail;
mod terminal;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use serde::Deserialize;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::state::AppState;

/// Every route with its OpenAPI description. Routes are added only through `routes!` of
/// handlers carrying `#[utoipa::path]`, so none can be missing from the document.
fn routes() -> OpenApiRouter<AppState> {
    openapi::base()
        .merge(health::router())
        .merge(install::router())
        .merge(jobs::router())
        .merge(exec::router())
        .merge(schedules::router())
        .merge(rollouts::router())
        .merge(executions::router())
        .merge(approvals::router())
        .merge(results::router())
        .merge(output::router())
        .merge(collect::router())
        .merge(tail::router())
        .merge(agent_logs::router())
        .merge(terminal::router())
        .merge(jetstream::router())
        .merge(session::router())
        .merge(accounts::router())
        .merge(audit::router())
        .merge(agents::router())
        .merge(perf::router())
        .merge(obs::router())
        .merge(metrics::router())
        .merge(events::router())
        .merge(groups::router())
        .merge(config::router())
        .merge(freeze::router())
        .merge(releases::router())
        .merge(inventory::router())
        .merge(compliance::router())
        .merge(notifications::router())
        .merge(group_contacts::router())
        .merge(saved_searches::router())
        .merge(keys::router())
        .merge(machines::router())
        .merge(settings::router())
        .merge(agent_meta::router())
        .merge(group_defs::router())
        .merge(openapi::router())
}

pub fn router(state: AppState) -> Router {
    let (router, _) = routes().split_for_parts();
    router
        // Unknown /api/* paths keep the JSON 404; every other GET is the dashboard.
        .fallback(crate::web::fallback)
        // Ids are checked once routing has named the path parameters.
        .route_layer(axum::middleware::from_fn(crate::edge::check_ids))
        .layer(DefaultBodyLimit::max(crate::edge::BODY_LIMIT))
        .layer(axum::middleware::from_fn(crate::edge::limit_body))
        .layer(TraceLayer::new_for_http())
        .route_layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            crate::metrics::track,
        ))
        .with_state(state)
}

/// `?limit=&offset=` of every paged list. Limit defaults to 50 and is capped at 1000.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct Paging {
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

impl Paging {
    pub fn limit(&self) -> u32 {
        self.limit.unwrap_or(50).clamp(1, 1000)
    }

    pub fn offset(&self) -> u64 {
        self.offset.unwrap_or(0)
    }
}
