//! Connecting to the broker: connection name per role, token from `$KANADE_NATS_TOKEN`,
//! TLS pinned to the CA the caller names, reconnect forever.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

/// Who is connecting; decides the connection name the broker shows (`/connz`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Agent {
        pc_id: String,
    },
    Backend,
    /// The backend's second connection, as the broker's system user (lists and kicks
    /// connections).
    BackendSystem,
    Cli,
}

impl Role {
    pub fn connection_name(&self) -> String {
        match self {
            Role::Agent { pc_id } => format!("kanade-agent/{pc_id}"),
            Role::Backend => "kanade-backend".to_owned(),
            Role::BackendSystem => "kanade-backend/system".to_owned(),
            Role::Cli => "kanade-cli".to_owned(),
        }
    }
}

/// How a connection is secured. With `ca_file` set, the connection must be TLS and the
/// broker's certificate must chain to that CA and to nothing else (the CA is pinned). With
/// `nkey_seed`, the connection signs the server's nonce with that key (a machine's own
/// identity, see `docs/dev/zero-trust.md`).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Access {
    pub ca_file: Option<PathBuf>,
    pub nkey_seed: Option<String>,
    /// Sent as the connect token instead of `$KANADE_NATS_TOKEN`: a machine's enrollment
    /// token, or an operator's API session token (the auth callout reads either).
    pub token: Option<String>,
}

impl Access {
    pub fn pinned(ca_file: impl Into<PathBuf>) -> Access {
        Access {
            ca_file: Some(ca_file.into()),
            ..Default::default()
        }
    }
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Access")
            .field("ca_file", &self.ca_file)
            .field("nkey_seed", &self.nkey_seed.as_ref().map(|_| "<redacted>"))
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// Connects in clear text unless `url` asks for TLS (`tls://`, verified against the system's
/// roots). Use [`connect_with`] to pin a CA.
pub async fn connect(role: Role, url: &str) -> anyhow::Result<async_nats::Client> {
    connect_with(role, url, &Access::default()).await
}

/// Connects with the kanade defaults. Agents and the backend keep retrying the first
/// connection in the background (they must start while the broker is down); the CLI fails
/// fast so an operator sees the problem at once.
pub async fn connect_with(
    role: Role,
    url: &str,
    tls: &Access,
) -> anyhow::Result<async_nats::Client> {
    let name = role.connection_name();
    let mut options = async_nats::ConnectOptions::new()
        .name(&name)
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| async move {
            match event {
                async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
                async_nats::Event::Connected => tracing::info!("connected to NATS"),
                async_nats::Event::ServerError(err) => {
                    // A refused `$KV` subscription must stop `kv_cache` from answering.
                    crate::kv_cache::note_server_error(&err.to_string());
                    tracing::warn!(error = %err, "NATS server error");
                }
                other => tracing::debug!(event = %other, "NATS event"),
            }
        });
    let token = tls.token.clone().filter(|t| !t.is_empty()).or_else(|| {
        std::env::var("KANADE_NATS_TOKEN")
            .ok()
            .filter(|t| !t.is_empty())
    });
    if let Some(token) = token {
        options = options.token(token);
    }
    if let Role::Agent { pc_id } = &role {
        // Replies to a machine come to its own inbox prefix, which its grant names.
        options = options.custom_inbox_prefix(kanade_protocol::grants::agent_inbox_prefix(pc_id));
    }
    if let Some(seed) = &tls.nkey_seed {
        options = options.nkey(seed.clone());
    }
    if let Some(ca) = &tls.ca_file {
        // async-nats reads the file only when it connects; a missing CA must fail here, with
        // its name, rather than as an endless reconnect loop.
        std::fs::File::open(ca)
            .with_context(|| format!("reading the broker's CA certificate {}", ca.display()))?;
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if role != Role::Cli {
        options = options.retry_on_initial_connect();
    }
    // A cluster is named by several URLs, comma separated; the client moves between them.
    let servers: Vec<async_nats::ServerAddr> = url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            u.parse::<async_nats::ServerAddr>()
                .with_context(|| format!("`{u}` is not a broker URL (in {url})"))
        })
        .collect::<anyhow::Result<_>>()?;
    anyhow::ensure!(!servers.is_empty(), "no broker URL given");
    options.connect(servers).await.map_err(|err| {
        let hint = match err.to_string() {
            e if e.contains("UnknownIssuer") || e.contains("invalid peer certificate") => {
                match &tls.ca_file {
                    Some(ca) => format!(
                        " (the broker's certificate is not issued by the pinned CA {})",
                        ca.display()
                    ),
                    None => " (the broker's certificate is from a CA this machine does not trust: name the broker's ca.pem, e.g. --nats-ca / KANADE_NATS_CA, [nats] ca_file, or the agent's nats_ca)".to_owned(),
                }
            }
            _ => String::new(),
        };
        anyhow::Error::new(err).context(format!("connecting to NATS at {url} as {name}{hint}"))
    })
}
