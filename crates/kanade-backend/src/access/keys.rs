//! The nkeys of broker access, each a seed in a 0600 file beside the database (created once):
//! the issuer (an account key that signs every grant the callout hands out), the backend's
//! own user (account `KANADE`, bypasses the callout, full access) and the system user
//! (account `SYS`, lists and kicks connections). `broker_config` renders the nats-server
//! configuration that ties them together; `kanade-backend broker-config` prints it.
//! `leaf_config` renders a branch leaf node's: it runs no JetStream and no callout service of
//! its own; both are the hub's, reached over its two leaf connections (see `leaf_config`).

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
/// The hub account a leaf node's callout connection is bound to. nats-server refuses
/// `$SYS.REQ.USER.AUTH` from any connection inside the callout account itself (so a leaf
/// bound to `KANADE` cannot forward its callout requests), hence this account, which
/// imports the callout subject from `KANADE` as a service and has no users.
pub const LEAF_AUTH_ACCOUNT: &str = "LEAFAUTH";
/// The callout account on a leaf node (bound to the hub's `LEAF_AUTH_ACCOUNT`).
pub const LEAF_CALLOUT_ACCOUNT: &str = "AUTH";
/// The JetStream domain of the hub cluster that `kanade-backend broker-config --leaf` assumes
/// unless told otherwise (`jetstream { domain: hub }` on every hub node).
pub const DEFAULT_HUB_DOMAIN: &str = "hub";

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
  {ACCOUNT} {{
    jetstream: enabled
    users: [ {{ nkey: "{backend}" }} ]
    # Branch leaf nodes forward their callout requests through {LEAF_AUTH_ACCOUNT}.
    exports: [ {{ service: "$SYS.REQ.USER.AUTH" }} ]
  }}
  {LEAF_AUTH_ACCOUNT} {{ imports: [ {{ service: {{ account: {ACCOUNT}, subject: "$SYS.REQ.USER.AUTH" }} }} ] }}
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

impl BrokerKeys {
    /// The access configuration of a branch leaf node whose hub's JetStream domain is
    /// `hub_domain`. Its agents connect to it and are let in by the backend's callout on the
    /// hub, exactly as there: the leaf's callout account `AUTH` is bound (second leaf
    /// remote) to the hub's `LEAFAUTH`, which imports the callout subject from `KANADE`. The
    /// leaf runs no JetStream: `KANADE` maps `$JS.API.>` to `$JS.<hub_domain>.API.>`, so the
    /// agents' JetStream calls reach the hub unchanged (the agent grant allows that form).
    /// While the uplink is down, connected agents stay connected, new ones cannot be let in.
    pub fn leaf_config(&self, hub_domain: &str) -> anyhow::Result<String> {
        anyhow::ensure!(
            !hub_domain.is_empty()
                && hub_domain
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'),
            "the hub's JetStream domain {hub_domain:?} must be letters, digits, '_' or '-'"
        );
        let (issuer, backend, system) = (
            self.issuer.public_key(),
            self.backend.public_key(),
            self.system.public_key(),
        );
        Ok(format!(
            r#"# kanade branch leaf node access (made by `kanade-backend broker-config --leaf`): the
# hub's auth callout lets each machine in with its own subjects only; JetStream is the hub's
# (domain "{hub_domain}").
accounts {{
  {ACCOUNT} {{
    users: [ {{ nkey: "{backend}" }} ]
    mappings: {{ "$JS.API.>": "$JS.{hub_domain}.API.>" }}
  }}
  {LEAF_CALLOUT_ACCOUNT} {{ }}
  {SYSTEM_ACCOUNT} {{ users: [ {{ nkey: "{system}" }} ] }}
}}
system_account: {SYSTEM_ACCOUNT}
authorization {{
  timeout: 5
  auth_callout {{
    issuer: "{issuer}"
    auth_users: [ "{backend}", "{system}" ]
    account: {LEAF_CALLOUT_ACCOUNT}
  }}
}}
"#
        ))
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
        // Not a search for "SU": public keys are random base32 and contain it by chance.
        for key in [&first.issuer, &first.backend, &first.system] {
            let seed = key.seed().unwrap();
            assert!(!config.contains(&seed), "no seed in the server config");
        }
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
