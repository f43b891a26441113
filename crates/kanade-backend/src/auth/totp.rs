//! Time-based one-time codes (RFC 6238, SHA-1, 6 digits, 30 s, ±1 step) for optional MFA.

use totp_rs::{Builder, Secret, Totp};

pub fn new_secret() -> String {
    Secret::generate().to_base32()
}

fn totp(secret: &str, account: &str) -> Option<Totp> {
    let secret = Secret::try_from_base32(secret).ok()?;
    Builder::new()
        .with_secret(secret)
        .with_account_name(account)
        .with_issuer(Some("kanade"))
        .build()
        .ok()
}

/// The `otpauth://` URL an authenticator app scans.
pub fn url(secret: &str, account: &str) -> Option<String> {
    totp(secret, account)?.to_url().ok()
}

pub fn check(secret: &str, account: &str, code: &str) -> bool {
    let code = code.trim();
    code.len() == 6
        && code.bytes().all(|b| b.is_ascii_digit())
        && totp(secret, account).is_some_and(|t| t.check_current(code).is_some())
}

/// The current code; used by tests and by nothing else.
pub fn current(secret: &str, account: &str) -> Option<String> {
    Some(totp(secret, account)?.generate_current().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_check_against_their_secret_only() {
        let secret = new_secret();
        let code = current(&secret, "alice").unwrap();
        assert!(check(&secret, "alice", &code));
        assert!(!check(&new_secret(), "alice", &code));
        assert!(!check(&secret, "alice", "12345"));
        assert!(!check(&secret, "alice", "abcdef"));
        assert!(
            url(&secret, "alice")
                .unwrap()
                .starts_with("otpauth://totp/")
        );
    }
}
