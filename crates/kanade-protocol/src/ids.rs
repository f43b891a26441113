//! The rules every identifier obeys before it may become a subject token, KV key, object
//! name or SQL parameter: one definition used by the backend's edge, the CLI and the agent.
//!
//! Ids are short ASCII: a 5,000-byte id would exceed the broker's control line and cost the
//! connection, and `.`, `*`, `>`, whitespace or NUL would change which subscribers a subject
//! reaches (or be refused by the broker as a key).

use std::fmt;

/// Longest subject token (machine id, group, execution, result, notification id).
pub const MAX_TOKEN_LEN: usize = 128;
/// Longest job, schedule or check id, and account name.
pub const MAX_ID_LEN: usize = 64;
/// Most groups one machine may belong to: every group is a subscription on each agent.
pub const MAX_GROUPS_PER_MACHINE: usize = 64;
/// Longest key of a collected bundle (`collect`).
pub const MAX_BUNDLE_KEY_LEN: usize = 512;
/// Hex digits of an enrollment token's id (8 bytes); see `enrollment`.
pub const TOKEN_ID_LEN: usize = 16;

/// What an identifier names; each kind has one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    Job,
    Schedule,
    Check,
    Machine,
    Group,
    Execution,
    Result,
    Notification,
    Username,
    /// An agent release key, `<version>-<platform>`.
    Release,
    /// A release version or platform.
    Version,
    /// A config scope as typed: `global`, `groups.<g>`, `pcs.<pc_id>`.
    Scope,
    /// An enrollment token's id (the public half of `kanade-enroll-<id>-<secret>`).
    EnrollmentToken,
    /// A collected bundle's key, `<pc_id>/<job_id>/<time>.zip` (see `collect`).
    Bundle,
}

impl IdKind {
    /// How the kind is called in messages ("job id").
    pub fn noun(self) -> &'static str {
        match self {
            IdKind::Job => "job id",
            IdKind::Schedule => "schedule id",
            IdKind::Check => "check name",
            IdKind::Machine => "machine id",
            IdKind::Group => "group name",
            IdKind::Execution => "execution id",
            IdKind::Result => "result id",
            IdKind::Notification => "notification id",
            IdKind::Username => "user name",
            IdKind::Release => "release key",
            IdKind::Version => "release version",
            IdKind::Scope => "config scope",
            IdKind::EnrollmentToken => "enrollment token id",
            IdKind::Bundle => "bundle key",
        }
    }

    /// The rule, as told to whoever broke it.
    pub fn rule(self) -> &'static str {
        match self {
            IdKind::Job | IdKind::Schedule | IdKind::Check => {
                "1-64 letters, digits, '-', '_' or '.', starting with a letter or digit, not ending with '.'"
            }
            IdKind::Machine => {
                "1-128 letters, digits, '-' or '_', in 1-4 labels separated by single '.' (a host name or FQDN)"
            }
            IdKind::Group | IdKind::Execution | IdKind::Notification => {
                "1-128 letters, digits, '-' or '_'"
            }
            IdKind::Result => "1-128 letters, digits, '.', '-' or '_'",
            IdKind::Username => "1-64 letters, digits, '.', '-', '_' or '@'",
            IdKind::Release => "1-129 letters, digits, '.', '-' or '_'",
            IdKind::Version => "1-64 letters, digits, '.', '-' or '_'",
            IdKind::Scope => "global, groups.<name> or pcs.<machine>",
            IdKind::EnrollmentToken => "16 lower-case hex digits",
            IdKind::Bundle => "<pc_id>/<job_id>/<time>.zip, without empty, '.' or '..' parts",
        }
    }

    pub fn is_valid(self, value: &str) -> bool {
        match self {
            IdKind::Job | IdKind::Schedule | IdKind::Check => is_valid_id(value),
            IdKind::Machine => is_machine_id(value),
            IdKind::Group | IdKind::Execution | IdKind::Notification => is_token(value),
            // Never a subject token (results go out on `results.<request_id>`), only a row
            // and object key.
            IdKind::Result => chars_within(value, MAX_TOKEN_LEN, b".-_"),
            IdKind::Username => is_valid_username(value),
            IdKind::Release => chars_within(value, 2 * MAX_ID_LEN + 1, b"._-"),
            IdKind::Version => chars_within(value, MAX_ID_LEN, b"._-"),
            IdKind::Scope => is_valid_scope(value),
            IdKind::EnrollmentToken => is_lower_hex(value, TOKEN_ID_LEN),
            IdKind::Bundle => check_bundle_key(value).is_none(),
        }
    }

    /// `Ok` when `value` obeys the rule; otherwise an error that shows a bounded excerpt.
    pub fn check(self, value: &str) -> Result<(), IdError> {
        match self.is_valid(value) {
            true => Ok(()),
            false => Err(IdError {
                kind: self,
                excerpt: excerpt(value),
            }),
        }
    }
}

/// An identifier that broke its kind's rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdError {
    pub kind: IdKind,
    /// The value, cut to a readable length and with control characters escaped.
    pub excerpt: String,
}

impl fmt::Display for IdError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} is not a valid {}: use {}",
            self.excerpt,
            self.kind.noun(),
            self.kind.rule()
        )
    }
}

impl std::error::Error for IdError {}

/// A subject token: non-empty, at most 128 bytes, only letters, digits, `-` and `_`.
pub fn is_token(token: &str) -> bool {
    chars_within(token, MAX_TOKEN_LEN, b"-_")
}

/// Most dot-separated labels a machine id may have, as in the original: the broker's grants
/// enumerate how many tokens a machine's subjects have, so the count must be bounded.
pub const MAX_MACHINE_LABELS: usize = 4;

