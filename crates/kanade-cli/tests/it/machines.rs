//! `kanade enroll token …` and `kanade machines …` against the real backend and broker (in
//! this process): token text printed once with how an agent uses it, lists, admin decisions on
//! machines written straight into KV `agent_identities` as the auth callout would, and the
//! exit codes (1 with the API's message for an unknown machine, 2 for bad arguments).

use std::time::Duration;

use async_nats::jetstream;
use chrono::Utc;
use kanade_protocol::enrollment::{self, IdentityStatus, MachineIdentity, TokenRow};
use kanade_protocol::names;
use kanade_testkit::NatsServer;

const ADMIN_PASSWORD: &str = "admin-password-for-cli-tests";

struct Real {
    _nats: NatsServer,
    _dir: tempfile::TempDir,
    config_dir: tempfile::TempDir,
    base: String,
    js: jetstream::Context,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Real {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Real {
    /// Broker, backend and a CLI session signed in as the bootstrap admin.
    async fn start() -> Real {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().unwrap();
        let mut config = kanade_backend::BackendConfig::default();
        config.nats.url = nats.url();
        config.nats.ca_file = nats.ca_file();
        config.db.sqlite_path = dir.path().join("backend.db");
        config.secrets.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(kanade_backend::serve(
            config,
            listener,
            std::future::pending(),
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let up = reqwest::get(format!("{base}/health"))
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "backend health");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let client = crate::support::connect(&nats).await;
        let real = Real {
            _nats: nats,
            _dir: dir,
            config_dir: tempfile::tempdir().unwrap(),
            base,
            js: jetstream::new(client),
            task,
        };
        let (code, out, err) = real
            .kanade_stdin(
                &["login", "--username", "admin", "--password-stdin"],
                &format!("{ADMIN_PASSWORD}\n"),
            )
            .await;
        assert_eq!(code, 0, "login: {out}{err}");
        real
    }

    async fn kanade(&self, args: &[&str]) -> (i32, String, String) {
        self.kanade_stdin(args, "").await
    }

    async fn kanade_stdin(&self, args: &[&str], stdin: &str) -> (i32, String, String) {
        let mut argv = vec![
            "kanade".to_owned(),
            "--backend-url".to_owned(),
            self.base.clone(),
            "--config-dir".to_owned(),
            self.config_dir.path().display().to_string(),
        ];
        argv.extend(args.iter().map(|s| (*s).to_owned()));
        let mut input = std::io::Cursor::new(stdin.as_bytes().to_vec());
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = kanade_cli::main_with_io_stdin(argv, &mut input, &mut out, &mut err).await;
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    /// A machine that asked to join, as the auth callout records it.
    async fn asked(&self, pc: &str, status: IdentityStatus) {
        let now = Utc::now();
        let record = MachineIdentity {
            pc_id: pc.to_owned(),
            nkey: format!("UKEYOF{}XXXXXXXXXXXX", pc.to_uppercase()),
            status,
            pending_nkey: None,
            first_seen: now,
            last_seen: now,
            address: "10.1.2.3:40000".to_owned(),
            token_id: None,
            decided_by: None,
            decided_at: None,
            reason: None,
        };
        let kv = self
            .js
            .get_key_value(names::KV_AGENT_IDENTITIES)
            .await
            .unwrap();
        kv.put(pc, serde_json::to_vec(&record).unwrap().into())
            .await
            .unwrap();
    }

    async fn status_of(&self, pc: &str) -> IdentityStatus {
        let kv = self
            .js
            .get_key_value(names::KV_AGENT_IDENTITIES)
            .await
            .unwrap();
        let entry = kv.get(pc).await.unwrap().unwrap();
        serde_json::from_slice::<MachineIdentity>(&entry)
            .unwrap()
            .status
    }
}

#[tokio::test]
async fn enrollment_tokens_from_the_cli() {
    let real = Real::start().await;
    let (code, out, err) = real
        .kanade(&[
            "enroll",
            "token",
            "create",
            "--group",
            "lab",
            "--expires",
            "2h",
            "--uses",
            "3",
        ])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    let text = out.lines().next().unwrap();
    let (id, secret) = enrollment::parse_token(text).unwrap();
    assert!(
        out.contains(&format!("enrollment_token = \"{text}\""))
            && out.contains("[agent]")
            && out.contains("$KANADE_ENROLLMENT_TOKEN"),
        "{out}"
    );

    let (code, out, err) = real.kanade(&["enroll", "token", "list"]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains(id) && out.contains("lab") && out.contains("3/3"),
        "{out}"
    );
    assert!(!out.contains(secret), "the list shows the secret");
    let (code, out, _) = real.kanade(&["--json", "enroll", "token", "list"]).await;
    assert_eq!(code, 0);
    let rows: Vec<TokenRow> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].id, id);

    // Defaults: 24h and 50 uses.
    let (code, out, err) = real.kanade(&["enroll", "token", "create"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (second, _) = enrollment::parse_token(out.lines().next().unwrap()).unwrap();
    let (_, out, _) = real.kanade(&["enroll", "token", "list"]).await;
    assert!(out.contains(second) && out.contains("50/50"), "{out}");

    let (code, out, err) = real.kanade(&["enroll", "token", "delete", id]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = real.kanade(&["enroll", "token", "delete", id]).await;
    assert_eq!(code, 1, "deleting twice: {err}");
    assert!(err.contains("not found"), "{err}");

    for bad in [
        &["enroll", "token", "delete", "NOT-A-TOKEN"][..],
        &["enroll", "token", "create", "--uses", "0"],
        &["enroll", "token", "create", "--uses", "100001"],
        &["enroll", "token", "create", "--expires", "soon"],
        &["enroll", "token", "create", "--group", "a.b"],
        // Refused by the backend (422): still bad input.
        &["enroll", "token", "create", "--expires", "0s"],
    ] {
        let (code, out, err) = real.kanade(bad).await;
        assert_eq!(code, 2, "{bad:?}: {out}{err}");
    }
    let (_, out, _) = real.kanade(&["--json", "enroll", "token", "list"]).await;
    let rows: Vec<TokenRow> = serde_json::from_str(&out).unwrap();
    assert_eq!(rows.len(), 1, "only the second token is left: {out}");
}

#[tokio::test]
async fn machines_are_listed_approved_rejected_and_revoked_from_the_cli() {
    let real = Real::start().await;
    real.asked("pc-new", IdentityStatus::Pending).await;
    real.asked("pc-bad", IdentityStatus::Pending).await;
    real.asked("pc-old", IdentityStatus::Approved).await;

    let (code, out, err) = real.kanade(&["machines"]).await;
    assert_eq!(code, 0, "{err}");
    for pc in ["pc-new", "pc-bad", "pc-old"] {
        assert!(out.contains(pc), "{pc}: {out}");
    }
    assert!(
        out.contains("UKEYOFPC-NEW ") && out.contains("10.1.2.3:40000"),
        "fingerprint and address: {out}"
    );
    let (code, out, _) = real.kanade(&["machines", "pending"]).await;
    assert_eq!(code, 0);
    assert!(
        out.contains("pc-new") && out.contains("pc-bad") && !out.contains("pc-old"),
        "{out}"
    );
    let (code, out, _) = real.kanade(&["machines", "--status", "approved"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("pc-old") && !out.contains("pc-new"), "{out}");

    let (code, out, err) = real
        .kanade(&["machines", "approve", "pc-new", "--reason", "ours"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("approved pc-new"), "{out}");
    assert_eq!(real.status_of("pc-new").await, IdentityStatus::Approved);

    let (code, out, err) = real.kanade(&["machines", "reject", "pc-bad"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(real.status_of("pc-bad").await, IdentityStatus::Rejected);

    let (code, out, err) = real
        .kanade(&["machine", "revoke", "pc-new", "--reason", "stolen"])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("revoked pc-new"), "{out}");
    assert_eq!(real.status_of("pc-new").await, IdentityStatus::Revoked);
    let (_, out, _) = real.kanade(&["machines", "--status", "revoked"]).await;
    assert!(out.contains("pc-new") && out.contains("admin"), "{out}");

    // Revoking one that is not approved: the API says why, exit 1.
    let (code, _, err) = real.kanade(&["machine", "revoke", "pc-bad"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pc-bad is rejected"), "{err}");
    let (code, _, err) = real.kanade(&["machines", "approve", "pc-never"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("pc-never has never asked to join"), "{err}");

    for bad in [
        &["machines", "approve", "a.b.c.d.e"][..],
        &["machines", "--status", "lost"],
        &["machines", "approve"],
        &["machines", "--status", "pending", "approve", "pc-x"],
    ] {
        let (code, out, err) = real.kanade(bad).await;
        assert_eq!(code, 2, "{bad:?}: {out}{err}");
    }
}
