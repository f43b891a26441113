//! The machine's own broker identity: an nkey user key pair made on first start, its seed in
//! `<data_dir>/machine.seed` (0600). The agent signs the broker's nonce with it at every
//! connect, which is how the backend's auth callout knows this is the machine it approved (see
//! `docs/dev/zero-trust.md`). A seed that others could read is refused rather than tightened:
//! whoever read it can act as this machine, so the key must be replaced.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nkeys::KeyPair;

pub const SEED_FILE: &str = "machine.seed";

pub fn seed_path(data_dir: &Path) -> PathBuf {
    data_dir.join(SEED_FILE)
}

/// Fails when the seed exists with a mode that lets anyone but the owner read or change it.
/// Runs before the data folder's modes are tightened, so an exposure is reported, not hidden.
pub fn refuse_exposed_seed(data_dir: &Path) -> anyhow::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let path = seed_path(data_dir);
        if let Ok(meta) = std::fs::symlink_metadata(&path) {
            if !meta.file_type().is_file() {
                bail!(
                    "{} is not a regular file: delete it (the agent then makes a new key, and the machine must be approved again)",
                    path.display()
                );
            }
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                bail!(
                    "{} has mode {mode:o}: others could read this machine's secret key and act as it. Treat the key as exposed: delete the file (the agent then makes a new key, and the machine must be approved again), or if you are sure no one read it, `chmod 600` it",
                    path.display()
                );
            }
        }
    }
    Ok(())
}

/// The machine's key pair: read from the seed file, or made and stored (0600) on first start.
pub fn load_or_create(data_dir: &Path) -> anyhow::Result<KeyPair> {
    let path = seed_path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => KeyPair::from_seed(text.trim()).map_err(|err| {
            anyhow::anyhow!(
                "{} does not hold an nkey seed ({err}): restore it from a backup, or delete it to make a new key (the machine must then be approved again)",
                path.display()
            )
        }),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let key = KeyPair::new_user();
            let seed = key
                .seed()
                .map_err(|err| anyhow::anyhow!("encoding the new machine key: {err}"))?;
            crate::outbox::write_atomic(&path, seed.as_bytes())
                .with_context(|| format!("writing {}", path.display()))?;
            tracing::info!(file = %path.display(), public_key = key.public_key(),
                "created this machine's broker key");
            Ok(key)
        }
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create(dir.path()).unwrap();
        let again = load_or_create(dir.path()).unwrap();
        assert_eq!(first.public_key(), again.public_key());
        assert!(first.public_key().starts_with('U'), "a user key");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(seed_path(dir.path()))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        refuse_exposed_seed(dir.path()).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn an_exposed_seed_is_refused_with_the_fix() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        load_or_create(dir.path()).unwrap();
        let path = seed_path(dir.path());
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = refuse_exposed_seed(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("mode 644") && err.contains("machine.seed"),
            "{err}"
        );
        assert!(err.contains("delete the file"), "{err}");
        // Nothing was changed on the way.
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o644);
    }

    #[test]
    fn a_damaged_seed_is_named() {
        let dir = tempfile::tempdir().unwrap();
        crate::outbox::write_atomic(&seed_path(dir.path()), b"not a seed").unwrap();
        let err = load_or_create(dir.path()).unwrap_err().to_string();
        assert!(err.contains("does not hold an nkey seed"), "{err}");
    }
}
