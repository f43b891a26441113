//! Machine identities and enrollment tokens: the records in KV `agent_identities` and
//! `enrollment_tokens` that decide who the broker lets in (the backend's auth callout reads
//! them at every connect; the API, CLI and dashboard edit them).
//!
//! A machine is known by its pc id and the public nkey it created on first start. It joins
//! with an enrollment token (approved at once, a use consumed) or waits as `pending` until an
//! admin approves it. Tokens are `kanade-enroll-<id>-<secret>`: the id finds the record, the
//! secret is kept only as its SHA-256.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::duration::HumanDuration;
use crate::ids::{IdKind, is_lower_hex};
use crate::manifest::ManifestError;

/// Where a machine stands with the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Hash)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum IdentityStatus {
    /// Seen without a valid token; refused until an admin approves.
    Pending,
    /// Let in with the grant of its own subjects.
    Approved,
    /// Refused by an admin before it was ever approved.
    Rejected,
    /// Cut off after approval: its connection is closed and reconnects refused.
    Revoked,
}

impl IdentityStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            IdentityStatus::Pending => "pending",
            IdentityStatus::Approved => "approved",
            IdentityStatus::Rejected => "rejected",
            IdentityStatus::Revoked => "revoked",
        }
    }
}

/// One machine's record in KV `agent_identities`, keyed by pc id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MachineIdentity {
    pub pc_id: String,
    /// The public nkey (`U…`) the machine proved at its first connect.
    pub nkey: String,
    pub status: IdentityStatus,
    /// A different key presented later for this pc id (a reinstall, or someone else): kept
    /// here for an admin to approve (which replaces `nkey`) and never let in meanwhile.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_nkey: Option<String>,
    pub first_seen: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
    /// The address the broker saw at the last connect attempt.
    #[serde(default)]
    pub address: String,
    /// The token id it enrolled with, when it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_id: Option<String>,
    /// Who approved, rejected or revoked it (an account name, or `token:<id>`), and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One enrollment token's record in KV `enrollment_tokens`, keyed by its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnrollmentToken {
    pub id: String,
    /// SHA-256 (lower-case hex) of the secret part.
    pub secret_sha256: String,
    /// The group a machine enrolled with it joins, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub expires_at: DateTime<Utc>,
    /// Uses left; the callout consumes one per enrolled machine (compare-and-set).
    pub uses_left: u32,
    pub uses_total: u32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl EnrollmentToken {
    /// Whether the token can enroll one more machine at `now`.
    pub fn usable(&self, now: DateTime<Utc>) -> Result<(), TokenRefusal> {
        if now >= self.expires_at {
            return Err(TokenRefusal::Expired);
        }
        if self.uses_left == 0 {
            return Err(TokenRefusal::UsedUp);
        }
        Ok(())
    }

    /// Whether `secret` is this token's secret.
    pub fn matches(&self, secret: &str) -> bool {
        secret_sha256(secret) == self.secret_sha256
    }
}

/// Why a presented token does not enroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Malformed,
    Unknown,
    Expired,
    UsedUp,
}

impl std::fmt::Display for TokenRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TokenRefusal::Malformed => "the enrollment token is malformed",
            TokenRefusal::Unknown => "the enrollment token is unknown",
            TokenRefusal::Expired => "the enrollment token has expired",
            TokenRefusal::UsedUp => "the enrollment token has no uses left",
        })
    }
}

const TOKEN_PREFIX: &str = "kanade-enroll-";

/// The text handed to operators: `kanade-enroll-<id>-<secret>`.
pub fn token_text(id: &str, secret: &str) -> String {
    format!("{TOKEN_PREFIX}{id}-{secret}")
}

/// Splits a presented token into (id, secret); ids and secrets are lower-case hex.
pub fn parse_token(text: &str) -> Result<(&str, &str), TokenRefusal> {
    let rest = text
        .trim()
        .strip_prefix(TOKEN_PREFIX)
        .ok_or(TokenRefusal::Malformed)?;
    let (id, secret) = rest.split_once('-').ok_or(TokenRefusal::Malformed)?;
    if !is_lower_hex(id, TOKEN_ID_LEN) || !is_lower_hex(secret, TOKEN_SECRET_LEN) {
        return Err(TokenRefusal::Malformed);
    }
    Ok((id, secret))
}

/// Hex digits of a token id (8 bytes) and secret (32 bytes).
pub use crate::ids::TOKEN_ID_LEN;
pub const TOKEN_SECRET_LEN: usize = 64;

