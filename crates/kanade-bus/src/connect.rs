//! Connecting to the broker: connection name per role, token from `$KANADE_NATS_TOKEN`,
//! reconnect forever.

use std::time::Duration;

use anyhow::Context;

/// Who is connecting; decides the connection name the broker shows (`/connz`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    Agent { pc_id: String },
    Backend,
    Cli,
}

impl Role {
    pub fn connection_name(&self) -> String {
        match self {
            Role::Agent { pc_id } => format!("kanade-agent/{pc_id}"),
            Role::Backend => "kanade-backend".to_owned(),
            Role::Cli => "kanade-cli".to_owned(),
        }
    }
}

/// Connects with the kanade defaults. Agents and the backend keep retrying the first
/// connection in the background (they must start while the broker is down); the CLI fails
/// fast so an operator sees the problem at once.
pub async fn connect(role: Role, url: &str) -> anyhow::Result<async_nats::Client> {
    let name = role.connection_name();
    let mut options = async_nats::ConnectOptions::new()
        .name(&name)
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .event_callback(move |event| async move {
            match event {
                async_nats::Event::Disconnected => tracing::warn!("disconnected from NATS"),
                async_nats::Event::Connected => tracing::info!("connected to NATS"),
                other => tracing::debug!(event = %other, "NATS event"),
            }
        });
    if let Some(token) = std::env::var("KANADE_NATS_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
    {
        options = options.token(token);
    }
    if role != Role::Cli {
        options = options.retry_on_initial_connect();
    }
    options
        .connect(url)
        .await
        .with_context(|| format!("connecting to NATS at {url} as {name}"))
}
