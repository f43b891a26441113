//! `kanade jetstream setup|status`: create or inspect the broker's resources directly over NATS
//! (the same `kanade_bus` code the backend runs at start-up).

use anyhow::Context;
use async_nats::jetstream;

use crate::cli::{Global, JetstreamCommand};
use crate::commands::{Io, nats};
use crate::{EXIT_OK, render};

pub async fn run(
    command: JetstreamCommand,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let js = jetstream::new(nats(global).await?);
    match command {
        JetstreamCommand::Setup => {
            let report = kanade_bus::ensure_resources(&js)
                .await
                .with_context(|| format!("setting up JetStream on {}", global.nats_url))?;
            io.print(&format!(
                "JetStream resources on {} are in place\n\
                 streams:       {}\n\
                 kv buckets:    {}\n\
                 object stores: {}\n",
                global.nats_url,
                report.streams.join(", "),
                report.buckets.join(", "),
                report.object_stores.join(", ")
            ))?;
        }
        JetstreamCommand::Status => {
            let streams = kanade_bus::stream_status(&js)
                .await
                .with_context(|| format!("reading stream status from {}", global.nats_url))?;
            if global.json {
                io.json(&streams)?;
            } else if streams.is_empty() {
                io.print(&format!(
                    "no kanade streams on {}: run `kanade jetstream setup`\n",
                    global.nats_url
                ))?;
            } else {
                let rows: Vec<Vec<String>> = streams
                    .iter()
                    .map(|s| {
                        vec![
                            s.name.clone(),
                            s.subjects.join(","),
                            s.messages.to_string(),
                            render::bytes(s.bytes),
                            s.consumers.to_string(),
                        ]
                    })
                    .collect();
                io.print(&render::table(
                    &["stream", "subjects", "messages", "bytes", "consumers"],
                    &rows,
                ))?;
            }
        }
    }
    Ok(EXIT_OK)
}
