//! The backend's command signing key: its seed lives in `<data_dir>/command_signing.seed`
//! (0600, created on first start, refused when others may read it), its public key in KV
//! `command_keys`, where agents learn it. Rotation adds a new key to KV before signing with
//! it, so agents that see a command from it can always find it; the old key stays trusted
//! until it is retired (deleted from KV).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kanade_protocol::names;
use kanade_protocol::signing::{CommandKey, SigningKey};
use kanade_protocol::wire::Command;

use crate::auth::secrets;

const SEED_FILE: &str = "command_signing.seed";

/// Why a key cannot be retired.
#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    #[error("key {0} is not in command_keys")]
    Unknown(String),
    #[error("key {0} is the one this backend signs with; rotate first")]
    Current(String),
    #[error(transparent)]
    Broker(#[from] anyhow::Error),
}

/// Signs every command the backend publishes.
pub struct Signer {
    path: PathBuf,
    key: RwLock<Arc<SigningKey>>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("key_id", &self.current().key_id())
            .finish()
    }
}

impl Signer {
    /// Reads the seed in `data_dir`, creating it when missing. A seed file that group or others
    /// may read, or that does not hold a seed, is an error naming the file.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Signer> {
        let path = data_dir.join(SEED_FILE);
        if path.is_file() {
            check_private(&path)?;
        }
        let seed = secrets::load_or_create(&path, || Ok(SigningKey::generate().seed()))?;
        let key = SigningKey::from_seed(&seed)
            .map_err(|err| anyhow::anyhow!("{}: {err}", path.display()))?;
        Ok(Signer {
            path,
            key: RwLock::new(Arc::new(key)),
        })
    }

    pub fn current(&self) -> Arc<SigningKey> {
        match self.key.read() {
            Ok(key) => key.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// A copy of `cmd` signed for `target` with the current key.
    pub fn sign(&self, cmd: &Command, target: &str, now: DateTime<Utc>) -> Command {
        self.current().signed(cmd, target, now)
    }

    /// Puts the current key into `command_keys` (at start: the bucket may have been wiped).
    pub async fn publish_current(&self, js: &jetstream::Context) -> anyhow::Result<()> {
        let key = self.current();
        let store = bucket(js).await?;
        if store
            .get(key.key_id())
            .await
            .context("reading KV command_keys")?
            .is_none()
        {
            put(
                &store,
                &key.command_key(Some("backend".to_owned()), Utc::now()),
            )
            .await?;
            tracing::info!(key_id = key.key_id(), "published the command signing key");
        }
        Ok(())
    }

    /// Makes a new key, publishes it, stores its seed and signs with it from now on. The old
    /// key stays in `command_keys` until retired.
    pub async fn rotate(
        &self,
        js: &jetstream::Context,
        actor: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<CommandKey> {
        let key = SigningKey::generate();
        let entry = key.command_key(Some(actor.to_owned()), now);
        put(&bucket(js).await?, &entry).await?;
        let path = self.path.clone();
        let seed = key.seed();
        tokio::task::spawn_blocking(move || write_seed(&path, &seed)).await??;
        match self.key.write() {
            Ok(mut current) => *current = Arc::new(key),
            Err(poisoned) => *poisoned.into_inner() = Arc::new(key),
        }
        tracing::info!(key_id = entry.key_id, "rotated the command signing key");
        Ok(entry)
    }

    /// Trusts a public key made elsewhere (a break-glass key). Err carries why it is refused.
    pub async fn add_external(
        &self,
        js: &jetstream::Context,
        public_key: &str,
        actor: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Result<CommandKey, String>> {
        let entry = match CommandKey::external(public_key, Some(actor.to_owned()), now) {
            Ok(entry) => entry,
            Err(why) => return Ok(Err(why)),
        };
        put(&bucket(js).await?, &entry).await?;
        tracing::info!(
            key_id = entry.key_id,
            "trusting an external command signing key"
        );
        Ok(Ok(entry))
    }

    /// Removes `key_id` from `command_keys`: agents stop accepting its signatures.
    pub async fn retire(&self, js: &jetstream::Context, key_id: &str) -> Result<(), RetireError> {
        if self.current().key_id() == key_id {
            return Err(RetireError::Current(key_id.to_owned()));
        }
        let store = bucket(js).await?;
        let known = kanade_protocol::subject::is_valid_token(key_id)
            && store
                .get(key_id)
                .await
                .context("reading KV command_keys")?
                .is_some();
        if !known {
            return Err(RetireError::Unknown(key_id.to_owned()));
        }
        store
            .purge(key_id)
            .await
            .context("removing the key from KV command_keys")?;
        tracing::info!(key_id, "retired a command signing key");
        Ok(())
    }
}

/// Every key in `command_keys`, oldest first.
pub async fn list(js: &jetstream::Context) -> anyhow::Result<Vec<CommandKey>> {
    let store = bucket(js).await?;
    let mut keys = store.keys().await.context("listing KV command_keys")?;
    let mut out = Vec::new();
    while let Some(key) = keys.next().await {
        let key = key.context("listing KV command_keys")?;
        let Some(value) = store.get(&key).await.context("reading KV command_keys")? else {
            continue;
        };
        match serde_json::from_slice::<CommandKey>(&value) {
            Ok(entry) => out.push(entry),
            Err(err) => tracing::warn!(key, error = %err, "a command_keys entry does not decode"),
        }
    }
    out.sort_by(|a, b| {
        a.created_at
            .cmp(&b.created_at)
            .then(a.key_id.cmp(&b.key_id))
    });
    Ok(out)
}

async fn bucket(js: &jetstream::Context) -> anyhow::Result<kv::Store> {
    js.get_key_value(names::KV_COMMAND_KEYS)
        .await
        .context("opening KV command_keys")
}

async fn put(store: &kv::Store, entry: &CommandKey) -> anyhow::Result<()> {
    store
        .put(&entry.key_id, Bytes::from(serde_json::to_vec(entry)?))
        .await
        .context("writing KV command_keys")?;
    Ok(())
}

/// Replaces the seed file atomically (a crash leaves the old or the new seed, never half).
fn write_seed(path: &Path, seed: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("seed.new");
    secrets::write_private(&tmp, seed)?;
    std::fs::rename(&tmp, path).with_context(|| format!("replacing {}", path.display()))?;
    Ok(())
}

#[cfg(unix)]
pub(crate) fn check_private(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)
        .with_context(|| format!("reading {}", path.display()))?
        .permissions()
        .mode();
    anyhow::ensure!(
        mode & 0o077 == 0,
        "{} holds a secret key but is readable by others (mode {:o}); run `chmod 600` on it",
        path.display(),
        mode & 0o777
    );
    Ok(())
}

#[cfg(not(unix))]
pub(crate) fn check_private(_path: &Path) -> anyhow::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_is_created_private_kept_and_refused_when_exposed() {
        let dir = tempfile::tempdir().unwrap();
        let first = Signer::load_or_create(dir.path()).unwrap();
        let again = Signer::load_or_create(dir.path()).unwrap();
        assert_eq!(first.current().key_id(), again.current().key_id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(SEED_FILE);
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            let err = Signer::load_or_create(dir.path()).unwrap_err();
            assert!(format!("{err:#}").contains("readable by others"), "{err:#}");
        }
        let bad = tempfile::tempdir().unwrap();
        secrets::write_private(&bad.path().join(SEED_FILE), "not a seed").unwrap();
        let err = Signer::load_or_create(bad.path()).unwrap_err();
        assert!(
            format!("{err:#}").contains("not a valid signing seed"),
            "{err:#}"
        );
        assert!(!format!("{first:?}").contains(&first.current().seed()));
    }
}
