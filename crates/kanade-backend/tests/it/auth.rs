//! Accounts, sign-in and roles through the real router: every route is guarded, role
//! changes take effect on the next request, throttling, MFA and forced password change.

use kanade_backend::auth::totp;
use kanade_protocol::api::{Account, ErrorBody, LoginResponse, Me, MfaInit};
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{ADMIN_PASSWORD, TestBackend, client_with_token};

/// Every guarded route with the least role it needs. Login, health and version are public.
const ROUTES: &[(&str, &str, &str)] = &[
    ("GET", "/api/jobs", "viewer"),
    ("POST", "/api/jobs", "operator"),
    ("POST", "/api/jobs:batch", "operator"),
    ("POST", "/api/schedules:batch", "operator"),
    ("GET", "/api/jobs/x", "viewer"),
    ("DELETE", "/api/jobs/x", "operator"),
    ("POST", "/api/exec/x", "operator"),
    ("GET", "/api/executions", "viewer"),
    ("GET", "/api/executions/x", "viewer"),
    ("GET", "/api/results", "viewer"),
    ("GET", "/api/results/x", "viewer"),
    ("GET", "/api/jetstream", "viewer"),
    ("POST", "/api/jetstream/setup", "admin"),
    ("GET", "/api/audit", "viewer"),
    ("GET", "/api/agents", "viewer"),
    ("GET", "/api/agents/versions", "viewer"),
    ("GET", "/api/agents/x", "viewer"),
    ("POST", "/api/agents/x/ping", "viewer"),
    ("GET", "/api/agents/x/perf", "viewer"),
    ("GET", "/api/agents/x/processes", "viewer"),
    ("GET", "/api/agents/x/effective_config", "viewer"),
    ("GET", "/api/agents/x/groups", "viewer"),
    ("PUT", "/api/agents/x/groups", "operator"),
    ("PUT", "/api/agents/x/groups/g", "operator"),
    ("DELETE", "/api/agents/x/groups/g", "operator"),
    ("GET", "/api/groups", "viewer"),
    ("GET", "/api/config/global", "viewer"),
    ("PUT", "/api/config/global", "operator"),
    ("PATCH", "/api/config/global", "operator"),
    ("DELETE", "/api/config/global", "operator"),
    ("GET", "/api/freeze", "viewer"),
    ("PUT", "/api/freeze", "operator"),
    ("DELETE", "/api/freeze", "operator"),
    ("GET", "/api/jobs/x/status", "viewer"),
    ("POST", "/api/jobs/x/revoke", "operator"),
    ("POST", "/api/jobs/x/unrevoke", "operator"),
    ("POST", "/api/executions/x/kill", "operator"),
    ("GET", "/api/perf/fleet", "viewer"),
    ("GET", "/api/perf/top", "viewer"),
    ("GET", "/api/obs_events", "viewer"),
    ("GET", "/api/obs_events/kinds", "viewer"),
    ("GET", "/api/events/stream", "viewer"),
    ("GET", "/metrics", "viewer"),
    ("GET", "/api/agent-releases", "viewer"),
    ("POST", "/api/agent-releases", "admin"),
    ("DELETE", "/api/agent-releases/x", "admin"),
    ("GET", "/api/accounts", "admin"),
    ("POST", "/api/accounts", "admin"),
    ("PATCH", "/api/accounts/x", "admin"),
    ("DELETE", "/api/accounts/x", "admin"),
    ("GET", "/api/auth/me", "signed-in"),
    ("POST", "/api/auth/change-password", "signed-in"),
    ("POST", "/api/auth/logout", "signed-in"),
    ("POST", "/api/auth/mfa/init", "viewer"),
    ("POST", "/api/auth/mfa/verify", "viewer"),
    ("POST", "/api/auth/mfa/disable", "viewer"),
    ("POST", "/api/auth/mfa/recovery-codes", "viewer"),
    ("GET", "/api/command-keys", "viewer"),
    ("POST", "/api/command-keys", "admin"),
    ("POST", "/api/command-keys/rotate", "admin"),
    ("DELETE", "/api/command-keys/x", "admin"),
    ("POST", "/api/commands/sign", "operator"),
    ("GET", "/api/enrollment/tokens", "admin"),
    ("POST", "/api/enrollment/tokens", "admin"),
    ("DELETE", "/api/enrollment/tokens/0123456789abcdef", "admin"),
    ("GET", "/api/machines/identities", "operator"),
    ("POST", "/api/machines/identities/x/approve", "admin"),
    ("POST", "/api/machines/identities/x/reject", "admin"),
    ("POST", "/api/machines/identities/x/revoke", "admin"),
];

