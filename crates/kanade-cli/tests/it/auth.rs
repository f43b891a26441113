//! `login`, `logout`, `whoami`, `account`, `audit` and `mfa` against the loopback API peer, each
//! test with its own session folder (`--config-dir`), never the operator's.

use crate::backend::{ADMIN_PASSWORD, FakeBackend, GOOD_TOTP, MFA_PASSWORD, NEWBIE_PASSWORD};
use crate::support::{Outcome, kanade_stdin};

/// The CLI pointed at one backend with a private session folder.
struct Operator {
    url: String,
    dir: tempfile::TempDir,
}

impl Operator {
    fn new(backend: &FakeBackend) -> Operator {
        Operator {
            url: backend.url.clone(),
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn folder(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }

    async fn run(&self, args: &[&str]) -> Outcome {
        self.run_stdin(args, "").await
    }

    async fn run_stdin(&self, args: &[&str], stdin: &str) -> Outcome {
        self.run_at(&self.url, args, stdin).await
    }

    /// Against `url`, with this operator's session folder.
    async fn run_at(&self, url: &str, args: &[&str], stdin: &str) -> Outcome {
        let mut argv = vec!["--backend-url", url, "--config-dir", self.folder()];
        argv.extend(args);
        kanade_stdin(&argv, stdin).await
    }

    async fn login(&self, username: &str, password: &str) -> Outcome {
        let out = self
            .run_stdin(
                &["login", "--username", username, "--password-stdin"],
                &format!("{password}\n"),
            )
            .await;
        assert_eq!(out.code, 0, "{out:?}");
        out
    }
}

#[tokio::test]
async fn login_keeps_a_private_session_that_commands_send() {
    let backend = FakeBackend::start(Some("static-token"), 10).await;
    let op = Operator::new(&backend);

    let before = op.run(&["job", "list"]).await;
    assert_eq!(
        (before.code, before.stderr.as_str()),
        (
            1,
            "error: not signed in (or the session expired): run `kanade login`\n"
        )
    );

    let login = op.login("admin", ADMIN_PASSWORD).await;
    assert_eq!(
        login.stdout,
        "signed in as admin (role admin) until 2030-01-01T08:00:00Z\n"
    );
    let path = op.dir.path().join("session.json");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored["backend_url"], backend.url.as_str());
    assert_eq!(stored["username"], "admin");
    assert_eq!(stored["token"], "session-1");
    assert_eq!(stored["expires_at"], "2030-01-01T08:00:00Z");

    let list = op.run(&["job", "list"]).await;
    assert_eq!(list.code, 0, "{list:?}");
    let who = op.run(&["whoami"]).await;
    assert_eq!(
        who.stdout,
        "user   admin\nrole   admin\nmfa    off\nemail  -\ntoken  stored session, until 2030-01-01T08:00:00Z\n"
    );
    let who = op.run(&["--json", "whoami"]).await;
    let me: kanade_protocol::api::Me = serde_json::from_str(&who.stdout).unwrap();
    assert_eq!(me.username, "admin");

    // The session belongs to that backend: another one never receives it.
    let other = FakeBackend::start(Some("static-token"), 10).await;
    let elsewhere = op.run_at(&other.url, &["job", "list"], "").await;
    assert_eq!(elsewhere.code, 1, "{elsewhere:?}");
    assert!(elsewhere.stderr.contains("not signed in"), "{elsewhere:?}");
    // The same backend written differently is the same backend.
    let slash = op
        .run_at(&format!("{}/", backend.url), &["job", "list"], "")
        .await;
    assert_eq!(slash.code, 0, "{slash:?}");

    let logout = op.run(&["logout"]).await;
    assert_eq!(
        (logout.code, logout.stdout.as_str()),
        (
            0,
            format!("signed out admin from {}\n", backend.url).as_str()
        )
    );
    assert!(!path.exists());
    assert_eq!(backend.live_sessions(), 0);
    let after = op.run(&["job", "list"]).await;
    assert_eq!(after.code, 1, "{after:?}");
    let again = op.run(&["logout"]).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert!(again.stdout.starts_with("not signed in (no "), "{again:?}");
}

#[tokio::test]
async fn login_refusals_and_the_authenticator_code() {
    let backend = FakeBackend::start(None, 10).await;
    let op = Operator::new(&backend);

    let wrong = op
        .run_stdin(
            &["login", "--username", "admin", "--password-stdin"],
            "nope-nope-nope\n",
        )
        .await;
    assert_eq!(wrong.code, 1, "{wrong:?}");
    assert_eq!(
        wrong.stderr,
        format!(
            "error: signing in as admin at {}: wrong user name or password (HTTP 401)\n",
            backend.url
        )
    );

    let no_code = op
        .run_stdin(
            &["login", "--username", "mfa-user", "--password-stdin"],
            &format!("{MFA_PASSWORD}\n"),
        )
        .await;
    assert_eq!(no_code.code, 2, "{no_code:?}");
    assert_eq!(
        no_code.stderr,
        "error: `mfa-user` signs in with an authenticator app: pass --totp CODE\n"
    );

    let bad_code = op
        .run_stdin(
            &[
                "login",
                "--username",
                "mfa-user",
                "--password-stdin",
                "--totp",
                "000000",
            ],
            &format!("{MFA_PASSWORD}\n"),
        )
        .await;
    assert_eq!(bad_code.code, 1, "{bad_code:?}");
    assert!(
        bad_code
            .stderr
            .ends_with(": the authenticator code is wrong or expired (HTTP 401)\n"),
        "{bad_code:?}"
    );
    assert!(!op.dir.path().join("session.json").exists());

    let with_code = op
        .run_stdin(
            &[
                "login",
                "--username",
                "mfa-user",
                "--password-stdin",
                "--totp",
                GOOD_TOTP,
            ],
            &format!("{MFA_PASSWORD}\n"),
        )
        .await;
    assert_eq!(with_code.code, 0, "{with_code:?}");
    assert!(
        with_code
            .stdout
            .starts_with("signed in as mfa-user (role viewer) until "),
        "{with_code:?}"
    );

    // Without a terminal nothing is prompted for: the missing input is named instead.
    let cases = [
        (
            vec!["login"],
            "",
            "--username is needed when stdin is not a terminal",
        ),
        (
            vec!["login", "--username", "admin"],
            "",
            "stdin is not a terminal, so there is no way to type a password: pass --password-stdin",
        ),
        (
            vec!["login", "--username", "admin", "--password-stdin"],
            "",
            "--password-stdin: stdin ended before the line",
        ),
        (
            vec!["login", "--username", "a b", "--password-stdin"],
            "x\n",
            "`a b` is not a valid user name",
        ),
    ];
    for (args, stdin, want) in cases {
        let out = op.run_stdin(&args, stdin).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.starts_with(&format!("error: {want}")), "{out:?}");
    }
}

