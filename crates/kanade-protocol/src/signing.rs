//! Command signatures: the canonical bytes of a `Command` (versioned, length-prefixed, with the
//! script's SHA-256 rather than the script), ed25519 signing and verification through the
//! `nkeys` crate, the `command_keys` KV value, and why a command is refused.
//!
//! The signature covers every field that decides what runs, where and when, plus the subject
//! the command was published to (`target`), the signing key id and the signing time, so a
//! command for one machine cannot be replayed to `commands.all` and no field can be changed
//! without breaking it. A field added to `Command` that changes what runs must be added here
//! under a new version tag.

use std::collections::BTreeMap;

use base64::Engine;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::wire::Command;

/// The first bytes of every signed message: what it is and how the rest is laid out.
const DOMAIN_V1: &[u8] = b"kanade-command-v1";
/// Version 2: the v1 fields, then `collect` and `finalize` (JSON).
const DOMAIN_V2: &[u8] = b"kanade-command-v2";

/// How old a signature may be when an agent sees it: as long as stream `EXEC` keeps a command
/// for a machine that was offline, plus a day of slack.
pub const DEFAULT_MAX_AGE: TimeDelta = TimeDelta::days(8);
/// How far a signing time may lie ahead of the agent's clock.
pub const MAX_FUTURE_SKEW: TimeDelta = TimeDelta::minutes(5);

pub use crate::wire::CommandSignature;

/// A public key agents trust, the value of `command_keys[key_id]`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandKey {
    pub key_id: String,
    /// The nkeys-encoded ed25519 public key.
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    #[serde(default)]
    pub created_by: Option<String>,
}

impl CommandKey {
    /// The entry for a public key made elsewhere (a break-glass key on an operator's machine).
    pub fn external(
        public_key: &str,
        created_by: Option<String>,
        now: DateTime<Utc>,
    ) -> Result<CommandKey, String> {
        let public_key = public_key.trim();
        let pair = nkeys::KeyPair::from_public_key(public_key)
            .map_err(|err| format!("not an nkeys public key: {err}"))?;
        if pair.key_pair_type() != nkeys::KeyPairType::User {
            return Err("not a user public key (it must start with U)".to_owned());
        }
        Ok(CommandKey {
            key_id: key_id_of(public_key),
            public_key: public_key.to_owned(),
            created_at: now,
            created_by,
        })
    }
}

/// SHA-256 of the script, lowercase hex.
pub fn script_digest(script: &str) -> String {
    format!("{:x}", Sha256::digest(script.as_bytes()))
}

/// The short id of a public key: `k` and the first 16 hex digits of its SHA-256. Ids are KV
/// keys and subject-safe.
pub fn key_id_of(public_key: &str) -> String {
    let digest = format!("{:x}", Sha256::digest(public_key.as_bytes()));
    format!("k{}", &digest[..16])
}

fn ts(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// The bytes a signature covers: the domain tag, then each field as a length-prefixed name
/// and a length-prefixed value (u32 big-endian lengths), in a fixed order.
pub fn canonical_bytes(
    cmd: &Command,
    target: &str,
    key_id: &str,
    signed_at: DateTime<Utc>,
) -> Vec<u8> {
    let fields: [(&str, String); 20] = [
        ("id", cmd.id.clone()),
        ("version", cmd.version.clone()),
        ("request_id", cmd.request_id.clone()),
        ("exec_id", cmd.exec_id.clone()),
        ("shell", json(&cmd.shell)),
        ("script_sha256", script_digest(&cmd.script)),
        ("timeout_secs", cmd.timeout_secs.to_string()),
        ("jitter_secs", json(&cmd.jitter_secs)),
        (
            "deadline_at",
            cmd.deadline_at.as_ref().map(ts).unwrap_or_default(),
        ),
        ("cwd", json(&cmd.cwd)),
        ("run_as", json(&cmd.run_as)),
        ("emit", json(&cmd.emit)),
        ("staleness", json(&cmd.staleness)),
        ("emergency", cmd.emergency.to_string()),
        ("issued_at", ts(&cmd.issued_at)),
        ("issued_by", json(&cmd.issued_by)),
        ("retry", json(&cmd.retry)),
        ("target", target.to_owned()),
        ("key_id", key_id.to_owned()),
        ("signed_at", ts(&signed_at)),
    ];
    let mut out = Vec::with_capacity(512);
    // A command without `collect`/`finalize` keeps the v1 bytes, so commands signed before
    // those fields existed still verify; one with either is v2 and covers both (an agent
    // that predates them computes v1 bytes and refuses it rather than run it without them).
    let v2 = cmd.collect.is_some() || cmd.finalize.is_some();
    out.extend_from_slice(if v2 { DOMAIN_V2 } else { DOMAIN_V1 });
    let extra = v2.then(|| {
        [
            ("collect", json(&cmd.collect)),
            ("finalize", json(&cmd.finalize)),
        ]
    });
    for (name, value) in fields.into_iter().chain(extra.into_iter().flatten()) {
        for part in [name.as_bytes(), value.as_bytes()] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part);
        }
    }
    out
}

