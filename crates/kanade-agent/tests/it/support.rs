//! Shared test helpers: a real broker (TLS only; the test client and every agent pin its CA)
//! with kanade's resources, in-process agents with their own data folders, command builders, readers that poll the RESULTS, EVENTS and OBS_EVENTS
//! streams with a deadline, KV writes that ride out a broker restart, and a heartbeat
//! cadence probe.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull};
use futures::StreamExt;
use kanade_agent::AgentConfig;
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::signing::SigningKey;
use kanade_protocol::wire::{Command, EventStarted, ExecResult, Heartbeat, ObsEvent, Shell};
use kanade_protocol::{names, subject};
use kanade_testkit::NatsServer;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Generous for a slow 2-core machine; every wait polls, so passing tests stay fast.
pub const WAIT: Duration = Duration::from_secs(20);
const POLL: Duration = Duration::from_millis(50);

pub fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

pub struct Broker {
    pub server: NatsServer,
    pub client: async_nats::Client,
    pub js: jetstream::Context,
    /// Plays the backend's signing key: in `command_keys`, and `send` signs with it.
    pub key: SigningKey,
}

impl Broker {
    pub async fn start() -> Broker {
        init_tracing();
        let server = NatsServer::start();
        let access = kanade_bus::Access {
            ca_file: server.ca_file(),
            ..Default::default()
        };
        let client = kanade_bus::connect_with(kanade_bus::Role::Backend, &server.url(), &access)
            .await
            .expect("connect test client");
        let js = jetstream::new(client.clone());
        kanade_bus::ensure_resources(&js)
            .await
            .expect("create JetStream resources");
        let broker = Broker {
            server,
            client,
            js,
            key: SigningKey::generate(),
        };
        broker.trust(&broker.key).await;
        broker
    }

    /// Puts `key` into `command_keys`.
    pub async fn trust(&self, key: &SigningKey) {
        let entry = key.command_key(Some("test".into()), chrono::Utc::now());
        self.kv_put(
            names::KV_COMMAND_KEYS,
            key.key_id(),
            &serde_json::to_string(&entry).unwrap(),
        )
        .await;
    }

    pub fn url(&self) -> String {
        self.server.url()
    }

    /// The broker's CA, which every client must pin (the broker serves TLS only).
    pub fn ca_file(&self) -> PathBuf {
        self.server.ca_file().expect("the test broker serves TLS")
    }

    /// Signs `cmd` for `subject` and publishes it through JetStream, so the command is in
    /// EXEC when this returns.
    pub async fn send(&self, subject: &str, cmd: &Command) {
        let signed = self.key.signed(cmd, subject, chrono::Utc::now());
        self.send_unsigned(subject, &signed).await;
    }

    /// Publishes `cmd` as it is (signed or not).
    pub async fn send_unsigned(&self, subject: &str, cmd: &Command) {
        let payload = serde_json::to_vec(cmd).unwrap();
        self.send_raw(subject, payload).await;
    }

    /// Retries while the test's own connection recovers from a broker restart.
    pub async fn send_raw(&self, subject: &str, payload: Vec<u8>) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let res = match self
                .js
                .publish(subject.to_owned(), payload.clone().into())
                .await
            {
                Ok(ack) => ack.await.map(|_| ()).map_err(|err| err.to_string()),
                Err(err) => Err(err.to_string()),
            };
            match res {
                Ok(()) => return,
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    panic!("publishing to {subject} failed: {err}")
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    /// Retries while the test's own connection recovers from a broker restart.
    pub async fn kv_put(&self, bucket: &str, key: &str, value: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let attempt = async {
                let kv = self
                    .js
                    .get_key_value(bucket)
                    .await
                    .map_err(|err| err.to_string())?;
                kv.put(key, value.to_owned().into())
                    .await
                    .map(|_| ())
                    .map_err(|err| err.to_string())
            };
            // A request lost in a broker restart would otherwise wait out the 5 s default.
            let res = tokio::time::timeout(Duration::from_secs(1), attempt)
                .await
                .unwrap_or_else(|_| Err("timed out".to_owned()));
            match res {
                Ok(()) => return,
                Err(err) if tokio::time::Instant::now() >= deadline => {
                    panic!("putting {bucket}[{key}] failed: {err}")
                }
                Err(_) => tokio::time::sleep(POLL).await,
            }
        }
    }

    pub async fn kv_delete(&self, bucket: &str, key: &str) {
        let kv = self.js.get_key_value(bucket).await.unwrap();
        kv.delete(key).await.unwrap();
    }