async fn status(client: &reqwest::Client, b: &TestBackend, method: &str, path: &str) -> StatusCode {
    let method = Method::from_bytes(method.as_bytes()).unwrap();
    client
        .request(method, b.url(path))
        .json(&json!({}))
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn every_route_needs_a_caller_with_the_right_role() {
    let b = TestBackend::start().await;
    let viewer = b.account("vera", "viewer").await;
    let operator = b.account("otto", "operator").await;
    let garbage = client_with_token("not-a-token");
    for (method, path, needs) in ROUTES {
        assert_eq!(
            status(&b.anon, &b, method, path).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without credentials"
        );
        assert_eq!(
            status(&garbage, &b, method, path).await,
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a bad token"
        );
        let below: &[&reqwest::Client] = match *needs {
            "admin" => &[&viewer, &operator],
            "operator" => &[&viewer],
            _ => &[],
        };
        for client in below {
            assert_eq!(
                status(client, &b, method, path).await,
                StatusCode::FORBIDDEN,
                "{method} {path} below {needs}"
            );
        }
    }
    for public in ["/health", "/api/version"] {
        assert_eq!(
            status(&b.anon, &b, "GET", public).await,
            StatusCode::OK,
            "{public}"
        );
    }
}

#[tokio::test]
async fn disabling_and_demoting_take_effect_on_the_next_request() {
    let b = TestBackend::start().await;
    let otto = b.account("otto", "operator").await;
    let job = "id: j\nversion: 1\nexecute: {shell: sh, script: 'true', timeout: 5s}\n";
    assert_eq!(
        otto.post(b.url("/api/jobs"))
            .body(job)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::CREATED
    );

    let demote = b
        .http
        .patch(b.url("/api/accounts/otto"))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(demote.status(), StatusCode::OK);
    // A role change ends the account's sessions; signed in again, otto is a viewer.
    assert_eq!(
        otto.get(b.url("/api/jobs")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let otto = client_with_token(&b.login("otto", "otto-second-password").await);
    assert_eq!(
        otto.post(b.url("/api/jobs"))
            .body(job)
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        otto.get(b.url("/api/jobs")).send().await.unwrap().status(),
        StatusCode::OK
    );

    let disable = b
        .http
        .patch(b.url("/api/accounts/otto"))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(disable.status(), StatusCode::OK);
    assert_eq!(
        otto.get(b.url("/api/jobs")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let login = b
        .anon
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": "otto", "password": "otto-second-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn the_last_enabled_admin_is_protected() {
    let b = TestBackend::start().await;
    for (method, body) in [
        ("PATCH", json!({"role": "operator"})),
        ("PATCH", json!({"disabled": true})),
        ("DELETE", json!({})),
    ] {
        let resp = b
            .http
            .request(
                Method::from_bytes(method.as_bytes()).unwrap(),
                b.url("/api/accounts/admin"),
            )
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CONFLICT, "{method} {body}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert!(
            err.error.message.contains("last enabled admin"),
            "{}",
            err.error.message
        );
    }
    // With a second admin, the first may step down.
    let _ada = b.account("ada", "admin").await;
    let resp = b
        .http
        .patch(b.url("/api/accounts/admin"))
        .json(&json!({"role": "operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let accounts: Vec<Account> = _ada
        .get(b.url("/api/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let roles: Vec<(String, String)> = accounts
        .iter()
        .map(|a| (a.username.clone(), a.role.as_str().to_owned()))
        .collect();
    assert_eq!(
        roles,
        vec![
            ("ada".into(), "admin".into()),
            ("admin".into(), "operator".into())
        ]
    );
}

#[tokio::test]
async fn five_failures_from_one_address_make_it_wait_and_many_from_one_address_are_limited() {
    let b = TestBackend::start().await;
    let login = |user: &str, pw: &str| {
        b.anon
            .post(b.url("/api/auth/login"))
            .json(&json!({"username": user, "password": pw}))
            .send()
    };
    for _ in 0..5 {
        assert_eq!(
            login("admin", "wrong-password").await.unwrap().status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let locked = login("admin", ADMIN_PASSWORD).await.unwrap();
    assert_eq!(locked.status(), StatusCode::TOO_MANY_REQUESTS);
    let err: ErrorBody = locked.json().await.unwrap();
    assert_eq!(err.error.code, "account_locked");
    // An unknown user is answered exactly like a wrong password.
    let unknown: ErrorBody = login("nobody", "whatever-pass")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unknown.error.code, "invalid_credentials");
    for i in 0..30 {
        let _ = login(&format!("user{i}"), "wrong-password").await.unwrap();
    }
    let limited: ErrorBody = login("someone", "wrong-password")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(limited.error.code, "too_many_attempts");
}

#[tokio::test]
async fn a_new_account_must_change_its_password_first() {
    let b = TestBackend::start().await;
    let resp = b
        .http
        .post(b.url("/api/accounts"))
        .json(&json!({"username": "nina", "password": "first-password-1", "role": "operator"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let token = b.login("nina", "first-password-1").await;
    let nina = client_with_token(&token);
    let me: Me = nina
        .get(b.url("/api/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(me.must_change_pw);
    let blocked = nina.get(b.url("/api/jobs")).send().await.unwrap();
    assert_eq!(blocked.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        blocked.json::<ErrorBody>().await.unwrap().error.code,
        "password_change_required"
    );
    let short = nina
        .post(b.url("/api/auth/change-password"))
        .json(&json!({"current_password": "first-password-1", "new_password": "short"}))
        .send()
        .await
        .unwrap();
    assert_eq!(short.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let ok = nina
        .post(b.url("/api/auth/change-password"))
        .json(&json!({"current_password": "first-password-1", "new_password": "second-password-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        nina.get(b.url("/api/jobs")).send().await.unwrap().status(),
        StatusCode::OK
    );
    // Sign-out ends this session only.
    assert_eq!(
        nina.post(b.url("/api/auth/logout"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        nina.get(b.url("/api/jobs")).send().await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        b.http
            .get(b.url("/api/jobs"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn mfa_enrolment_and_login_with_a_code() {
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
    assert!(init.otpauth_url.starts_with("otpauth://totp/"));
    let wrong = b
        .http
        .post(b.url("/api/auth/mfa/verify"))
        .json(&json!({"code": "000000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let code = totp::current(&init.secret, "admin").unwrap();
    let ok = b
        .http
        .post(b.url("/api/auth/mfa/verify"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::OK);

    let no_code = b
        .anon
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(no_code.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        no_code.json::<ErrorBody>().await.unwrap().error.code,
        "totp_required"
    );
    let code = totp::current(&init.secret, "admin").unwrap();
    let with_code = b
        .anon
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "totp": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(with_code.status(), StatusCode::OK);
    let session: LoginResponse = with_code.json().await.unwrap();
    let me: Me = client_with_token(&session.token)
        .get(b.url("/api/auth/me"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(me.mfa_enabled);
}

#[tokio::test]
async fn audit_rows_record_actions_without_secrets() {
    let b = TestBackend::start().await;
    let job = "id: j\nversion: 1\nexecute: {shell: sh, script: 'true', timeout: 5s}\n";
    assert!(
        b.http
            .post(b.url("/api/jobs"))
            .body(job)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let fired = b
        .http
        .post(b.url("/api/exec/j"))
        .json(&json!({"target": {"pcs": ["pc1"]}, "allow_unknown": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(fired.status(), StatusCode::ACCEPTED);
    assert_eq!(
        b.http
            .delete(b.url("/api/jobs/j"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let secret_pw = "very-secret-password-1";
    let created = b
        .http
        .post(b.url("/api/accounts"))
        .json(&json!({"username": "sam", "password": secret_pw, "role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    let reset = b
        .http
        .patch(b.url("/api/accounts/sam"))
        .json(&json!({"password": "another-secret-pw-2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(reset.status(), StatusCode::OK);
    assert_eq!(
        b.http
            .delete(b.url("/api/accounts/sam"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );

    let wanted = [
        "auth.login",
        "job.create",
        "exec",
        "job.delete",
        "account.create",
        "account.update",
        "account.delete",
    ];
    crate::support::wait_for("audit rows", std::time::Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log") >= wanted.len() as i64
    })
    .await;
    let page: kanade_protocol::api::Page<kanade_protocol::api::AuditEntry> =
        b.get("/api/audit?actor=admin&limit=100").await;
    let actions: Vec<&str> = page.items.iter().rev().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, wanted);
    assert!(
        page.items
            .iter()
            .all(|e| e.actor == "admin" && e.client_addr.as_deref() == Some("127.0.0.1"))
    );
    let exec_only: kanade_protocol::api::Page<kanade_protocol::api::AuditEntry> =
        b.get("/api/audit?action=exec").await;
    assert_eq!(exec_only.total, 1);
    assert_eq!(exec_only.items[0].target.as_deref(), Some("j"));
    let everything = serde_json::to_string(&page.items).unwrap();
    for secret in [secret_pw, "another-secret-pw-2", ADMIN_PASSWORD] {
        assert!(
            !everything.contains(secret),
            "a password leaked into the audit trail"
        );
    }
    let future: kanade_protocol::api::Page<kanade_protocol::api::AuditEntry> =
        b.get("/api/audit?since=2999-01-01T00:00:00Z").await;
    assert_eq!(future.total, 0);
}

#[tokio::test]
async fn static_token_and_disabled_auth_modes() {
    let nats = kanade_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(crate::support::connect(&nats).await);
    let mut config = kanade_backend::BackendConfig::default();
    crate::support::use_broker(&mut config, &nats);
    config.db.sqlite_path = dir.path().join("backend.db");
    config.secrets.static_token = Some("service-token-0123456789".into());
    let mut b = TestBackend::with_config(nats, dir, js, config).await;
    // No bootstrap password given: one was generated into a private file beside the database.
    let file = b.config.data_dir().join("admin-password");
    let generated = std::fs::read_to_string(&file).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let jwt = b.config.data_dir().join("jwt-secret");
        assert_eq!(
            std::fs::metadata(&jwt).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let session: LoginResponse = b
        .anon
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": "admin", "password": generated.trim()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        session.must_change_pw,
        "a generated password must be changed"
    );
    // A restart keeps the file while the password is still the one-time one ...
    b.kill().await;
    b.boot().await;
    assert!(file.exists(), "the one-time password is still the password");
    // ... and removes it once that password was changed: it lets nobody in any more.
    let changed = client_with_token(&session.token)
        .post(b.url("/api/auth/change-password"))
        .json(
            &json!({"current_password": generated.trim(), "new_password": "admin-chose-this-one"}),
        )
        .send()
        .await
        .unwrap();
    assert!(changed.status().is_success(), "{}", changed.status());
    b.kill().await;
    b.boot().await;
    assert!(
        !file.exists(),
        "a used one-time password file is removed at start"
    );
    let service = client_with_token("service-token-0123456789");
    assert_eq!(
        service
            .get(b.url("/api/accounts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
    assert_eq!(
        client_with_token("service-token-wrong")
            .get(b.url("/api/accounts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );

    let nats = kanade_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(crate::support::connect(&nats).await);
    let mut config = kanade_backend::BackendConfig::default();
    crate::support::use_broker(&mut config, &nats);
    config.db.sqlite_path = dir.path().join("backend.db");
    config.secrets.auth_disable = true;
    let open = TestBackend::with_config(nats, dir, js, config).await;
    assert_eq!(
        open.anon
            .get(open.url("/api/accounts"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::OK
    );
}
