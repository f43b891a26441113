//! `NatsCluster`: a real JetStream cluster of nats-server processes on loopback ports (routes
//! between them, one store folder each), TLS only for clients with a CA of its own. A node can
//! be killed (`kill -9`) and started again on the same ports and store, to test what survives a
//! broker node's crash.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

struct Node {
    /// Clients connect in clear text (only for tests of components that cannot pin a CA yet).
    plain: bool,
    name: String,
    port: u16,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

pub struct NatsCluster {
    dir: tempfile::TempDir,
    tls: kanade_pki::TlsFiles,
    nodes: Vec<Node>,
}

impl NatsCluster {
    /// Starts `size` nodes and waits until each accepts connections. JetStream elects its meta
    /// leader a moment later: callers retry their first JetStream request.
    pub fn start(size: usize) -> NatsCluster {
        NatsCluster::try_start(size, false).unwrap_or_else(|err| panic!("{err:#}"))
    }

    /// `start` with clear-text client connections, for clients that cannot pin a CA yet (the
    /// fleet simulator). Routes are loopback only either way.
    pub fn start_plain(size: usize) -> NatsCluster {
        NatsCluster::try_start(size, true).unwrap_or_else(|err| panic!("{err:#}"))
    }

    fn try_start(size: usize, plain: bool) -> anyhow::Result<NatsCluster> {
        let dir = tempfile::Builder::new()
            .prefix("kanade-cluster-")
            .tempdir()?;
        let hosts = ["127.0.0.1".to_owned(), "localhost".to_owned()];
        let tls = kanade_pki::ensure(&dir.path().join("tls"), &hosts)?.0;
        let ports: Vec<(u16, u16)> = (0..size)
            .map(|_| (crate::free_port(), crate::free_port()))
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route)| format!("nats-route://127.0.0.1:{route}"))
            .collect();
        let mut nodes = Vec::new();
        for (i, (port, route)) in ports.iter().enumerate() {
            let name = format!("n{}", i + 1);
            let store = dir.path().join(&name);
            std::fs::create_dir_all(&store)?;
            let config = dir.path().join(format!("{name}.conf"));
            let tls_block = match plain {
                true => String::new(),
                false => format!(
                    "tls {{\n  cert_file: \"{}\"\n  key_file: \"{}\"\n}}\n",
                    tls.server_cert.display(),
                    tls.server_key.display()
                ),
            };
            std::fs::write(
                &config,
                format!(
                    r#"server_name: {name}
listen: 127.0.0.1:{port}
jetstream {{
  store_dir: "{store}"
  max_file_store: {max}
  limits {{ default_max_consumers: -1 }}
}}
{tls_block}cluster {{
  name: kanade
  listen: 127.0.0.1:{route}
  routes: [{routes}]
}}
"#,
                    store = store.display(),
                    max = crate::nats::TEST_FILE_STORE,
                    routes = routes.join(", "),
                ),
            )?;
            nodes.push(Node {
                plain,
                log: dir.path().join(format!("{name}.log")),
                name,
                port: *port,
                config,
                child: None,
            });
        }
        let mut cluster = NatsCluster { dir, tls, nodes };
        for i in 0..size {
            cluster.spawn(i)?;
        }
        for i in 0..size {
            cluster.wait_listening(i)?;
        }
        Ok(cluster)
    }

    /// Every node's client URL, comma separated (what clients are given, so they fail over).
    pub fn url(&self) -> String {
        self.nodes
            .iter()
            .map(|n| n.client_url())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// One node's client URL.
    pub fn node_url(&self, i: usize) -> String {
        self.nodes[i].client_url()
    }

    pub fn node_name(&self, i: usize) -> &str {
        &self.nodes[i].name
    }

    pub fn ca_file(&self) -> PathBuf {
        self.tls.ca_cert.clone()
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// `kill -9` of node `i`: no goodbye to its peers or clients.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts node `i` again on its ports and store.
    pub fn restart(&mut self, i: usize) {
        self.kill(i);
        self.spawn(i)
            .and_then(|()| self.wait_listening(i))
            .unwrap_or_else(|err| panic!("{err:#}"));
    }

    fn spawn(&mut self, i: usize) -> anyhow::Result<()> {
        let binary = crate::nats::binary()?;
        let node = &mut self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&node.log)?;
        let child = Command::new(&binary)
            .arg("-c")
            .arg(&node.config)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {} for node {}", binary.display(), node.name))?;
        node.child = Some(child);
        Ok(())
    }

    fn wait_listening(&mut self, i: usize) -> anyhow::Result<()> {
        let started = Instant::now();
        let node = &mut self.nodes[i];
        while started.elapsed() < Duration::from_secs(20) {
            if let Some(child) = node.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                let log = std::fs::read_to_string(&node.log).unwrap_or_default();
                bail!("node {} exited with {status}:\n{log}", node.name);
            }
            if TcpStream::connect(("127.0.0.1", node.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        bail!("node {} did not listen within 20 s", node.name)
    }
}

impl Node {
    fn client_url(&self) -> String {
        let scheme = if self.plain { "nats" } else { "tls" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for NatsCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
    }
}