    /// Puts a scope into KV `agent_config` (`global`, `groups.<g>`, `pcs.<id>`).
    pub async fn set_config(&self, key: &str, scope: serde_json::Value) {
        self.kv_put(names::KV_AGENT_CONFIG, key, &scope.to_string())
            .await;
    }

    pub async fn set_groups(&self, pc_id: &str, groups: &[&str]) {
        let value = serde_json::json!({ "groups": groups });
        self.kv_put(names::KV_AGENT_GROUPS, pc_id, &value.to_string())
            .await;
    }

    /// Every timeline event of `pc_id` in OBS_EVENTS so far.
    pub async fn obs_events(&self, pc_id: &str) -> Vec<ObsEvent> {
        read_stream(&self.js, names::STREAM_OBS_EVENTS, &subject::obs(pc_id)).await
    }

    /// Every result published for `request_id` so far.
    pub async fn results(&self, request_id: &str) -> Vec<ExecResult> {
        // `results.<pc>.<request>` where a dotted machine id spans several tokens.
        let all: Vec<ExecResult> =
            read_stream(&self.js, names::STREAM_RESULTS, subject::RESULTS_FILTER).await;
        all.into_iter()
            .filter(|r| r.request_id == request_id)
            .collect()
    }

    pub async fn started_events(&self, exec_id: &str) -> Vec<EventStarted> {
        let filter = format!("events.started.{exec_id}.*");
        read_stream(&self.js, names::STREAM_EVENTS, &filter).await
    }

    /// Waits until at least `n` results for `request_id` are in RESULTS and returns all.
    pub async fn wait_results(&self, request_id: &str, n: usize) -> Vec<ExecResult> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let results = self.results(request_id).await;
            if results.len() >= n {
                return results;
            }
            if tokio::time::Instant::now() >= deadline {
                panic!(
                    "expected {n} result(s) for {request_id}, got {}: {results:#?}",
                    results.len()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    pub async fn wait_result(&self, request_id: &str) -> ExecResult {
        let mut results = self.wait_results(request_id, 1).await;
        assert_eq!(results.len(), 1, "{results:#?}");
        results.remove(0)
    }
}

/// All messages of `stream` matching `filter`, decoded, in stream order. Retries while the
/// test's own connection recovers from a broker restart.
pub async fn read_stream<T: DeserializeOwned>(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> Vec<T> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match try_read_stream(js, stream, filter).await {
            Ok(messages) => return messages,
            Err(err) if tokio::time::Instant::now() >= deadline => {
                panic!("reading {stream} ({filter}): {err:#}")
            }
            Err(_) => tokio::time::sleep(POLL).await,
        }
    }
}

async fn try_read_stream<T: DeserializeOwned>(
    js: &jetstream::Context,
    stream: &str,
    filter: &str,
) -> anyhow::Result<Vec<T>> {
    let stream = js.get_stream(stream).await?;
    let consumer = stream
        .create_consumer(pull::Config {
            filter_subject: filter.to_owned(),
            deliver_policy: jetstream::consumer::DeliverPolicy::All,
            ack_policy: jetstream::consumer::AckPolicy::None,
            inactive_threshold: Duration::from_secs(10),
            ..Default::default()
        })
        .await?;
    let mut out = Vec::new();
    loop {
        let mut batch = consumer.fetch().max_messages(500).messages().await?;
        let before = out.len();
        while let Some(message) = batch.next().await {
            let message = message.map_err(|err| anyhow::anyhow!("{err}"))?;
            out.push(serde_json::from_slice(&message.payload)?);
        }
        if out.len() == before {
            break;
        }
    }
    let name = consumer.cached_info().name.clone();
    let _ = stream.delete_consumer(&name).await;
    Ok(out)
}

/// Polls `check` until it is true or `max` passed; returns whether it became true.
pub async fn eventually<F, Fut>(max: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + max;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Heartbeats of one machine, to measure the cadence the agent runs at.
pub struct Beats {
    sub: async_nats::Subscriber,
    last: Option<chrono::DateTime<chrono::Utc>>,
}

impl Beats {
    /// Subscribes (and flushes, so no heartbeat after this returns is missed).
    pub async fn subscribe(broker: &Broker, pc_id: &str) -> Beats {
        let sub = broker
            .client
            .subscribe(subject::heartbeat(pc_id))
            .await
            .unwrap();
        broker.client.flush().await.unwrap();
        Beats { sub, last: None }
    }

    /// Waits until `n` consecutive gaps between heartbeats (by their `at`) lie in
    /// `range`; panics with the gaps seen when that does not happen within `WAIT`.
    pub async fn wait_cadence(&mut self, range: std::ops::Range<Duration>, n: usize) {
        let deadline = tokio::time::Instant::now() + WAIT;
        let mut seen = Vec::new();
        let mut in_a_row = 0;
        while in_a_row < n {
            let message = tokio::time::timeout_at(deadline, self.sub.next()).await;
            let Ok(Some(message)) = message else {
                panic!("heartbeat gaps never settled in {range:?}; saw {seen:?}");
            };
            let beat: Heartbeat = serde_json::from_slice(&message.payload).unwrap();
            if let Some(last) = self.last.replace(beat.at) {
                let gap = (beat.at - last).to_std().unwrap_or_default();
                seen.push(gap);
                in_a_row = if range.contains(&gap) {
                    in_a_row + 1
                } else {
                    0
                };
            }
        }
    }
}

/// A command running `script` with `sh`, fresh ids, and a 30 s timeout.
pub fn command(script: &str) -> Command {
    Command {
        id: format!("job-{}", short_id()),
        version: "1".into(),
        request_id: uuid::Uuid::new_v4().to_string(),
        exec_id: uuid::Uuid::new_v4().to_string(),
        shell: Shell::Sh,
        script: script.to_owned(),
        timeout_secs: 30,
        jitter_secs: None,
        retry: None,
        deadline_at: None,
        cwd: None,
        run_as: None,
        staleness: None,
        emit: None,
        emergency: false,
        issued_at: chrono::Utc::now(),
        issued_by: Some("test".into()),
        collect: None,
        finalize: None,
        signature: None,
    }
}

pub fn short_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..8].to_owned()
}

