//! What each subcommand does, one file per group. Every command writes through `Io` and
//! returns its exit code; errors bubble up to `main_with_io`, which prints and maps them.

pub mod account;
pub mod agents;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod collect;
pub mod compliance;
pub mod config;
pub mod documents;
pub mod enroll;
pub mod exec;
pub mod executions;
pub mod freeze;
pub mod group;
pub mod install;
pub mod inventory;
pub mod jetstream;
pub mod job;
pub mod keys;
pub mod kill;
pub mod machines;
pub mod mfa;
pub mod perf;
pub mod ping;
pub mod reach;
pub mod releases;
pub mod results;
pub mod run;
pub mod schedule;
pub mod settings;
pub mod shell;
pub mod timeline;

use std::io::{BufRead, Write};
use std::path::PathBuf;

use anyhow::Context;
use serde::Serialize;

use crate::BadInput;
use crate::cli::{Cli, Command, Global};
use crate::client::ApiClient;
use crate::session;

/// Where a command's output goes: human output to `out`, diagnostics and prompts to `err`;
/// answers come from `input` (stdin), and prompts are shown only when `interactive`.
pub struct Io<'a> {
    pub out: &'a mut (dyn Write + Send),
    pub err: &'a mut (dyn Write + Send),
    /// Standard input: `--password-stdin` and the answers typed at a prompt.
    pub input: &'a mut (dyn BufRead + Send),
    /// stdin is a terminal, so the operator can be asked (passwords without echo).
    pub interactive: bool,
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

    /// The next line of stdin without its line ending (nothing else is trimmed: a password may
    /// start or end with a space); `None` at the end of input.
    pub fn read_line(&mut self) -> anyhow::Result<Option<String>> {
        let mut line = String::new();
        let n = self
            .input
            .read_line(&mut line)
            .context("reading from stdin")?;
        if n == 0 {
            return Ok(None);
        }
        if line.ends_with('\n') {
            line.pop();
            if line.ends_with('\r') {
                line.pop();
            }
        }
        Ok(Some(line))
    }

    /// Asks on the terminal for a visible answer (a user name, a code): `prompt` on stderr, the
    /// answer from stdin, trimmed. Only call when `interactive`.
    pub fn ask(&mut self, prompt: &str) -> anyhow::Result<String> {
        let _ = write!(self.err, "{prompt} ");
        let _ = self.err.flush();
        let answer = self
            .read_line()?
            .ok_or_else(|| BadInput::err(format!("no answer to `{prompt}`")))?;
        Ok(answer.trim().to_owned())
    }

    /// A secret: the next line of stdin when `from_stdin`, else typed at the terminal without
    /// echo. Without a terminal and without `--password-stdin` there is no way to ask: exit 2.
    pub async fn secret(&mut self, prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
        if from_stdin {
            return self.read_line()?.ok_or_else(|| {
                BadInput::err(format!(
                    "--password-stdin: stdin ended before the line for `{prompt}`"
                ))
            });
        }
        if !self.interactive {
            return Err(BadInput::err(
                "stdin is not a terminal, so there is no way to type a password: pass --password-stdin and send it on stdin",
            ));
        }
        let _ = self.err.flush();
        let prompt = format!("{prompt} ");
        tokio::task::spawn_blocking(move || rpassword::prompt_password(prompt))
            .await
            .context("reading the password")?
            .context("reading the password from the terminal")
    }

    /// A new password: typed twice without echo (they must match), or one line of stdin; checked
    /// against the password policy before anything is sent.
    pub async fn new_password(&mut self, prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
        let password = self.secret(prompt, from_stdin).await?;
        if !from_stdin {
            let again = self.secret("Again:", false).await?;
            if again != password {
                return Err(BadInput::err(
                    "the two passwords differ; nothing was changed",
                ));
            }
        }
        kanade_protocol::api::check_password_policy(&password)
            .map_err(|err| BadInput::err(err.to_string()))?;
        Ok(password)
    }
}

