//! One real broker connection per simulated machine (the fleet in `fleet.rs` multiplexes many
//! machines over ≤ 8 connections): each has its own client named `kanade-agent/<pc_id>` with
//! the agent's inbox prefix, the core subscriptions a real agent holds (its command, kill,
//! ping and notification subjects, the puts of the pins and revocations), and optionally the
//! agent's KV watches, which nats-server serves as one ordered (ephemeral, flow-controlled,
//! heartbeating) consumer each; a real agent creates no durable consumer. A machine answers
//! every command on its subjects with one JetStream-acknowledged result, as the agent's
//! outbox does. Used by the `broker` benchmark to measure what connected machines cost the
//! broker.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream;
use futures::StreamExt;
use kanade_protocol::{grants, names, subject};

/// The agent's KV watches: bucket and key (`None`: the whole bucket).
fn watches(pc_id: &str) -> Vec<(&'static str, Option<String>)> {
    vec![
        (names::KV_COMMAND_KEYS, None),
        (names::KV_SCHEDULES, None),
        (names::KV_JOBS, None),
        (names::KV_FLEET_CONFIG, Some("freeze".to_owned())),
        (names::KV_AGENT_CONFIG, Some(format!("pcs.{pc_id}"))),
        (names::KV_AGENT_GROUPS, Some(pc_id.to_owned())),
    ]
}

/// How many ordered consumers `connect` creates per machine with `watch` on.
pub const WATCHES_PER_MACHINE: usize = 6;

/// A connected machine; dropping it closes its connection.
pub struct Machine {
    pub client: async_nats::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Machine {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Raises this process's open-file limit to its hard limit (one descriptor per connection);
/// returns the limit now in force.
pub fn raise_fd_limit() -> u64 {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok((soft, hard)) => {
            if soft < hard && setrlimit(Resource::RLIMIT_NOFILE, hard, hard).is_ok() {
                hard
            } else {
                soft
            }
        }
        Err(_) => 1024,
    }
}

/// Connects machine `pc_id` to `url` with the agent's subscriptions (and its KV watches
/// when `watch`); every result it publishes is counted in `results`.
pub async fn connect(
    url: &str,
    pc_id: &str,
    watch: bool,
    results: Arc<AtomicU64>,
) -> anyhow::Result<Machine> {
    let client = async_nats::ConnectOptions::new()
        .name(format!("kanade-agent/{pc_id}"))
        .custom_inbox_prefix(grants::agent_inbox_prefix(pc_id))
        .connection_timeout(Duration::from_secs(30))
        .connect(url)
        .await
        .with_context(|| format!("connecting {pc_id}"))?;
    let mut commands = futures::stream::SelectAll::new();
    for filter in [
        subject::COMMANDS_ALL.to_owned(),
        subject::commands_pc(pc_id),
        "kill.*".to_owned(),
        subject::ping(pc_id),
        subject::NOTIFICATIONS_ALL.to_owned(),
        subject::notifications_pc(pc_id),
        format!("$KV.{}.>", names::KV_SCRIPT_CURRENT),
        format!("$KV.{}.>", names::KV_SCRIPT_STATUS),
    ] {
        let is_command = filter.starts_with("commands.");
        let sub = client.subscribe(filter).await?;
        commands.push(sub.map(move |m| (is_command, m)).boxed());
    }
    let js = jetstream::new(client.clone());
    let mut watchers = Vec::new();
    if watch {
        for (bucket, key) in watches(pc_id) {
            let store = js
                .get_key_value(bucket)
                .await
                .with_context(|| format!("opening KV {bucket}"))?;
            let w = match key {
                Some(key) => store.watch(key).await,
                None => store.watch_all().await,
            }
            .with_context(|| format!("watching KV {bucket}"))?;
            watchers.push(w);
        }
    }
    let pc = pc_id.to_owned();
    let task = tokio::spawn(async move {
        let _watchers = watchers;
        while let Some((is_command, message)) = commands.next().await {
            if !is_command {
                continue;
            }
            let exec = message
                .headers
                .as_ref()
                .and_then(|h| h.get("Kanade-Exec"))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_else(|| "bench".to_owned());
            let body = format!(r#"{{"pc_id":"{pc}","exit_code":0}}"#);
            let acked = match js
                .publish(subject::results_of(&pc, &exec), body.into())
                .await
            {
                Ok(ack) => ack.await.is_ok(),
                Err(_) => false,
            };
            if acked {
                results.fetch_add(1, Ordering::Relaxed);
            }
        }
    });
    Ok(Machine { client, task })
}
