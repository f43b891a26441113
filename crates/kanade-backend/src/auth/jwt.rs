//! Session tokens: HS256, audience `kanade`, an expiry, a unique id (`jti`, recorded in table
//! `sessions` so one session can be signed out or ended) and the immutable account id (`aid`).
//! The role is not in the token: it is re-read from the database on every request.

use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

const AUDIENCE: &str = "kanade";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    /// The account's immutable id; a token without one matches no session.
    #[serde(default)]
    pub aid: String,
}

impl Claims {
    pub fn expires_at(&self) -> DateTime<Utc> {
        DateTime::from_timestamp(self.exp, 0).unwrap_or_default()
    }
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> JwtKeys {
        JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        }
    }

    pub fn issue(
        &self,
        username: &str,
        account_id: &str,
        ttl: Duration,
        now: DateTime<Utc>,
    ) -> anyhow::Result<(String, Claims)> {
        let claims = Claims {
            sub: username.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now.timestamp(),
            exp: (now + ttl).timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
            aid: account_id.to_owned(),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok((token, claims))
    }

    /// Checks signature, algorithm, audience and expiry.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_audience(&[AUDIENCE]);
        validation.leeway = 5;
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &validation)
            .ok()
            .map(|d| d.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_verify_only_with_the_key_and_before_expiry() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now();
        let (token, claims) = keys.issue("alice", "a1", Duration::hours(12), now).unwrap();
        let back = keys.verify(&token).unwrap();
        assert_eq!(
            (back.sub.as_str(), back.jti.as_str(), back.aid.as_str()),
            ("alice", claims.jti.as_str(), "a1")
        );
        assert!(
            JwtKeys::new(b"another key another key another!")
                .verify(&token)
                .is_none()
        );
        let (old, _) = keys
            .issue("alice", "a1", Duration::hours(1), now - Duration::hours(3))
            .unwrap();
        assert!(keys.verify(&old).is_none(), "expired");
        assert!(keys.verify("garbage").is_none());
    }
}
