//! `kanade-backend backup DIR` and `restore DIR`: everything a backend cannot rebuild by
//! itself, in one folder. The database (an online copy; on restore only its accounts are kept
//! and the read model is replayed), the secrets beside it (session key, broker and signing
//! keys, scheduler id), and every JetStream stream, KV bucket and object store (`streams`).
//! `manifest.json` is written last, so a folder without it is an unfinished backup.

pub mod streams;

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use async_nats::jetstream;
use serde::{Deserialize, Serialize};

use crate::config::BackendConfig;

const MANIFEST: &str = "manifest.json";
const DATABASE: &str = "backend.db";
const FILES: &str = "files";
const STREAMS: &str = "streams";

/// What a backup holds; `manifest.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// The backend version that wrote it.
    pub version: String,
    /// The database's schema version (`PRAGMA user_version`); absent without a database.
    pub schema: Option<usize>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The secret files copied from the data folder, by name.
    pub files: Vec<String>,
    pub streams: Vec<streams::StreamEntry>,
}

/// Writes a backup of the running (or stopped) backend into `dir`, which must be missing or
/// empty.
pub async fn backup(config: &BackendConfig, dir: &Path) -> anyhow::Result<Manifest> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        bail!(
            "{} is not empty; a backup goes into a new folder",
            dir.display()
        );
    }
    crate::private::ensure_dir(dir).with_context(|| format!("creating {}", dir.display()))?;
    let db = config.db.sqlite_path.clone();
    let schema = if db.exists() {
        let dest = dir.join(DATABASE);
        let from = db.clone();
        tokio::task::spawn_blocking(move || {
            crate::store::snapshot::copy_to(&from, &dest)?;
            crate::store::snapshot::schema_version_of(&dest)
        })
        .await?
        .map(Some)?
    } else {
        None
    };
    let files = copy_secrets(&config.data_dir(), &db, &dir.join(FILES))?;
    let js = connect(config).await?;
    let streams = streams::dump(&js, &dir.join(STREAMS)).await?;
    let manifest = Manifest {
        version: kanade_protocol::VERSION.to_owned(),
        schema,
        created_at: chrono::Utc::now(),
        files,
        streams,
    };
    crate::auth::secrets::write_private(
        &dir.join(MANIFEST),
        &serde_json::to_string_pretty(&manifest)?,
    )?;
    Ok(manifest)
}

/// What a restore did.
#[derive(Debug, Default)]
pub struct Restored {
    pub files: usize,
    /// Accounts carried into the new database (None: the database step was skipped).
    pub accounts: Option<i64>,
    pub streams: usize,
    pub messages: u64,
}

/// Restores `dir` into this config's data folder and broker, both empty. `broker_only` skips
/// the files and the database (the second run, after the broker was given the restored keys).
pub async fn restore(
    config: &BackendConfig,
    dir: &Path,
    broker_only: bool,
) -> anyhow::Result<Restored> {
    let manifest_path = dir.join(MANIFEST);
    let text = std::fs::read_to_string(&manifest_path).with_context(|| {
        format!(
            "{} is not a finished backup: {MANIFEST} cannot be read",
            dir.display()
        )
    })?;
    let manifest: Manifest = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a backup manifest", manifest_path.display()))?;
    let mut done = Restored::default();
    if !broker_only {
        let db = config.db.sqlite_path.clone();
        refuse_a_used_database(&db)?;
        done.files = restore_secrets(&dir.join(FILES), &manifest.files, &config.data_dir())?;
        let saved = dir.join(DATABASE);
        if saved.is_file() {
            done.accounts =
                Some(tokio::task::spawn_blocking(move || restore_database(&saved, &db)).await??);
        }
    }
    let js = connect(config).await.context(
        "the broker cannot be reached. The files and the database are restored; if the broker \
         uses the auth callout, write its config again (`kanade-backend broker-config --out …`), \
         restart nats-server, and run `kanade-backend restore DIR --broker-only`",
    )?;
    streams::ensure_empty(&js, &manifest.streams).await?;
    done.messages = streams::load(&js, &dir.join(STREAMS), &manifest.streams).await?;
    done.streams = manifest.streams.len();
    Ok(done)
}

async fn connect(config: &BackendConfig) -> anyhow::Result<jetstream::Context> {
    let (nats, _) = crate::access::connect_backend(config).await?;
    Ok(jetstream::new(nats))
}

/// The files in the data folder that are neither the database, its sidecars and copies, nor
/// folders (logs): the secrets a restored backend needs to stay the same backend.
fn secrets_in(data_dir: &Path, db: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let db_name = db
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Ok(out);
    };
    for entry in entries {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let skip = !entry.file_type()?.is_file()
            || (!db_name.is_empty() && name.starts_with(&db_name))
            || name.ends_with(".tmp")
            || name.ends_with(".bak");
        if !skip {
            out.push(entry.path());
        }
    }
    out.sort();
    Ok(out)
}

fn copy_secrets(data_dir: &Path, db: &Path, into: &Path) -> anyhow::Result<Vec<String>> {
    crate::private::ensure_dir(into).with_context(|| format!("creating {}", into.display()))?;
    let mut names = Vec::new();
    for path in secrets_in(data_dir, db)? {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let dest = into.join(&name);
        crate::private::ensure_file(&dest)?;
        std::fs::copy(&path, &dest).with_context(|| format!("copying {}", path.display()))?;
        names.push(name);
    }
    Ok(names)
}

fn restore_secrets(from: &Path, names: &[String], data_dir: &Path) -> anyhow::Result<usize> {
    crate::private::ensure_dir(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    for name in names {
        if name.contains('/') || name.contains('\\') || name == ".." {
            bail!("the manifest names a file {name:?} outside the backup");
        }
        let src = from.join(name);
        let dest = data_dir.join(name);
        crate::private::ensure_file(&dest)?;
        std::fs::copy(&src, &dest).with_context(|| format!("restoring {}", src.display()))?;
    }
    Ok(names.len())
}

/// A restore writes a new database: one that already has accounts is somebody's.
fn refuse_a_used_database(db: &Path) -> anyhow::Result<()> {
    if db.exists() && crate::store::snapshot::account_count(db).unwrap_or(1) > 0 {
        bail!(
            "{} already exists with accounts; restore wants an empty database: stop the \
             backend and move the file away first",
            db.display()
        );
    }
    Ok(())
}

/// Puts the saved database in place with only its accounts: the rest is replayed from the
/// restored streams at the next start. A backup from a newer schema is rebuilt the same way.
fn restore_database(saved: &Path, db: &Path) -> anyhow::Result<i64> {
    for file in crate::private::database_files(db) {
        if file.exists() {
            std::fs::remove_file(&file).with_context(|| format!("removing {}", file.display()))?;
        }
    }
    if let Some(parent) = db.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::private::ensure_dir(parent)?;
    }
    crate::private::ensure_file(db)?;
    std::fs::copy(saved, db).with_context(|| format!("copying {}", saved.display()))?;
    if let Some(rebuilt) = crate::wipe::rebuild_if_newer(db)? {
        return Ok(rebuilt.accounts);
    }
    Ok(crate::wipe::wipe(db)?.accounts)
}
