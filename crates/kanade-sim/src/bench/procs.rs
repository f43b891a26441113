//! The processes a scenario runs: nats-server and the release `kanade-backend` (each a child
//! on free loopback ports, stopped on drop), the `wipe-projector` subcommand, and CPU / RSS
//! readings from `/proc/<pid>`.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// The bearer token the benchmark's backend accepts (a service identity, admin role).
pub const TOKEN: &str = "kanade-bench-static-token";

pub fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// `$KANADE_NATS_SERVER`, else `.tools/nats/bin/nats-server` above the current directory,
/// else `nats-server` on `PATH`.
pub fn nats_binary() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("KANADE_NATS_SERVER") {
        return Ok(PathBuf::from(p));
    }
    let mut dir = std::env::current_dir()?;
    loop {
        let candidate = dir.join(".tools/nats/bin/nats-server");
        if candidate.is_file() {
            return Ok(candidate);
        }
        if !dir.pop() {
            break;
        }
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for d in std::env::split_paths(&paths) {
            if d.join("nats-server").is_file() {
                return Ok(d.join("nats-server"));
            }
        }
    }
    bail!("nats-server not found: run scripts/bench (it installs it) or set $KANADE_NATS_SERVER")
}

/// A child process killed (SIGTERM, then SIGKILL) on drop.
pub struct Proc {
    child: Option<Child>,
    pub pid: u32,
    pub name: &'static str,
}

impl Proc {
    pub fn spawn(name: &'static str, mut cmd: Command, log: &Path) -> anyhow::Result<Proc> {
        let file = std::fs::File::create(log)?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(file.try_clone()?)
            .stderr(file)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Proc {
            pid: child.id(),
            child: Some(child),
            name,
        })
    }

    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// SIGTERM, up to `grace` to exit, then SIGKILL.
    pub fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGTERM,
            );
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    pub fn sample(&self) -> anyhow::Result<ProcSample> {
        sample(self.pid)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_secs(5));
    }
}

/// nats-server with JetStream on a free port, store under `dir`.
pub struct Nats {
    pub proc: Proc,
    pub url: String,
    /// The HTTP monitoring port (`/varz`, `/connz`), when asked for.
    pub monitor_port: Option<u16>,
    /// The server's log file.
    pub log: PathBuf,
}

/// How `Nats::start_with` configures the server.
#[derive(Debug, Clone, Default)]
pub struct NatsOptions {
    /// nats-server configuration text (accounts, auth callout, …); listen address, JetStream
    /// and the store folder still come from the command line.
    pub config: Option<String>,
    /// TLS only, with this certificate and key (`url` is then `tls://…`).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Serve the monitoring endpoints on a free loopback port.
    pub monitor: bool,
}

impl Nats {
    pub fn start(dir: &Path) -> anyhow::Result<Nats> {
        Nats::start_with(dir, &NatsOptions::default())
    }