#[tokio::test]
async fn a_password_that_must_change_is_changed_with_passwd() {
    let backend = FakeBackend::start(None, 10).await;
    let op = Operator::new(&backend);
    let login = op.login("newbie", NEWBIE_PASSWORD).await;
    assert!(
        login.stderr.contains(
            "this account must change its password before anything else: run `kanade account passwd`"
        ),
        "{login:?}"
    );

    let blocked = op.run(&["audit"]).await;
    assert_eq!(blocked.code, 1, "{blocked:?}");
    assert_eq!(
        blocked.stderr,
        "error: your password must be changed before anything else: run `kanade account passwd`\n"
    );
    let who = op.run(&["whoami"]).await;
    assert!(
        who.stdout
            .contains("password  must be changed: run `kanade account passwd`"),
        "{who:?}"
    );

    let wrong = op
        .run_stdin(
            &["account", "passwd", "--password-stdin"],
            "not-the-password\nbrand-new-password\n",
        )
        .await;
    assert_eq!(
        (wrong.code, wrong.stderr.as_str()),
        (1, "error: the current password is wrong (HTTP 403)\n")
    );
    let short = op
        .run_stdin(
            &["account", "passwd", "--password-stdin"],
            &format!("{NEWBIE_PASSWORD}\nshort\n"),
        )
        .await;
    assert_eq!(
        (short.code, short.stderr.as_str()),
        (
            2,
            "error: password: must be between 10 and 1024 characters\n"
        )
    );
    let changed = op
        .run_stdin(
            &["account", "passwd", "--password-stdin"],
            &format!("{NEWBIE_PASSWORD}\nbrand-new-password\n"),
        )
        .await;
    assert_eq!(
        (changed.code, changed.stdout.as_str()),
        (0, "password changed\n"),
        "{changed:?}"
    );

    // Now the role decides: a viewer may read the audit log but not manage accounts.
    assert_eq!(op.run(&["audit"]).await.code, 0);
    let forbidden = op.run(&["account", "list"]).await;
    assert_eq!(
        (forbidden.code, forbidden.stderr.as_str()),
        (
            1,
            "error: this needs the admin role; you are viewer (HTTP 403)\n"
        )
    );
}

