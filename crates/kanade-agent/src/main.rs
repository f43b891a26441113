//! `kanade-agent`: parse the command line; as the daemon, count the boot with the boot
//! sentinel first (before config and logging: a version that cannot even load its config is
//! rolled back too), load `agent.toml`, start logging, then run the agent until ctrl-c or
//! SIGTERM, or until a self-update asks to execute the new binary. `kanade-agent
//! notifications list|ack` and `kanade-agent consent list|accept|deny` are clients of a running
//! agent's local socket instead.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kanade_agent::self_update::{self, Installed};
use kanade_agent::{AgentConfig, Stopped, local};
use tracing_subscriber::{EnvFilter, Layer, layer::SubscriberExt, util::SubscriberInitExt};

/// The kanade agent: runs jobs from the broker and reports results and heartbeats.
#[derive(Parser)]
#[command(version)]
struct Cli {
    /// Path of agent.toml (default: $KANADE_AGENT_CONFIG, else <config dir>/kanade/agent.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Messages for the people at this machine, from the running agent.
    #[command(subcommand)]
    Notifications(Notifications),
    /// Remote terminals waiting for your consent (`terminal: consent`).
    #[command(subcommand)]
    Consent(Consent),
}

#[derive(Subcommand)]
enum Consent {
    /// Show the requests waiting for your answer.
    List {
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Let the admin open remote terminal <ID>.
    Accept { id: String },
    /// Refuse remote terminal <ID>.
    Deny { id: String },
}

#[derive(Subcommand)]
enum Notifications {
    /// Show the current notifications.
    List {
        /// Print the agent's JSON answer.
        #[arg(long)]
        json: bool,
    },
    /// Confirm that you read notification <ID>.
    Ack { id: String },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Some(command) = cli.command {
        let config = AgentConfig::load(cli.config.as_deref())?;
        let socket = local::socket_path(&config.data_dir()?);
        let (request, json) = match command {
            Command::Notifications(Notifications::List { json }) => (local::Request::List, json),
            Command::Notifications(Notifications::Ack { id }) => {
                (local::Request::Ack { id }, false)
            }
            Command::Consent(Consent::List { json }) => (local::Request::Consents, json),
            Command::Consent(Consent::Accept { id }) => {
                (local::Request::Consent { id, accept: true }, false)
            }
            Command::Consent(Consent::Deny { id }) => {
                (local::Request::Consent { id, accept: false }, false)
            }
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return runtime.block_on(local::client(&socket, request, json));
    }
    let installed = Installed::boot();
    let config = AgentConfig::load(cli.config.as_deref())?;
    let log_guard = init_tracing(&config)?;
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        tracing::error!("panic: {info}\n{backtrace}");
    }));
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let stopped = runtime.block_on(kanade_agent::serve(config, installed, shutdown_signal()))?;
    let Stopped::Restart(restart) = stopped else {
        return Ok(());
    };
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    tracing::info!(exe = %restart.exe.display(), "executing the updated agent");
    drop(log_guard);
    let err = self_update::exec(&restart.exe, Some(&restart.to));
    eprintln!(
        "kanade-agent: cannot execute {}: {err}; exiting for a restart",
        restart.exe.display()
    );
    std::process::exit(self_update::EXIT_RESTART)
}

/// stdout always; a daily-rotated file without colour codes when `[log] path` is set and
/// `keep_days` > 0 (`logging`: the same rule as the backend's). `$RUST_LOG` overrides
/// `[log] level`.
fn init_tracing(
    config: &AgentConfig,
) -> anyhow::Result<Option<tracing_appender::non_blocking::WorkerGuard>> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(value) if !value.is_empty() => EnvFilter::try_new(&value)
            .with_context(|| format!("RUST_LOG={value:?} is not a valid log filter"))?,
        _ => EnvFilter::try_new(&config.log.level)
            .with_context(|| format!("[log] level {:?} is not valid", config.log.level))?,
    };
    let appender = match config.log.path {
        Some(_) => kanade_agent::logging::file_appender(&config.log, &config.data_dir()?)?,
        None => None,
    };
    let (file, guard) = match appender {
        Some(appender) => {
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer)
                .boxed();
            (Some(layer), Some(guard))
        }
        None => (None, None),
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