/// A unique machine id per test, so agents of parallel tests never share a consumer.
pub fn pc_id(name: &str) -> String {
    format!("{name}-{}", short_id())
}

/// An agent of `broker` (its URL, its CA pinned) with a fast heartbeat.
pub fn agent_config(broker: &Broker, pc_id: &str, data_dir: &Path) -> AgentConfig {
    let mut config = AgentConfig::default();
    config.agent.id = Some(pc_id.to_owned());
    config.agent.nats_url = broker.url();
    config.agent.nats_ca = Some(broker.ca_file());
    config.agent.data_dir = Some(data_dir.to_path_buf());
    config.agent.heartbeat_interval = HumanDuration(Duration::from_millis(500));
    config
}

/// An agent running in this process until `stop` (or drop, which shuts it down too).
pub struct Agent {
    pub pc_id: String,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Agent {
    /// Starts an agent without waiting for it to be ready.
    pub fn spawn(broker: &Broker, pc_id: &str, data_dir: &Path) -> Agent {
        Agent::spawn_with(agent_config(broker, pc_id, data_dir))
    }

    /// Starts an agent with `config` (from `agent_config`, changed) without waiting.
    pub fn spawn_with(config: AgentConfig) -> Agent {
        let pc_id = config.agent.id.clone().expect("an agent id");
        let data_dir = config.agent.data_dir.clone().expect("a data dir");
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(kanade_agent::run(config, async move {
            let _ = rx.await;
        }));
        Agent {
            pc_id,
            data_dir,
            shutdown: Some(tx),
            handle: Some(handle),
        }
    }

    /// Starts an agent and waits until it runs commands.
    pub async fn start(broker: &Broker, pc_id: &str, data_dir: &Path) -> Agent {
        let agent = Agent::spawn(broker, pc_id, data_dir);
        agent.wait_ready(broker).await;
        agent
    }

    /// Ready means a probe command sent to this machine came back. The probe goes out after
    /// the agent's first heartbeat, which it sends only once its command subscriptions are
    /// in place (a brand-new agent's catch-up starts at "new": a probe sent earlier would be
    /// passed over as from before its time).
    pub async fn wait_ready(&self, broker: &Broker) {
        let mut beats = broker
            .client
            .subscribe(subject::heartbeat(&self.pc_id))
            .await
            .unwrap();
        let beat = tokio::time::timeout(WAIT, futures::StreamExt::next(&mut beats)).await;
        assert!(
            matches!(beat, Ok(Some(_))),
            "agent {} never heartbeated",
            self.pc_id
        );
        let probe = command("echo ready");
        broker
            .send(&subject::commands_pc(&self.pc_id), &probe)
            .await;
        let result = broker.wait_result(&probe.request_id).await;
        assert_eq!(result.stdout, "ready\n", "{result:#?}");
    }

    /// The command subjects the agent caught up on last (its `catch_up.json` marks).
    pub fn catch_up_subjects(&self) -> Vec<String> {
        let marks: std::collections::BTreeMap<String, u64> =
            std::fs::read(self.data_dir.join("catch_up.json"))
                .ok()
                .and_then(|bytes| serde_json::from_slice(&bytes).ok())
                .unwrap_or_default();
        marks.into_keys().collect()
    }

    pub fn outbox_files(&self) -> Vec<PathBuf> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(self.data_dir.join("outbox"))
            .map(|dir| {
                dir.filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.extension().is_some_and(|x| x == "json"))
                    .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    }

    /// Asks the agent to shut down and waits for `run` to return Ok.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let handle = self.handle.take().expect("running");
        let res = tokio::time::timeout(WAIT, handle)
            .await
            .expect("agent stops within the deadline")
            .expect("agent task did not panic");
        res.expect("run returned Ok");
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.abort();
        }
    }
}

