//! The heartbeat watchdog: when a machine's heartbeats stop for `offline_after` it records an
//! `agent_offline` timeline event, and `agent_online` when they return. Events go through
//! stream OBS_EVENTS with a deterministic record id, so a retry or a second backend never
//! records the same transition twice.

use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use kanade_protocol::api::LiveEvent;
use kanade_protocol::subject;
use kanade_protocol::wire::ObsEvent;

use crate::live::LiveHub;
use crate::store::{self, Store};

pub const SOURCE: &str = "backend:heartbeat-watchdog";

pub async fn run(
    js: jetstream::Context,
    store: Store,
    live: LiveHub,
    offline_after: chrono::Duration,
    every: Duration,
) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now = Utc::now();
        let changes = store
            .read(move |c| store::agents::liveness_changes(c, now, offline_after))
            .await?;
        for change in changes {
            let kind = if change.now_online {
                "agent_online"
            } else {
                "agent_offline"
            };
            let event = ObsEvent {
                pc_id: change.pc_id.clone(),
                at: if change.now_online {
                    change.last_heartbeat
                } else {
                    now
                },
                kind: kind.to_owned(),
                source: SOURCE.to_owned(),
                event_record_id: Some(format!(
                    "{kind}:{}",
                    change.last_heartbeat.timestamp_millis()
                )),
                payload: serde_json::json!({"last_heartbeat": change.last_heartbeat}),
            };
            let published = async {
                let payload = serde_json::to_vec(&event)?;
                js.publish(subject::obs(&change.pc_id), payload.into())
                    .await?
                    .await?;
                anyhow::Ok(())
            };
            if let Err(err) = published.await {
                tracing::warn!(pc_id = %change.pc_id, error = format!("{err:#}"), "could not record {kind}; retrying next tick");
                continue;
            }
            let (pc, online) = (change.pc_id.clone(), change.now_online);
            store
                .write(move |c| Ok(store::agents::set_liveness(c, &pc, online)?))
                .await?;
            live.send(LiveEvent::Agent {
                pc_id: change.pc_id.clone(),
                online: change.now_online,
            });
            tracing::info!(pc_id = %change.pc_id, kind, "liveness changed");
        }
    }
}
