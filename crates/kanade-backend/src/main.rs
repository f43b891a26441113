//! The `kanade-backend` binary: subcommands, config, logging, then `serve`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kanade_backend::BackendConfig;

#[derive(Parser)]
#[command(
    name = "kanade-backend",
    version,
    about = "kanade server: API, projections, scheduler"
)]
struct Cli {
    /// Config file (default: $KANADE_BACKEND_CONFIG, else <config dir>/kanade/backend.toml).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Print the rendered `db.sqlite_path` and nothing else.
    ResolveDbPath,
    /// Print an example config with every default.
    PrintDefaultConfig,
    /// Delete the read model (keeping accounts); the next start replays the streams into it.
    WipeProjector,
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            tracing::error!(error = format!("{err:#}"), "backend exited");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::PrintDefaultConfig => {
            print!("{}", kanade_backend::config::DEFAULT_CONFIG);
            Ok(())
        }
        Command::WipeProjector => {
            let config = BackendConfig::load(cli.config.as_deref())?;
            let path = &config.db.sqlite_path;
            let report = kanade_backend::wipe::wipe(path)?;
            match report.existed {
                true => println!(
                    "wiped {}; kept {} account(s). Start the backend to replay the streams.",
                    path.display(),
                    report.accounts
                ),
                false => println!("{} did not exist; created an empty one", path.display()),
            }
            Ok(())
        }
        Command::ResolveDbPath => {
            let config = BackendConfig::load(cli.config.as_deref())?;
            println!("{}", config.db.sqlite_path.display());
            Ok(())
        }
        Command::Serve => {
            let config = BackendConfig::load(cli.config.as_deref())?;
            let _guard = kanade_backend::telemetry::init(&config.log, "backend")?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&config.server.bind)
                    .await
                    .with_context(|| format!("binding {}", config.server.bind))?;
                kanade_backend::serve(config, listener, shutdown_signal()).await
            })
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
    tracing::info!("shutdown requested");
}
