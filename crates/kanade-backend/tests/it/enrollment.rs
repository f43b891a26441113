//! Enrollment tokens and machine identities through the real router and broker: a token's
//! text is answered once and only its hash is kept; bad input names the field and writes
//! nothing; admins approve, reject and revoke machines that asked to join (records written
//! straight into KV `agent_identities` stand for them); lesser roles change nothing; every
//! change is audited.

use std::time::Duration;

use async_nats::jetstream::kv;
use chrono::Utc;
use futures::TryStreamExt;
use kanade_protocol::api::ErrorBody;
use kanade_protocol::enrollment::{
    self, CreatedToken, DecisionResponse, EnrollmentToken, IdentityStatus, MachineIdentity,
    TokenRow,
};
use kanade_protocol::names;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestBackend, wait_for};

async fn bucket(b: &TestBackend, name: &str) -> kv::Store {
    b.js.get_key_value(name).await.unwrap()
}

async fn keys(store: &kv::Store) -> Vec<String> {
    store.keys().await.unwrap().try_collect().await.unwrap()
}

async fn stored_token(b: &TestBackend, id: &str) -> Option<EnrollmentToken> {
    let entry = bucket(b, names::KV_ENROLLMENT_TOKENS)
        .await
        .get(id)
        .await
        .unwrap()?;
    Some(serde_json::from_slice(&entry).unwrap())
}

async fn stored_identity(b: &TestBackend, pc: &str) -> MachineIdentity {
    let entry = bucket(b, names::KV_AGENT_IDENTITIES)
        .await
        .get(pc)
        .await
        .unwrap()
        .unwrap();
    serde_json::from_slice(&entry).unwrap()
}

/// A machine that asked to join: what the auth callout writes on a connect without a token.
async fn asked(b: &TestBackend, pc: &str, status: IdentityStatus, pending_nkey: Option<&str>) {
    let now = Utc::now();
    let record = MachineIdentity {
        pc_id: pc.to_owned(),
        nkey: format!("U{}", pc.to_uppercase()),
        status,
        pending_nkey: pending_nkey.map(str::to_owned),
        first_seen: now,
        last_seen: now,
        address: "10.0.0.7:50000".to_owned(),
        token_id: None,
        decided_by: None,
        decided_at: None,
        reason: None,
    };
    bucket(b, names::KV_AGENT_IDENTITIES)
        .await
        .put(pc, serde_json::to_vec(&record).unwrap().into())
        .await
        .unwrap();
}

