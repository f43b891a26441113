//! The nkeys of broker access, each a seed in a 0600 file beside the database (created once):
//! the issuer (an account key that signs every grant the callout hands out), the backend's
//! own user (account `KANADE`, bypasses the callout, full access) and the system user
//! (account `SYS`, lists and kicks connections). `broker_config` renders the nats-server
//! configuration that ties them together; `kanade-backend broker-config` prints it.

use std::path::Path;

use anyhow::Context;
use nkeys::KeyPair;

use crate::auth::secrets;

pub const ISSUER_SEED: &str = "broker_issuer.seed";
pub const BACKEND_SEED: &str = "broker_backend.seed";
pub const SYSTEM_SEED: &str = "broker_system.seed";
/// The account every machine, operator and the backend live in.
pub const ACCOUNT: &str = "KANADE";
pub const SYSTEM_ACCOUNT: &str = "SYS";

/// The three keys, loaded (or made) from the data folder.
pub struct BrokerKeys {
    pub issuer: KeyPair,
    pub backend: KeyPair,
    pub system: KeyPair,
}

impl std::fmt::Debug for BrokerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerKeys")
            .field("issuer", &self.issuer.public_key())
            .field("backend", &self.backend.public_key())
            .field("system", &self.system.public_key())
            .finish()
    }
}

impl BrokerKeys {
    /// Reads the seeds in `data_dir`, making the missing ones. A seed file others may read,
    /// or one that holds no seed of the right kind, is an error naming the file.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<BrokerKeys> {
        Ok(BrokerKeys {
            issuer: seed(data_dir, ISSUER_SEED, 'A', KeyPair::new_account)?,
            backend: seed(data_dir, BACKEND_SEED, 'U', KeyPair::new_user)?,
            system: seed(data_dir, SYSTEM_SEED, 'U', KeyPair::new_user)?,
        })
    }

    /// The nats-server configuration for callout mode: accounts `KANADE` (JetStream, the
    /// backend's user) and `SYS` (the system user), and the auth callout that every other
    /// client goes through. `listen`, `tls` and `jetstream` stay the operator's.
    pub fn broker_config(&self) -> String {
        let (issuer, backend, system) = (
            self.issuer.public_key(),
            self.backend.public_key(),
            self.system.public_key(),
        );
        format!(
            r#"# kanade broker access (made by `kanade-backend broker-config`): machines and operators are
# let in by the backend's auth callout, each with its own subjects only.
accounts {{
  {ACCOUNT} {{ jetstream: enabled, users: [ {{ nkey: "{backend}" }} ] }}
  {SYSTEM_ACCOUNT} {{ users: [ {{ nkey: "{system}" }} ] }}
}}
system_account: {SYSTEM_ACCOUNT}
authorization {{
  timeout: 5
  auth_callout {{
    issuer: "{issuer}"
    auth_users: [ "{backend}", "{system}" ]
    account: {ACCOUNT}
  }}
}}
"#
        )
    }
}

fn seed(dir: &Path, file: &str, kind: char, make: fn() -> KeyPair) -> anyhow::Result<KeyPair> {
    let path = dir.join(file);
    if path.is_file() {
        crate::signer::check_private(&path)?;
    }
    let text = secrets::load_or_create(&path, || {
        make()
            .seed()
            .map_err(|err| anyhow::anyhow!("encoding a new nkey: {err}"))
    })?;
    let key = KeyPair::from_seed(text.trim())
        .map_err(|err| anyhow::anyhow!("{} does not hold an nkey seed: {err}", path.display()))?;
    anyhow::ensure!(
        key.public_key().starts_with(kind),
        "{} holds the wrong kind of nkey (want one starting with {kind})",
        path.display()
    );
    Ok(key)
}

/// Reads only the backend's own seed (for connecting), without making any.
pub fn backend_seed(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(BACKEND_SEED);
    std::fs::read_to_string(&path)
        .map(|s| s.trim().to_owned())
        .with_context(|| format!("reading {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn keys_are_made_once_private_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let first = BrokerKeys::load_or_create(dir.path()).unwrap();
        for file in [ISSUER_SEED, BACKEND_SEED, SYSTEM_SEED] {
            let mode = std::fs::metadata(dir.path().join(file))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{file}");
        }
        let again = BrokerKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(first.issuer.public_key(), again.issuer.public_key());
        assert!(first.issuer.public_key().starts_with('A'));
        let config = first.broker_config();
        assert!(config.contains(&first.issuer.public_key()));
        assert!(config.contains(&first.system.public_key()));
        assert!(!config.contains("SU"), "no seed in the server config");
    }

    #[test]
    fn an_exposed_or_wrong_seed_is_refused_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        BrokerKeys::load_or_create(dir.path()).unwrap();
        let backend = dir.path().join(BACKEND_SEED);
        std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = BrokerKeys::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(BACKEND_SEED) && err.contains("chmod 600"),
            "{err}"
        );

        std::fs::set_permissions(&backend, std::fs::Permissions::from_mode(0o600)).unwrap();
        let account = KeyPair::new_account().seed().unwrap();
        secrets::write_private(&backend, &account).unwrap();
        let err = BrokerKeys::load_or_create(dir.path())
            .unwrap_err()
            .to_string();
        assert!(err.contains("wrong kind"), "{err}");
    }
}
