//! Housekeeping every `housekeeping_interval`: runs that never reported are reaped after
//! their deadline (exit -1, counted as failures), executions nobody started expire, and rows
//! past their retention are deleted in bounded batches, the writer being released between
//! batches so projectors and the API keep flowing.

use std::time::Duration;

use chrono::Utc;

use crate::config::{RetentionConfig, TelemetryConfig};
use crate::store::Store;
use crate::store::housekeeping::{self, MAX_BATCHES, Retention};

fn chrono(d: kanade_protocol::duration::HumanDuration) -> chrono::Duration {
    chrono::Duration::from_std(d.0).unwrap_or(chrono::Duration::MAX)
}

pub fn retention(config: &RetentionConfig) -> Retention {
    Retention {
        results: chrono(config.results),
        executions: chrono(config.executions),
        host_perf: chrono(config.host_perf),
        process_perf: chrono(config.process_perf),
        timeline: chrono(config.timeline),
        audit: chrono(config.audit),
        inventory_history: chrono(config.inventory_history),
    }
}

pub async fn run(
    store: Store,
    telemetry: TelemetryConfig,
    retention_config: RetentionConfig,
) -> anyhow::Result<()> {
    let every: Duration = telemetry
        .housekeeping_interval
        .0
        .max(Duration::from_secs(1));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        once(&store, &telemetry, &retention(&retention_config)).await?;
    }
}

/// One pass. Public so tests can run it without waiting for the timer.
pub async fn once(
    store: &Store,
    telemetry: &TelemetryConfig,
    retention: &Retention,
) -> anyhow::Result<()> {
    let now = Utc::now();
    // Keeps the queue of successes short when no schedule asks for them.
    store
        .write(|c| Ok(crate::store::results::fold_successes(c)?))
        .await?;
    let reaped = store
        .write(move |c| Ok(housekeeping::reap(c, now)?))
        .await?;
    let expiry = chrono(telemetry.pending_expiry);
    let expired = store
        .write(move |c| Ok(housekeeping::expire_pending(c, now, expiry)?))
        .await?;
    let mut deleted = 0;
    for kind in housekeeping::kinds() {
        for _ in 0..MAX_BATCHES {
            let r = *retention;
            let n = store
                .write(move |c| Ok(housekeeping::sweep_batch(c, kind, &r, now)?))
                .await?;
            deleted += n;
            if (n as i64) < housekeeping::BATCH {
                break;
            }
        }
    }
    if reaped + expired + deleted > 0 {
        tracing::info!(reaped, expired, deleted, "housekeeping");
    }
    Ok(())
}
