//! `kanade collect list|get|delete`: the file bundles jobs with a `collect` hint uploaded to
//! object store `collections`, through the backend API.

use std::io::Write;
use std::path::PathBuf;

use anyhow::Context;

use crate::cli::{CollectCommand, Global};
use crate::commands::{Io, api_client};
use crate::{EXIT_OK, render};

pub async fn run(command: CollectCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    match command {
        CollectCommand::List { pc, job } => {
            let bundles = client.list_bundles(pc.as_deref(), job.as_deref()).await?;
            if global.json {
                io.json(&bundles)?;
                return Ok(EXIT_OK);
            }
            if bundles.is_empty() {
                io.note("no bundles");
                return Ok(EXIT_OK);
            }
            let rows: Vec<Vec<String>> = bundles
                .iter()
                .map(|b| {
                    vec![
                        render::cell(&b.key),
                        render::bytes(b.size),
                        render::time(b.created_at),
                    ]
                })
                .collect();
            io.print(&render::table(&["KEY", "SIZE", "CREATED"], &rows))?;
            Ok(EXIT_OK)
        }
        CollectCommand::Get { key, output } => {
            let mut response = client.download_bundle(&key).await?;
            let to_stdout = output.as_deref().is_some_and(|p| p.as_os_str() == "-");
            if to_stdout {
                while let Some(bytes) = response.chunk().await.context("reading the bundle")? {
                    io.out.write_all(&bytes).context("writing to stdout")?;
                }
                io.out.flush().context("writing to stdout")?;
                return Ok(EXIT_OK);
            }
            let path = output.unwrap_or_else(|| {
                PathBuf::from(
                    key.rsplit('/')
                        .next()
                        .unwrap_or("bundle.zip")
                        .replace(':', "-"),
                )
            });
            // Written beside the target and renamed, so a broken download leaves no zip.
            let partial = path.with_extension("zip.part");
            let mut file = std::fs::File::create(&partial)
                .with_context(|| format!("creating {}", partial.display()))?;
            let mut written: u64 = 0;
            let copied: anyhow::Result<()> = async {
                while let Some(bytes) = response.chunk().await.context("reading the bundle")? {
                    file.write_all(&bytes)
                        .with_context(|| format!("writing {}", partial.display()))?;
                    written += bytes.len() as u64;
                }
                file.sync_all()
                    .with_context(|| format!("writing {}", partial.display()))?;
                Ok(())
            }
            .await;
            if let Err(err) = copied {
                let _ = std::fs::remove_file(&partial);
                return Err(err);
            }
            std::fs::rename(&partial, &path)
                .with_context(|| format!("renaming {} to {}", partial.display(), path.display()))?;
            io.note(&format!(
                "wrote {} ({})",
                path.display(),
                render::bytes(written)
            ));
            Ok(EXIT_OK)
        }
        CollectCommand::Delete { key } => {
            client.delete_bundle(&key).await?;
            io.note(&format!("deleted {key}"));
            Ok(EXIT_OK)
        }
    }
}
