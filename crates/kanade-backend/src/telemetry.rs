//! Logging: stdout plus an optional daily-rotated file without colour codes; `RUST_LOG`
//! overrides the configured level; panics are logged with a backtrace.

use anyhow::Context;
use tracing_appender::non_blocking::WorkerGuard;
use tracing_appender::rolling::{RollingFileAppender, Rotation};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogConfig;

/// Installs the global subscriber. Keep the guard alive for the life of the process: it
/// flushes the file writer on drop.
pub fn init(config: &LogConfig, name: &str) -> anyhow::Result<Option<WorkerGuard>> {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&config.level))
        .with_context(|| format!("invalid log level {:?}", config.level))?;
    let stdout = tracing_subscriber::fmt::layer().with_target(false);
    let (file, guard) = match &config.path {
        Some(path) => {
            let dir = path
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(std::path::Path::new("."));
            std::fs::create_dir_all(dir)
                .with_context(|| format!("creating log folder {}", dir.display()))?;
            let prefix = path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or(name)
                .to_owned();
            let appender = RollingFileAppender::builder()
                .rotation(Rotation::DAILY)
                .filename_prefix(prefix)
                .filename_suffix("log")
                .max_log_files(config.keep_days.max(1))
                .build(dir)
                .with_context(|| format!("opening log file in {}", dir.display()))?;
            let (writer, guard) = tracing_appender::non_blocking(appender);
            let layer = tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(writer);
            (Some(layer), Some(guard))
        }
        None => (None, None),
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(stdout)
        .with(file)
        .try_init()
        .ok();
    install_panic_hook();
    Ok(guard)
}

fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let backtrace = std::backtrace::Backtrace::force_capture();
        tracing::error!(panic = %info, %backtrace, "panic");
        eprintln!("panic: {info}\n{backtrace}");
    }));
}
