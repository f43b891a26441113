//! What each subcommand does, one file per group. Every command writes through `Io` and
//! returns its exit code; errors bubble up to `main_with_io`, which prints and maps them.

pub mod exec;
pub mod jetstream;
pub mod job;
pub mod results;
pub mod run;

use std::io::Write;

use anyhow::Context;
use serde::Serialize;

use crate::cli::{Cli, Command, Global};
use crate::client::ApiClient;

/// Where a command's output goes: human output to `out`, diagnostics to `err`.
pub struct Io<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub err: &'a mut (dyn Write + Send),
}

impl Io<'_> {
    /// Pretty JSON of `value` on `out`.
    pub fn json<T: Serialize + ?Sized>(&mut self, value: &T) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(value).context("encoding JSON output")?;
        writeln!(self.out, "{text}").context("writing to stdout")
    }

    /// Text on `out`, as is.
    pub fn print(&mut self, text: &str) -> anyhow::Result<()> {
        self.out
            .write_all(text.as_bytes())
            .context("writing to stdout")
    }

    /// One line on `err`; a closed stderr is not worth failing over.
    pub fn note(&mut self, text: &str) {
        let _ = writeln!(self.err, "{text}");
    }
}

pub async fn dispatch(cli: Cli, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let global = cli.global;
    match cli.command {
        Command::Job(command) => job::run(command, &global, io).await,
        Command::Exec(args) => exec::run(args, &global, io).await,
        Command::Results(args) => results::list(args, &global, io).await,
        Command::Result(args) => results::show(args, &global, io).await,
        Command::Run(args) => run::run(args, &global, io).await,
        Command::Jetstream(command) => jetstream::run(command, &global, io).await,
    }
}

/// The HTTP client for the configured backend, with `$KANADE_AUTH_TOKEN`.
pub fn api_client(global: &Global) -> anyhow::Result<ApiClient> {
    Ok(ApiClient::from_env(&global.backend_url)?)
}

/// A NATS connection for the commands that bypass the backend.
pub async fn nats(global: &Global) -> anyhow::Result<async_nats::Client> {
    kanade_bus::connect(kanade_bus::Role::Cli, &global.nats_url).await
}
