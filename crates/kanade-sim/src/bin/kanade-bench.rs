//! `kanade-bench`: runs benchmark scenarios and writes each one's Markdown section into
//! `--out` (`scripts/bench` assembles them into BENCHMARKS.md).

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kanade_sim::bench::{self, Env};

const SCENARIOS: &[&str] = &[
    "ingest",
    "fanout",
    "heartbeats",
    "api",
    "agent",
    "replay",
    "connect",
    "broker",
];

/// Benchmarks of kanade against a real nats-server and the release backend.
#[derive(Parser)]
#[command(name = "kanade-bench", version)]
struct Cli {
    /// ingest, fanout, heartbeats, api, agent, replay, connect, broker, or all.
    #[arg(default_value = "all")]
    scenarios: Vec<String>,
    /// Size factor (1.0 = the full sizes).
    #[arg(long, env = "KANADE_BENCH_SCALE", default_value_t = 1.0)]
    scale: f64,
    /// Folder with the release kanade-backend and kanade-agent (default: next to this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Where each scenario's Markdown section is written.
    #[arg(long, default_value = "target/bench/results")]
    out: PathBuf,
    /// Scratch folder (databases, broker stores, logs).
    #[arg(long, default_value = "target/bench/work")]
    work: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _ = rustls::crypto::ring::default_provider().install_default();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .init();
    anyhow::ensure!(
        cli.scale > 0.0 && cli.scale <= 1.0,
        "KANADE_BENCH_SCALE must be in (0, 1]"
    );
    let bin_dir = match cli.bin_dir {
        Some(d) => d,
        None => std::env::current_exe()?
            .parent()
            .context("the binary has no folder")?
            .to_path_buf(),
    };
    let mut chosen = Vec::new();
    for s in &cli.scenarios {
        match s.as_str() {
            "all" => chosen.extend(SCENARIOS.iter().copied()),
            other => match SCENARIOS.iter().find(|x| **x == other) {
                Some(x) => chosen.push(*x),
                None => anyhow::bail!(
                    "unknown scenario `{other}`; use one of {} or all",
                    SCENARIOS.join(", ")
                ),
            },
        }
    }
    std::fs::create_dir_all(&cli.out)?;
    std::fs::create_dir_all(&cli.work)?;
    let env = Env {
        scale: cli.scale,
        bin_dir,
        work: std::fs::canonicalize(&cli.work)?,
    };
    let mut failed = Vec::new();
    for name in chosen {
        println!("\n==> scenario {name} (scale {})", env.scale);
        let started = std::time::Instant::now();
        let outcome = match name {
            "ingest" => bench::ingest::run(&env).await,
            "fanout" => bench::fanout::run(&env).await,
            "heartbeats" => bench::heartbeats::run(&env).await,
            "api" => bench::api::run(&env).await,
            "agent" => bench::agent::run(&env).await,
            "replay" => bench::replay::run(&env).await,
            "broker" => bench::broker::run(&env).await,
            _ => bench::connect::run(&env).await,
        };
        let md = match outcome {
            Ok(md) => md,
            Err(err) => {
                failed.push(name);
                format!("### {name}\n\nThis scenario could not be run: {err:#}\n")
            }
        };
        let commit = std::env::var("KANADE_BENCH_COMMIT").unwrap_or_else(|_| "?".into());
        let md = format!(
            "{md}\n_Scenario `{name}`: scale {}, {:.0} s, {} UTC, commit {commit}._\n",
            env.scale,
            started.elapsed().as_secs_f64(),
            chrono::Utc::now().format("%Y-%m-%d %H:%M"),
        );
        println!("{md}");
        std::fs::write(cli.out.join(format!("{name}.md")), md)?;
    }
    if !failed.is_empty() {
        anyhow::bail!("scenario(s) failed: {}", failed.join(", "));
    }
    Ok(())
}
