//! `heartbeat.>` (core NATS, lossy) → `agents`, batched: at most four transactions a second,
//! keeping only the newest beat of each machine in a batch.

use std::collections::HashMap;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use futures::StreamExt;
use kanade_protocol::subject;
use kanade_protocol::wire::Heartbeat;

use crate::store::{self, Store};

/// How long a batch collects beats after its first one: also the worst wait of a beat before
/// it is written (a 1 s window measured a p99 lag of 1,001 ms; see BENCHMARKS.md).
const WINDOW: Duration = Duration::from_millis(250);
const MAX_MACHINES: usize = 5000;

pub async fn run(
    client: async_nats::Client,
    store: Store,
    metrics: crate::metrics::Metrics,
) -> anyhow::Result<()> {
    let mut sub = client
        .subscribe(subject::HEARTBEAT_FILTER)
        .await
        .context("subscribing to heartbeats")?;
    loop {
        let Some(first) = sub.next().await else {
            return Ok(());
        };
        let mut newest: HashMap<String, Heartbeat> = HashMap::new();
        keep_newest(&mut newest, &first.subject, &first.payload);
        let window = tokio::time::sleep(WINDOW);
        tokio::pin!(window);
        while newest.len() < MAX_MACHINES {
            tokio::select! {
                _ = &mut window => break,
                msg = sub.next() => match msg {
                    Some(msg) => keep_newest(&mut newest, &msg.subject, &msg.payload),
                    None => break,
                },
            }
        }
        let beats: Vec<Heartbeat> = newest.into_values().collect();
        let count = beats.len();
        let res = store
            .write(move |conn| {
                let tx = conn.transaction()?;
                store::agents::upsert_heartbeats(&tx, &beats, Utc::now())?;
                tx.commit()?;
                Ok(())
            })
            .await;
        match res {
            Ok(()) => metrics.applied("heartbeat", count),
            Err(err) => {
                metrics.error("heartbeat");
                tracing::warn!(%err, dropped = count, "heartbeat batch not written");
            }
        }
    }
}

fn keep_newest(newest: &mut HashMap<String, Heartbeat>, subject: &str, payload: &[u8]) {
    let hb: Heartbeat = match serde_json::from_slice(payload) {
        Ok(hb) => hb,
        Err(err) => {
            tracing::debug!(%err, "ignoring a heartbeat that does not decode");
            return;
        }
    };
    if !subject::is_valid_pc_id(&hb.pc_id) {
        return;
    }
    if let Err(why) = subject::check_sender(subject, &hb.pc_id) {
        tracing::debug!(why, "ignoring a heartbeat");
        return;
    }
    match newest.get(&hb.pc_id) {
        Some(old) if old.at >= hb.at => {}
        _ => {
            newest.insert(hb.pc_id.clone(), hb);
        }
    }
}
