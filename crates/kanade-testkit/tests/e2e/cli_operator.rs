//! The `kanade` command line against the real system on what only a real backend can show:
//! `schedule list` with a schedule that fired and one that is disabled, the frozen-fleet
//! warning before an exec (and its absence once the freeze is lifted), and MFA recovery codes
//! that sign in once each.

use std::io::{BufRead, Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use kanade_protocol::duration::HumanDuration;

use crate::support::{ADMIN_PASSWORD, System, wait_for};

/// `kanade ARGS` against `system` (its session, if any, in `config_dir`), with `stdin`.
async fn kanade_in(
    system: &System,
    config_dir: Option<&std::path::Path>,
    args: &[&str],
    stdin: &mut (dyn BufRead + Send),
) -> (i32, String, String) {
    let mut argv = vec![
        "kanade".to_owned(),
        "--backend-url".to_owned(),
        system.base.clone(),
    ];
    if let Some(dir) = config_dir {
        argv.extend(["--config-dir".to_owned(), dir.display().to_string()]);
    }
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io_stdin(argv, stdin, &mut out, &mut err).await;
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

async fn kanade(system: &System, args: &[&str]) -> (i32, String, String) {
    kanade_in(system, None, args, &mut std::io::empty()).await
}

async fn create_hello_job(system: &System) {
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("hello.yaml");
    std::fs::write(
        &job,
        "id: hello\nversion: 1\nexecute:\n  shell: sh\n  script: echo hello\n  timeout: 10s\n",
    )
    .unwrap();
    let (code, out, err) = kanade(system, &["job", "create", job.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
}

#[tokio::test]
async fn schedule_list_shows_enabled_last_and_next_fire_per_schedule() {
    let system = System::start_with(&["pc-sch"], |c| {
        c.secrets.auth_disable = true;
        // A fresh backend takes the scheduler lease at once; a short one makes sure of it.
        c.scheduler.lease_ttl = HumanDuration::from_secs(2);
    })
    .await;
    create_hello_job(&system).await;
    let dir = tempfile::tempdir().unwrap();
    let files = [
        (
            "tick",
            "id: tick\njob_id: hello\nwhen: {cron: '* * * * * *'}\ntarget: {pcs: [pc-sch]}\n",
        ),
        (
            "idle",
            "id: idle\njob_id: hello\nwhen: {cron: '0 3 * * *'}\ntarget: {pcs: [pc-sch]}\n",
        ),
    ];
    for (id, text) in files {
        let path = dir.path().join(format!("{id}.yaml"));
        std::fs::write(&path, text).unwrap();
        let (code, out, err) =
            kanade(&system, &["schedule", "create", path.to_str().unwrap()]).await;
        assert_eq!(code, 0, "{out}{err}");
    }
    let (code, out, err) = kanade(&system, &["schedule", "disable", "idle"]).await;
    assert_eq!(
        (code, out.as_str()),
        (0, "schedule idle disabled; next fire -\n"),
        "{err}"
    );
    let api = &system.api;
    wait_for("tick fired", Duration::from_secs(15), || async move {
        api.list_schedules()
            .await
            .unwrap()
            .iter()
            .any(|s| s.id == "tick" && s.last_fire.is_some())
    })
    .await;

    let (code, out, err) = kanade(&system, &["schedule", "list"]).await;
    assert_eq!(code, 0, "{err}");
    let mut lines = out.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID", "JOB", "ENABLED", "WHEN", "LAST", "FIRE", "NEXT", "FIRE"
        ],
        "{out}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let row = |id: &str| {
        rows.iter()
            .find(|r| r.first() == Some(&id))
            .unwrap_or_else(|| panic!("no row {id}: {out}"))
            .clone()
    };
    // The `when` cell is several words: the columns around it are read from both ends.
    let tick = row("tick");
    assert_eq!(tick[..4], ["tick", "hello", "yes", "cron"], "{out}");
    let at = |cell: &str| -> DateTime<Utc> {
        cell.parse()
            .unwrap_or_else(|e| panic!("`{cell}` is not a time ({e}): {out}"))
    };
    let last = at(tick[tick.len() - 2]);
    let next = at(tick[tick.len() - 1]);
    let now = Utc::now();
    assert!(
        last <= now && now - last < chrono::TimeDelta::seconds(30),
        "{out}"
    );
    assert!(next > last, "{out}");
    let idle = row("idle");
    assert_eq!(idle[..3], ["idle", "hello", "no"], "{out}");
    assert_eq!(idle[idle.len() - 2..], ["never", "-"], "{out}");
    assert_eq!(rows.len(), 2, "{out}");
}

#[tokio::test]
async fn exec_while_frozen_warns_before_sending_and_not_once_lifted() {
    let system = System::start_without_auth(&["pc-fz"]).await;
    create_hello_job(&system).await;
    let (code, out, err) = kanade(&system, &["freeze", "on", "--reason", "patch tuesday"]).await;
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = kanade(&system, &["exec", "hello", "--pcs", "pc-fz", "--wait"]).await;
    assert_eq!(code, 0, "a manual run goes out while frozen: {out}{err}");
    let warning = "warning: the fleet is frozen (reason: patch tuesday; until lifted): scheduled fires and rollout waves are held; this manual run goes out now";
    assert_eq!(err.lines().next(), Some(warning), "{err}");
    // The backend's answer carries the same warning: said once, not again after sending.
    assert_eq!(err.matches("frozen").count(), 1, "{err}");
    assert!(out.contains("pc-fz") && out.contains("hello"), "{out}");

    let (code, out, err) = kanade(&system, &["freeze", "off"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = kanade(&system, &["exec", "hello", "--pcs", "pc-fz", "--wait"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(!err.contains("frozen"), "{err}");
}

/// What `kanade` writes to stdout, shared with `AppCode` (which reads the secret from it).
#[derive(Clone, Default)]
struct SharedOut(Arc<Mutex<Vec<u8>>>);

impl Write for SharedOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Stdin for `kanade mfa enable`: what an authenticator app shows for the secret the command
/// printed just before asking, as a person would type it.
struct AppCode {
    out: SharedOut,
    line: Option<std::io::Cursor<Vec<u8>>>,
}

impl AppCode {
    fn line(&mut self) -> &mut std::io::Cursor<Vec<u8>> {
        let out = &self.out;
        self.line.get_or_insert_with(|| {
            let printed = String::from_utf8_lossy(&out.0.lock().unwrap()).into_owned();
            let secret = printed
                .lines()
                .find_map(|l| l.trim().strip_prefix("secret:"))
                .unwrap_or_else(|| panic!("no secret printed: {printed}"))
                .trim()
                .to_owned();
            let code = kanade_backend::auth::totp::current(&secret, "admin").unwrap();
            std::io::Cursor::new(format!("{code}\n").into_bytes())
        })
    }
}

impl Read for AppCode {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.line().read(buf)
    }
}

impl BufRead for AppCode {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        self.line().fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        self.line().consume(amount)
    }
}

#[tokio::test]
async fn mfa_enable_prints_ten_recovery_codes_that_each_sign_in_once() {
    let system = System::start(&[]).await;
    let session = tempfile::tempdir().unwrap();
    let password = || std::io::Cursor::new(format!("{ADMIN_PASSWORD}\n").into_bytes());
    let login = ["login", "--username", "admin", "--password-stdin"];
    let (code, out, err) = kanade_in(&system, Some(session.path()), &login, &mut password()).await;
    assert_eq!(code, 0, "{out}{err}");

    let out = SharedOut::default();
    let mut stdin = AppCode {
        out: out.clone(),
        line: None,
    };
    let argv = [
        "kanade",
        "--backend-url",
        &system.base,
        "--config-dir",
        session.path().to_str().unwrap(),
        "mfa",
        "enable",
    ]
    .map(str::to_owned);
    let (mut printed, mut err) = (out.clone(), Vec::new());
    let code = kanade_cli::main_with_io_stdin(argv, &mut stdin, &mut printed, &mut err).await;
    let printed = String::from_utf8_lossy(&out.0.lock().unwrap()).into_owned();
    let err = String::from_utf8_lossy(&err).into_owned();
    assert_eq!(code, 0, "{printed}{err}");
    let codes: Vec<String> = printed
        .lines()
        .skip_while(|l| !l.starts_with("Recovery codes"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.trim().to_owned())
        .collect();
    assert_eq!(codes.len(), 10, "{printed}");
    let shaped = |c: &String| {
        c.len() == 19 && c.split('-').count() == 4 && c.split('-').all(|part| part.len() == 4)
    };
    assert!(codes.iter().all(shaped), "{codes:?}");
    let distinct: std::collections::HashSet<&String> = codes.iter().collect();
    assert_eq!(distinct.len(), 10, "{codes:?}");
    assert_eq!(printed.matches("Recovery codes").count(), 1, "{printed}");
    assert!(
        printed.ends_with("MFA is on: sign-ins now ask for a code from the app\n"),
        "{printed}"
    );

    // Another machine: the password alone no longer signs in.
    let elsewhere = tempfile::tempdir().unwrap();
    let (code, _, err) = kanade_in(&system, Some(elsewhere.path()), &login, &mut password()).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("pass --totp CODE"), "{err}");

    let with = |code: &str| {
        let mut args = login.to_vec();
        args.extend(["--totp", code]);
        args.into_iter().map(str::to_owned).collect::<Vec<_>>()
    };
    let run = async |code: &str| {
        let args = with(code);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        kanade_in(&system, Some(elsewhere.path()), &args, &mut password()).await
    };
    let (code, out, err) = run(&codes[0]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.starts_with("signed in as admin"), "{out}");
    let (code, out, err) = kanade_in(
        &system,
        Some(elsewhere.path()),
        &["whoami"],
        &mut std::io::empty(),
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("admin"), "{out}");

    let (code, out, err) = run(&codes[0]).await;
    assert_eq!(code, 1, "a spent recovery code is refused: {out}{err}");
    assert!(
        err.ends_with(": the authenticator code is wrong or expired (HTTP 401)\n"),
        "{err}"
    );
    // Only that one is spent.
    let (code, out, err) = run(&codes[1]).await;
    assert_eq!(code, 0, "{out}{err}");
}
