//! MFA recovery codes as an attacker would try them: ten are shown when MFA is turned on,
//! each signs in once in place of the authenticator code (never twice), never for another
//! account, the old set dies when a new one is made or MFA is turned off, and only hashes are
//! stored.

use kanade_backend::auth::totp;
use kanade_protocol::api::{ErrorBody, MfaInit, MfaRecoveryCodes};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{ADMIN_PASSWORD, TestBackend};

/// Turns MFA on for the account behind `client`; its secret and recovery codes.
async fn enable(b: &TestBackend, client: &reqwest::Client, name: &str) -> (String, Vec<String>) {
    let init: MfaInit = client
        .post(b.url("/api/auth/mfa/init"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let code = totp::current(&init.secret, name).unwrap();
    let resp = client
        .post(b.url("/api/auth/mfa/verify"))
        .json(&json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let codes: MfaRecoveryCodes = resp.json().await.unwrap();
    (init.secret, codes.recovery_codes)
}

/// Signs in with `second` in place of the authenticator code; the status and error code.
async fn sign_in(b: &TestBackend, name: &str, password: &str, second: &str) -> (u16, String) {
    let resp = b
        .anon
        .post(b.url("/api/auth/login"))
        .json(&json!({"username": name, "password": password, "totp": second}))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    if status == 200 {
        return (status, String::new());
    }
    (status, resp.json::<ErrorBody>().await.unwrap().error.code)
}

#[tokio::test]
async fn each_recovery_code_signs_in_once_and_only_its_own_account() {
    let b = TestBackend::start().await;
    let (secret, codes) = enable(&b, &b.http, "admin").await;
    assert_eq!(codes.len(), 10);
    let stored: String = {
        let conn = rusqlite::Connection::open(b.db_path()).unwrap();
        conn.query_row(
            "SELECT recovery_codes FROM users WHERE username = 'admin'",
            [],
            |r| r.get(0),
        )
        .unwrap()
    };
    for code in &codes {
        assert!(!stored.contains(code.as_str()), "a code is stored in clear");
        assert!(
            !stored.contains(&code.replace('-', "")),
            "a code is stored in clear"
        );
    }

    // Typed with spaces and in capitals, it still works — once.
    let typed = codes[0].replace('-', " ").to_uppercase();
    assert_eq!(sign_in(&b, "admin", ADMIN_PASSWORD, &typed).await.0, 200);
    assert_eq!(
        sign_in(&b, "admin", ADMIN_PASSWORD, &codes[0]).await,
        (401, "invalid_totp".to_owned()),
        "a used code fails the second time"
    );
    // A good code with a wrong password is no way in, and does not spend the code.
    assert_eq!(
        sign_in(&b, "admin", "wrong-password", &codes[1]).await.0,
        401
    );
    assert_eq!(sign_in(&b, "admin", ADMIN_PASSWORD, &codes[1]).await.0, 200);

    // Another account's code is refused.
    let eve = b.account("eve", "viewer").await;
    let (_, eve_codes) = enable(&b, &eve, "eve").await;
    assert_eq!(
        sign_in(&b, "admin", ADMIN_PASSWORD, &eve_codes[0]).await.0,
        401
    );
    assert_eq!(
        sign_in(&b, "eve", "eve-second-password", &codes[2]).await.0,
        401
    );
    assert_eq!(
        sign_in(&b, "eve", "eve-second-password", &eve_codes[0])
            .await
            .0,
        200
    );

    // A new set replaces the old one; it takes a current authenticator code.
    let wrong = b
        .http
        .post(b.url("/api/auth/mfa/recovery-codes"))
        .json(&json!({"code": "000000"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let fresh: MfaRecoveryCodes = b
        .http
        .post(b.url("/api/auth/mfa/recovery-codes"))
        .json(&json!({"code": totp::current(&secret, "admin").unwrap()}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fresh.recovery_codes.len(), 10);
    assert_eq!(sign_in(&b, "admin", ADMIN_PASSWORD, &codes[3]).await.0, 401);
    assert_eq!(
        sign_in(&b, "admin", ADMIN_PASSWORD, &fresh.recovery_codes[0])
            .await
            .0,
        200
    );

    // Turning MFA off kills the codes: turned on again, the old ones do not work.
    let off = b
        .http
        .post(b.url("/api/auth/mfa/disable"))
        .json(&json!({"code": totp::current(&secret, "admin").unwrap()}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), StatusCode::NO_CONTENT);
    let (_, again) = enable(&b, &b.http, "admin").await;
    assert_eq!(
        sign_in(&b, "admin", ADMIN_PASSWORD, &fresh.recovery_codes[1])
            .await
            .0,
        401
    );
    assert_eq!(sign_in(&b, "admin", ADMIN_PASSWORD, &again[0]).await.0, 200);
}

#[tokio::test]
async fn recovery_codes_need_mfa_on() {
    let b = TestBackend::start().await;
    let viewer = b.account("vic", "viewer").await;
    let resp = viewer
        .post(b.url("/api/auth/mfa/recovery-codes"))
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CONFLICT);
    // Without MFA a recovery code in the totp field changes nothing: the password alone
    // signs in, and a code-shaped guess is not a way around a wrong password.
    assert_eq!(
        sign_in(&b, "vic", "wrong", "abcd-efgh-ijkm-npqr").await.0,
        401
    );
}
