//! `host_perf.>` and `process_perf.>` (core NATS, lossy) → the perf sample tables, batched:
//! at most one transaction per second per kind.

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use kanade_protocol::subject;
use kanade_protocol::wire::{HostPerf, ProcessPerf};
use serde::de::DeserializeOwned;

use crate::metrics::Metrics;
use crate::store::{self, Store};

const WINDOW: Duration = Duration::from_secs(1);
const MAX_BATCH: usize = 5000;

pub async fn run_host(
    client: async_nats::Client,
    store: Store,
    metrics: Metrics,
) -> anyhow::Result<()> {
    let filter = subject::HOST_PERF_FILTER;
    collect(
        client,
        filter,
        "host_perf",
        metrics,
        writer(store, store::perf::insert_host),
    )
    .await
}

pub async fn run_process(
    client: async_nats::Client,
    store: Store,
    metrics: Metrics,
) -> anyhow::Result<()> {
    let filter = subject::PROCESS_PERF_FILTER;
    let insert = store::perf::insert_processes;
    collect(
        client,
        filter,
        "process_perf",
        metrics,
        writer(store, insert),
    )
    .await
}

type Insert<T> = fn(&rusqlite::Transaction<'_>, &[T]) -> rusqlite::Result<()>;

/// Writes one batch with `insert` in one transaction.
fn writer<T: Send + 'static>(
    store: Store,
    insert: Insert<T>,
) -> impl Fn(Vec<T>) -> std::pin::Pin<Box<dyn std::future::Future<Output = store::StoreResult<()>> + Send>>
{
    move |batch: Vec<T>| {
        let store = store.clone();
        Box::pin(async move {
            store
                .write(move |conn| {
                    let tx = conn.transaction()?;
                    insert(&tx, &batch)?;
                    tx.commit()?;
                    Ok(())
                })
                .await
        })
    }
}

/// Gathers decoded messages for up to a second (or `MAX_BATCH` of them) and hands each
/// batch to `write`. A failed write drops that batch: these series are lossy by design.
async fn collect<T, F>(
    client: async_nats::Client,
    filter: &'static str,
    name: &'static str,
    metrics: Metrics,
    write: impl Fn(Vec<T>) -> F,
) -> anyhow::Result<()>
where
    T: DeserializeOwned + About + Send + 'static,
    F: std::future::Future<Output = store::StoreResult<()>>,
{
    let mut sub = client
        .subscribe(filter)
        .await
        .with_context(|| format!("subscribing to {filter}"))?;
    loop {
        let Some(first) = sub.next().await else {
            return Ok(());
        };
        let mut batch: Vec<T> = Vec::new();
        push(&mut batch, &first.subject, &first.payload, name, &metrics);
        let window = tokio::time::sleep(WINDOW);
        tokio::pin!(window);
        while batch.len() < MAX_BATCH {
            tokio::select! {
                _ = &mut window => break,
                msg = sub.next() => match msg {
                    Some(msg) => push(&mut batch, &msg.subject, &msg.payload, name, &metrics),
                    None => break,
                },
            }
        }
        if batch.is_empty() {
            continue;
        }
        let n = batch.len();
        match write(batch).await {
            Ok(()) => metrics.applied(name, n),
            Err(err) => {
                metrics.error(name);
                tracing::warn!(%err, dropped = n, "{name} batch not written");
            }
        }
    }
}

/// A perf message names its machine.
trait About {
    fn pc_id(&self) -> &str;
}

impl About for HostPerf {
    fn pc_id(&self) -> &str {
        &self.pc_id
    }
}

impl About for ProcessPerf {
    fn pc_id(&self) -> &str {
        &self.pc_id
    }
}

fn push<T: DeserializeOwned + About>(
    batch: &mut Vec<T>,
    subject: &str,
    payload: &[u8],
    name: &str,
    metrics: &Metrics,
) {
    match serde_json::from_slice::<T>(payload) {
        Ok(sample) => match subject::check_sender(subject, sample.pc_id()) {
            Ok(()) => batch.push(sample),
            Err(why) => {
                metrics.error(name);
                tracing::debug!(why, "ignoring a {name} message");
            }
        },
        Err(err) => {
            metrics.error(name);
            tracing::debug!(%err, "ignoring a {name} message that does not decode");
        }
    }
}
