//! Scenario `agent`: the real release `kanade-agent`, idle with its default intervals against
//! the broker: RSS and CPU from `/proc/<pid>` over two minutes after a warm-up.

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;

use super::procs::{self, Nats, Proc, cpu_percent};
use super::{Env, mib};

pub async fn run(env: &Env) -> anyhow::Result<String> {
    let window = env.scaled_time(Duration::from_secs(120), Duration::from_secs(20));
    let warmup = Duration::from_secs(10);
    let dir = env.scratch("agent")?;
    let nats = Nats::start(&dir.join("nats"))?;
    let client = crate::fleet::connect(&nats.url, "kanade-bench".into()).await?;
    let js = async_nats::jetstream::new(client.clone());
    kanade_bus::ensure_resources(&js).await?;
    let mut beats = client
        .subscribe(kanade_protocol::subject::heartbeat("bench-agent"))
        .await?;
    let config = dir.join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nid = \"bench-agent\"\nnats_url = \"{}\"\ndata_dir = \"{}\"\n\n[log]\nlevel = \"info\"\nkeep_days = 0\n",
            nats.url,
            dir.join("data").display()
        ),
    )?;
    let bin = env.bin("kanade-agent");
    let mut cmd = Command::new(&bin);
    cmd.arg("--config").arg(&config).env_remove("RUST_LOG");
    let mut agent = Proc::spawn("kanade-agent", cmd, &dir.join("agent.log"))?;
    let first = tokio::time::timeout(Duration::from_secs(30), beats.next()).await;
    anyhow::ensure!(
        matches!(first, Ok(Some(_))),
        "the agent sent no heartbeat within 30 s; see {}",
        dir.join("agent.log").display()
    );
    tokio::time::sleep(warmup).await;
    if let Some(status) = agent.exited() {
        anyhow::bail!("kanade-agent exited with {status}");
    }
    let load_before = procs::load_average();
    let s0 = agent.sample()?;
    let started = Instant::now();
    let mut rss_max = s0.rss_bytes;
    let mut seen = 0;
    while started.elapsed() < window {
        tokio::select! {
            Some(_) = beats.next() => seen += 1,
            _ = tokio::time::sleep(Duration::from_secs(5)) => {
                rss_max = rss_max.max(agent.sample()?.rss_bytes);
            }
        }
    }
    let s1 = agent.sample()?;
    agent.stop(Duration::from_secs(10));
    drop(client);
    drop(nats);
    let cpu = cpu_percent(&s0, &s1);
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    let ok_rss = rss_max < 15 * 1024 * 1024;
    let ok_cpu = cpu < 0.2;
    let verdict = |ok: bool| if ok { "met" } else { "**missed**" };
    Ok(format!(
        "### 5. Agent footprint\n\n\
         The real `kanade-agent` (release, {} binary), default intervals (heartbeat 30 s), \
         connected to the broker with no backend and no jobs, measured for {:.0} s after a \
         {:.0} s warm-up; {} heartbeats seen in the window. Load average {load_before} at the \
         start.\n\n\
         | measurement | value | goal |\n|---|---:|---:|\n\
         | RSS at the end / max | {} / {} | < 15 MiB: {} |\n\
         | CPU (utime+stime over wall) | {:.3} % of one core ({:.2} s CPU) | < 0.2 %: {} |\n",
        mib(size),
        window.as_secs_f64(),
        warmup.as_secs_f64(),
        seen,
        mib(s1.rss_bytes),
        mib(rss_max),
        verdict(ok_rss),
        cpu,
        s1.cpu_secs - s0.cpu_secs,
        verdict(ok_cpu),
    ))
}
