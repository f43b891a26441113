//! `kanade jetstream setup|status`: create or inspect the broker's resources. Signed in, it
//! goes through the backend (which holds the broker rights under zero-trust access); without
//! a session, directly over NATS with the same `kanade_bus` code the backend runs at start-up.

use anyhow::Context;
use async_nats::jetstream;
use kanade_protocol::api::StreamStatus;

use crate::cli::{Global, JetstreamCommand};
use crate::commands::{Io, api_client, nats, session_folder};
use crate::{EXIT_OK, render, session};

pub async fn run(
    command: JetstreamCommand,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let folder = session_folder(global).ok();
    let signed_in = session::credentials(folder.as_deref(), &global.backend_url).is_some();
    match command {
        JetstreamCommand::Setup { replicas } => {
            let (streams, buckets, objects, note, place) = if signed_in {
                let report = api_client(global)?.jetstream_setup(replicas).await?;
                (
                    report.streams,
                    report.buckets,
                    report.object_stores,
                    report.note,
                    global.backend_url.clone(),
                )
            } else {
                let js = jetstream::new(nats(global).await?);
                let report = kanade_bus::resources::ensure_resources_replicated(&js, replicas)
                    .await
                    .with_context(|| format!("setting up JetStream on {}", global.nats_url))?;
                (
                    report.streams,
                    report.buckets,
                    report.object_stores,
                    None,
                    global.nats_url.clone(),
                )
            };
            let copies = match replicas {
                Some(n) => format!(" with {n} replica(s) each"),
                None => String::new(),
            };
            io.print(&format!(
                "JetStream resources via {place} are in place{copies}\n\
                 streams:       {}\n\
                 kv buckets:    {}\n\
                 object stores: {}\n",
                streams.join(", "),
                buckets.join(", "),
                objects.join(", ")
            ))?;
            if let Some(note) = note {
                io.note(&format!("note: {note}"));
            }
        }
        JetstreamCommand::Status => {
            let streams = if signed_in {
                api_client(global)?.jetstream().await?
            } else {
                let js = jetstream::new(nats(global).await?);
                kanade_bus::stream_status(&js)
                    .await
                    .with_context(|| format!("reading stream status from {}", global.nats_url))?
            };
            if global.json {
                io.json(&streams)?;
            } else if streams.is_empty() {
                io.print(&format!(
                    "no kanade streams on {}: run `kanade jetstream setup`\n",
                    global.nats_url
                ))?;
            } else {
                io.print(&status_table(&streams))?;
            }
        }
    }
    Ok(EXIT_OK)
}

/// One row per stream, bucket and object store; `replicas` shows the copies and, in a
/// cluster, the leader and each follower's lag (`name:lag`, `!` when not current).
fn status_table(streams: &[StreamStatus]) -> String {
    let rows: Vec<Vec<String>> = streams
        .iter()
        .map(|s| {
            let followers: Vec<String> = s
                .peers
                .iter()
                .map(|p| {
                    let mark = if p.offline {
                        " offline"
                    } else if !p.current {
                        "!"
                    } else {
                        ""
                    };
                    format!("{}:{}{mark}", p.name, p.lag)
                })
                .collect();
            vec![
                s.name.clone(),
                s.subjects.join(","),
                s.messages.to_string(),
                render::bytes(s.bytes),
                s.consumers.to_string(),
                s.replicas.to_string(),
                s.leader.clone().unwrap_or_else(|| "-".to_owned()),
                if followers.is_empty() {
                    "-".to_owned()
                } else {
                    followers.join(" ")
                },
            ]
        })
        .collect();
    render::table(
        &[
            "stream",
            "subjects",
            "messages",
            "bytes",
            "consumers",
            "replicas",
            "leader",
            "followers (lag)",
        ],
        &rows,
    )
}
