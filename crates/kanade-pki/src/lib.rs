//! A local certificate authority for the broker's TLS: `ensure` creates (once) a CA and a
//! server certificate for the broker's host names, so the default setup is encrypted without
//! a public CA. Clients pin the CA file: they trust it and nothing else.
//!
//! Files in the folder (created 0700; keys 0600):
//! `ca.pem` (give it to every client), `ca-key.pem` (keep it on the host that issues),
//! `server.pem` + `server-key.pem` (for nats-server), `server.hosts` (what the server
//! certificate covers and until when; a changed host list or a near expiry re-issues it).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use time::{Duration, OffsetDateTime};

/// How long the CA is valid.
pub const CA_VALIDITY: Duration = Duration::days(10 * 365);
/// How long a server certificate is valid; it is re-issued when less than `RENEW_BEFORE` is left.
pub const SERVER_VALIDITY: Duration = Duration::days(2 * 365);
pub const RENEW_BEFORE: Duration = Duration::days(30);

/// The paths of the TLS material in one folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub dir: PathBuf,
    pub ca_cert: PathBuf,
    pub ca_key: PathBuf,
    pub server_cert: PathBuf,
    pub server_key: PathBuf,
    server_hosts: PathBuf,
}

/// What `ensure` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Outcome {
    pub created_ca: bool,
    pub issued_server: bool,
}

impl TlsFiles {
    pub fn in_dir(dir: &Path) -> TlsFiles {
        TlsFiles {
            dir: dir.to_owned(),
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca-key.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server-key.pem"),
            server_hosts: dir.join("server.hosts"),
        }
    }
}

/// Makes sure `dir` holds a CA and a server certificate valid for every name in `hosts`
/// (DNS names or IP addresses). Existing material is kept; the server certificate is
/// re-issued from the same CA when the host list changed or it is close to expiry.
pub fn ensure(dir: &Path, hosts: &[String]) -> anyhow::Result<(TlsFiles, Outcome)> {
    if hosts.is_empty() {
        bail!("name at least one host (DNS name or IP address) for the server certificate");
    }
    if let Some(bad) = hosts.iter().find(|h| !is_host(h)) {
        bail!("`{bad}` is neither a DNS name nor an IP address");
    }
    create_private_dir(dir)?;
    let files = TlsFiles::in_dir(dir);
    let now = OffsetDateTime::now_utc();
    let (ca_key, created_ca) = match (files.ca_cert.exists(), files.ca_key.exists()) {
        (true, true) => {
            let pem = read(&files.ca_key)?;
            let key = KeyPair::from_pem(&pem)
                .with_context(|| format!("{} is not a PEM private key", files.ca_key.display()))?;
            (key, false)
        }
        (false, false) => {
            let key = KeyPair::generate().context("generating the CA key")?;
            let cert = ca_params(now)
                .self_signed(&key)
                .context("signing the CA certificate")?;
            write_private(&files.ca_key, &key.serialize_pem())?;
            write_public(&files.ca_cert, &cert.pem())?;
            (key, true)
        }
        _ => bail!(
            "{} holds only half of a CA (ca.pem and ca-key.pem belong together): restore the missing file or delete both to create a new CA",
            dir.display()
        ),
    };
    let wanted = hosts_record(hosts, now + SERVER_VALIDITY);
    let issued_server = created_ca || needs_server_cert(&files, hosts, now);
    if issued_server {
        let issuer = Issuer::new(ca_params(now), ca_key);
        let key = KeyPair::generate().context("generating the server key")?;
        let mut params = CertificateParams::new(hosts.to_vec())
            .context("a host is neither a DNS name nor an IP address")?;
        params
            .distinguished_name
            .push(DnType::CommonName, hosts[0].clone());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.not_before = now - Duration::minutes(5);
        params.not_after = now + SERVER_VALIDITY;
        let cert = params
            .signed_by(&key, &issuer)
            .context("signing the server certificate")?;
        write_private(&files.server_key, &key.serialize_pem())?;
        write_public(&files.server_cert, &cert.pem())?;
        write_public(&files.server_hosts, &wanted)?;
    }
    Ok((
        files,
        Outcome {
            created_ca,
            issued_server,
        },
    ))
}

/// The CA's parameters. Rebuilt the same way each time, so a stored CA key can issue new
/// server certificates (the issuer name and key identifier match the stored CA certificate).
fn ca_params(now: OffsetDateTime) -> CertificateParams {
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, "kanade local CA");
    name.push(DnType::OrganizationName, "kanade");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = now - Duration::minutes(5);
    params.not_after = now + CA_VALIDITY;
    params
}

