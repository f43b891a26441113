//! The `kanade` binary: everything lives in the library; this only hands it the arguments.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    // Lossy, so a non-UTF-8 argument becomes a clear error later instead of a panic here.
    let args = std::env::args_os().map(|arg| arg.to_string_lossy().into_owned());
    let code = kanade_cli::main_with(args).await;
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(1))
}