#[tokio::test]
async fn accounts_are_created_changed_and_deleted() {
    let backend = FakeBackend::start(None, 10).await;
    let op = Operator::new(&backend);
    op.login("admin", ADMIN_PASSWORD).await;

    let created = op
        .run_stdin(
            &[
                "account",
                "create",
                "bob",
                "--role",
                "operator",
                "--email",
                "bob@example.org",
                "--password-stdin",
            ],
            "bob-password-1\n",
        )
        .await;
    assert_eq!(
        (created.code, created.stdout.as_str()),
        (
            0,
            "created account bob (role operator; email bob@example.org; must change its password at next sign-in)\n"
        ),
        "{created:?}"
    );
    let duplicate = op
        .run_stdin(
            &[
                "account",
                "create",
                "bob",
                "--role",
                "viewer",
                "--password-stdin",
            ],
            "bob-password-1\n",
        )
        .await;
    assert_eq!(
        (duplicate.code, duplicate.stderr.as_str()),
        (1, "error: account `bob` already exists (HTTP 409)\n")
    );
    let weak = op
        .run_stdin(
            &[
                "account",
                "create",
                "carol",
                "--role",
                "viewer",
                "--password-stdin",
            ],
            "short\n",
        )
        .await;
    assert_eq!(weak.code, 2, "{weak:?}");

    let list = op.run(&["account", "list"]).await;
    let lines: Vec<Vec<&str>> = list
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        lines[0],
        [
            "USERNAME",
            "ROLE",
            "DISABLED",
            "MUST_CHANGE_PW",
            "MFA",
            "EMAIL",
            "UPDATED"
        ]
    );
    // Booleans print "no", never a blank cell.
    assert_eq!(
        lines[1],
        ["admin", "admin", "no", "no", "no", "2026-01-01T00:00:00Z"]
    );
    assert_eq!(
        lines[2],
        [
            "bob",
            "operator",
            "no",
            "yes",
            "no",
            "bob@example.org",
            "2026-01-01T00:00:00Z"
        ]
    );
    assert_eq!(
        lines[3],
        [
            "mfa-user",
            "viewer",
            "no",
            "no",
            "yes",
            "2026-01-01T00:00:00Z"
        ]
    );
    let bob_line = list.stdout.lines().nth(2).unwrap();
    let must_change_col = list
        .stdout
        .lines()
        .next()
        .unwrap()
        .find("MUST_CHANGE_PW")
        .unwrap();
    assert_eq!(&bob_line[must_change_col..must_change_col + 3], "yes");

    let set = op
        .run(&[
            "account",
            "set",
            "bob",
            "--role",
            "admin",
            "--disable",
            "--email",
            "",
        ])
        .await;
    assert_eq!(
        (set.code, set.stdout.as_str()),
        (
            0,
            "updated account bob (role admin; disabled; must change its password at next sign-in)\n"
        ),
        "{set:?}"
    );
    let reset = op
        .run_stdin(
            &[
                "account",
                "set",
                "bob",
                "--enable",
                "--reset-password",
                "--password-stdin",
            ],
            "another-password-2\n",
        )
        .await;
    assert_eq!(reset.code, 0, "{reset:?}");
    let json = op
        .run(&["--json", "account", "set", "bob", "--role", "viewer"])
        .await;
    let account: kanade_protocol::api::Account = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(
        (account.role, account.disabled),
        (kanade_protocol::api::Role::Viewer, false)
    );

    let deleted = op.run(&["account", "delete", "bob"]).await;
    assert_eq!(
        (deleted.code, deleted.stdout.as_str()),
        (0, "deleted account bob\n")
    );
    let gone = op.run(&["account", "delete", "bob"]).await;
    assert_eq!(
        (gone.code, gone.stderr.as_str()),
        (
            1,
            "error: account `bob` not found (HTTP 404); `kanade account list` lists the accounts\n"
        )
    );

    // The last enabled admin can be neither demoted, disabled nor deleted.
    for args in [
        vec!["account", "set", "admin", "--role", "operator"],
        vec!["account", "set", "admin", "--disable"],
        vec!["account", "delete", "admin"],
    ] {
        let out = op.run(&args).await;
        assert_eq!(
            (out.code, out.stderr.as_str()),
            (1, "error: `admin` is the last enabled admin (HTTP 409)\n"),
            "{args:?}"
        );
    }
    let bad_name = op.run(&["account", "delete", "no/such"]).await;
    assert_eq!(bad_name.code, 2, "{bad_name:?}");
}

