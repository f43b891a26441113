//! NATS JWTs as nats-server's auth callout speaks them: the server's signed authorization
//! request, and the authorization response carrying a user grant (account, permissions,
//! expiry) that the backend signs with its issuer key. A JWT here is
//! `base64url(header).base64url(claims).base64url(ed25519 signature)`; the nkeys crate signs
//! and verifies, nothing in this file is cryptography.

use anyhow::{Context, bail};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use nkeys::KeyPair;
use serde::{Deserialize, Serialize};

/// The subject nats-server sends authorization requests to.
pub const AUTH_CALLOUT_SUBJECT: &str = "$SYS.REQ.USER.AUTH";

const HEADER: &str = r#"{"typ":"JWT","alg":"ed25519-nkey"}"#;

/// Signs `claims` (a JSON object) as `signer`: `iss`, `iat` and `jti` are filled in.
pub fn encode(mut claims: serde_json::Value, signer: &KeyPair) -> anyhow::Result<String> {
    let object = claims
        .as_object_mut()
        .context("JWT claims must be a JSON object")?;
    object.insert("iss".into(), signer.public_key().into());
    object.insert("iat".into(), chrono::Utc::now().timestamp().into());
    object.insert(
        "jti".into(),
        uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .to_uppercase()
            .into(),
    );
    let head = URL_SAFE_NO_PAD.encode(HEADER);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims)?);
    let signing_input = format!("{head}.{body}");
    let signature = signer
        .sign(signing_input.as_bytes())
        .map_err(|err| anyhow::anyhow!("signing a JWT: {err}"))?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

/// Decodes a JWT whose signature must verify against the public key in its own `iss`, and
/// whose issuer must have the `prefix` kind of nkey (`N` server, `A` account, `U` user).
pub fn decode_verified(token: &str, prefix: char) -> anyhow::Result<serde_json::Value> {
    let mut parts = token.trim().split('.');
    let (Some(head), Some(body), Some(sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        bail!("not a JWT: expected three dot-separated parts");
    };
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(head)
            .context("the JWT header is not base64url")?,
    )
    .context("the JWT header is not JSON")?;
    if header.get("alg").and_then(|a| a.as_str()) != Some("ed25519-nkey") {
        bail!("the JWT is not signed with an nkey (alg {})", header["alg"]);
    }
    let claims: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(body)
            .context("the JWT claims are not base64url")?,
    )
    .context("the JWT claims are not JSON")?;
    let issuer = claims
        .get("iss")
        .and_then(|i| i.as_str())
        .context("the JWT names no issuer")?;
    if !issuer.starts_with(prefix) {
        bail!("the JWT issuer {issuer} is not a key of kind {prefix}");
    }
    let key = KeyPair::from_public_key(issuer)
        .map_err(|err| anyhow::anyhow!("the JWT issuer is not a public nkey: {err}"))?;
    let signature = URL_SAFE_NO_PAD
        .decode(sig)
        .context("the JWT signature is not base64url")?;
    key.verify(format!("{head}.{body}").as_bytes(), &signature)
        .map_err(|_| anyhow::anyhow!("the JWT signature does not verify"))?;
    Ok(claims)
}

/// What nats-server tells the callout about a connecting client.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthRequest {
    /// The server that asks; the response's audience.
    pub server_id: String,
    /// The key the server generated for this connection; the grant's subject.
    pub user_nkey: String,
    /// The connection name the client gave (`kanade-agent/<pc_id>`, …).
    pub name: String,
    /// The client's public nkey, when it authenticated with one, and whether its signature
    /// over the server's nonce verified.
    pub client_nkey: Option<String>,
    pub nonce_verified: bool,
    pub token: Option<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    /// The client's address as the server saw it.
    pub host: String,
}

#[derive(Deserialize)]
struct RequestClaims {
    nats: RequestBody,
}

#[derive(Deserialize)]
struct RequestBody {
    server_id: ServerId,
    user_nkey: String,
    #[serde(default)]
    client_info: ClientInfo,
    #[serde(default)]
    connect_opts: ConnectOpts,
}

#[derive(Deserialize)]
struct ServerId {
    id: String,
}

#[derive(Default, Deserialize)]
struct ClientInfo {
    #[serde(default)]
    host: String,
    #[serde(default)]
    nonce: Option<String>,
}

#[derive(Default, Deserialize)]
struct ConnectOpts {
    #[serde(default)]
    name: String,
    #[serde(default)]
    nkey: Option<String>,
    #[serde(default)]
    sig: Option<String>,
    #[serde(default)]
    auth_token: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    pass: Option<String>,
}

