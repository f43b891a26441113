//! Secrets kept on disk beside the database (JWT signing key, the bootstrap admin password):
//! created once, readable only by the owner (0600), never logged.

use std::io::Write;
use std::path::Path;

use anyhow::Context;
use base64::Engine;

/// `n` random bytes from the operating system.
pub fn random_bytes(n: usize) -> anyhow::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    getrandom::fill(&mut buf).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    Ok(buf)
}

/// A random password of `len` characters from an unambiguous alphabet.
pub fn random_password(len: usize) -> anyhow::Result<String> {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    // Rejection sampling keeps the distribution uniform.
    let mut out = String::with_capacity(len);
    while out.len() < len {
        for b in random_bytes(64)? {
            let limit = 256 - (256 % ALPHABET.len());
            if usize::from(b) < limit && out.len() < len {
                out.push(char::from(ALPHABET[usize::from(b) % ALPHABET.len()]));
            }
        }
    }
    Ok(out)
}

/// Reads the secret at `path`, creating it with `make` (mode 0600) when missing.
pub fn load_or_create(
    path: &Path,
    make: impl FnOnce() -> anyhow::Result<String>,
) -> anyhow::Result<String> {
    if path.is_file() {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        return Ok(text.trim().to_owned());
    }
    let value = make()?;
    write_private(path, &value)?;
    Ok(value)
}

/// Writes `value` to `path` readable only by the owner.
pub fn write_private(path: &Path, value: &str) -> anyhow::Result<()> {
    if let Some(dir) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    file.write_all(value.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(())
}

pub fn random_key() -> anyhow::Result<String> {
    Ok(base64::engine::general_purpose::STANDARD_NO_PAD.encode(random_bytes(48)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_private_and_stable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/secret");
        let first = load_or_create(&path, random_key).unwrap();
        let second = load_or_create(&path, || panic!("must not regenerate")).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= 60);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[test]
    fn passwords_use_the_alphabet() {
        let p = random_password(24).unwrap();
        assert_eq!(p.len(), 24);
        assert!(
            p.chars()
                .all(|c| c.is_ascii_alphanumeric() && !"0O1lI".contains(c))
        );
    }
}
