//! The `kanade` operator CLI as a library: the typed HTTP `client` (reused by tests), the stored
//! sign-in (`session`), the break-glass `run` and `kill` over NATS with their `audit` events, and
//! `main_with`, the whole program behind a function so tests drive it exactly as an operator
//! would (`main_with_io_stdin` also hands it what stdin holds, for `--password-stdin`).
//!
//! Exit codes: 0 ok; 1 the operation failed (remote error, failed machines); 2 bad input
//! (usage errors, unreadable manifests, invalid arguments). `kanade run` exits with the
//! script's own exit code.

pub mod audit;
pub mod cli;
pub mod client;
pub mod commands;
mod not_found;
pub mod render;
pub mod run;
pub mod session;

use std::io::{BufRead, IsTerminal, Write};

use clap::Parser;

pub const EXIT_OK: i32 = 0;
pub const EXIT_FAILED: i32 = 1;
pub const EXIT_BAD_INPUT: i32 = 2;

/// Input the operator must fix (exit code 2). The message names what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadInput(pub String);

impl BadInput {
    pub fn err(message: impl Into<String>) -> anyhow::Error {
        anyhow::Error::new(BadInput(message.into()))
    }
}

/// Runs the CLI on `args` (program name first, as `std::env::args()` gives them) with the
/// process's stdin, stdout and stderr, and returns the exit code. Prompts (user name, password,
/// authenticator code) are shown only when stdin is a terminal.
pub async fn main_with(args: impl IntoIterator<Item = String>) -> i32 {
    let interactive = std::io::stdin().is_terminal();
    let mut input = std::io::BufReader::new(std::io::stdin());
    let mut out = std::io::stdout();
    let mut err = std::io::stderr();
    run_main(args, &mut input, interactive, &mut out, &mut err).await
}

/// Like `main_with`, writing human output to `out` and errors to `err`, with an empty stdin and
/// never prompting: what tests use to check the output.
pub async fn main_with_io(
    args: impl IntoIterator<Item = String>,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> i32 {
    let mut input = std::io::empty();
    run_main(args, &mut input, false, out, err).await
}

/// Like `main_with_io`, with `stdin` as standard input (what `--password-stdin` and the other
/// non-interactive answers read, one line each). Never prompts.
pub async fn main_with_io_stdin(
    args: impl IntoIterator<Item = String>,
    stdin: &mut (dyn BufRead + Send),
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> i32 {
    run_main(args, stdin, false, out, err).await
}

async fn run_main(
    args: impl IntoIterator<Item = String>,
    input: &mut (dyn BufRead + Send),
    interactive: bool,
    out: &mut (dyn Write + Send),
    err: &mut (dyn Write + Send),
) -> i32 {
    let cli = match cli::Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(clap_err) => {
            // Help and --version go to stdout with 0; everything else is a usage error.
            let (target, code): (&mut (dyn Write + Send), i32) = if clap_err.use_stderr() {
                (err, EXIT_BAD_INPUT)
            } else {
                (out, EXIT_OK)
            };
            let _ = write!(target, "{}", clap_err.render());
            return code;
        }
    };
    let mut io = commands::Io {
        out,
        err,
        input,
        interactive,
    };
    let hint = not_found::hint(&cli.command);
    let code = match commands::dispatch(cli, &mut io).await {
        Ok(code) => code,
        Err(error) => {
            let _ = match hint.filter(|_| not_found::is_not_found(&error)) {
                Some(hint) => writeln!(io.err, "error: {error:#}; {hint}"),
                None => writeln!(io.err, "error: {error:#}"),
            };
            exit_code_for(&error)
        }
    };
    let _ = io.out.flush();
    let _ = io.err.flush();
    code
}

/// 2 when anything in the error's chain is bad input (ours, or the server's 400/422), else 1.
pub fn exit_code_for(error: &anyhow::Error) -> i32 {
    let bad_input = error.chain().any(|cause| {
        cause.is::<BadInput>()
            || cause
                .downcast_ref::<client::ClientError>()
                .is_some_and(client::ClientError::is_bad_input)
    });
    if bad_input {
        EXIT_BAD_INPUT
    } else {
        EXIT_FAILED
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn exit_codes_follow_the_cause_through_context() {
        let bad = Err::<(), _>(BadInput::err("--pcs: `a.b` is not a valid name"))
            .context("starting the execution")
            .unwrap_err();
        assert_eq!(exit_code_for(&bad), EXIT_BAD_INPUT);
        let remote = anyhow::anyhow!("connecting to NATS").context("jetstream setup");
        assert_eq!(exit_code_for(&remote), EXIT_FAILED);
        let refused = anyhow::Error::new(client::ClientError::Api {
            status: reqwest::StatusCode::UNPROCESSABLE_ENTITY,
            detail: None,
            body: String::new(),
        });
        assert_eq!(exit_code_for(&refused), EXIT_BAD_INPUT);
        let missing = anyhow::Error::new(client::ClientError::Api {
            status: reqwest::StatusCode::NOT_FOUND,
            detail: None,
            body: String::new(),
        });
        assert_eq!(exit_code_for(&missing), EXIT_FAILED);
    }

    async fn run(args: &[&str]) -> (i32, String, String) {
        let mut out = Vec::new();
        let mut err = Vec::new();
        let args = std::iter::once("kanade")
            .chain(args.iter().copied())
            .map(String::from);
        let code = main_with_io(args, &mut out, &mut err).await;
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    #[tokio::test]
    async fn usage_errors_exit_2_and_help_exits_0() {
        let (code, _, err) = run(&["exec", "hello"]).await;
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(err.starts_with("error: "), "{err}");
        let (code, out, _) = run(&["--help"]).await;
        assert_eq!(code, EXIT_OK);
        assert!(out.contains("Usage: kanade"), "{out}");
        let (code, _, err) = run(&[]).await;
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(err.contains("Usage"), "{err}");
    }

    #[tokio::test]
    async fn malformed_ids_are_refused_before_anything_is_sent() {
        let long = "x".repeat(5000);
        let cases: [(&[&str], &str, &str); 6] = [
            (&["job", "get", "a*b"], "<ID>", "not a valid job id"),
            (
                &["schedule", "enable", "../x"],
                "<ID>",
                "not a valid schedule id",
            ),
            (&["results", "a.>"], "<EXEC_ID>", "not a valid execution id"),
            (&["kill", &long], "<EXEC_ID>", "not a valid execution id"),
            (
                &["group", "add", "pc1", "a b"],
                "<GROUP>",
                "not a valid group name",
            ),
            (
                &["agent", "show", "pc\u{0}1"],
                "<PC>",
                "not a valid machine id",
            ),
        ];
        for (args, arg, message) in cases {
            let (code, _, err) = run(args).await;
            assert_eq!(code, EXIT_BAD_INPUT, "{args:?}: {err}");
            assert!(err.starts_with("error: `"), "{args:?}: {err}");
            assert!(
                err.contains(arg) && err.contains(message),
                "{args:?}: {err}"
            );
            assert!(
                err.len() < 1000,
                "{args:?}: the message echoes the whole value"
            );
        }
    }

    #[tokio::test]
    async fn an_unreadable_manifest_is_bad_input() {
        let (code, _, err) = run(&["job", "create", "/nonexistent/job.yaml"]).await;
        assert_eq!(code, EXIT_BAD_INPUT);
        assert!(err.contains("/nonexistent/job.yaml"), "{err}");
    }
}