    pub fn start_with(dir: &Path, options: &NatsOptions) -> anyhow::Result<Nats> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let mut cmd = Command::new(nats_binary()?);
        cmd.args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(dir.join("js"));
        if let Some(text) = &options.config {
            let file = dir.join("server.conf");
            std::fs::write(&file, text)?;
            cmd.arg("-c").arg(file);
        }
        if let Some((cert, key)) = &options.tls {
            cmd.arg("--tls")
                .arg("--tlscert")
                .arg(cert)
                .arg("--tlskey")
                .arg(key);
        }
        let monitor_port = match options.monitor {
            true => {
                let m = free_port()?;
                cmd.args(["-m", &m.to_string()]);
                Some(m)
            }
            false => None,
        };
        let scheme = if options.tls.is_some() { "tls" } else { "nats" };
        let log = dir.join("nats-server.log");
        let mut proc = Proc::spawn("nats-server", cmd, &log)?;
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(20) {
            if let Some(status) = proc.exited() {
                bail!("nats-server exited with {status}; see {}", dir.display());
            }
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Ok(Nats {
                    proc,
                    url: format!("{scheme}://127.0.0.1:{port}"),
                    monitor_port,
                    log,
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("nats-server did not listen within 20 s")
    }
}

/// Where a scenario's backend lives: config file, database, log.
#[derive(Debug, Clone)]
pub struct BackendSetup {
    pub bin: PathBuf,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub db: PathBuf,
    pub port: u16,
}

impl BackendSetup {
    /// Writes `backend.toml` in `dir` for a backend on a free port with `nats_url`.
    pub fn new(bin: &Path, dir: &Path, nats_url: &str) -> anyhow::Result<BackendSetup> {
        std::fs::create_dir_all(dir)?;
        let port = free_port()?;
        let db = dir.join("backend.db");
        let config = dir.join("backend.toml");
        let text = format!(
            "[server]\nbind = \"127.0.0.1:{port}\"\n\n[nats]\nurl = \"{nats_url}\"\n\n\
             [db]\nsqlite_path = \"{}\"\n\n[log]\nlevel = \"warn\"\nkeep_days = 1\n",
            db.display()
        );
        std::fs::write(&config, text)?;
        Ok(BackendSetup {
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
            config,
            db,
            port,
        })
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `$KANADE_BENCH_BACKEND_WRAPPER` (e.g. `valgrind --tool=callgrind`) runs the backend
    /// under a profiler.
    fn command(&self) -> Command {
        let wrapper: Vec<String> = std::env::var("KANADE_BENCH_BACKEND_WRAPPER")
            .map(|w| w.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default();
        let mut cmd = match wrapper.split_first() {
            Some((program, args)) => {
                let mut cmd = Command::new(program);
                cmd.args(args).arg(&self.bin);
                cmd
            }
            None => Command::new(&self.bin),
        };
        cmd.arg("--config")
            .arg(&self.config)
            .env("KANADE_AUTH_STATIC_TOKEN", TOKEN)
            .env(
                "KANADE_BOOTSTRAP_ADMIN_PASSWORD",
                "kanade-bench-admin-password",
            )
            .env(
                "KANADE_JWT_SECRET",
                "kanade-bench-jwt-secret-kanade-bench-jwt-secret",
            )
            .env("RUST_LOG", "warn")
            .env_remove("KANADE_AUTH_DISABLE");
        cmd
    }

    /// Starts `kanade-backend serve` and waits for `/health`.
    pub async fn start(&self) -> anyhow::Result<Proc> {
        let mut cmd = self.command();
        cmd.arg("serve");
        let mut proc = Proc::spawn("kanade-backend", cmd, &self.dir.join("backend.log"))?;
        let http = reqwest::Client::new();
        let url = format!("{}/health", self.base());
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(120) {
            if let Some(status) = proc.exited() {
                bail!(
                    "kanade-backend exited with {status}; see {}",
                    self.dir.join("backend.log").display()
                );
            }
            if let Ok(resp) = http.get(&url).send().await
                && resp.status().is_success()
            {
                return Ok(proc);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        bail!("kanade-backend did not answer /health within 120 s")
    }

    /// Runs `kanade-backend wipe-projector`.
    pub fn wipe(&self) -> anyhow::Result<()> {
        let out = self
            .command()
            .arg("wipe-projector")
            .output()
            .context("running wipe-projector")?;
        if !out.status.success() {
            bail!(
                "wipe-projector failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(())
    }
}

/// CPU time (user + system, in seconds) and resident memory of a process.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcSample {
    pub cpu_secs: f64,
    pub rss_bytes: u64,
    pub at: Option<Instant>,
}

/// Linux reports `/proc/<pid>/stat` times in USER_HZ, which is 100 on every mainstream
/// architecture.
const USER_HZ: f64 = 100.0;

pub fn sample(pid: u32) -> anyhow::Result<ProcSample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may contain spaces; fields after its closing parenthesis are fixed.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .context("malformed /proc stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest starts at field 3 (state): utime is field 14, stime 15.
    let utime: u64 = fields.get(11).context("no utime")?.parse()?;
    let stime: u64 = fields.get(12).context("no stime")?.parse()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    Ok(ProcSample {
        cpu_secs: (utime + stime) as f64 / USER_HZ,
        rss_bytes: rss_kib * 1024,
        at: Some(Instant::now()),
    })
}

/// Share of one core used between two samples, in percent.
pub fn cpu_percent(a: &ProcSample, b: &ProcSample) -> f64 {
    match (a.at, b.at) {
        (Some(t0), Some(t1)) if t1 > t0 => {
            (b.cpu_secs - a.cpu_secs) / (t1 - t0).as_secs_f64() * 100.0
        }
        _ => 0.0,
    }
}

/// The machine's 1-minute load average.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}
