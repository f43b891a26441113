//! The `kanade` command line against the real system.

use std::time::Duration;

use kanade_protocol::duration::HumanDuration;

use crate::support::{System, wait_for};

async fn kanade(system: &System, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec![
        "kanade".to_owned(),
        "--backend-url".to_owned(),
        system.base.clone(),
        "--nats-url".to_owned(),
        system.nats.url(),
        "--nats-ca".to_owned(),
        system.nats.ca_file().unwrap().display().to_string(),
    ];
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(argv, &mut out, &mut err).await;
    (
        code,
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
    )
}

#[tokio::test]
async fn create_exec_wait_and_results_from_the_cli() {
    // The CLI's sign-in is covered by its own tests; here the backend runs in development mode.
    let system = System::start_without_auth(&["pc-cli"]).await;
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("hello.yaml");
    std::fs::write(&job, "id: hello\nversion: 1\nexecute:\n  shell: sh\n  script: echo hello from kanade\n  timeout: 10s\n").unwrap();
    let (code, out, err) = kanade(&system, &["job", "create", job.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = kanade(&system, &["exec", "hello", "--pcs", "pc-cli", "--wait"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("pc-cli") && out.contains("hello from kanade"),
        "{out}"
    );
}

#[tokio::test]
async fn break_glass_run_works_with_the_backend_down() {
    let mut system = System::start(&["pc-bg"]).await;
    // `kanade keys break-glass`: agents trust a key whose seed the operator keeps.
    let key = kanade_protocol::signing::SigningKey::generate();
    system.api.add_command_key(&key.public_key()).await.unwrap();
    system.kill_backend().await;
    assert!(
        reqwest::get(format!("{}/health", system.base))
            .await
            .is_err(),
        "the backend is down"
    );
    let client = system.nats_client().await;
    let result = kanade_cli::run::break_glass_run(
        &client,
        "pc-bg",
        kanade_protocol::manifest::Shell::Sh,
        "echo break glass; exit 3",
        std::time::Duration::from_secs(20),
        Some(&key),
    )
    .await
    .unwrap();
    assert_eq!(
        (result.exit_code, result.stdout.as_str()),
        (3, "break glass\n")
    );
}

#[tokio::test]
async fn sign_in_then_operate_with_the_stored_session() {
    let system = System::start(&["pc-auth"]).await;
    let config_dir = tempfile::tempdir().unwrap();
    let dir = config_dir.path().to_str().unwrap().to_owned();
    let base = |args: &[&str]| {
        let mut argv = vec![
            "kanade".to_owned(),
            "--backend-url".to_owned(),
            system.base.clone(),
            "--config-dir".to_owned(),
            dir.clone(),
        ];
        argv.extend(args.iter().map(|s| (*s).to_owned()));
        argv
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(base(&["job", "list"]), &mut out, &mut err).await;
    assert_eq!(code, 1, "not signed in yet");
    assert!(
        String::from_utf8_lossy(&err).contains("kanade login"),
        "{}",
        String::from_utf8_lossy(&err)
    );

    let mut stdin =
        std::io::Cursor::new(format!("{}\n", crate::support::ADMIN_PASSWORD).into_bytes());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io_stdin(
        base(&["login", "--username", "admin", "--password-stdin"]),
        &mut stdin,
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(
        code,
        0,
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    assert!(String::from_utf8_lossy(&out).contains("signed in as admin"));

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(base(&["whoami"]), &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert!(String::from_utf8_lossy(&out).contains("admin"));

    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(base(&["logout"]), &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_eq!(
        kanade_cli::main_with_io(base(&["job", "list"]), &mut out, &mut err).await,
        1,
        "signed out"
    );
}

#[tokio::test]
async fn exec_refuses_unknown_targets_and_stops_waiting_for_offline_machines() {
    let mut system = System::start_with(&["pc-up", "pc-gone"], |c| {
        c.secrets.auth_disable = true;
        c.telemetry.offline_after = HumanDuration::from_secs(3);
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("hello.yaml");
    std::fs::write(
        &job,
        "id: hello\nversion: 1\nexecute:\n  shell: sh\n  script: echo hello\n  timeout: 10s\n",
    )
    .unwrap();
    let (code, out, err) = kanade(&system, &["job", "create", job.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = kanade(&system, &["exec", "hello", "--pcs", "pc-up,pc-ghost"]).await;
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        err.contains("`pc-ghost`") && !err.contains("`pc-up`"),
        "{err}"
    );
    let (code, _, err) = kanade(&system, &["exec", "hello", "--groups", "nobody"]).await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("`nobody`"), "{err}");

    // pc-gone is known but silent: accepted, announced offline, and not waited for long.
    system.stop_agent("pc-gone").await;
    wait_for("pc-gone offline", Duration::from_secs(30), || async {
        let (_, out, _) = kanade(&system, &["--json", "agents", "--offline"]).await;
        out.contains("pc-gone")
    })
    .await;
    let (code, out, err) = kanade(
        &system,
        &[
            "exec",
            "hello",
            "--pcs",
            "pc-up,pc-gone",
            "--wait",
            "--grace",
            "1s",
            "--wait-timeout",
            "2m",
        ],
    )
    .await;
    assert_eq!(code, 1, "pc-gone never answered: {out}{err}");
    assert!(
        err.contains(
            "targets 2 machine(s), 1 online, 1 offline: pc-gone (offline), pc-up (online)"
        ),
        "{err}"
    );
    assert!(err.contains("never answered: pc-gone (offline)"), "{err}");
    assert!(
        !err.contains("gave up waiting"),
        "ended by the grace: {err}"
    );
    assert!(out.contains("hello"), "pc-up's output is shown: {out}");
}

#[tokio::test]
async fn run_keeps_each_argument_intact_and_exits_with_the_scripts_code() {
    let system = System::start_without_auth(&["pc-run"]).await;
    let (code, out, err) = kanade(
        &system,
        &["run", "pc-run", "--", "sh", "-c", "echo hi; exit 7"],
    )
    .await;
    assert_eq!((code, out.as_str()), (7, "hi\n"), "{err}");
    let (code, out, err) = kanade(
        &system,
        &["run", "pc-run", "--", "printf", "%s|", "a b", "it's"],
    )
    .await;
    assert_eq!((code, out.as_str()), (0, "a b|it's|"), "{err}");
    // A machine the backend never saw: refused at once, not after a minute of waiting.
    let started = std::time::Instant::now();
    let (code, _, err) = kanade(&system, &["run", "pc-ghost", "--", "true"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("machine pc-ghost was never seen"), "{err}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "it waited"
    );
}

#[tokio::test]
async fn commands_on_ids_that_do_not_exist_say_so_and_exit_1() {
    let system = System::start_without_auth(&["pc-real"]).await;
    let cases: [(&[&str], &str); 5] = [
        (&["revoke", "no-such-job"], "job no-such-job not found"),
        (&["results", "no-such-exec"], "no execution no-such-exec"),
        (
            &["results", "no-such-exec", "--pc", "pc-real"],
            "no execution no-such-exec",
        ),
        (&["config", "effective", "pc-ghost"], "machine pc-ghost"),
        (&["perf", "pc-ghost"], "machine pc-ghost"),
    ];
    for (args, want) in cases {
        let (code, out, err) = kanade(&system, args).await;
        assert_eq!(code, 1, "{args:?}: {out}{err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let (code, out, err) = kanade(&system, &["config", "effective", "pc-real"]).await;
    assert_eq!(
        code, 0,
        "a machine that heartbeats has a config: {out}{err}"
    );
}

#[tokio::test]
async fn executions_list_newest_first_with_filters_and_execution_shows_one() {
    let system = System::start_without_auth(&["pc-list"]).await;
    let dir = tempfile::tempdir().unwrap();
    for (id, script) in [("hello", "echo hello"), ("other", "exit 3")] {
        let job = dir.path().join(format!("{id}.yaml"));
        std::fs::write(
            &job,
            format!(
                "id: {id}\nversion: 1\nexecute:\n  shell: sh\n  script: {script}\n  timeout: 10s\n"
            ),
        )
        .unwrap();
        let (code, out, err) = kanade(&system, &["job", "create", job.to_str().unwrap()]).await;
        assert_eq!(code, 0, "{out}{err}");
    }
    let mut ids = Vec::new();
    for job in ["hello", "other", "hello"] {
        let (code, out, err) = kanade(&system, &["exec", job, "--pcs", "pc-list", "--wait"]).await;
        assert!(code == 0 || job == "other", "{out}{err}");
        ids.push(out.lines().next().unwrap().to_owned());
    }
    let first_col = |out: &str| -> Vec<String> {
        out.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    };
    let (code, out, err) = kanade(&system, &["executions"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        first_col(&out),
        [ids[2].as_str(), &ids[1], &ids[0]],
        "newest first: {out}"
    );
    let (_, out, _) = kanade(&system, &["executions", "--job", "hello", "--since", "1h"]).await;
    assert_eq!(first_col(&out), [ids[2].as_str(), &ids[0]], "{out}");
    let (_, out, _) = kanade(
        &system,
        &["executions", "--job", "other", "--status", "completed"],
    )
    .await;
    assert_eq!(first_col(&out), [ids[1].as_str()], "{out}");
    let (_, out, _) = kanade(&system, &["executions", "--status", "expired"]).await;
    assert_eq!(out, "none\n");
    let (code, _, err) = kanade(&system, &["executions", "--since", "yesterday"]).await;
    assert_eq!(code, 2, "{err}");

    let (code, out, err) = kanade(&system, &["execution", &ids[1]]).await;
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("other v1: 1 failed, of 1 (completed)"),
        "{out}"
    );
    assert!(out.contains("pc-list"), "{out}");
    let (code, _, err) = kanade(&system, &["execution", "no-such-exec"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("not found"), "{err}");

    let (code, _, err) = kanade(&system, &["kill", "no-such-exec"]).await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("execution no-such-exec not found: no kill was sent"),
        "{err}"
    );
    let (code, out, err) = kanade(&system, &["kill", &ids[0]]).await;
    assert_eq!(code, 0, "{out}{err}");
}
