//! Running the CLI in-process with captured output, and reaching a test broker (TLS only)
//! with its CA pinned.

use kanade_testkit::NatsServer;

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

/// Runs `kanade --nats-url <server> --nats-ca <its CA> <args>`: the test broker serves TLS
/// only, so the CLI must pin its CA as an operator's would.
pub async fn kanade_on(server: &NatsServer, args: &[&str]) -> Outcome {
    let [url, ca] = broker_args(server);
    let global = ["--nats-url", url.as_str(), "--nats-ca", ca.as_str()];
    kanade(&[&global[..], args].concat()).await
}

/// The URL and the CA file of `server`, as the CLI's `--nats-url` and `--nats-ca` take them.
pub fn broker_args(server: &NatsServer) -> [String; 2] {
    let ca = server.ca_file().expect("the test broker serves TLS");
    [server.url(), ca.display().to_string()]
}

/// A test connection to `server`, pinned to its CA.
pub async fn connect(server: &NatsServer) -> async_nats::Client {
    let access = kanade_bus::Access {
        ca_file: server.ca_file(),
        ..Default::default()
    };
    kanade_bus::connect_with(kanade_bus::Role::Cli, &server.url(), &access)
        .await
        .expect("connect a test client to the broker")
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