async fn create(b: &TestBackend, client: &reqwest::Client, body: Value) -> reqwest::Response {
    client
        .post(b.url("/api/enrollment/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

async fn decide(
    b: &TestBackend,
    client: &reqwest::Client,
    pc: &str,
    verb: &str,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = client.post(b.url(&format!("/api/machines/identities/{pc}/{verb}")));
    if let Some(body) = body {
        req = req.json(&body);
    }
    req.send().await.unwrap()
}

async fn audited(b: &TestBackend, action: &str) -> String {
    let sql = format!("SELECT COUNT(*) FROM audit_log WHERE action = '{action}'");
    wait_for(action, Duration::from_secs(10), || async {
        b.query_i64(&sql) >= 1
    })
    .await;
    let conn = rusqlite::Connection::open(b.db_path()).unwrap();
    conn.query_row(
        "SELECT payload FROM audit_log WHERE action = ?1 ORDER BY id DESC LIMIT 1",
        [action],
        |r| r.get(0),
    )
    .unwrap()
}

#[tokio::test]
async fn a_token_is_shown_once_and_kept_only_as_its_hash() {
    let b = TestBackend::start().await;
    let resp = create(
        &b,
        &b.http,
        json!({"group": "lab", "expires": "24h", "uses": 3}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let created: CreatedToken = resp.json().await.unwrap();
    let (id, secret) = enrollment::parse_token(&created.text).unwrap();
    assert_eq!(id, created.token.id);
    assert_eq!(created.token.group.as_deref(), Some("lab"));
    assert_eq!((created.token.uses_left, created.token.uses_total), (3, 3));
    assert_eq!(created.token.created_by, "admin");
    let left = created.token.expires_at - Utc::now();
    assert!(
        left > chrono::Duration::hours(23) && left <= chrono::Duration::hours(24),
        "{left}"
    );

    let record = stored_token(&b, id).await.expect("the record is in KV");
    assert_eq!(record.secret_sha256, enrollment::secret_sha256(secret));
    assert!(record.matches(secret));

    let resp = b
        .http
        .get(b.url("/api/enrollment/tokens"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let text = resp.text().await.unwrap();
    assert!(!text.contains(secret), "the list shows the secret");
    assert!(
        !text.contains(&record.secret_sha256),
        "the list shows the hash"
    );
    let rows: Vec<TokenRow> = serde_json::from_str(&text).unwrap();
    assert_eq!(rows, vec![created.token.clone()]);

    let payload = audited(&b, "enrollment.token_create").await;
    assert!(payload.contains(id), "{payload}");
    assert!(!payload.contains(secret), "the audit log shows the secret");

    let path = format!("/api/enrollment/tokens/{id}");
    let resp = b.http.delete(b.url(&path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    assert!(stored_token(&b, id).await.is_none());
    audited(&b, "enrollment.token_delete").await;
    let resp = b.http.delete(b.url(&path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = b
        .http
        .delete(b.url("/api/enrollment/tokens/NOT-A-TOKEN"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: ErrorBody = resp.json().await.unwrap();
    assert_eq!(body.error.field.as_deref(), Some("token_id"));
}

#[tokio::test]
async fn bad_token_requests_name_the_field_and_write_nothing() {
    let b = TestBackend::start().await;
    for (body, status, field) in [
        (
            json!({"expires": "24h", "uses": 0}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uses",
        ),
        (
            json!({"expires": "24h", "uses": 100_001}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "uses",
        ),
        (
            json!({"expires": "0s", "uses": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expires",
        ),
        (
            json!({"expires": "99999days", "uses": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "expires",
        ),
        (
            json!({"expires": "soon", "uses": 5}),
            StatusCode::BAD_REQUEST,
            "expires",
        ),
        (
            json!({"expires": "24h", "uses": 5, "secret": "mine"}),
            StatusCode::BAD_REQUEST,
            "secret",
        ),
        (
            json!({"group": "a.b", "expires": "24h", "uses": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "group",
        ),
        (
            json!({"group": "", "expires": "24h", "uses": 5}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "group",
        ),
    ] {
        let resp = create(&b, &b.http, body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert!(
            err.error.field.as_deref().unwrap_or("").contains(field)
                || err.error.message.contains(field),
            "{body}: {err:?}"
        );
    }
    let store = bucket(&b, names::KV_ENROLLMENT_TOKENS).await;
    assert!(keys(&store).await.is_empty(), "nothing is written");
}

#[tokio::test]
async fn admins_approve_reject_and_revoke_machines_that_asked() {
    let b = TestBackend::start().await;
    asked(&b, "pc-new", IdentityStatus::Pending, None).await;
    asked(&b, "pc-bad", IdentityStatus::Pending, None).await;
    asked(&b, "pc-moved", IdentityStatus::Approved, Some("UNEWKEY")).await;

    let pending: Vec<MachineIdentity> = b.get("/api/machines/identities?status=pending").await;
    let names: Vec<&str> = pending.iter().map(|m| m.pc_id.as_str()).collect();
    assert_eq!(names, ["pc-bad", "pc-new"]);
    let all: Vec<MachineIdentity> = b.get("/api/machines/identities").await;
    assert_eq!(all.len(), 3);
    let resp = b
        .http
        .get(b.url("/api/machines/identities?status=lost"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);

    // Approve without a body.
    let resp = decide(&b, &b.http, "pc-new", "approve", None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let out: DecisionResponse = resp.json().await.unwrap();
    assert_eq!(out.identity.status, IdentityStatus::Approved);
    assert_eq!(out.identity.decided_by.as_deref(), Some("admin"));
    assert_eq!(out.connections_closed, None);
    assert_eq!(
        stored_identity(&b, "pc-new").await.status,
        IdentityStatus::Approved
    );
    audited(&b, "machine.approve").await;

    let resp = decide(
        &b,
        &b.http,
        "pc-bad",
        "reject",
        Some(json!({"reason": "not ours"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let stored = stored_identity(&b, "pc-bad").await;
    assert_eq!(stored.status, IdentityStatus::Rejected);
    assert_eq!(stored.reason.as_deref(), Some("not ours"));
    let payload = audited(&b, "machine.reject").await;
    assert!(payload.contains("not ours"), "{payload}");

    // A new key presented for an approved machine becomes its key when approved.
    let resp = decide(&b, &b.http, "pc-moved", "approve", Some(json!({}))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let stored = stored_identity(&b, "pc-moved").await;
    assert_eq!(stored.nkey, "UNEWKEY");
    assert_eq!(stored.pending_nkey, None);

    let resp = decide(
        &b,
        &b.http,
        "pc-new",
        "revoke",
        Some(json!({"reason": "stolen"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "revoked");
    assert_eq!(body["connections_closed"], 0, "{body}");
    assert_eq!(
        stored_identity(&b, "pc-new").await.status,
        IdentityStatus::Revoked
    );
    audited(&b, "machine.revoke").await;

    // Revoking what was never approved, or approving twice, is a conflict that says why.
    asked(&b, "pc-wait", IdentityStatus::Pending, None).await;
    for (pc, verb) in [("pc-wait", "revoke"), ("pc-moved", "approve")] {
        let resp = decide(&b, &b.http, pc, verb, None).await;
        assert_eq!(resp.status(), StatusCode::CONFLICT, "{verb} {pc}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert!(err.error.message.contains(pc), "{err:?}");
    }
    assert_eq!(
        stored_identity(&b, "pc-wait").await.status,
        IdentityStatus::Pending
    );

    for verb in ["approve", "reject", "revoke"] {
        let resp = decide(&b, &b.http, "pc-never", verb, None).await;
        assert_eq!(resp.status(), StatusCode::NOT_FOUND, "{verb}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert!(err.error.message.contains("pc-never"), "{err:?}");
    }

    let resp = decide(
        &b,
        &b.http,
        "pc-wait",
        "approve",
        Some(json!({"reason": "ok", "by": "me"})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let resp = decide(
        &b,
        &b.http,
        "pc-wait",
        "approve",
        Some(json!({"reason": "x".repeat(501)})),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        stored_identity(&b, "pc-wait").await.status,
        IdentityStatus::Pending
    );
}

#[tokio::test]
async fn viewers_and_operators_change_nothing() {
    let b = TestBackend::start().await;
    asked(&b, "pc-p", IdentityStatus::Pending, None).await;
    asked(&b, "pc-a", IdentityStatus::Approved, None).await;
    let created: CreatedToken = create(&b, &b.http, json!({"expires": "1h", "uses": 1}))
        .await
        .json()
        .await
        .unwrap();
    let viewer = b.account("vera", "viewer").await;
    let operator = b.account("otto", "operator").await;
    let token_path = format!("/api/enrollment/tokens/{}", created.token.id);
    let admin_only: Vec<(Method, String)> = vec![
        (Method::GET, "/api/enrollment/tokens".to_owned()),
        (Method::POST, "/api/enrollment/tokens".to_owned()),
        (Method::DELETE, token_path),
        (
            Method::POST,
            "/api/machines/identities/pc-p/approve".to_owned(),
        ),
        (
            Method::POST,
            "/api/machines/identities/pc-p/reject".to_owned(),
        ),
        (
            Method::POST,
            "/api/machines/identities/pc-a/revoke".to_owned(),
        ),
    ];
    for (who, client) in [("viewer", &viewer), ("operator", &operator)] {
        for (method, path) in &admin_only {
            let resp = client
                .request(method.clone(), b.url(path))
                .json(&json!({"expires": "1h", "uses": 1}))
                .send()
                .await
                .unwrap();
            assert_eq!(
                resp.status(),
                StatusCode::FORBIDDEN,
                "{who} {method} {path}"
            );
        }
    }
    let resp = viewer
        .get(b.url("/api/machines/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::FORBIDDEN,
        "viewer lists machines"
    );
    let resp = operator
        .get(b.url("/api/machines/identities"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "operator lists machines");

    assert_eq!(
        stored_identity(&b, "pc-p").await.status,
        IdentityStatus::Pending
    );
    assert_eq!(
        stored_identity(&b, "pc-a").await.status,
        IdentityStatus::Approved
    );
    let store = bucket(&b, names::KV_ENROLLMENT_TOKENS).await;
    assert_eq!(keys(&store).await, vec![created.token.id.clone()]);
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'machine.%'"),
        0
    );
}
