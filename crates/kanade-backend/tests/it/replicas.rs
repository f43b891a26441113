//! Accounts and sessions across backend replicas on one broker: an account made on one replica
//! signs in on another, a session issued by one is honoured by the other, sign-out, disable,
//! password change and delete on one end the sessions on the other within moments, a replica
//! started with an empty database has every account, and accounts kept only in SQLite before
//! they moved to KV are published there at the next start.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;
use tokio::task::JoinHandle;

use crate::support::{ADMIN_PASSWORD, TestBackend, client_with_token, use_broker, wait_for};

/// Replicas share the session signing secret (README: copy it from the first backend).
const JWT_SECRET: &str = "a-shared-session-secret-of-at-least-32-characters";
/// How quickly a change on one replica must reach another.
const PROPAGATION: Duration = Duration::from_secs(2);

/// Another backend replica on `first`'s broker, with its own (empty) database.
struct Replica {
    base: String,
    task: JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

impl Replica {
    async fn start(first: &TestBackend, name: &str) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let mut config = kanade_backend::BackendConfig::default();
        use_broker(&mut config, &first.nats);
        config.db.sqlite_path = dir.path().join(format!("replica-{name}.db"));
        config.server.replica = Some(name.to_owned());
        config.secrets.jwt_secret = Some(JWT_SECRET.to_owned());
        config.secrets.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(kanade_backend::serve(
            config,
            listener,
            std::future::pending(),
        ));
        let http = reqwest::Client::new();
        let url = format!("{base}/health");
        wait_for("replica health", Duration::from_secs(20), || {
            let (http, url) = (http.clone(), url.clone());
            async move {
                http.get(&url)
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            }
        })
        .await;
        Replica {
            base,
            task,
            _dir: dir,
        }
    }
}