/// `server.hosts`: one host per line, then `expires <unix seconds>`.
fn hosts_record(hosts: &[String], expires: OffsetDateTime) -> String {
    let mut out = hosts.join("\n");
    out.push_str(&format!("\nexpires {}\n", expires.unix_timestamp()));
    out
}

fn needs_server_cert(files: &TlsFiles, hosts: &[String], now: OffsetDateTime) -> bool {
    if !files.server_cert.exists() || !files.server_key.exists() {
        return true;
    }
    let Ok(record) = std::fs::read_to_string(&files.server_hosts) else {
        return true;
    };
    let mut lines: Vec<&str> = record.lines().collect();
    let expires = lines
        .pop()
        .and_then(|l| l.strip_prefix("expires "))
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|s| OffsetDateTime::from_unix_timestamp(s).ok());
    let same_hosts = lines == hosts.iter().map(String::as_str).collect::<Vec<_>>();
    !same_hosts || expires.is_none_or(|e| e - now < RENEW_BEFORE)
}

/// An IP address, or a DNS name of letters, digits, `-` and dots (a leading `*.` allowed).
fn is_host(host: &str) -> bool {
    if host.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    let name = host.strip_prefix("*.").unwrap_or(host);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

fn read(path: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))
}

#[cfg(unix)]
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
        .with_context(|| format!("restricting {} to its owner", dir.display()))
}

#[cfg(not(unix))]
fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

/// Writes a secret through a temporary file created with mode 0600, then renames it.
fn write_private(path: &Path, text: &str) -> anyhow::Result<()> {
    write_file(path, text, 0o600)
}

fn write_public(path: &Path, text: &str) -> anyhow::Result<()> {
    write_file(path, text, 0o644)
}

fn write_file(path: &Path, text: &str, mode: u32) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(&tmp)
        .with_context(|| format!("writing {}", tmp.display()))?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn creates_once_and_keeps_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let (files, first) = ensure(&tls, &hosts(&["127.0.0.1", "localhost"])).unwrap();
        assert_eq!(
            first,
            Outcome {
                created_ca: true,
                issued_server: true
            }
        );
        let ca = std::fs::read(&files.ca_cert).unwrap();
        let server = std::fs::read(&files.server_cert).unwrap();
        let (_, again) = ensure(&tls, &hosts(&["127.0.0.1", "localhost"])).unwrap();
        assert_eq!(
            again,
            Outcome {
                created_ca: false,
                issued_server: false
            }
        );
        assert_eq!(std::fs::read(&files.ca_cert).unwrap(), ca);
        assert_eq!(std::fs::read(&files.server_cert).unwrap(), server);
        // A new host re-issues the server certificate from the same CA.
        let (_, more) = ensure(&tls, &hosts(&["127.0.0.1", "broker.example"])).unwrap();
        assert_eq!(
            more,
            Outcome {
                created_ca: false,
                issued_server: true
            }
        );
        assert_eq!(std::fs::read(&files.ca_cert).unwrap(), ca);
        assert_ne!(std::fs::read(&files.server_cert).unwrap(), server);
    }

    #[cfg(unix)]
    #[test]
    fn keys_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let (files, _) = ensure(&dir.path().join("tls"), &hosts(&["localhost"])).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&files.dir), 0o700);
        assert_eq!(mode(&files.ca_key), 0o600);
        assert_eq!(mode(&files.server_key), 0o600);
        assert_eq!(mode(&files.ca_cert), 0o644);
    }

    #[test]
    fn refuses_half_a_ca_and_bad_hosts() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let (files, _) = ensure(&tls, &hosts(&["localhost"])).unwrap();
        std::fs::remove_file(&files.ca_key).unwrap();
        let err = ensure(&tls, &hosts(&["localhost"])).unwrap_err();
        assert!(format!("{err:#}").contains("half of a CA"), "{err:#}");
        let err = ensure(&dir.path().join("other"), &[]).unwrap_err();
        assert!(format!("{err:#}").contains("at least one host"), "{err:#}");
        for bad in ["bad host", "a..b", "-x", "x\n", ""] {
            let err = ensure(&dir.path().join("other"), &hosts(&[bad])).unwrap_err();
            assert!(format!("{err:#}").contains("neither a DNS name"), "{err:#}");
        }
        assert!(
            !dir.path().join("other").exists(),
            "bad input writes nothing"
        );
    }
}