pub fn secret_sha256(secret: &str) -> String {
    hex_lower(&Sha256::digest(secret.as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `POST /api/enrollment/tokens`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateTokenRequest {
    /// The group every machine enrolled with it joins.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    /// How long the token enrolls machines (`24h`, `7d`).
    pub expires: HumanDuration,
    /// How many machines it may enroll.
    pub uses: u32,
}

/// Most machines one token may enroll.
pub const MAX_TOKEN_USES: u32 = 100_000;

impl CreateTokenRequest {
    pub fn validate(&self) -> Result<(), ManifestError> {
        let invalid = |field: &str, message: String| ManifestError::Invalid {
            field: field.to_owned(),
            message,
        };
        if let Some(group) = &self.group {
            IdKind::Group
                .check(group)
                .map_err(|e| invalid("group", e.to_string()))?;
        }
        if self.expires.as_secs() == 0 {
            return Err(invalid("expires", "must be at least 1s".to_owned()));
        }
        if !(1..=MAX_TOKEN_USES).contains(&self.uses) {
            return Err(invalid(
                "uses",
                format!("must be between 1 and {MAX_TOKEN_USES}"),
            ));
        }
        Ok(())
    }
}

/// An enrollment token as the API shows it: never the secret, nor its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenRow {
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub uses_left: u32,
    pub uses_total: u32,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

impl From<&EnrollmentToken> for TokenRow {
    fn from(t: &EnrollmentToken) -> TokenRow {
        TokenRow {
            id: t.id.clone(),
            group: t.group.clone(),
            expires_at: t.expires_at,
            uses_left: t.uses_left,
            uses_total: t.uses_total,
            created_by: t.created_by.clone(),
            created_at: t.created_at,
        }
    }
}

/// `POST /api/enrollment/tokens` answers the token and its text, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedToken {
    pub token: TokenRow,
    /// `kanade-enroll-<id>-<secret>`: give it to agents as `enrollment_token`.
    pub text: String,
}

/// `POST /api/machines/identities/{pc_id}/approve|reject|revoke` (the body is optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    /// Why, kept on the record and in the audit log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Longest reason kept with a decision.
pub const MAX_REASON_LEN: usize = 500;

impl DecisionRequest {
    pub fn validate(&self) -> Result<(), ManifestError> {
        match &self.reason {
            Some(r) if r.chars().count() > MAX_REASON_LEN => Err(ManifestError::Invalid {
                field: "reason".to_owned(),
                message: format!("at most {MAX_REASON_LEN} characters"),
            }),
            _ => Ok(()),
        }
    }
}

/// The machine's record after a decision.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DecisionResponse {
    #[serde(flatten)]
    pub identity: MachineIdentity,
    /// Broker connections closed at once (revoke only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections_closed: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(expires_in: i64, uses_left: u32) -> EnrollmentToken {
        let now = Utc::now();
        EnrollmentToken {
            id: "0123456789abcdef".into(),
            secret_sha256: secret_sha256(&"a".repeat(64)),
            group: Some("lab".into()),
            expires_at: now + chrono::Duration::seconds(expires_in),
            uses_left,
            uses_total: 50,
            created_by: "admin".into(),
            created_at: now,
        }
    }

    #[test]
    fn a_token_parses_and_matches_only_its_secret() {
        let text = token_text("0123456789abcdef", &"a".repeat(64));
        let (id, secret) = parse_token(&text).unwrap();
        assert_eq!(id, "0123456789abcdef");
        let record = token(60, 1);
        assert!(record.matches(secret));
        assert!(!record.matches(&"b".repeat(64)));
    }

    #[test]
    fn malformed_tokens_are_refused() {
        for bad in [
            "",
            "kanade-enroll-",
            "kanade-enroll-0123456789abcdef",
            "kanade-enroll-0123456789abcdef-short",
            "kanade-enroll-0123456789ABCDEF-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "token-0123456789abcdef-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert_eq!(parse_token(bad), Err(TokenRefusal::Malformed), "{bad:?}");
        }
    }

    #[test]
    fn token_requests_name_the_broken_field() {
        let req = |json: &str| serde_json::from_str::<CreateTokenRequest>(json);
        assert!(
            req(r#"{"expires":"24h","uses":50}"#)
                .unwrap()
                .validate()
                .is_ok()
        );
        assert!(req(r#"{"expires":"24h","uses":50,"secret":"x"}"#).is_err());
        for (json, field) in [
            (r#"{"expires":"24h","uses":0}"#, "uses"),
            (r#"{"expires":"24h","uses":100001}"#, "uses"),
            (r#"{"expires":"0s","uses":1}"#, "expires"),
            (r#"{"group":"a.b","expires":"1h","uses":1}"#, "group"),
        ] {
            let err = req(json).unwrap().validate().unwrap_err();
            assert_eq!(err.field(), Some(field), "{json}");
        }
    }

    #[test]
    fn a_decision_flattens_the_record() {
        let identity: MachineIdentity = serde_json::from_str(r#"{"pc_id":"pc1","nkey":"UABC","status":"revoked","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z"}"#).unwrap();
        let out = serde_json::to_value(DecisionResponse {
            identity,
            connections_closed: Some(1),
        })
        .unwrap();
        assert_eq!(out["status"], "revoked");
        assert_eq!(out["connections_closed"], 1);
    }

    #[test]
    fn expired_and_used_up_tokens_do_not_enroll() {
        let now = Utc::now();
        assert_eq!(token(60, 1).usable(now), Ok(()));
        assert_eq!(token(-1, 1).usable(now), Err(TokenRefusal::Expired));
        assert_eq!(token(60, 0).usable(now), Err(TokenRefusal::UsedUp));
    }

    #[test]
    fn identities_round_trip_and_tolerate_unknown_fields() {
        let json = r#"{"pc_id":"pc1","nkey":"UABC","status":"approved","first_seen":"2026-01-01T00:00:00Z","last_seen":"2026-01-01T00:00:00Z","future":1}"#;
        let id: MachineIdentity = serde_json::from_str(json).unwrap();
        assert_eq!(id.status, IdentityStatus::Approved);
        let back: MachineIdentity =
            serde_json::from_str(&serde_json::to_string(&id).unwrap()).unwrap();
        assert_eq!(back, id);
    }
}