impl Drop for Replica {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn first_replica() -> TestBackend {
    TestBackend::start_with(|c| {
        c.server.replica = Some("a".into());
        c.secrets.jwt_secret = Some(JWT_SECRET.to_owned());
    })
    .await
}

/// Signs in at `base`: the status, and the token on success.
async fn login(base: &str, username: &str, password: &str) -> (StatusCode, Option<String>) {
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/auth/login"))
        .json(&json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let token = match status.is_success() {
        true => Some(
            resp.json::<kanade_protocol::api::LoginResponse>()
                .await
                .unwrap()
                .token,
        ),
        false => None,
    };
    (status, token)
}

/// `GET /api/auth/me` at `base` with `token`: its status.
async fn me(base: &str, token: &str) -> StatusCode {
    client_with_token(token)
        .get(format!("{base}/api/auth/me"))
        .send()
        .await
        .unwrap()
        .status()
}

async fn wait_status(what: &str, base: &str, token: &str, want: StatusCode) {
    wait_for(what, PROPAGATION, || async {
        me(base, token).await == want
    })
    .await;
}

/// Creates `name` on `a` as an operator with a known password (no change pending).
async fn operator(a: &TestBackend, name: &str) -> String {
    a.account(name, "operator").await;
    format!("{name}-second-password")
}

#[tokio::test]
async fn an_account_made_on_one_replica_signs_in_on_another_and_sessions_cross_over() {
    let a = first_replica().await;
    let b = Replica::start(&a, "b").await;
    // The admin seeded once serves both replicas.
    let (status, _) = login(&b.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);

    let password = operator(&a, "carol").await;
    let (status, from_b) = login(&b.base, "carol", &password).await;
    assert_eq!(status, StatusCode::OK, "an account made on A signs in on B");
    let from_b = from_b.unwrap();
    let (_, from_a) = login(&a.base, "carol", &password).await;
    let from_a = from_a.unwrap();
    wait_status(
        "A's session honoured on B",
        &b.base,
        &from_a,
        StatusCode::OK,
    )
    .await;
    wait_status(
        "B's session honoured on A",
        &a.base,
        &from_b,
        StatusCode::OK,
    )
    .await;

    // Signing out on A ends the session on B too.
    let resp = client_with_token(&from_a)
        .post(a.url("/api/auth/logout"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    wait_status(
        "a session signed out on A refused on B",
        &b.base,
        &from_a,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(me(&b.base, &from_b).await, StatusCode::OK);

    // A password change on B ends the other sessions, on A too.
    let (_, other) = login(&a.base, "carol", &password).await;
    let other = other.unwrap();
    wait_status(
        "the new session known on B",
        &b.base,
        &other,
        StatusCode::OK,
    )
    .await;
    let resp = client_with_token(&from_b)
        .post(format!("{}/api/auth/change-password", b.base))
        .json(&json!({"current_password": password, "new_password": "carol-third-password"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    wait_status(
        "the other session ended on A",
        &a.base,
        &other,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    assert_eq!(
        me(&a.base, &from_b).await,
        StatusCode::OK,
        "the changing session stays"
    );
    let (status, _) = login(&a.base, "carol", &password).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old password is refused on A"
    );
    let (status, _) = login(&a.base, "carol", "carol-third-password").await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn disabling_or_demoting_on_one_replica_ends_the_sessions_on_the_other() {
    let a = first_replica().await;
    let b = Replica::start(&a, "b").await;
    let password = operator(&a, "dave").await;
    let (_, token) = login(&b.base, "dave", &password).await;
    let token = token.unwrap();
    wait_status("B's session known on A", &a.base, &token, StatusCode::OK).await;

    let resp = a
        .http
        .patch(a.url("/api/accounts/dave"))
        .json(&json!({"disabled": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    wait_status(
        "a session of an account disabled on A refused on B",
        &b.base,
        &token,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let (status, _) = login(&b.base, "dave", &password).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "B refuses the disabled account"
    );

    // Enabled again, its old session stays ended; a role change ends the new one.
    let resp = a
        .http
        .patch(a.url("/api/accounts/dave"))
        .json(&json!({"disabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    wait_for("B lets dave in again", PROPAGATION, || async {
        login(&b.base, "dave", &password).await.0 == StatusCode::OK
    })
    .await;
    let fresh = login(&b.base, "dave", &password).await.1.unwrap();
    assert_eq!(me(&b.base, &token).await, StatusCode::UNAUTHORIZED);
    wait_status(
        "the new session known on A",
        &a.base,
        &fresh,
        StatusCode::OK,
    )
    .await;
    let resp = a
        .http
        .patch(a.url("/api/accounts/dave"))
        .json(&json!({"role": "viewer"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    wait_status(
        "a session of an account demoted on A refused on B",
        &b.base,
        &fresh,
        StatusCode::UNAUTHORIZED,
    )
    .await;
}

#[tokio::test]
async fn a_name_deleted_and_made_again_on_one_replica_keeps_old_tokens_dead_on_the_other() {
    let a = first_replica().await;
    let b = Replica::start(&a, "b").await;
    let password = operator(&a, "erin").await;
    let (_, old) = login(&b.base, "erin", &password).await;
    let old = old.unwrap();
    wait_status("the session known on A", &a.base, &old, StatusCode::OK).await;

    let resp = a
        .http
        .delete(a.url("/api/accounts/erin"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let again = operator(&a, "erin").await;
    wait_status(
        "the deleted account's token refused on B",
        &b.base,
        &old,
        StatusCode::UNAUTHORIZED,
    )
    .await;
    let (status, new) = login(&b.base, "erin", &again).await;
    assert_eq!(status, StatusCode::OK, "the new account signs in on B");
    assert_eq!(me(&b.base, &new.unwrap()).await, StatusCode::OK);
    assert_eq!(me(&b.base, &old).await, StatusCode::UNAUTHORIZED);
    assert_eq!(me(&a.base, &old).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_replica_started_with_an_empty_database_has_every_account_and_session() {
    let a = first_replica().await;
    let password = operator(&a, "frank").await;
    let (_, token) = login(&a.base, "frank", &password).await;
    let token = token.unwrap();
    // No waiting: a replica serves the API only after its read model matches KV.
    let c = Replica::start(&a, "c").await;
    let (status, _) = login(&c.base, "frank", &password).await;
    assert_eq!(status, StatusCode::OK, "the fresh replica signs frank in");
    assert_eq!(
        me(&c.base, &token).await,
        StatusCode::OK,
        "and honours A's session"
    );
    let (status, _) = login(&c.base, "admin", ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn accounts_kept_only_in_sqlite_are_published_to_kv_at_the_next_start() {
    let mut a = first_replica().await;
    let password = operator(&a, "grace").await;
    let (_, token) = login(&a.base, "grace", &password).await;
    let token = token.unwrap();
    a.kill().await;
    // Make it look like a database from before accounts moved to KV: rows without a KV
    // revision, and nothing in the buckets.
    {
        let conn = rusqlite::Connection::open(a.db_path()).unwrap();
        conn.execute_batch("UPDATE users SET kv_rev = NULL; UPDATE sessions SET kv_rev = NULL;")
            .unwrap();
    }
    for bucket in ["accounts", "sessions"] {
        let kv = a.js.get_key_value(bucket).await.unwrap();
        let stream = a.js.get_stream(format!("KV_{bucket}")).await.unwrap();
        stream.purge().await.unwrap();
        assert!(kv.entry("61646d696e").await.unwrap().is_none());
    }
    a.boot().await;
    let b = Replica::start(&a, "b").await;
    let (status, _) = login(&b.base, "grace", &password).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the published account signs in on B"
    );
    assert_eq!(
        me(&b.base, &token).await,
        StatusCode::OK,
        "and its session crossed over"
    );
    assert_eq!(me(&a.base, &token).await, StatusCode::OK);
    let published = a.query_i64("SELECT COUNT(*) FROM users WHERE kv_rev IS NOT NULL");
    assert_eq!(published, a.query_i64("SELECT COUNT(*) FROM users"));
}