/// Machine ids: as the original, a host name or FQDN of at most
/// [`MAX_MACHINE_LABELS`] dot-separated labels, each a subject token, so the
/// id spans 1-4 tokens of the subjects that carry it (`subject::pc_tokens`).
pub fn is_machine_id(pc_id: &str) -> bool {
    pc_id.len() <= MAX_TOKEN_LEN
        && pc_id.split('.').count() <= MAX_MACHINE_LABELS
        && pc_id.split('.').all(is_token)
}

/// Job, schedule and check ids: usable as KV keys and in URLs without escaping. A KV key may
/// not end with `.` (the broker refuses it, which surfaced as a 503).
pub fn is_valid_id(id: &str) -> bool {
    id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && !id.ends_with('.')
        && chars_within(id, MAX_ID_LEN, b"-_.")
}

/// Account names: 1-64 characters of letters, digits, '.', '-', '_' or '@'.
pub fn is_valid_username(name: &str) -> bool {
    chars_within(name, MAX_ID_LEN, b".-_@")
}

fn is_valid_scope(scope: &str) -> bool {
    if scope == crate::config::GLOBAL_KEY {
        return true;
    }
    match scope.split_once('.') {
        Some(("groups" | "group", name)) => is_token(name),
        Some(("pcs" | "pc", name)) => is_machine_id(name),
        _ => false,
    }
}

/// Exactly `len` lower-case hex digits.
pub fn is_lower_hex(value: &str, len: usize) -> bool {
    value.len() == len
        && value
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn chars_within(value: &str, max: usize, extra: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= max
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || extra.contains(&b))
}

/// At most 40 characters of `value`, quoted, with control characters escaped.
fn excerpt(value: &str) -> String {
    let mut out: String = value
        .chars()
        .take(40)
        .flat_map(char::escape_debug)
        .collect();
    if value.chars().count() > 40 {
        out.push('…');
    }
    format!("`{out}`")
}

/// Why `key` cannot be a bundle key (`None`: it can): three `/`-separated parts, none empty,
/// `.` or `..`, ending in `.zip`, printable, at most [`MAX_BUNDLE_KEY_LEN`] bytes.
pub fn check_bundle_key(key: &str) -> Option<&'static str> {
    if key.is_empty() || key.len() > MAX_BUNDLE_KEY_LEN {
        return Some("a bundle key is 1-512 characters");
    }
    if key.chars().any(|c| c.is_control() || c == '\\') {
        return Some("a bundle key has no control characters or backslashes");
    }
    let parts: Vec<&str> = key.split('/').collect();
    if parts.len() != 3 {
        return Some("a bundle key is <pc_id>/<job_id>/<time>.zip");
    }
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Some("a bundle key has no empty, `.` or `..` parts");
    }
    if !is_machine_id(parts[0]) {
        return Some("a bundle key starts with a machine id");
    }
    if !key.ends_with(".zip") {
        return Some("a bundle key ends in .zip");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &[&str] = &["", "a\0b", "ü", "*", ">", "../x", "a.b c", "a\nb"];

    #[test]
    fn hostile_values_break_every_rule() {
        let long = "x".repeat(5000);
        for kind in [
            IdKind::Job,
            IdKind::Schedule,
            IdKind::Check,
            IdKind::Machine,
            IdKind::Group,
            IdKind::Execution,
            IdKind::Result,
            IdKind::Notification,
            IdKind::Username,
            IdKind::Release,
            IdKind::Version,
            IdKind::Scope,
            IdKind::EnrollmentToken,
        ] {
            for bad in HOSTILE.iter().copied().chain([long.as_str()]) {
                let err = kind.check(bad).unwrap_err();
                assert!(err.to_string().len() < 200, "{err}");
            }
        }
    }

    #[test]
    fn ordinary_ids_pass() {
        assert!(IdKind::Job.is_valid("inv.hw-2_x"));
        assert!(!IdKind::Job.is_valid("-lead"));
        assert!(
            !IdKind::Schedule.is_valid("f."),
            "KV refuses a key ending with '.'"
        );
        assert!(IdKind::Machine.is_valid("WS-22_a"));
        assert!(IdKind::Machine.is_valid("web01.corp.example"), "an FQDN");
        assert!(!IdKind::Machine.is_valid("a.b.c.d.e"), "five labels");
        assert!(!IdKind::Machine.is_valid("a..b"));
        assert!(IdKind::Scope.is_valid("pcs.web01.corp.example"));
        assert!(IdKind::Username.is_valid("j.doe@corp"));
        assert!(IdKind::Release.is_valid("0.3.1-linux-x86_64"));
        for scope in ["global", "groups.lab", "pc.WS-1"] {
            assert!(IdKind::Scope.is_valid(scope), "{scope}");
        }
        assert!(!IdKind::Scope.is_valid("groups.a.b"));
        assert!(IdKind::EnrollmentToken.is_valid("0123456789abcdef"));
        for bad in [
            "0123456789ABCDEF",
            "0123456789abcde",
            "0123456789abcdefa",
            "0123456789abcdeg",
        ] {
            assert!(!IdKind::EnrollmentToken.is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn messages_escape_control_characters_and_stay_short() {
        let err = IdKind::Job.check("a\0b").unwrap_err();
        assert!(
            err.to_string().starts_with("`a\\0b` is not a valid job id"),
            "{err}"
        );
        let err = IdKind::Job.check(&"y".repeat(5000)).unwrap_err();
        assert!(err.excerpt.ends_with("…`"), "{}", err.excerpt);
    }
}
