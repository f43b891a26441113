//! A whole kanade system in one test process: nats-server, the backend on a free port, and
//! any number of in-process agents that can be stopped and started again. The broker serves
//! TLS only, and every component pins its CA, as `scripts/up` sets things up.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use kanade_cli::client::ApiClient;
use kanade_protocol::api::{ExecRequest, ExecResponse, ExecutionDetail, Target};
use kanade_testkit::NatsServer;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub const ADMIN_PASSWORD: &str = "e2e-admin-password";

struct RunningAgent {
    stop: oneshot::Sender<()>,
    task: JoinHandle<anyhow::Result<()>>,
}

pub struct System {
    pub nats: NatsServer,
    pub dir: tempfile::TempDir,
    pub base: String,
    pub api: ApiClient,
    pub token: String,
    /// Zero-trust mode: the broker asks the backend about every client (auth callout); the
    /// agents started by `start_agent` present this enrollment token.
    pub enrollment_token: Option<String>,
    backend: Option<JoinHandle<anyhow::Result<()>>>,
    agents: HashMap<String, RunningAgent>,
}

impl System {
    pub async fn start(agent_ids: &[&str]) -> System {
        System::boot(agent_ids, |_| {}).await
    }

    /// Like `start`, with the backend config adjusted first (e.g. short liveness windows).
    pub async fn start_with(
        agent_ids: &[&str],
        adjust: impl FnOnce(&mut kanade_backend::BackendConfig),
    ) -> System {
        System::boot(agent_ids, adjust).await
    }

    /// Development mode (`KANADE_AUTH_DISABLE=1`): for driving the CLI without a session.
    pub async fn start_without_auth(agent_ids: &[&str]) -> System {
        System::boot(agent_ids, |c| c.secrets.auth_disable = true).await
    }