#[tokio::test]
async fn audit_lists_newest_first_with_filters() {
    let backend = FakeBackend::start(None, 10).await;
    let op = Operator::new(&backend);
    op.login("admin", ADMIN_PASSWORD).await;

    let all = op.run(&["audit"]).await;
    assert_eq!(all.code, 0, "{all:?}");
    let lines: Vec<&str> = all.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["TIME", "ACTOR", "ACTION", "TARGET", "CLIENT", "PAYLOAD"]
    );
    assert_eq!(
        lines[1].split_whitespace().collect::<Vec<_>>(),
        [
            "2026-01-03T10:00:00Z",
            "alice",
            "job.delete",
            "hello",
            "127.0.0.1"
        ]
    );
    // Compact JSON, cut at 60 characters.
    let exec = lines[2];
    let payload = &exec[lines[0].find("PAYLOAD").unwrap()..];
    assert!(
        payload.starts_with(r#"{"exec_id":"exec-1","subjects":["#),
        "{payload}"
    );
    assert_eq!(payload.chars().count(), 60);
    assert!(payload.ends_with('…'));
    assert!(lines[3].ends_with(r#"{"role":"operator"}"#), "{}", lines[3]);

    let filtered = op
        .run(&[
            "audit",
            "--actor",
            "alice",
            "--since",
            "2026-01-02T00:00:00Z",
            "--limit",
            "1",
        ])
        .await;
    assert_eq!(filtered.code, 0, "{filtered:?}");
    assert_eq!(filtered.stdout.lines().count(), 2, "{filtered:?}");
    assert!(
        filtered
            .stderr
            .starts_with("showing 1 of 2 entries (newest first); see more with --offset 1"),
        "{filtered:?}"
    );
    let seen = backend.seen_audit_queries();
    let last = seen.last().unwrap();
    assert_eq!(last.get("actor").map(String::as_str), Some("alice"));
    assert_eq!(
        last.get("since").map(String::as_str),
        Some("2026-01-02T00:00:00Z")
    );
    assert_eq!(last.get("limit").map(String::as_str), Some("1"));
    assert!(!last.contains_key("action") && !last.contains_key("until"));

    // A duration means that long ago.
    let before = chrono::Utc::now();
    let recent = op.run(&["audit", "--since", "24h"]).await;
    assert_eq!(
        (recent.code, recent.stdout.as_str()),
        (0, "no audit entries match\n")
    );
    let since: chrono::DateTime<chrono::Utc> =
        backend.seen_audit_queries().last().unwrap()["since"]
            .parse()
            .unwrap();
    let ago = before - since;
    assert!(
        ago >= chrono::TimeDelta::hours(24) - chrono::TimeDelta::seconds(1)
            && ago <= chrono::TimeDelta::hours(24) + chrono::TimeDelta::seconds(5),
        "{ago:?}"
    );

    let json = op.run(&["--json", "audit", "--action", "exec"]).await;
    let page: kanade_protocol::api::Page<kanade_protocol::api::AuditEntry> =
        serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(page.total, 1);
    assert_eq!(page.items[0].payload["exec_id"], "exec-1");

    let bad = op.run(&["audit", "--since", "last tuesday"]).await;
    assert_eq!(
        (bad.code, bad.stderr.as_str()),
        (
            2,
            "error: --since: `last tuesday` is neither an RFC 3339 time (2026-01-31T18:00:00Z) nor a duration (24h)\n"
        )
    );
}

#[tokio::test]
async fn mfa_is_enabled_with_a_code_and_disabled_again() {
    let backend = FakeBackend::start(None, 10).await;
    let op = Operator::new(&backend);
    op.login("admin", ADMIN_PASSWORD).await;

    let wrong = op.run_stdin(&["mfa", "enable"], "999999\n").await;
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(
        wrong.stderr.contains("the code does not match"),
        "{wrong:?}"
    );
    let enabled = op
        .run_stdin(&["mfa", "enable"], &format!("{GOOD_TOTP}\n"))
        .await;
    assert_eq!(enabled.code, 0, "{enabled:?}");
    assert!(
        enabled.stdout.contains("secret:      JBSWY3DPEHPK3PXP\n")
            && enabled
                .stdout
                .contains("otpauth URL: otpauth://totp/kanade:admin?")
            && enabled.stdout.contains(
                "they are not shown again):\n  aaaa-bbbb-cccc-dddd\n  eeee-ffff-gggg-hhhh\n"
            )
            && enabled
                .stdout
                .ends_with("MFA is on: sign-ins now ask for a code from the app\n"),
        "{enabled:?}"
    );
    assert!(op.run(&["whoami"]).await.stdout.contains("mfa    on\n"));

    let no_code = op.run(&["mfa", "disable"]).await;
    assert_eq!(no_code.code, 2, "{no_code:?}");
    let disabled = op.run(&["mfa", "disable", "--code", GOOD_TOTP]).await;
    assert_eq!(
        (disabled.code, disabled.stdout.as_str()),
        (0, "MFA is off\n")
    );
}
