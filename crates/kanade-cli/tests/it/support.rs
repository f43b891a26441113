//! Running the CLI in-process with captured output.

/// What one CLI invocation produced.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `kanade <args>` through `main_with_io`.
pub async fn kanade(args: &[&str]) -> Outcome {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let argv = std::iter::once("kanade")
        .chain(args.iter().copied())
        .map(String::from);
    let code = kanade_cli::main_with_io(argv, &mut out, &mut err).await;
    Outcome {
        code,
        stdout: String::from_utf8_lossy(&out).into_owned(),
        stderr: String::from_utf8_lossy(&err).into_owned(),
    }
}
