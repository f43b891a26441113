//! Measures the agent-side CPU of live output (BENCHMARKS.md, "Live output overhead"): a
//! script writing about 10 MB/s is captured three times with live output off and on, publishing
//! to a real nats-server (the testkit's, TLS). `KANADE_NATS_SERVER=… cargo run --release -p
//! kanade-agent --example live_overhead`. Linux only (reads `/proc/self/stat`).
use std::time::{Duration, Instant};

use kanade_agent::{live, process};
use kanade_protocol::wire::Shell;

/// User plus system CPU seconds of this process (clock ticks of 1/100 s).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = 100.0;
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / ticks
}

#[tokio::main]
async fn main() {
    let nats = kanade_testkit::NatsServer::start();
    let access = kanade_bus::Access {
        ca_file: nats.ca_file(),
        ..Default::default()
    };
    let client = kanade_bus::connect_with(kanade_bus::Role::Cli, &nats.url(), &access)
        .await
        .unwrap();
    let mut counter = client.subscribe("job.tail.>").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    // 100 x 1 MiB, one every 0.1 s: about 10 MB/s for about 10 s.
    let script = "i=0; while [ $i -lt 100 ]; do head -c 1048576 /dev/zero | tr '\\0' 'x'; sleep 0.1; i=$((i+1)); done";
    let inv = process::invocation(Shell::Sh, script).unwrap();
    for round in 0..3 {
        for on in [false, true] {
            let (tx, task) = if on {
                let (tx, task) = live::start(
                    client.clone(),
                    live::Run {
                        pc_id: "bench".into(),
                        exec_id: format!("e{round}"),
                        result_id: "r".into(),
                    },
                );
                (Some(tx), Some(task))
            } else {
                (None, None)
            };
            let options = process::RunOptions {
                cwd: None,
                timeout: Duration::from_secs(120),
                spill_stdout: dir.path().join("out"),
                spill_stderr: dir.path().join("err"),
                line_times: false,
                live: tx,
                identity: Default::default(),
            };
            let c0 = cpu_secs();
            let t0 = Instant::now();
            let outcome = process::run(&inv, &options, std::future::pending()).await;
            drop(options);
            if let Some(task) = task {
                let _ = task.await;
            }
            let secs = t0.elapsed().as_secs_f64();
            let cpu = cpu_secs() - c0;
            let size = std::fs::metadata(dir.path().join("out"))
                .map(|m| m.len())
                .unwrap_or(0);
            let mut live_bytes = 0usize;
            let mut dropped = 0u64;
            while let Ok(Some(msg)) = tokio::time::timeout(
                Duration::from_millis(300),
                futures::StreamExt::next(&mut counter),
            )
            .await
            {
                let chunk: kanade_protocol::reach::TailChunk =
                    serde_json::from_slice(&msg.payload).unwrap();
                live_bytes += chunk.text.len();
                dropped = chunk.dropped_bytes;
            }
            println!(
                "live={on} exit={} wrote {:.1} MB in {secs:.1} s ({:.1} MB/s); agent CPU {cpu:.2} s = {:.1} % of one core; live sent {live_bytes} bytes, dropped {dropped}",
                outcome.exit_code,
                size as f64 / 1e6,
                size as f64 / 1e6 / secs,
                cpu / secs * 100.0
            );
        }
    }
}
