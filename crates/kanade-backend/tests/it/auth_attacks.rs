//! Sign-in and sessions tested as an attacker would: parallel guessing, floods of bad logins,
//! strangers hammering a known account, TOTP guessing on MFA routes, and old tokens outliving
//! what should end them (delete and re-create, password change or reset, disable, role change).

use std::net::IpAddr;

use futures::future::join_all;
use kanade_backend::auth::{throttle, totp};
use kanade_protocol::api::{ErrorBody, MfaInit};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ADMIN_PASSWORD, TestBackend, client_with_token};

/// A client whose connections come from `ip` (any 127.x.y.z is this machine on Linux), so
/// tests can play several client addresses.
fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip.parse::<IpAddr>().unwrap())
        .timeout(std::time::Duration::from_secs(120))
        .build()
        .unwrap()
}

async fn login_status(
    b: &TestBackend,
    client: &reqwest::Client,
    user: &str,
    password: &str,
) -> StatusCode {
    client
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": user, "password": password}))
        .send()
        .await
        .unwrap()
        .status()
}

fn count(statuses: &[StatusCode], wanted: StatusCode) -> usize {
    statuses.iter().filter(|s| **s == wanted).count()
}

#[tokio::test]
async fn parallel_wrong_passwords_are_not_all_checked() {
    let b = TestBackend::start().await;
    let attacker = client_from("127.0.0.1");
    let statuses = join_all((0..200).map(|i| {
        let (b, attacker) = (&b, &attacker);
        async move { login_status(b, attacker, "admin", &format!("guess-{i}")).await }
    }))
    .await;
    // A 401 is an answer after a real check; everything else was refused before hashing.
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    assert!(
        checked <= throttle::PAIR.free as usize,
        "{checked} of 200 parallel guesses were checked"
    );
    assert!(
        statuses.iter().all(|s| [
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE
        ]
        .contains(s)),
        "{statuses:?}"
    );
    let refused = attacker
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": "admin", "password": "one-more"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn a_flood_of_bad_logins_is_answered_and_the_admin_still_gets_in() {
    let b = TestBackend::start().await;
    // Ten addresses, distinct names: the throttle lets 300 hashes through, the gate bounds them.
    let clients: Vec<_> = (10..20)
        .map(|i| client_from(&format!("127.0.0.{i}")))
        .collect();
    let statuses = join_all((0..300).map(|i| {
        let (b, client) = (&b, &clients[i % clients.len()]);
        async move { login_status(b, client, &format!("nobody{i}"), "wrong-password").await }
    }))
    .await;
    for status in &statuses {
        assert!(
            [
                StatusCode::UNAUTHORIZED,
                StatusCode::TOO_MANY_REQUESTS,
                StatusCode::SERVICE_UNAVAILABLE
            ]
            .contains(status),
            "unexpected {status}"
        );
    }
    let admin = client_from("127.0.0.2");
    assert_eq!(
        login_status(&b, &admin, "admin", ADMIN_PASSWORD).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn strangers_hammering_admin_do_not_lock_the_admin_out_elsewhere() {
    let b = TestBackend::start().await;
    let stranger = client_from("127.0.0.1");
    let mut statuses = Vec::new();
    for i in 0..60 {
        statuses.push(login_status(&b, &stranger, "admin", &format!("guess-{i}")).await);
    }
    let checked = count(&statuses, StatusCode::UNAUTHORIZED);
    assert!(checked <= throttle::PAIR.free as usize, "{checked} checked");
    assert_eq!(
        login_status(&b, &stranger, "admin", ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "the hammering address waits, even with the right password"
    );
    let admin = client_from("127.0.0.3");
    assert_eq!(
        login_status(&b, &admin, "admin", ADMIN_PASSWORD).await,
        StatusCode::OK,
        "the admin from elsewhere gets in"
    );
}

#[tokio::test]
async fn wrong_totp_codes_on_mfa_disable_are_throttled_and_so_is_the_right_one() {
    let b = TestBackend::start().await;
    let init: MfaInit = b
        .http
        .post(b.url("/api/auth/mfa/init"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = totp::current(&init.secret, "admin").unwrap();
    let enabled = b
        .http
        .post(b.url("/api/auth/mfa/verify"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(enabled.status(), StatusCode::OK);

    let wrong = if code == "123456" { "654321" } else { "123456" };
    let statuses = join_all((0..400).map(|_| {
        let b = &b;
        async move {
            b.http
                .post(b.url("/api/auth/mfa/disable"))
                .json(&json!({"code": wrong}))
                .send()
                .await
                .unwrap()
                .status()
        }
    }))
    .await;
    let checked = count(&statuses, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(checked <= throttle::PAIR.free as usize, "{checked} checked");
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        400 - checked
    );

    let right = totp::current(&init.secret, "admin").unwrap();
    let refused = b
        .http
        .post(b.url("/api/auth/mfa/disable"))
        .json(&json!({"code": right}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.json::<ErrorBody>().await.unwrap().error.code,
        "account_locked"
    );
    // The same throttle guards sign-in with a code and the current password.
    let login = b
        .anon
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "totp": right}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::TOO_MANY_REQUESTS);
    let change = b
        .http
        .post(b.url("/api/auth/change-password"))
        .json(
            &json!({"current_password": ADMIN_PASSWORD, "new_password": "another-admin-password"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(change.status(), StatusCode::TOO_MANY_REQUESTS);
    let me: kanade_protocol::api::Me = b.get("/api/auth/me").await;
    assert!(me.mfa_enabled, "MFA is still on");
}

#[tokio::test]
async fn wrong_current_passwords_on_change_password_are_throttled() {
    let b = TestBackend::start().await;
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let resp = b
            .http
            .post(b.url("/api/auth/change-password"))
            .json(&json!({"current_password": "not-the-password", "new_password": "another-admin-password"}))
            .send()
            .await
            .unwrap();
        statuses.push(resp.status());
    }
    assert_eq!(
        count(&statuses, StatusCode::FORBIDDEN),
        throttle::PAIR.free as usize
    );
    assert_eq!(
        count(&statuses, StatusCode::TOO_MANY_REQUESTS),
        10 - throttle::PAIR.free as usize
    );
}

async fn status_with(b: &TestBackend, token: &str, path: &str) -> StatusCode {
    client_with_token(token)
        .get(b.url(path))
        .send()
        .await
        .unwrap()
        .status()
}

async fn create(b: &TestBackend, username: &str, password: &str, role: &str) {
    let resp = b
        .http
        .post(b.url("/api/accounts"))
        .json(&json!({"username": username, "password": password, "role": role}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED, "create {username}");
}

async fn patch(b: &TestBackend, username: &str, body: serde_json::Value) {
    let resp = b
        .http
        .patch(b.url(&format!("/api/accounts/{username}")))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "patch {username} {body}");
}

#[tokio::test]
async fn a_deleted_account_token_stays_dead_when_the_name_is_created_again() {
    let b = TestBackend::start().await;
    create(&b, "vic", "vic-first-password", "viewer").await;
    let old = b.login("vic", "vic-first-password").await;
    assert_eq!(status_with(&b, &old, "/api/auth/me").await, StatusCode::OK);
    let deleted = b
        .http
        .delete(b.url("/api/accounts/vic"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    create(&b, "vic", "vic-other-password", "admin").await;
    assert_eq!(
        status_with(&b, &old, "/api/auth/me").await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        status_with(&b, &old, "/api/accounts").await,
        StatusCode::UNAUTHORIZED,
        "the old viewer token must not act as the new admin"
    );
}

#[tokio::test]
async fn changing_the_own_password_keeps_this_session_and_ends_the_others() {
    let b = TestBackend::start().await;
    let pw = "vic-first-password";
    create(&b, "vic", pw, "viewer").await;
    let (this, other) = (b.login("vic", pw).await, b.login("vic", pw).await);
    let changed = client_with_token(&this)
        .post(b.url("/api/auth/change-password"))
        .json(&json!({"current_password": pw, "new_password": "vic-second-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::NO_CONTENT);
    assert_eq!(status_with(&b, &this, "/api/jobs").await, StatusCode::OK);
    assert_eq!(
        status_with(&b, &other, "/api/auth/me").await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_reset_a_disable_and_a_role_change_each_end_the_sessions() {
    let b = TestBackend::start().await;
    create(&b, "vic", "vic-first-password", "viewer").await;

    let old = b.login("vic", "vic-first-password").await;
    patch(&b, "vic", json!({"password": "vic-reset-password"})).await;
    assert_eq!(
        status_with(&b, &old, "/api/auth/me").await,
        StatusCode::UNAUTHORIZED,
        "after a password reset"
    );

    let old = b.login("vic", "vic-reset-password").await;
    patch(&b, "vic", json!({"disabled": true})).await;
    patch(&b, "vic", json!({"disabled": false})).await;
    assert_eq!(
        status_with(&b, &old, "/api/auth/me").await,
        StatusCode::UNAUTHORIZED,
        "after disable and re-enable"
    );

    let old = b.login("vic", "vic-reset-password").await;
    patch(&b, "vic", json!({"role": "operator"})).await;
    assert_eq!(
        status_with(&b, &old, "/api/auth/me").await,
        StatusCode::UNAUTHORIZED,
        "after a role change"
    );

    // An e-mail change ends nothing, and the admin who made the changes is still signed in.
    let old = b.login("vic", "vic-reset-password").await;
    patch(&b, "vic", json!({"email": "vic@example.org"})).await;
    assert_eq!(status_with(&b, &old, "/api/auth/me").await, StatusCode::OK);
    assert_eq!(
        b.http
            .get(b.url("/api/accounts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_bearer_scheme_is_case_insensitive() {
    let b = TestBackend::start().await;
    let token = b.login("admin", ADMIN_PASSWORD).await;
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        let resp = b
            .anon
            .get(b.url("/api/auth/me"))
            .header("authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{scheme}");
    }
    for value in [
        format!("Basic {token}"),
        format!("Bearer{token}"),
        "Bearer ".to_owned(),
    ] {
        let resp = b
            .anon
            .get(b.url("/api/auth/me"))
            .header("authorization", value.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{value}");
    }
}

#[tokio::test]
async fn sign_ins_are_audited_with_the_client_address() {
    use kanade_protocol::api::{AuditEntry, Page};
    let b = TestBackend::start().await;
    let client = client_from("127.0.0.4");
    let secret = "a-wrong-secret-guess";
    assert_eq!(
        login_status(&b, &client, "admin", secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&b, &client, "nobody", secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&b, &client, "", secret).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_status(&b, &client, "admin", ADMIN_PASSWORD).await,
        StatusCode::OK
    );
    crate::support::wait_for("sign-in audit rows", std::time::Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'auth.login%' AND client_addr = '127.0.0.4'") == 4
    })
    .await;
    let failed: Page<AuditEntry> = b.get("/api/audit?action=auth.login_failed").await;
    let mut who: Vec<_> = failed
        .items
        .iter()
        .map(|e| {
            (
                e.actor.as_str(),
                e.target.as_deref(),
                e.payload["reason"].as_str(),
            )
        })
        .collect();
    who.sort();
    assert_eq!(
        who,
        [
            (
                "(no user name)",
                Some("(no user name)"),
                Some("invalid_credentials")
            ),
            ("admin", Some("admin"), Some("invalid_credentials")),
            ("nobody", Some("nobody"), Some("invalid_credentials"))
        ]
    );
    let ok: Page<AuditEntry> = b.get("/api/audit?action=auth.login").await;
    assert!(
        ok.items
            .iter()
            .any(|e| e.actor == "admin" && e.client_addr.as_deref() == Some("127.0.0.4"))
    );
    let everything = serde_json::to_string(&(failed.items, ok.items)).unwrap();
    assert!(!everything.contains(secret) && !everything.contains(ADMIN_PASSWORD));
}
