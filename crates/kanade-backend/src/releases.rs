//! Agent releases in object store `agent_releases`: binaries keyed `<version>-<platform>`,
//! with their SHA-256 (hex) in the object's metadata so agents can verify a download.

use anyhow::Context;
use async_nats::jetstream::{self, object_store::ObjectMetadata};
use futures::TryStreamExt;
use kanade_protocol::api::AgentRelease;
use kanade_protocol::names;
use sha2::{Digest, Sha256};

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn from_info(info: &async_nats::jetstream::object_store::ObjectInfo) -> AgentRelease {
    let meta = |k: &str| info.metadata.get(k).cloned().unwrap_or_default();
    AgentRelease {
        key: info.name.clone(),
        version: meta("version"),
        platform: meta("platform"),
        size: info.size as u64,
        sha256: meta("sha256"),
        published_by: info.metadata.get("published_by").cloned(),
    }
}

pub async fn publish(
    js: &jetstream::Context,
    version: &str,
    platform: &str,
    binary: &[u8],
    by: &str,
) -> anyhow::Result<AgentRelease> {
    let store = js
        .get_object_store(names::OBJ_AGENT_RELEASES)
        .await
        .context("opening object store agent_releases")?;
    let key = names::release_key(version, platform);
    let mut meta = ObjectMetadata {
        name: key.clone(),
        description: Some(format!("kanade-agent {version} for {platform}")),
        ..Default::default()
    };
    meta.metadata.insert("version".into(), version.into());
    meta.metadata.insert("platform".into(), platform.into());
    meta.metadata.insert("sha256".into(), sha256_hex(binary));
    meta.metadata.insert("published_by".into(), by.into());
    let mut reader = binary;
    let info = store
        .put(meta, &mut reader)
        .await
        .with_context(|| format!("uploading {key}"))?;
    Ok(from_info(&info))
}

pub async fn list(js: &jetstream::Context) -> anyhow::Result<Vec<AgentRelease>> {
    let store = js
        .get_object_store(names::OBJ_AGENT_RELEASES)
        .await
        .context("opening object store agent_releases")?;
    let infos: Vec<_> = store
        .list()
        .await
        .context("listing agent_releases")?
        .try_collect()
        .await
        .context("listing agent_releases")?;
    let mut out: Vec<AgentRelease> = infos.iter().filter(|i| !i.deleted).map(from_info).collect();
    out.sort_by(|a, b| b.key.cmp(&a.key));
    Ok(out)
}

pub async fn delete(js: &jetstream::Context, key: &str) -> anyhow::Result<bool> {
    let store = js
        .get_object_store(names::OBJ_AGENT_RELEASES)
        .await
        .context("opening object store agent_releases")?;
    if store.info(key).await.is_err() {
        return Ok(false);
    }
    store
        .delete(key)
        .await
        .with_context(|| format!("deleting {key}"))?;
    Ok(true)
}
