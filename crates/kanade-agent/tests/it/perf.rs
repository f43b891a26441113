//! Telemetry on core NATS: host perf at the configured interval with plausible values, and
//! investigation mode that starts on a config change and ends by itself at its expiry.

use std::time::Duration;

use futures::StreamExt;
use kanade_protocol::subject;
use kanade_protocol::wire::{HostPerf, ProcessPerf};
use serde_json::json;
use tokio::time::Instant;

use crate::support::{Agent, Broker, WAIT, pc_id};

#[tokio::test]
async fn host_perf_arrives_at_the_configured_interval_with_plausible_values() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("hostperf");
    let mut perf = broker
        .client
        .subscribe(subject::host_perf(&pc))
        .await
        .unwrap();
    broker.client.flush().await.unwrap();
    // The default is a minute: three samples within the deadline prove the config applies.
    broker
        .set_config(&format!("pcs.{pc}"), json!({"host_perf_interval": "300ms"}))
        .await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let mut samples = Vec::new();
    let collected = tokio::time::timeout(WAIT, async {
        while samples.len() < 3 {
            let message = perf.next().await.expect("subscription open");
            let sample: HostPerf = serde_json::from_slice(&message.payload).unwrap();
            samples.push(sample);
        }
    })
    .await;
    assert!(collected.is_ok(), "only {} samples", samples.len());
    for sample in &samples {
        assert_eq!(sample.pc_id, pc);
        assert!(sample.cpu_count >= Some(1), "{sample:?}");
        assert!(sample.mem_total_bytes > Some(0), "{sample:?}");
        assert!(
            sample.mem_used_bytes <= sample.mem_total_bytes,
            "{sample:?}"
        );
        assert!(
            sample.swap_used_bytes <= sample.swap_total_bytes,
            "{sample:?}"
        );
        // Only the first tick lacks the CPU % and the rates (nothing to diff against yet).
        let cpu = sample.cpu_pct.unwrap_or(0.0);
        assert!((0.0..=100.0).contains(&cpu), "{sample:?}");
        for rate in [
            sample.disk_read_bytes_per_sec,
            sample.disk_written_bytes_per_sec,
            sample.net_rx_bytes_per_sec,
            sample.net_tx_bytes_per_sec,
        ]
        .into_iter()
        .flatten()
        {
            assert!(rate.is_finite() && rate >= 0.0, "{sample:?}");
        }
    }
    assert!(samples[1].cpu_pct.is_some(), "{:?}", samples[1]);
    let gap = (samples[2].at - samples[1].at).to_std().unwrap();
    assert!(gap < Duration::from_secs(10), "{gap:?}");
    agent.stop().await;
}

#[tokio::test]
async fn investigation_mode_starts_on_a_config_change_and_ends_by_itself() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("investigate");
    let mut perf = broker
        .client
        .subscribe(subject::process_perf(&pc))
        .await
        .unwrap();
    broker.client.flush().await.unwrap();
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let expires_at = chrono::Utc::now() + chrono::TimeDelta::seconds(8);
    let enabled_at = Instant::now();
    broker
        .set_config(
            &format!("pcs.{pc}"),
            json!({
                "process_perf_enabled": true,
                "process_perf_expires_at": expires_at,
                "process_perf_interval": "1s",
                "process_perf_top_n": 5,
            }),
        )
        .await;
    let expiry = enabled_at + Duration::from_secs(8);
    // Listen until well after the expiry.
    let mut samples: Vec<(Instant, ProcessPerf)> = Vec::new();
    let listen_until = expiry + Duration::from_millis(2500);
    while let Ok(Some(message)) = tokio::time::timeout_at(listen_until, perf.next()).await {
        let sample: ProcessPerf = serde_json::from_slice(&message.payload).unwrap();
        samples.push((Instant::now(), sample));
    }
    assert!(samples.len() >= 2, "{} samples", samples.len());
    let first = samples[0].0 - enabled_at;
    assert!(
        first < Duration::from_secs(6),
        "first sample after {first:?}"
    );
    for (_, sample) in &samples {
        assert_eq!(sample.pc_id, pc);
        assert!(
            sample.at <= expires_at,
            "sample after the expiry: {sample:?}"
        );
        assert!(
            !sample.processes.is_empty() && sample.processes.len() <= 5,
            "{sample:?}"
        );
        assert!(
            sample
                .processes
                .windows(2)
                .all(|w| w[0].cpu_pct >= w[1].cpu_pct),
            "{sample:?}"
        );
        assert!(
            sample
                .processes
                .iter()
                .all(|p| p.pid > 0 && !p.name.is_empty())
        );
    }
    // Nothing arrived in the 2 s after the expiry (a sample taken just before it may still
    // be on its way on a busy machine; its `at` was checked above).
    let (last_arrival, _) = samples.last().unwrap();
    assert!(
        *last_arrival <= expiry + Duration::from_millis(1000),
        "a sample arrived {:?} after the expiry",
        *last_arrival - expiry
    );
    agent.stop().await;
}