impl AuthRequest {
    /// Decodes and verifies (server-signed) the request JWT nats-server published.
    pub fn decode(payload: &[u8]) -> anyhow::Result<AuthRequest> {
        let text = std::str::from_utf8(payload).context("the auth request is not text")?;
        let claims = decode_verified(text, 'N')?;
        let RequestClaims { nats } =
            serde_json::from_value(claims).context("the auth request has an unexpected shape")?;
        let nonce_verified = match (
            &nats.connect_opts.nkey,
            &nats.connect_opts.sig,
            &nats.client_info.nonce,
        ) {
            (Some(nkey), Some(sig), Some(nonce)) => verify_nonce(nkey, sig, nonce),
            _ => false,
        };
        let non_empty = |s: Option<String>| s.filter(|s| !s.is_empty());
        Ok(AuthRequest {
            server_id: nats.server_id.id,
            user_nkey: nats.user_nkey,
            name: nats.connect_opts.name,
            client_nkey: non_empty(nats.connect_opts.nkey),
            nonce_verified,
            token: non_empty(nats.connect_opts.auth_token),
            user: non_empty(nats.connect_opts.user),
            password: non_empty(nats.connect_opts.pass),
            host: nats.client_info.host,
        })
    }
}

fn verify_nonce(nkey: &str, sig: &str, nonce: &str) -> bool {
    let Ok(key) = KeyPair::from_public_key(nkey) else {
        return false;
    };
    if !nkey.starts_with('U') {
        return false;
    }
    let decoded = URL_SAFE_NO_PAD
        .decode(sig.trim_end_matches('='))
        .or_else(|_| {
            base64::engine::general_purpose::STANDARD_NO_PAD.decode(sig.trim_end_matches('='))
        });
    decoded.is_ok_and(|sig| key.verify(nonce.as_bytes(), &sig).is_ok())
}

/// Subjects a granted connection may publish and subscribe to.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    /// May answer the requests it receives (one reply each, within a minute) without a
    /// publish grant on the requester's inbox.
    pub responses: bool,
}

/// A connection the callout lets in: placed in `account`, named `name`, limited to
/// `permissions`, disconnected at `expires` (and then asked about again).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account: String,
    pub name: String,
    pub permissions: Permissions,
    pub expires: chrono::DateTime<chrono::Utc>,
}

/// The signed answer to `request`: the grant, or the reason it is refused.
pub fn respond(
    request: &AuthRequest,
    answer: Result<&Grant, &str>,
    issuer: &KeyPair,
) -> anyhow::Result<String> {
    let nats = match answer {
        Ok(grant) => {
            let allow = |list: &Vec<String>| serde_json::json!({ "allow": list });
            let mut user = serde_json::json!({
                "aud": grant.account,
                "sub": request.user_nkey,
                "name": grant.name,
                "exp": grant.expires.timestamp(),
                "nats": {
                    "pub": allow(&grant.permissions.publish),
                    "sub": allow(&grant.permissions.subscribe),
                    "subs": -1,
                    "data": -1,
                    "payload": -1,
                    "type": "user",
                    "version": 2,
                },
            });
            if grant.permissions.responses {
                user["nats"]["resp"] = serde_json::json!({ "max": 1, "ttl": 60_000_000_000i64 });
            }
            serde_json::json!({
                "jwt": encode(user, issuer)?,
                "type": "authorization_response",
                "version": 2,
            })
        }
        Err(reason) => serde_json::json!({
            "error": reason,
            "type": "authorization_response",
            "version": 2,
        }),
    };
    encode(
        serde_json::json!({
            "aud": request.server_id,
            "sub": request.user_nkey,
            "nats": nats,
        }),
        issuer,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_jwt_verifies_and_a_tampered_one_does_not() {
        let key = KeyPair::new_account();
        let token = encode(serde_json::json!({"sub": "x", "n": 1}), &key).unwrap();
        let claims = decode_verified(&token, 'A').unwrap();
        assert_eq!(claims["sub"], "x");
        assert_eq!(claims["iss"], key.public_key());

        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        parts[1] = URL_SAFE_NO_PAD.encode(r#"{"sub":"y","iss":"X"}"#);
        let forged = parts.join(".");
        assert!(decode_verified(&forged, 'A').is_err());
        assert!(decode_verified(&token, 'N').is_err(), "wrong key kind");
        for junk in ["", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(decode_verified(junk, 'A').is_err(), "{junk}");
        }
    }
}