/// A private signing key (an nkeys seed).
pub struct SigningKey {
    pair: nkeys::KeyPair,
    key_id: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the seed.
        f.debug_struct("SigningKey")
            .field("key_id", &self.key_id)
            .finish()
    }
}

impl SigningKey {
    pub fn generate() -> SigningKey {
        SigningKey::of(nkeys::KeyPair::new_user())
    }

    /// Reads an nkeys seed (`SU…`).
    pub fn from_seed(seed: &str) -> Result<SigningKey, String> {
        nkeys::KeyPair::from_seed(seed.trim())
            .map(SigningKey::of)
            .map_err(|err| format!("not a valid signing seed: {err}"))
    }

    fn of(pair: nkeys::KeyPair) -> SigningKey {
        let key_id = key_id_of(&pair.public_key());
        SigningKey { pair, key_id }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    pub fn public_key(&self) -> String {
        self.pair.public_key()
    }

    /// The seed, to be kept in a 0600 file.
    pub fn seed(&self) -> String {
        self.pair.seed().unwrap_or_default()
    }

    /// The `command_keys` entry for this key.
    pub fn command_key(&self, created_by: Option<String>, now: DateTime<Utc>) -> CommandKey {
        CommandKey {
            key_id: self.key_id.clone(),
            public_key: self.public_key(),
            created_at: now,
            created_by,
        }
    }

    /// Signs `cmd` as published to `target` at `now`.
    pub fn sign(&self, cmd: &Command, target: &str, now: DateTime<Utc>) -> CommandSignature {
        let bytes = canonical_bytes(cmd, target, &self.key_id, now);
        let sig = self.pair.sign(&bytes).unwrap_or_default();
        CommandSignature {
            key_id: self.key_id.clone(),
            target: target.to_owned(),
            signed_at: now,
            sig: base64::engine::general_purpose::STANDARD.encode(sig),
        }
    }

    /// A copy of `cmd` carrying a signature for `target`.
    /// Signs other canonical bytes (a terminal open request, `crate::terminal`): standard
    /// base64 of the ed25519 signature.
    pub fn sign_bytes(&self, bytes: &[u8]) -> String {
        let sig = self.pair.sign(bytes).unwrap_or_default();
        base64::engine::general_purpose::STANDARD.encode(sig)
    }

    pub fn signed(&self, cmd: &Command, target: &str, now: DateTime<Utc>) -> Command {
        let mut out = cmd.clone();
        out.signature = Some(self.sign(cmd, target, now));
        out
    }
}

/// Why a command's signature is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    Unsigned,
    UnknownKey(String),
    BadSignature,
    TargetMismatch { signed: String, received: String },
    Expired(DateTime<Utc>),
    FromTheFuture(DateTime<Utc>),
}

impl Rejection {
    /// A short name: `unsigned`, `unknown key`, `bad signature`, `target mismatch`, `expired`.
    pub fn kind(&self) -> &'static str {
        match self {
            Rejection::Unsigned => "unsigned",
            Rejection::UnknownKey(_) => "unknown key",
            Rejection::BadSignature => "bad signature",
            Rejection::TargetMismatch { .. } => "target mismatch",
            Rejection::Expired(_) | Rejection::FromTheFuture(_) => "expired",
        }
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "command signature refused ({}): ", self.kind())?;
        match self {
            Rejection::Unsigned => write!(f, "the command carries no signature"),
            Rejection::UnknownKey(id) => write!(f, "key {id} is not in command_keys"),
            Rejection::BadSignature => {
                write!(f, "the signature does not match the command")
            }
            Rejection::TargetMismatch { signed, received } => {
                write!(f, "signed for {signed} but received on {received}")
            }
            Rejection::Expired(at) => write!(f, "signed at {}, too long ago", ts(at)),
            Rejection::FromTheFuture(at) => {
                write!(f, "signed at {}, in the future", ts(at))
            }
        }
    }
}