pub async fn dispatch(cli: Cli, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let global = cli.global;
    match cli.command {
        Command::Job(command) => job::run(command, &global, io).await,
        Command::Exec(args) => exec::run(args, &global, io).await,
        Command::Executions(args) => executions::list(args, &global, io).await,
        Command::Execution(args) => executions::show(args, &global, io).await,
        Command::Results(args) => match args.command {
            Some(command) => reach::results(command, &global, io).await,
            None => results::list(args, &global, io).await,
        },
        Command::Tail(args) => reach::tail(args, &global, io).await,
        Command::Logs(args) => reach::logs(args, &global, io).await,
        Command::Collect(command) => collect::run(command, &global, io).await,
        Command::Shell(args) => shell::run(args, &global, io).await,
        Command::Result(args) => results::show(args, &global, io).await,
        Command::Approvals(args) => approvals::list(args, &global, io).await,
        Command::Approve(args) => approvals::decide(args, true, &global, io).await,
        Command::Reject(args) => approvals::decide(args, false, &global, io).await,
        Command::Run(args) => run::run(args, &global, io).await,
        Command::Jetstream(command) => jetstream::run(command, &global, io).await,
        Command::Login(args) => auth::login(args, &global, io).await,
        Command::Logout => auth::logout(&global, io).await,
        Command::Whoami => auth::whoami(&global, io).await,
        Command::Account(command) => account::run(command, &global, io).await,
        Command::Audit(args) => audit::list(args, &global, io).await,
        Command::Mfa(command) => mfa::run(command, &global, io).await,
        Command::Kill(args) => kill::run(args, &global, io).await,
        Command::Schedule(command) => schedule::run(command, &global, io).await,
        Command::Inventory(command) => inventory::run(command, &global, io).await,
        Command::Compliance(args) => compliance::run(args, &global, io).await,
        Command::Agents(args) => agents::list(args, &global, io).await,
        Command::Agent(command) => agents::run(command, &global, io).await,
        Command::Ping(args) => ping::run(args, &global, io).await,
        Command::Group(command) => group::run(command, &global, io).await,
        Command::Config(command) => config::run(command, &global, io).await,
        Command::Freeze(command) => freeze::run(command, &global, io).await,
        Command::Keys(command) => keys::run(command, &global, io).await,
        Command::Revoke(args) => job::revoke(&args.job, true, &global, io).await,
        Command::Unrevoke(args) => job::revoke(&args.job, false, &global, io).await,
        Command::Timeline(args) => timeline::run(args, &global, io).await,
        Command::Perf(args) => perf::run(args, &global, io).await,
        Command::Enroll(command) => enroll::run(command, &global, io).await,
        Command::Machines(args) => machines::run(args, &global, io).await,
        Command::Settings(command) => settings::run(command, &global, io).await,
    }
}

/// The HTTP client for the configured backend, carrying `$KANADE_AUTH_TOKEN` or else the stored
/// session made for this backend (see `session`).
pub fn api_client(global: &Global) -> anyhow::Result<ApiClient> {
    let folder = session_folder(global).ok();
    let credentials = session::credentials(folder.as_deref(), &global.backend_url);
    Ok(
        ApiClient::new(&global.backend_url, credentials.map(|c| c.token))?
            .pinning(global.backend_ca.as_deref())?,
    )
}

/// A machine id as agents use it (a host name or FQDN): exit 2 naming it otherwise.
pub fn check_pc(pc: &str) -> anyhow::Result<()> {
    if kanade_protocol::subject::is_valid_pc_id(pc) {
        return Ok(());
    }
    Err(BadInput::err(format!(
        "`{pc}` is not a valid machine id (letters, digits, '-' and '_', in at most 4 labels separated by '.')"
    )))
}

/// The folder of the stored session: `--config-dir` / `$KANADE_CONFIG_DIR`, else the user's.
pub fn session_folder(global: &Global) -> anyhow::Result<PathBuf> {
    session::folder(global.config_dir.as_deref())
}

/// A NATS connection for the commands that bypass the backend. It presents
/// `$KANADE_NATS_TOKEN` when set, else the stored API session's token: a broker in zero-trust
/// mode lets an operator's or admin's live session in with the break-glass grant only.
pub async fn nats(global: &Global) -> anyhow::Result<async_nats::Client> {
    let explicit = std::env::var("KANADE_NATS_TOKEN").is_ok_and(|t| !t.is_empty());
    let token = match explicit {
        true => None,
        false => {
            let folder = session_folder(global).ok();
            session::credentials(folder.as_deref(), &global.backend_url).map(|c| c.token)
        }
    };
    let tls = kanade_bus::Access {
        ca_file: global.nats_ca.clone(),
        token,
        ..Default::default()
    };
    kanade_bus::connect_with(kanade_bus::Role::Cli, &global.nats_url, &tls).await
}