/// The agent binary cargo built for these tests.
pub const AGENT_BIN: &str = env!("CARGO_BIN_EXE_kanade-agent");

/// An agent.toml for a child process of the real binary, pointed at `broker` with its CA.
pub fn write_agent_toml(path: &Path, broker: &Broker, pc_id: &str, data_dir: &Path) {
    std::fs::write(
        path,
        format!(
            "[agent]\nid = {pc_id:?}\nnats_url = {url:?}\nnats_ca = {ca:?}\ndata_dir = {data_dir:?}\n\
             heartbeat_interval = \"500ms\"\n[log]\nkeep_days = 0\n",
            url = broker.url(),
            ca = broker.ca_file(),
        ),
    )
    .unwrap();
}

/// Starts `command`, retrying while the executable is busy: a child another test forked
/// while this test was writing the file briefly holds it open for writing (ETXTBSY).
pub async fn spawn_retrying(command: &mut tokio::process::Command) -> tokio::process::Child {
    let mut attempts = 0;
    loop {
        match command.spawn() {
            Ok(child) => return child,
            Err(err) if err.raw_os_error() == Some(26) && attempts < 50 => {
                attempts += 1;
                tokio::time::sleep(POLL).await;
            }
            Err(err) => panic!("cannot start {command:?}: {err}"),
        }
    }
}

/// Runs `command` to completion (see `spawn_retrying`), capturing its output.
pub async fn output_retrying(command: &mut tokio::process::Command) -> std::process::Output {
    command
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let child = spawn_retrying(command).await;
    tokio::time::timeout(WAIT, child.wait_with_output())
        .await
        .expect("the command finishes within the deadline")
        .unwrap()
}

/// A child process of the real agent binary whose stdout and stderr are collected.
pub struct ChildAgent {
    pub child: tokio::process::Child,
    output: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ChildAgent {
    /// Starts `exe --config <config>` with `env` added (and `RUST_LOG` removed).
    pub async fn start(exe: &Path, config: &Path, env: &[(&str, &str)]) -> ChildAgent {
        let mut command = tokio::process::Command::new(exe);
        command
            .arg("--config")
            .arg(config)
            .env_remove("RUST_LOG")
            .env_remove("KANADE_AGENT_VERSION_OVERRIDE")
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        let mut child = spawn_retrying(&mut command).await;
        let output = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        for pipe in [
            Box::new(stdout) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
            Box::new(stderr),
        ] {
            let output = output.clone();
            tokio::spawn(async move {
                use tokio::io::AsyncBufReadExt;
                let mut lines = tokio::io::BufReader::new(pipe).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    output.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        ChildAgent { child, output }
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output contains `needle`; panics with the output otherwise.
    pub async fn wait_for_output(&self, needle: &str) {
        let seen = eventually(WAIT, || async { self.output().contains(needle) }).await;
        assert!(
            seen,
            "never saw {needle:?} in the agent's output:\n{}",
            self.output()
        );
    }

    /// SIGTERM, then waits for a clean exit.
    pub async fn stop(mut self) {
        use nix::sys::signal::{Signal, kill};
        let pid = nix::unistd::Pid::from_raw(self.child.id().expect("still running") as i32);
        kill(pid, Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(status.success(), "{status}\n{}", self.output());
    }
}

/// Waits for a heartbeat of `pc_id` that satisfies `check` and returns it.
pub async fn wait_heartbeat(
    broker: &Broker,
    pc_id: &str,
    check: impl Fn(&Heartbeat) -> bool,
) -> Heartbeat {
    let mut beats = broker
        .client
        .subscribe(subject::heartbeat(pc_id))
        .await
        .unwrap();
    broker.client.flush().await.unwrap();
    let deadline = tokio::time::Instant::now() + WAIT;
    let mut last = None;
    loop {
        let message = tokio::time::timeout_at(deadline, beats.next()).await;
        let Ok(Some(message)) = message else {
            panic!("no matching heartbeat from {pc_id}; the last one: {last:#?}");
        };
        let beat: Heartbeat = serde_json::from_slice(&message.payload).unwrap();
        if check(&beat) {
            return beat;
        }
        last = Some(beat);
    }
}