/// Whether `sig` (standard base64) is `public_key`'s signature of `bytes`.
pub fn verify_bytes(public_key: &str, bytes: &[u8], sig: &str) -> bool {
    let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(sig.as_bytes()) else {
        return false;
    };
    nkeys::KeyPair::from_public_key(public_key)
        .and_then(|pair| pair.verify(bytes, &raw))
        .is_ok()
}

/// Checks `cmd`, received on `subject`, against `keys` (key id → nkeys public key). Ok carries
/// the key id that signed.
pub fn verify(
    cmd: &Command,
    subject: &str,
    keys: &BTreeMap<String, String>,
    now: DateTime<Utc>,
    max_age: TimeDelta,
) -> Result<String, Rejection> {
    let Some(signature) = &cmd.signature else {
        return Err(Rejection::Unsigned);
    };
    let Some(public_key) = keys.get(&signature.key_id) else {
        return Err(Rejection::UnknownKey(signature.key_id.clone()));
    };
    let raw = base64::engine::general_purpose::STANDARD
        .decode(signature.sig.as_bytes())
        .map_err(|_| Rejection::BadSignature)?;
    let bytes = canonical_bytes(
        cmd,
        &signature.target,
        &signature.key_id,
        signature.signed_at,
    );
    let good = nkeys::KeyPair::from_public_key(public_key)
        .and_then(|pair| pair.verify(&bytes, &raw))
        .is_ok();
    if !good {
        return Err(Rejection::BadSignature);
    }
    if signature.target != subject {
        return Err(Rejection::TargetMismatch {
            signed: signature.target.clone(),
            received: subject.to_owned(),
        });
    }
    if signature.signed_at > now + MAX_FUTURE_SKEW {
        return Err(Rejection::FromTheFuture(signature.signed_at));
    }
    if now.signed_duration_since(signature.signed_at) > max_age {
        return Err(Rejection::Expired(signature.signed_at));
    }
    Ok(signature.key_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Shell;

    fn cmd() -> Command {
        Command {
            id: "job".into(),
            version: "1".into(),
            request_id: "r1".into(),
            exec_id: "e1".into(),
            shell: Shell::Sh,
            script: "echo hi".into(),
            timeout_secs: 5,
            jitter_secs: None,
            deadline_at: None,
            cwd: None,
            run_as: None,
            staleness: None,
            emit: None,
            emergency: false,
            issued_at: Utc::now(),
            issued_by: Some("ops".into()),
            retry: None,
            collect: None,
            finalize: None,
            signature: None,
        }
    }

    #[test]
    fn collect_and_finalize_are_covered_and_old_commands_keep_their_bytes() {
        let key = SigningKey::generate();
        let keys = keyset(&key);
        let now = Utc::now();
        let plain = cmd();
        assert!(canonical_bytes(&plain, "commands.all", "k1", now).starts_with(DOMAIN_V1));
        let mut collecting = cmd();
        collecting.collect = Some(serde_json::from_str(r#"{"name":"logs"}"#).unwrap());
        assert!(canonical_bytes(&collecting, "commands.all", "k1", now).starts_with(DOMAIN_V2));
        let signed = key.signed(&collecting, "commands.pc.a", now);
        let check = |c: &Command| verify(c, "commands.pc.a", &keys, now, DEFAULT_MAX_AGE);
        assert!(check(&signed).is_ok());
        let mut widened = signed.clone();
        widened.collect.as_mut().unwrap().allow = vec!["/".into()];
        assert_eq!(check(&widened), Err(Rejection::BadSignature));
        let mut stripped = signed.clone();
        stripped.collect = None;
        assert_eq!(check(&stripped), Err(Rejection::BadSignature));
        let mut added = key.signed(&cmd(), "commands.pc.a", now);
        added.finalize =
            Some(serde_json::from_str(r#"{"shell":"sh","script":"rm -rf /"}"#).unwrap());
        assert_eq!(check(&added), Err(Rejection::BadSignature));
    }

    fn keyset(key: &SigningKey) -> BTreeMap<String, String> {
        BTreeMap::from([(key.key_id().to_owned(), key.public_key())])
    }

    #[test]
    fn a_signed_command_verifies_after_a_round_trip_through_json() {
        let key = SigningKey::generate();
        let now = Utc::now();
        let signed = key.signed(&cmd(), "commands.pc.a", now);
        let json = serde_json::to_vec(&signed).unwrap();
        let back: Command = serde_json::from_slice(&json).unwrap();
        let got = verify(&back, "commands.pc.a", &keyset(&key), now, DEFAULT_MAX_AGE);
        assert_eq!(got.as_deref(), Ok(key.key_id()));
        let again = SigningKey::from_seed(&key.seed()).unwrap();
        assert_eq!(again.key_id(), key.key_id());
        assert!(!format!("{key:?}").contains(&key.seed()));
    }

    #[test]
    fn every_tampering_is_refused_with_its_reason() {
        let key = SigningKey::generate();
        let keys = keyset(&key);
        let now = Utc::now();
        let signed = key.signed(&cmd(), "commands.pc.a", now);
        let check = |c: &Command, subject: &str| verify(c, subject, &keys, now, DEFAULT_MAX_AGE);

        assert_eq!(check(&cmd(), "commands.pc.a"), Err(Rejection::Unsigned));
        let mut changed = signed.clone();
        changed.script.push_str("; rm -rf /");
        assert_eq!(
            check(&changed, "commands.pc.a"),
            Err(Rejection::BadSignature)
        );
        let mut changed = signed.clone();
        changed.run_as = Some(crate::manifest::RunAs::User);
        assert_eq!(
            check(&changed, "commands.pc.a"),
            Err(Rejection::BadSignature)
        );
        let mut changed = signed.clone();
        changed.emergency = true;
        assert_eq!(
            check(&changed, "commands.pc.a"),
            Err(Rejection::BadSignature)
        );
        let mut retargeted = signed.clone();
        retargeted.signature.as_mut().unwrap().target = "commands.all".into();
        assert_eq!(
            check(&retargeted, "commands.all"),
            Err(Rejection::BadSignature)
        );
        assert!(matches!(
            check(&signed, "commands.all"),
            Err(Rejection::TargetMismatch { .. })
        ));
        let other = SigningKey::generate();
        let foreign = other.signed(&cmd(), "commands.pc.a", now);
        assert_eq!(
            check(&foreign, "commands.pc.a"),
            Err(Rejection::UnknownKey(other.key_id().to_owned()))
        );
        let mut garbage = signed.clone();
        garbage.signature.as_mut().unwrap().sig = "!!not base64".into();
        assert_eq!(
            check(&garbage, "commands.pc.a"),
            Err(Rejection::BadSignature)
        );
        let old = key.signed(&cmd(), "commands.pc.a", now - TimeDelta::days(9));
        assert!(matches!(
            check(&old, "commands.pc.a"),
            Err(Rejection::Expired(_))
        ));
        let ahead = key.signed(&cmd(), "commands.pc.a", now + TimeDelta::hours(1));
        let refused = check(&ahead, "commands.pc.a").unwrap_err();
        assert_eq!(refused.kind(), "expired");
        assert!(refused.to_string().contains("in the future"), "{refused}");
    }

    #[test]
    fn external_keys_must_be_user_public_keys() {
        let key = SigningKey::generate();
        let entry = CommandKey::external(&key.public_key(), None, Utc::now()).unwrap();
        assert_eq!(entry.key_id, key.key_id());
        assert!(CommandKey::external("hello", None, Utc::now()).is_err());
        assert!(CommandKey::external(&key.seed(), None, Utc::now()).is_err());
        let account = nkeys::KeyPair::new_account().public_key();
        assert!(CommandKey::external(&account, None, Utc::now()).is_err());
    }

    #[test]
    fn canonical_bytes_are_stable_and_cover_the_script_by_digest() {
        let c = cmd();
        let at = Utc::now();
        let a = canonical_bytes(&c, "commands.all", "k1", at);
        assert_eq!(a, canonical_bytes(&c.clone(), "commands.all", "k1", at));
        assert!(a.starts_with(DOMAIN_V1));
        let text = String::from_utf8_lossy(&a);
        assert!(text.contains(&script_digest("echo hi")));
        assert!(!text.contains("echo hi"));
        assert_ne!(a, canonical_bytes(&c, "commands.all", "k2", at));
    }
}
