//! The `kanade-backend` binary: subcommands, config, logging, then `serve`.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use kanade_backend::BackendConfig;
use kanade_sentinel::{BootDecision, BootSentinel};

/// This build's version: the workspace's, marked `+schema-next` in the test-only build with
/// one more migration (cargo feature `schema-next`), so the boot sentinel tells the two apart.
#[cfg(not(feature = "schema-next"))]
const VERSION: &str = kanade_protocol::VERSION;
#[cfg(feature = "schema-next")]
const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "+schema-next");

#[derive(Parser)]
#[command(
    name = "kanade-backend",
    version = VERSION,
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
    /// Write a backup into DIR (missing or empty): an online copy of the database, the
    /// secrets beside it, and every JetStream stream, KV bucket and object store. Safe while
    /// the backend runs.
    Backup { dir: PathBuf },
    /// Restore a backup from DIR into an empty database and an empty broker. The accounts come
    /// from the database copy; every other table is replayed from the streams at the next start.
    Restore {
        dir: PathBuf,
        /// Only the broker part (after the files and database were restored and the broker
        /// was given the restored keys).
        #[arg(long)]
        broker_only: bool,
    },
    /// Exit 3 when `version` is quarantined (it crash-looped after an update), else 0.
    CheckQuarantine {
        version: String,
        /// The installed executable whose quarantine list to read (default: this one).
        #[arg(long)]
        exe: Option<PathBuf>,
    },
    /// Before a deploy swaps `installed_exe` for `new_version`: keep the current file as
    /// last-good and arm the boot sentinel, so a crash-looping new version is rolled back.
    /// The database is copied beside it (`<exe>.last-good.db`, an online copy).
    ArmForSwap {
        new_version: String,
        installed_exe: PathBuf,
    },
    /// Print the nats-server configuration for zero-trust broker access (`[nats] auth =
    /// "callout"`): accounts, the system user and the auth callout. Makes the issuer, backend
    /// and system keys beside the database on first use (0600) and keeps them afterwards.
    BrokerConfig {
        /// Write it to this file (0600) instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
        /// The access configuration of a branch leaf node instead (its agents are let in by
        /// this backend's callout through the hub; JetStream is the hub's).
        #[arg(long)]
        leaf: bool,
        /// With `--leaf`: the hub's JetStream domain (`jetstream { domain: … }` on the hub).
        #[arg(long, default_value = kanade_backend::access::keys::DEFAULT_HUB_DOMAIN)]
        hub_domain: String,
    },
    /// Make an enrollment token with the backend's own broker credentials (no API session
    /// needed; for installers and scripts). Prints only the token text.
    EnrollmentToken {
        /// The group the enrolled machines join.
        #[arg(long)]
        group: Option<String>,
        /// How long the token can be used, e.g. 1h, 7d.
        #[arg(long, default_value = "1h")]
        expires: kanade_protocol::duration::HumanDuration,
        /// How many machines may enroll with it.
        #[arg(long, default_value_t = 1)]
        uses: u32,
    },
    /// Make (once) a local CA and a certificate for the broker in DIR: ca.pem goes to every
    /// client (`[nats] ca_file`, the agent's `nats_ca`, `kanade --nats-ca`), server.pem and
    /// server-key.pem to nats-server. Existing files are kept; a changed host list re-issues
    /// the server certificate from the same CA.
    TlsInit {
        dir: PathBuf,
        /// A DNS name or IP address the broker is reached by (repeat it); default
        /// 127.0.0.1 and localhost.
        #[arg(long = "host", value_name = "HOST")]
        hosts: Vec<String>,
    },
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    if let Some(Command::CheckQuarantine { version, exe }) = &cli.command {
        return check_quarantine(version, exe.clone());
    }
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
        Command::Backup { dir } => {
            let config = BackendConfig::load(cli.config.as_deref())?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let manifest = runtime.block_on(kanade_backend::backup::backup(&config, &dir))?;
            let messages: u64 = manifest.streams.iter().map(|s| s.messages).sum();
            println!(
                "backed up into {}: the database{}, {} secret file(s), {} stream(s) with {messages} message(s)",
                dir.display(),
                match manifest.schema {
                    Some(n) => format!(" (schema {n})"),
                    None => " (none yet)".to_owned(),
                },
                manifest.files.len(),
                manifest.streams.len()
            );
            Ok(())
        }
        Command::Restore { dir, broker_only } => {
            let config = BackendConfig::load(cli.config.as_deref())?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let done =
                runtime.block_on(kanade_backend::backup::restore(&config, &dir, broker_only))?;
            if let Some(accounts) = done.accounts {
                println!(
                    "restored {} secret file(s) and {accounts} account(s) into {}",
                    done.files,
                    config.db.sqlite_path.display()
                );
            }
            println!(
                "restored {} stream(s) with {} message(s). Start the backend: it replays them into the database.",
                done.streams, done.messages
            );
            Ok(())
        }
        Command::CheckQuarantine { .. } => Ok(()),
        Command::ArmForSwap {
            new_version,
            installed_exe,
        } => {
            let sentinel = BootSentinel::new(&installed_exe, VERSION);
            sentinel
                .arm_for_swap(&new_version)
                .with_context(|| format!("arming the boot sentinel for {new_version}"))?;
            println!(
                "kept {} as last-good; {new_version} must stay up {}s or it is rolled back",
                installed_exe.display(),
                kanade_sentinel::HEALTHY_AFTER.as_secs()
            );
            let config = BackendConfig::load(cli.config.as_deref())
                .context("armed, but the database was not copied: the config cannot be read")?;
            let db = &config.db.sqlite_path;
            if db.exists() {
                let mut name = sentinel.last_good_path().into_os_string();
                name.push(".db");
                let copy = PathBuf::from(name);
                kanade_backend::store::snapshot::copy_to(db, &copy)
                    .context("copying the database beside the last-good binary")?;
                println!("copied {} to {}", db.display(), copy.display());
            }
            Ok(())
        }
        Command::TlsInit { dir, mut hosts } => {
            if hosts.is_empty() {
                hosts = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
            }
            let (files, outcome) = kanade_pki::ensure(&dir, &hosts)?;
            let said = |done: bool, what: &str| {
                if done {
                    format!("created {what}")
                } else {
                    format!("kept {what}")
                }
            };
            println!(
                "{}; {} for {}\nCA (give to clients): {}\nserver certificate: {}\nserver key: {}",
                said(outcome.created_ca, "the CA"),
                said(outcome.issued_server, "the server certificate"),
                hosts.join(", "),
                files.ca_cert.display(),
                files.server_cert.display(),
                files.server_key.display()
            );
            Ok(())
        }
        Command::BrokerConfig {
            out,
            leaf,
            hub_domain,
        } => {
            let config = BackendConfig::load(cli.config.as_deref())?;
            let keys =
                kanade_backend::access::keys::BrokerKeys::load_or_create(&config.data_dir())?;
            let text = match leaf {
                true => keys.leaf_config(&hub_domain)?,
                false => keys.broker_config(),
            };
            match out {
                Some(path) => {
                    kanade_backend::auth::secrets::write_private(&path, text.trim_end())?;
                    println!("wrote {}", path.display());
                }
                None => print!("{text}"),
            }
            Ok(())
        }
        Command::EnrollmentToken {
            group,
            expires,
            uses,
        } => {
            let config = BackendConfig::load(cli.config.as_deref())?;
            let expires_in = chrono::Duration::from_std(expires.0)
                .ok()
                .filter(|d| *d > chrono::Duration::zero())
                .context("--expires must be a positive duration")?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            let text = runtime.block_on(kanade_backend::access::issue_token_locally(
                &config, group, expires_in, uses,
            ))?;
            println!("{text}");
            Ok(())
        }
        Command::ResolveDbPath => {
            let config = BackendConfig::load(cli.config.as_deref())?;
            println!("{}", config.db.sqlite_path.display());
            Ok(())
        }
        Command::Serve => {
            let exe = std::env::current_exe().context("locating this executable")?;
            let sentinel = BootSentinel::new(&exe, VERSION);
            if let BootDecision::RolledBack { from } = sentinel
                .check_on_boot(kanade_sentinel::DEFAULT_MAX_ATTEMPTS)
                .context("boot sentinel")?
            {
                anyhow::bail!(
                    "{from} failed to stay up after an update: rolled back to the last good binary and quarantined it; restart to run it"
                );
            }
            let config = BackendConfig::load(cli.config.as_deref())?;
            let _guard =
                kanade_backend::telemetry::init(&config.log, &config.data_dir(), "backend")?;
            let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind(&config.server.bind)
                    .await
                    .with_context(|| format!("binding {}", config.server.bind))?;
                tokio::spawn(async move {
                    tokio::time::sleep(kanade_sentinel::HEALTHY_AFTER).await;
                    if let Err(err) = sentinel.confirm_healthy() {
                        tracing::warn!(%err, "boot sentinel: could not confirm this version as good");
                    }
                });
                kanade_backend::serve(config, listener, shutdown_signal()).await
            })
        }
    }
}

fn check_quarantine(version: &str, exe: Option<PathBuf>) -> std::process::ExitCode {
    let exe = match exe.map(Ok).unwrap_or_else(std::env::current_exe) {
        Ok(exe) => exe,
        Err(err) => {
            eprintln!("error: locating the executable: {err}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if BootSentinel::new(&exe, VERSION).is_quarantined(version) {
        eprintln!("{version} is quarantined: it crash-looped after an update; do not deploy it");
        return std::process::ExitCode::from(3);
    }
    println!("{version} is not quarantined");
    std::process::ExitCode::SUCCESS
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
