//! `kanade-agent`: parse the command line, load `agent.toml`, start logging, then run the
//! agent until ctrl-c or SIGTERM.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use kanade_agent::AgentConfig;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// The kanade agent: runs jobs from the broker and reports results and heartbeats.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Path of agent.toml (default: $KANADE_AGENT_CONFIG, else <config dir>/kanade/agent.toml).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let config = AgentConfig::load(cli.config.as_deref())?;
    let _log_guard = init_tracing(&config)?;
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        tracing::error!("panic: {info}\n{backtrace}");
    }));
    kanade_agent::run(config, shutdown_signal()).await
}

/// stdout always; a daily-rotated file without colour codes when `[log] path` is set and
/// `keep_days` > 0. `$RUST_LOG` overrides `[log] level`.
fn init_tracing(
    config: &AgentConfig,
) -> anyhow::Result<Option<tracing_appender::non_blocking::WorkerGuard>> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::try_new(&value)
            .with_context(|| format!("RUST_LOG={value:?} is not a valid log filter"))?,
        _ => EnvFilter::try_new(&config.log.level)
            .with_context(|| format!("[log] level {:?} is not valid", config.log.level))?,
    };
    let (file, guard) = match &config.log.path {
        Some(dir) if config.log.keep_days > 0 => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating log folder {}", dir.display()))?;
            let appender = RollingFileAppender::builder()
                .rotation(Rotation::DAILY)
                .filename_prefix("kanade-agent")
                .filename_suffix("log")
                .max_log_files(config.log.keep_days as usize)
                .build(dir)
                .with_context(|| format!("opening a log file in {}", dir.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .boxed();
            (Some(layer), Some(guard))
        }
        _ => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer())
        .with(file)
        .try_init()
        .context("initialising logging")?;
    Ok(guard)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM; only ctrl-c stops the agent");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::warn!(error = %err, "cannot listen for ctrl-c");
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = ctrl_c => tracing::info!("ctrl-c received"),
        _ = terminate => tracing::info!("SIGTERM received"),
    }
}
