//! Running the CLI in-process with captured output.

/// What one CLI invocation produced.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kanade <args>` through `main_with_io` (empty stdin, no prompts).
pub async fn kanade(args: &[&str]) -> Outcome {
    kanade_stdin(args, "").await
}

/// Runs `kanade <args>` through `main_with_io_stdin` with `stdin` as standard input.
pub async fn kanade_stdin(args: &[&str], stdin: &str) -> Outcome {
    let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("kanade")
        .chain(args.iter().copied())
        .map(String::from);
    let code = kanade_cli::main_with_io_stdin(argv, &mut input, &mut out, &mut err).await;
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}
