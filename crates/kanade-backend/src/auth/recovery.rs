//! MFA recovery codes: ten one-time codes shown once when MFA is turned on (or regenerated),
//! each usable once at sign-in in place of the authenticator code.
//!
//! A code is 16 characters from a 32-letter alphabet (80 random bits), shown as
//! `xxxx-xxxx-xxxx-xxxx`. Only its SHA-256 is kept: unlike a password it is random and long
//! enough that a fast hash cannot be reversed by guessing (2^80 tries per code), so the slow
//! argon2id of passwords would only make each sign-in attempt cost ten slow hashes. Online
//! guessing is throttled like the TOTP code (`throttle`).

use sha2::{Digest, Sha256};

/// How many codes are issued at once.
pub const COUNT: usize = 10;
/// The letters of a code: no 0/o or 1/l to misread.
const ALPHABET: &[u8; 32] = b"abcdefghijkmnpqrstuvwxyz23456789";
const LEN: usize = 16;

/// `COUNT` fresh codes, formatted for people.
pub fn generate() -> anyhow::Result<Vec<String>> {
    (0..COUNT).map(|_| one()).collect()
}

fn one() -> anyhow::Result<String> {
    let mut bytes = [0u8; LEN];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let letters: Vec<char> = bytes
        .iter()
        .map(|b| ALPHABET[usize::from(b & 31)] as char)
        .collect();
    Ok(letters
        .chunks(4)
        .map(|c| c.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join("-"))
}

/// The code as typed, lowercased without dashes and spaces; `None` when it cannot be one.
pub fn normalize(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .map(|c| c.to_ascii_lowercase())
        .collect();
    (code.len() == LEN && code.bytes().all(|b| ALPHABET.contains(&b))).then_some(code)
}

/// What is stored of a code: SHA-256 of its normalized form, hex.
pub fn hash(typed: &str) -> Option<String> {
    let code = normalize(typed)?;
    Some(
        Sha256::digest(code.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_hash_as_typed_in_any_case_or_grouping() {
        let codes = generate().unwrap();
        assert_eq!(codes.len(), COUNT);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), COUNT);
        let code = &codes[0];
        assert_eq!(code.len(), 19, "{code}");
        let typed = code.replace('-', " ").to_uppercase();
        assert_eq!(hash(code), hash(&typed));
        assert!(hash("123456").is_none(), "a TOTP code is no recovery code");
        assert!(hash("").is_none());
    }
}
