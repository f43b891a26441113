//! Statuses that tell the truth, through the `kanade` command against the real system: a
//! script that runs out of time says "timed out after 2s" (not a plain failure), the lists
//! count by outcome and name the target, empty tables say "none", and help lists the global
//! options once under their own heading.

use crate::support::System;

async fn kanade(system: &System, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec![
        "kanade".to_owned(),
        "--backend-url".to_owned(),
        system.base.clone(),
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
async fn a_timeout_is_named_and_counted_in_exec_executions_and_execution() {
    let system = System::start_without_auth(&["pc-st"]).await;
    let (code, out, err) = kanade(&system, &["schedule", "list"]).await;
    assert_eq!((code, out.as_str()), (0, "none\n"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    let job = dir.path().join("slow.yaml");
    std::fs::write(
        &job,
        "id: slow\nversion: 1\nexecute:\n  shell: sh\n  script: sleep 30\n  timeout: 2s\n",
    )
    .unwrap();
    let (code, out, err) = kanade(&system, &["job", "create", job.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = kanade(&system, &["exec", "slow", "--pcs", "pc-st", "--wait"]).await;
    assert_eq!(code, 1, "a timeout is a failure of the run: {out}{err}");
    assert!(out.contains("timed out after 2s"), "{out}");
    assert!(
        out.contains("slow v1: 1 timed out, of 1 (completed)"),
        "{out}"
    );
    let exec_id = out.lines().next().unwrap().to_owned();

    let (code, out, err) = kanade(&system, &["executions", "--job", "slow"]).await;
    assert_eq!(code, 0, "{err}");
    let header: Vec<&str> = out.lines().next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "EXEC", "ID", "JOB", "VERSION", "TARGET", "BY", "STARTED", "STATUS", "OUTCOME"
        ]
    );
    let row = out.lines().nth(1).unwrap();
    assert!(
        row.starts_with(&exec_id) && row.contains("pc-st") && row.ends_with("1 timed out"),
        "{out}"
    );

    let (code, out, err) = kanade(&system, &["execution", &exec_id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("sent to pc-st"), "{out}");
    assert!(out.contains("timed out after 2s"), "{out}");
}

#[tokio::test]
async fn help_lists_the_global_options_once_after_the_commands_own() {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let argv = ["kanade", "executions", "--help"]
        .map(str::to_owned)
        .to_vec();
    kanade_cli::main_with_io(argv, &mut out, &mut err).await;
    let help = format!(
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    let own = help.find("--job").expect(&help);
    let heading = help.find("Global options").expect(&help);
    let global = help.find("--backend-url").expect(&help);
    assert!(own < heading && heading < global, "{help}");
    assert_eq!(help.matches("--nats-ca").count(), 1, "{help}");
    assert!(
        help.contains("Usage: kanade executions [OPTIONS]\n"),
        "{help}"
    );
}