    /// Zero trust as `scripts/up` sets it up: the broker configured by
    /// `kanade-backend broker-config` (auth callout), every agent with its own key, enrolled
    /// with a token (50 uses) made before they start.
    pub async fn start_zero_trust(agent_ids: &[&str]) -> System {
        let mut system = System::boot_as(true, &[], |_| {}).await;
        let registry = system.registry().await;
        let (_, text) = registry
            .create_token(
                None,
                chrono::Duration::hours(1),
                50,
                "test",
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        system.enrollment_token = Some(text);
        for id in agent_ids {
            system.start_agent(id).await;
        }
        system.wait_online(agent_ids.len()).await;
        system
    }

    /// The backend's own broker connection (its nkey: full access), for reading what the
    /// system stored. Only in zero-trust mode.
    pub async fn backend_nats(&self) -> async_nats::Client {
        let seed =
            kanade_backend::access::keys::backend_seed(&self.dir.path().join("backend")).unwrap();
        let access = kanade_bus::Access {
            ca_file: self.nats.ca_file(),
            nkey_seed: Some(seed),
            token: None,
        };
        kanade_bus::connect_with(kanade_bus::Role::Cli, &self.nats.url(), &access)
            .await
            .unwrap()
    }

    /// The registry plus a kicker on the broker's system account, as the backend holds them.
    pub async fn access(&self) -> kanade_backend::access::BrokerAccess {
        let keys = kanade_backend::access::keys::BrokerKeys::load_or_create(
            &self.dir.path().join("backend"),
        )
        .unwrap();
        let access = kanade_bus::Access {
            ca_file: self.nats.ca_file(),
            nkey_seed: Some(keys.system.seed().unwrap()),
            token: None,
        };
        let sys =
            kanade_bus::connect_with(kanade_bus::Role::BackendSystem, &self.nats.url(), &access)
                .await
                .unwrap();
        kanade_backend::access::BrokerAccess {
            registry: self.registry().await,
            kicker: Some(kanade_backend::access::kick::Kicker::new(sys)),
        }
    }

    /// The permission violations nats-server logged so far (a client that tried a subject
    /// outside its grant).
    pub fn broker_violations(&self) -> Vec<String> {
        let log = std::fs::read_to_string(self.nats.store_dir().join("nats-server.log"))
            .unwrap_or_default();
        log.lines()
            .filter(|line| line.contains("Violation"))
            .map(str::to_owned)
            .collect()
    }

    /// The machine registry, through the backend's connection.
    pub async fn registry(&self) -> kanade_backend::access::Registry {
        let js = async_nats::jetstream::new(self.backend_nats().await);
        kanade_backend::access::Registry::open(&js).await.unwrap()
    }

    async fn boot(
        agent_ids: &[&str],
        adjust: impl FnOnce(&mut kanade_backend::BackendConfig),
    ) -> System {
        System::boot_as(false, agent_ids, adjust).await
    }

    async fn boot_as(
        zero_trust: bool,
        agent_ids: &[&str],
        adjust: impl FnOnce(&mut kanade_backend::BackendConfig),
    ) -> System {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let dir = tempfile::tempdir().unwrap();
        let nats = match zero_trust {
            true => {
                let keys = kanade_backend::access::keys::BrokerKeys::load_or_create(
                    &dir.path().join("backend"),
                )
                .unwrap();
                NatsServer::start_with(kanade_testkit::NatsOptions {
                    config: Some(keys.broker_config()),
                    ..Default::default()
                })
            }
            false => NatsServer::start(),
        };
        let mut config = kanade_backend::BackendConfig::default();
        if zero_trust {
            config.nats.auth = kanade_backend::config::BrokerAuth::Callout;
        }
        config.nats.url = nats.url();
        config.nats.ca_file = nats.ca_file();
        config.db.sqlite_path = dir.path().join("backend/kanade.db");
        config.secrets.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned());
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let backend = tokio::spawn(kanade_backend::serve(
            config,
            listener,
            std::future::pending(),
        ));
        let anon = reqwest::Client::new();
        wait_for("backend health", Duration::from_secs(30), || {
            let (anon, url) = (anon.clone(), format!("{base}/health"));
            async move {
                anon.get(url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        let login: kanade_protocol::api::LoginResponse = anon
            .post(format!("{base}/api/auth/login"))
            .json(&serde_json::json!({"username": "admin", "password": ADMIN_PASSWORD}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let api = ApiClient::new(&base, Some(login.token.clone())).unwrap();
        let mut system = System {
            nats,
            dir,
            base,
            api,
            token: login.token,
            enrollment_token: None,
            backend: Some(backend),
            agents: HashMap::new(),
        };
        for id in agent_ids {
            system.start_agent(id).await;
        }
        system.wait_online(agent_ids.len()).await;
        system
    }

    /// A broker connection pinned to the system's CA, as the CLI makes one.
    pub async fn nats_client(&self) -> async_nats::Client {
        let tls = kanade_bus::Access {
            ca_file: self.nats.ca_file(),
            ..Default::default()
        };
        kanade_bus::connect_with(kanade_bus::Role::Cli, &self.nats.url(), &tls)
            .await
            .unwrap()
    }

    /// Stops the backend abruptly; agents and the broker keep running.
    pub async fn kill_backend(&mut self) {
        if let Some(backend) = self.backend.take() {
            backend.abort();
            let _ = backend.await;
        }
    }

    pub fn agent_dir(&self, id: &str) -> PathBuf {
        self.dir.path().join("agents").join(id)
    }

    /// Starts (or restarts) an in-process agent with its own data folder.
    pub async fn start_agent(&mut self, id: &str) {
        self.start_agent_with(id, |_| {}).await
    }

    /// Like `start_agent`, with the agent's config adjusted last (e.g. its sessions folder).
    pub async fn start_agent_with(
        &mut self,
        id: &str,
        adjust: impl FnOnce(&mut kanade_agent::AgentConfig),
    ) {
        let mut config = kanade_agent::AgentConfig::default();
        config.agent.id = Some(id.to_owned());
        config.agent.nats_url = self.nats.url();
        config.agent.nats_ca = self.nats.ca_file();
        config.agent.data_dir = Some(self.agent_dir(id));
        config.agent.heartbeat_interval = kanade_protocol::duration::HumanDuration::from_secs(1);
        // Where `kanade logs` looks (relative: inside the data folder); in-process agents
        // write no file there, tests put one in.
        config.log.path = Some(PathBuf::from("logs"));
        config.agent.enrollment_token = self
            .enrollment_token
            .clone()
            .map(kanade_agent::config::Secret);
        adjust(&mut config);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(kanade_agent::run(config, async move {
            let _ = stopped.await;
        }));
        self.agents
            .insert(id.to_owned(), RunningAgent { stop, task });
    }

    /// Stops an agent the way a service stop would.
    pub async fn stop_agent(&mut self, id: &str) {
        let agent = self.agents.remove(id).expect("agent is running");
        let _ = agent.stop.send(());
        let _ = tokio::time::timeout(Duration::from_secs(15), agent.task).await;
    }

    /// Waits until `n` machines have heartbeated (an exec at `all` counts them).
    pub async fn wait_online(&self, n: usize) {
        let db = self.dir.path().join("backend/kanade.db");
        wait_for("agents online", Duration::from_secs(30), || {
            let db = db.clone();
            async move {
                let Ok(conn) = rusqlite::Connection::open(&db) else {
                    return false;
                };
                conn.query_row("SELECT COUNT(*) FROM agents", [], |r| r.get::<_, i64>(0))
                    .is_ok_and(|count| count as usize >= n)
            }
        })
        .await;
    }

    pub async fn exec(&self, job: &str, target: Target) -> ExecResponse {
        let req = ExecRequest {
            target,
            ..ExecRequest::default()
        };
        self.api.exec(job, &req).await.unwrap()
    }

    pub async fn wait_completed(&self, exec_id: &str) -> ExecutionDetail {
        let api = &self.api;
        wait_for(
            "execution completed",
            Duration::from_secs(60),
            || async move {
                api.get_execution(exec_id)
                    .await
                    .is_ok_and(|e| e.execution.status == "completed")
            },
        )
        .await;
        self.api.get_execution(exec_id).await.unwrap()
    }
}

impl Drop for System {
    fn drop(&mut self) {
        for (_, agent) in self.agents.drain() {
            agent.task.abort();
        }
        if let Some(backend) = self.backend.take() {
            backend.abort();
        }
    }
}

/// Polls `check` until it holds, failing the test with `what` after `limit`.
pub async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub fn pcs(ids: &[&str]) -> Target {
    Target {
        pcs: ids.iter().map(|s| (*s).to_owned()).collect(),
        ..Target::default()
    }
}

pub fn all() -> Target {
    Target {
        all: true,
        ..Target::default()
    }
}
