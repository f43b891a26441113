//! The boot sequence of `serve`, top to bottom: database, broker, JetStream resources,
//! projectors under supervision, then HTTP until shutdown. Every task started here lives in
//! one `JoinSet`, so when `serve` returns (or its future is dropped) they all stop.

use std::future::Future;
use std::sync::Arc;

use anyhow::Context;
use async_nats::jetstream;
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::config::BackendConfig;
use crate::projector::{self, supervise};
use crate::state::AppState;
use crate::store::Store;

/// Runs the backend on `listener` until `shutdown` resolves.
pub async fn serve(
    config: BackendConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let store = Store::open(&config.db.sqlite_path).await?;
    tracing::info!(path = %config.db.sqlite_path.display(), "database ready");

    let nats = kanade_bus::connect(kanade_bus::Role::Backend, &config.nats.url).await?;
    let js = jetstream::new(nats.clone());
    let report = ensure_resources_when_reachable(&js).await?;
    tracing::info!(
        streams = report.streams.len(),
        buckets = report.buckets.len(),
        object_stores = report.object_stores.len(),
        "JetStream resources ready"
    );

    let mut tasks = JoinSet::new();
    spawn_projectors(&mut tasks, &nats, &js, &store);

    let state = AppState {
        store,
        nats,
        js,
        config: Arc::new(config),
    };
    let app = crate::api::router(state);
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "HTTP API listening");
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
        .context("HTTP server failed")?;
    tasks.shutdown().await;
    tracing::info!("backend stopped");
    Ok(())
}

/// The broker may come up after the backend: keep trying, loudly, instead of exiting.
async fn ensure_resources_when_reachable(
    js: &jetstream::Context,
) -> anyhow::Result<kanade_bus::resources::SetupReport> {
    let mut delay = std::time::Duration::from_millis(200);
    loop {
        match kanade_bus::ensure_resources(js).await {
            Ok(report) => return Ok(report),
            Err(err) => {
                tracing::warn!(error = format!("{err:#}"), "JetStream not ready; retrying");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(std::time::Duration::from_secs(10));
            }
        }
    }
}

fn spawn_projectors(
    tasks: &mut JoinSet<()>,
    nats: &async_nats::Client,
    js: &jetstream::Context,
    store: &Store,
) {
    let (j, s) = (js.clone(), store.clone());
    tasks.spawn(supervise("results projector", move || {
        projector::run::<projector::results::Results>(j.clone(), s.clone())
    }));
    let (j, s) = (js.clone(), store.clone());
    tasks.spawn(supervise("events projector", move || {
        projector::run::<projector::events::Started>(j.clone(), s.clone())
    }));
    let (n, s) = (nats.clone(), store.clone());
    tasks.spawn(supervise("heartbeat projector", move || {
        projector::heartbeat::run(n.clone(), s.clone())
    }));
}
