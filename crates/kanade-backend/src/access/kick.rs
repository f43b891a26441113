//! Closing a machine's broker connections through nats-server's system account: list the
//! connections of every server (`$SYS.REQ.SERVER.PING.CONNZ`, paged), pick those named
//! `kanade-agent/<pc_id>` (the callout only lets a machine in under its own name), and ask
//! their server to kick each (`$SYS.REQ.SERVER.<id>.KICK`).

use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use serde::Deserialize;

/// How long to collect CONNZ answers from the servers of a cluster.
const GATHER: Duration = Duration::from_millis(500);
const PAGE: usize = 1024;

/// A connection as the system user (`SYS` account), able to list and kick connections.
#[derive(Clone)]
pub struct Kicker {
    sys: async_nats::Client,
}

#[derive(Deserialize)]
struct ConnzReply {
    #[serde(default)]
    server: ServerInfo,
    #[serde(default)]
    data: Option<Connz>,
}

#[derive(Default, Deserialize)]
struct ServerInfo {
    #[serde(default)]
    id: String,
}

#[derive(Deserialize)]
struct Connz {
    #[serde(default)]
    total: usize,
    #[serde(default)]
    connections: Vec<Conn>,
}

#[derive(Deserialize)]
struct Conn {
    cid: u64,
    #[serde(default)]
    name: String,
}

impl Kicker {
    pub fn new(sys: async_nats::Client) -> Kicker {
        Kicker { sys }
    }

    /// Kicks every connection named `kanade-agent/<pc_id>` on every server; returns how many.
    pub async fn kick_machine(&self, pc_id: &str) -> anyhow::Result<usize> {
        let name = kanade_bus::Role::Agent {
            pc_id: pc_id.to_owned(),
        }
        .connection_name();
        let mut targets = Vec::new();
        let mut offset = 0;
        loop {
            let replies = self.connz(offset).await?;
            let mut more = false;
            for reply in replies {
                let Some(data) = reply.data else { continue };
                more |=
                    offset + data.connections.len() < data.total && !data.connections.is_empty();
                targets.extend(
                    data.connections
                        .into_iter()
                        .filter(|c| c.name == name)
                        .map(|c| (reply.server.id.clone(), c.cid)),
                );
            }
            if !more {
                break;
            }
            offset += PAGE;
        }
        let mut kicked = 0;
        for (server, cid) in targets {
            let subject = format!("$SYS.REQ.SERVER.{server}.KICK");
            let body = serde_json::to_vec(&serde_json::json!({ "cid": cid }))?;
            let reply = self
                .sys
                .request(subject, body.into())
                .await
                .with_context(|| format!("asking server {server} to close connection {cid}"))?;
            let answer: serde_json::Value =
                serde_json::from_slice(&reply.payload).unwrap_or_default();
            if answer.get("error").is_some() {
                tracing::warn!(server, cid, answer = %answer, "the broker did not close a connection");
            } else {
                kicked += 1;
            }
        }
        Ok(kicked)
    }

    /// One page of every server's connections in account KANADE-or-any (a cluster answers
    /// once per server, so replies are gathered for a moment rather than taking the first).
    async fn connz(&self, offset: usize) -> anyhow::Result<Vec<ConnzReply>> {
        let inbox = self.sys.new_inbox();
        let mut replies = self
            .sys
            .subscribe(inbox.clone())
            .await
            .context("subscribing for CONNZ answers")?;
        let body = serde_json::to_vec(&serde_json::json!({ "offset": offset, "limit": PAGE }))?;
        self.sys
            .publish_with_reply("$SYS.REQ.SERVER.PING.CONNZ", inbox, body.into())
            .await
            .context("asking the broker for its connections")?;
        let mut out = Vec::new();
        let deadline = tokio::time::Instant::now() + GATHER;
        while let Ok(Some(message)) = tokio::time::timeout_at(deadline, replies.next()).await {
            match serde_json::from_slice::<ConnzReply>(&message.payload) {
                Ok(reply) => out.push(reply),
                Err(err) => tracing::debug!(error = %err, "ignoring an unreadable CONNZ answer"),
            }
        }
        anyhow::ensure!(
            !out.is_empty(),
            "no broker answered on the system account (is the backend's system user configured?)"
        );
        Ok(out)
    }
}
