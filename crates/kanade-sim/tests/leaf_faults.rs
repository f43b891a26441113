//! Fault test of a branch site: a three-node hub and a leaf node started from the example
//! configurations in `deploy/examples/` (ports and paths substituted, nothing else), the
//! backend loaded from `deploy/examples/backend.toml` answering the callout for machines on
//! the leaf, and two real agents (in-process) on the leaf. The leaf loses its uplink (a relay
//! between leaf and hub drops every connection and refuses new ones) while a job runs and
//! while more commands are sent; the agents stay connected to the leaf. When the uplink
//! returns, the results held meanwhile and the newest command per subject arrive through the
//! agents' periodic catch-up, and every result is projected exactly once.
//! A three-node hub because that is the production layout the examples describe (one file,
//! three hosts); the leaf runs no JetStream, so a hub of one would test the same leaf path.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kanade_backend::BackendConfig;
use kanade_backend::access::keys::{BrokerKeys, DEFAULT_HUB_DOMAIN};
use kanade_protocol::api::ExecResponse;
use kanade_protocol::duration::HumanDuration;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{AbortHandle, JoinHandle};

const TOKEN: &str = "leaf-faults-token";
const AGENTS: [&str; 2] = ["branch-pc1", "branch-pc2"];

fn example(name: &str) -> String {
    let path = kanade_testkit::workspace_root()
        .join("deploy/examples")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `text` with each `from` replaced by its `to`; every `from` must occur (so the examples
/// cannot drift away from what this test runs).
fn substitute(name: &str, text: &str, pairs: &[(String, String)]) -> String {
    let mut text = text.to_owned();
    for (from, to) in pairs {
        assert!(
            text.contains(from.as_str()),
            "{name} no longer has {from:?}"
        );
        text = text.replace(from.as_str(), to);
    }
    text
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A nats-server process on a configuration file; killed on drop.
struct Server {
    child: std::process::Child,
    monitor: u16,
}

impl Server {
    fn start(config: &Path, monitor: u16) -> Server {
        let binary = kanade_testkit::nats::binary().unwrap();
        let log = std::fs::File::create(config.with_extension("log")).unwrap();
        let check = std::process::Command::new(&binary)
            .arg("-t")
            .arg("-c")
            .arg(config)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "nats-server -t {}: {}",
            config.display(),
            String::from_utf8_lossy(&check.stderr)
        );
        let child = std::process::Command::new(&binary)
            .arg("-c")
            .arg(config)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        Server { child, monitor }
    }

    async fn get(&self, path: &str) -> Option<serde_json::Value> {
        let url = format!("http://127.0.0.1:{}{path}", self.monitor);
        reqwest::get(url).await.ok()?.json().await.ok()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The branch's uplink: a TCP relay per hub node between the leaf and the hub's leafnode
/// port. `cut` drops every relayed connection and refuses new ones until `restore`.
struct Uplink {
    up: Arc<AtomicBool>,
    relayed: Arc<Mutex<Vec<AbortHandle>>>,
    addrs: Vec<SocketAddr>,
}

impl Uplink {
    async fn start(targets: &[SocketAddr]) -> Uplink {
        let up = Arc::new(AtomicBool::new(true));
        let relayed: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let mut addrs = Vec::new();
        for target in targets.iter().copied() {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            addrs.push(listener.local_addr().unwrap());
            let (up, relayed) = (up.clone(), relayed.clone());
            tokio::spawn(async move {
                while let Ok((mut inbound, _)) = listener.accept().await {
                    if !up.load(Ordering::SeqCst) {
                        continue;
                    }
                    let task = tokio::spawn(async move {
                        if let Ok(mut outbound) = TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                    relayed.lock().unwrap().push(task.abort_handle());
                }
            });
        }
        Uplink { up, relayed, addrs }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for task in self.relayed.lock().unwrap().drain(..) {
            task.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

struct Site {
    _hub: Vec<Server>,
    leaf: Server,
    uplink: Uplink,
    base: String,
    db: PathBuf,
    hub_url: String,
    ca_file: PathBuf,
    backend_data: PathBuf,
    leaf_client: u16,
    _backend: JoinHandle<anyhow::Result<()>>,
    _agents: Vec<(
        tokio::sync::oneshot::Sender<()>,
        JoinHandle<anyhow::Result<()>>,
    )>,
    _dir: tempfile::TempDir,
}

impl Site {
    fn agent_dir(&self, id: &str) -> PathBuf {
        self._dir.path().join("agents").join(id)
    }

    /// Results waiting in an agent's outbox (written, not yet acknowledged by JetStream).
    fn held_results(&self, id: &str) -> usize {
        std::fs::read_dir(self.agent_dir(id).join("outbox"))
            .map(|dir| {
                dir.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with("-result.json"))
                    .count()
            })
            .unwrap_or(0)
    }

    fn query(&self, sql: &str, param: &str) -> i64 {
        rusqlite::Connection::open(&self.db)
            .and_then(|c| c.query_row(sql, [param], |r| r.get(0)))
            .unwrap_or(-1)
    }

    async fn online(&self) -> u64 {
        let Ok(resp) = http()
            .get(format!("{}/api/agents?online=true&limit=1", self.base))
            .send()
            .await
        else {
            return 0;
        };
        resp.json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["total"].as_u64())
            .unwrap_or(0)
    }

    async fn exec(&self, job: &str, target: serde_json::Value) -> String {
        let resp = http()
            .post(format!("{}/api/exec/{job}", self.base))
            .json(&serde_json::json!({ "target": target }))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "exec {job}: {}", resp.status());
        resp.json::<ExecResponse>().await.unwrap().exec_id
    }

    /// The leaf's client connections (the agents'), by connection id.
    async fn agent_connections(&self) -> Vec<u64> {
        let Some(connz) = self.leaf.get("/connz").await else {
            return Vec::new();
        };
        let mut ids: Vec<u64> = connz["connections"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| {
                c["name"]
                    .as_str()
                    .is_some_and(|n| n.contains("kanade-agent"))
            })
            .filter_map(|c| c["cid"].as_u64())
            .collect();
        ids.sort_unstable();
        ids
    }

    async fn uplink_connections(&self) -> u64 {
        self.leaf
            .get("/leafz")
            .await
            .and_then(|v| v["leafnodes"].as_u64())
            .unwrap_or(0)
    }
}

async fn start_site() -> Site {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
    let (tls, _) = kanade_pki::ensure(&root.join("tls"), &hosts).unwrap();
    let tls_dir = format!("{}/", tls.ca_cert.parent().unwrap().display());
    let backend_data = root.join("backend");
    std::fs::create_dir_all(&backend_data).unwrap();
    let keys = BrokerKeys::load_or_create(&backend_data).unwrap();

    // The hub: deploy/examples/broker.conf on three "hosts".
    let port = |_| kanade_testkit::free_port();
    let clients: Vec<u16> = (0..3).map(port).collect();
    let routes: Vec<u16> = (0..3).map(port).collect();
    let leafs: Vec<u16> = (0..3).map(port).collect();
    let monitors: Vec<u16> = (0..3).map(port).collect();
    let broker = example("broker.conf");
    let mut hub = Vec::new();
    for i in 0..3 {
        let node = root.join(format!("hub-{}", i + 1));
        std::fs::create_dir_all(&node).unwrap();
        std::fs::write(node.join("access.conf"), keys.broker_config()).unwrap();
        let mut pairs = vec![
            (
                "server_name: kanade-1".to_owned(),
                format!("server_name: kanade-{}", i + 1),
            ),
            (
                "0.0.0.0:4222".to_owned(),
                format!("127.0.0.1:{}", clients[i]),
            ),
            (
                "127.0.0.1:8222".to_owned(),
                format!("127.0.0.1:{}", monitors[i]),
            ),
            (
                "/var/lib/nats/jetstream".to_owned(),
                node.join("js").display().to_string(),
            ),
            ("/etc/nats/tls/".to_owned(), tls_dir.clone()),
            (
                "0.0.0.0:6222".to_owned(),
                format!("127.0.0.1:{}", routes[i]),
            ),
            ("0.0.0.0:7422".to_owned(), format!("127.0.0.1:{}", leafs[i])),
        ];
        for (j, route) in routes.iter().enumerate() {
            pairs.push((
                format!("kanade-{}.example.net:6222", j + 1),
                format!("127.0.0.1:{route}"),
            ));
        }
        let file = node.join("nats-server.conf");
        std::fs::write(&file, substitute("broker.conf", &broker, &pairs)).unwrap();
        hub.push(Server::start(&file, monitors[i]));
    }
    for server in &hub {
        wait_for("hub JetStream", Duration::from_secs(60), || async {
            server
                .get("/healthz?js-enabled-only=true")
                .await
                .is_some_and(|v| v["status"] == "ok")
        })
        .await;
    }

    // The backend: deploy/examples/backend.toml.
    let urls: Vec<String> = clients
        .iter()
        .map(|p| format!("tls://127.0.0.1:{p}"))
        .collect();
    let mut pairs = vec![
        (
            "/etc/kanade/tls/ca.pem".to_owned(),
            tls.ca_cert.display().to_string(),
        ),
        (
            "/var/lib/kanade/kanade.db".to_owned(),
            backend_data.join("kanade.db").display().to_string(),
        ),
        (
            "/var/log/kanade".to_owned(),
            root.join("logs").display().to_string(),
        ),
    ];
    for (j, url) in urls.iter().enumerate() {
        pairs.push((
            format!("tls://kanade-{}.example.net:4222", j + 1),
            url.clone(),
        ));
    }
    let toml = root.join("backend.toml");
    std::fs::write(
        &toml,
        substitute("backend.toml", &example("backend.toml"), &pairs),
    )
    .unwrap();
    let mut config = BackendConfig::load(Some(&toml)).unwrap();
    config.secrets.static_token = Some(TOKEN.to_owned());
    config.secrets.bootstrap_admin_password = Some("leaf-faults-admin".to_owned());
    config.log.path = None;
    let db = config.db.sqlite_path.clone();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let backend = tokio::spawn(kanade_backend::serve(
        config,
        listener,
        std::future::pending(),
    ));
    wait_for("backend ready", Duration::from_secs(120), || async {
        http()
            .get(format!("{base}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
    })
    .await;

    // The leaf: deploy/examples/leaf.conf, its uplink through the relay.
    let targets: Vec<SocketAddr> = leafs
        .iter()
        .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
        .collect();
    let uplink = Uplink::start(&targets).await;
    let leaf_dir = root.join("leaf");
    std::fs::create_dir_all(&leaf_dir).unwrap();
    std::fs::write(
        leaf_dir.join("leaf-access.conf"),
        keys.leaf_config(DEFAULT_HUB_DOMAIN).unwrap(),
    )
    .unwrap();
    let (leaf_client, leaf_monitor) = (kanade_testkit::free_port(), kanade_testkit::free_port());
    let mut pairs = vec![
        (
            "0.0.0.0:4222".to_owned(),
            format!("127.0.0.1:{leaf_client}"),
        ),
        (
            "127.0.0.1:8222".to_owned(),
            format!("127.0.0.1:{leaf_monitor}"),
        ),
        ("/etc/nats/tls/".to_owned(), tls_dir.clone()),
    ];
    for (j, addr) in uplink.addrs.iter().enumerate() {
        pairs.push((
            format!("kanade-{}.example.net:7422", j + 1),
            addr.to_string(),
        ));
    }
    let file = leaf_dir.join("leaf.conf");
    std::fs::write(
        &file,
        substitute("leaf.conf", &example("leaf.conf"), &pairs),
    )
    .unwrap();
    let leaf = Server::start(&file, leaf_monitor);

    let site = Site {
        _hub: hub,
        leaf,
        uplink,
        base,
        db,
        hub_url: urls.join(","),
        ca_file: tls.ca_cert.clone(),
        backend_data,
        leaf_client,
        _backend: backend,
        _agents: Vec::new(),
        _dir: dir,
    };
    wait_for(
        "the leaf's two uplinks",
        Duration::from_secs(30),
        || async { site.uplink_connections().await == 2 },
    )
    .await;
    site
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_branch_that_lost_its_uplink_gets_the_newest_commands_and_returns_every_result_once() {
    let mut site = start_site().await;
    for (id, script) in [("quick", "echo hi"), ("slow", "sleep 3; echo done")] {
        let job = format!(
            "id: {id}\nversion: \"1\"\nexecute:\n  shell: sh\n  script: {script}\n  timeout: 60s\n"
        );
        let resp = http()
            .post(format!("{}/api/jobs", site.base))
            .body(job)
            .send()
            .await
            .unwrap();
        assert!(
            resp.status().is_success(),
            "register {id}: {}",
            resp.status()
        );
    }
    // Machines on the leaf enroll through the hub's callout.
    let token = {
        let client = kanade_bus::connect_with(
            kanade_bus::Role::Cli,
            &site.hub_url,
            &kanade_bus::Access {
                ca_file: Some(site.ca_file.clone()),
                nkey_seed: Some(
                    kanade_backend::access::keys::backend_seed(&site.backend_data).unwrap(),
                ),
                token: None,
            },
        )
        .await
        .unwrap();
        let registry = kanade_backend::access::Registry::open(&async_nats::jetstream::new(client))
            .await
            .unwrap();
        let (_, text) = registry
            .create_token(
                None,
                chrono::Duration::hours(1),
                10,
                "leaf test",
                chrono::Utc::now(),
            )
            .await
            .unwrap();
        text
    };
    let leaf_url = format!("tls://127.0.0.1:{}", site.leaf_client);
    for id in AGENTS {
        let mut config = kanade_agent::AgentConfig::default();
        config.agent.id = Some(id.to_owned());
        config.agent.nats_url = leaf_url.clone();
        config.agent.nats_ca = Some(site.ca_file.clone());
        config.agent.data_dir = Some(site.agent_dir(id));
        config.agent.heartbeat_interval = HumanDuration::from_secs(1);
        config.agent.catch_up_every = HumanDuration::from_secs(2);
        config.agent.enrollment_token = Some(kanade_agent::config::Secret(token.clone()));
        config.log.keep_days = 0;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(kanade_agent::run(config, async move {
            let _ = stopped.await;
        }));
        site._agents.push((stop, task));
    }
    wait_for(
        "both branch machines online",
        Duration::from_secs(60),
        || async { site.online().await == AGENTS.len() as u64 },
    )
    .await;

    const FINISHED: &str =
        "SELECT COUNT(*) FROM execution_results WHERE exec_id = ?1 AND finished_at IS NOT NULL";
    const ROWS: &str = "SELECT COUNT(*) FROM execution_results WHERE exec_id = ?1";
    const COUNTED: &str =
        "SELECT success_count + failure_count + skipped_count FROM executions WHERE exec_id = ?1";
    let all = serde_json::json!({ "all": true });

    // Through the leaf: a command out, results back.
    let first = site.exec("quick", all.clone()).await;
    wait_for("the first results", Duration::from_secs(60), || async {
        site.query(FINISHED, &first) == 2
    })
    .await;

    // A slow job starts; the uplink goes down while it runs.
    let slow = site.exec("slow", all.clone()).await;
    wait_for(
        "the slow job started on both",
        Duration::from_secs(60),
        || async { site.query(ROWS, &slow) == 2 },
    )
    .await;
    let connections = site.agent_connections().await;
    assert_eq!(connections.len(), 2, "two agents on the leaf");
    site.uplink.cut();
    wait_for("the uplink down", Duration::from_secs(30), || async {
        site.uplink_connections().await == 0
    })
    .await;

    // Meanwhile: two commands on the broadcast subject (EXEC keeps the newer) and one for
    // one machine.
    let superseded = site.exec("quick", all.clone()).await;
    let newest = site.exec("quick", all.clone()).await;
    let one = site
        .exec("quick", serde_json::json!({ "pcs": [AGENTS[0]] }))
        .await;
    // The slow job finishes at the branch; its results wait in the outboxes.
    wait_for(
        "the slow job's results held",
        Duration::from_secs(30),
        || async { AGENTS.iter().all(|id| site.held_results(id) >= 1) },
    )
    .await;
    assert_eq!(
        site.query(FINISHED, &slow),
        0,
        "results crossed a cut uplink"
    );

    site.uplink.restore();
    wait_for("the uplink back", Duration::from_secs(30), || async {
        site.uplink_connections().await == 2
    })
    .await;
    for (what, exec, n) in [
        ("the slow job's held results", &slow, 2),
        ("the newest broadcast", &newest, 2),
        ("the one machine's command", &one, 1),
    ] {
        wait_for(what, Duration::from_secs(60), || async {
            site.query(FINISHED, exec) == n && site.query(COUNTED, exec) == n
        })
        .await;
    }
    // The agents never reconnected: only their periodic catch-up found the commands.
    assert_eq!(site.agent_connections().await, connections);
    // Projected once each, and the superseded broadcast never ran (EXEC kept the newer).
    for (exec, n) in [(&first, 2), (&slow, 2), (&newest, 2), (&one, 1)] {
        assert_eq!(site.query(ROWS, exec), n, "rows of {exec}");
        assert_eq!(site.query(COUNTED, exec), n, "counters of {exec}");
    }
    assert_eq!(
        site.query(ROWS, &superseded),
        0,
        "the superseded command ran"
    );
}
