//! Unit tests of `process`.

use super::*;

#[test]
fn truncation_never_splits_a_character() {
    let text = "aé漢😀";
    let bytes = text.as_bytes();
    let cases = [
        (1, "a"),
        (2, "a"),
        (3, "aé"),
        (4, "aé"),
        (5, "aé"),
        (6, "aé漢"),
        (9, "aé漢"),
        (10, "aé漢😀"),
    ];
    for (len, want) in cases {
        assert_eq!(truncate_utf8(&bytes[..len]), want, "prefix of {len} bytes");
    }
    assert_eq!(truncate_utf8(b"ok\xff"), "ok\u{fffd}");
    assert_eq!(truncate_utf8(b""), "");
}

#[test]
fn shells_that_cannot_run_here_are_refused_with_a_reason() {
    let sh = invocation(Shell::Sh, "echo hi").unwrap();
    assert_eq!(sh.program, "sh");
    assert_eq!(sh.args, ["-c", "echo hi"]);
    if !cfg!(windows) {
        let err = invocation(Shell::Cmd, "dir").unwrap_err();
        assert!(err.contains("only available on Windows"), "{err}");
    }
    if find_in_path("pwsh").is_none() {
        let err = invocation(Shell::Pwsh, "1").unwrap_err();
        assert_eq!(err, "pwsh is not installed on this machine");
    }
}

fn options(dir: &std::path::Path, timeout: Duration) -> RunOptions {
    RunOptions {
        cwd: None,
        timeout,
        spill_stdout: dir.join("out"),
        spill_stderr: dir.join("err"),
        line_times: false,
        live: None,
        identity: Identity::default(),
    }
}

#[tokio::test]
async fn captures_both_streams_and_the_exit_code() {
    let dir = tempfile::tempdir().unwrap();
    let inv = invocation(Shell::Sh, "echo out; echo err >&2; exit 3").unwrap();
    let outcome = run(
        &inv,
        &options(dir.path(), Duration::from_secs(20)),
        std::future::pending(),
    )
    .await;
    assert_eq!(outcome.exit_code, 3);
    assert_eq!(outcome.stdout.text, "out\n");
    assert_eq!(outcome.stderr.text, "err\n");
    assert!(outcome.finished_at >= outcome.started_at);
}

#[tokio::test]
async fn a_missing_cwd_is_a_normal_failure() {
    let dir = tempfile::tempdir().unwrap();
    let inv = invocation(Shell::Sh, "true").unwrap();
    let mut opts = options(dir.path(), Duration::from_secs(20));
    opts.cwd = Some("/definitely/not/here".into());
    let outcome = run(&inv, &opts, std::future::pending()).await;
    assert_eq!(outcome.exit_code, 1);
    assert!(
        outcome
            .stderr
            .text
            .contains("cannot start sh in /definitely/not/here")
    );
}

#[tokio::test]
async fn an_orphan_holding_the_pipe_does_not_hold_the_result() {
    let dir = tempfile::tempdir().unwrap();
    // The background sleep inherits stdout and outlives the script.
    let inv = invocation(Shell::Sh, "sleep 5 & echo done").unwrap();
    let begun = std::time::Instant::now();
    let outcome = run(
        &inv,
        &options(dir.path(), Duration::from_secs(60)),
        std::future::pending(),
    )
    .await;
    assert_eq!(outcome.exit_code, 0);
    assert_eq!(outcome.stdout.text, "done\n");
    assert!(begun.elapsed() < Duration::from_secs(20));
}

#[tokio::test]
async fn line_times_record_when_each_line_arrived() {
    let dir = tempfile::tempdir().unwrap();
    let inv = invocation(Shell::Sh, "echo a; sleep 0.5; printf 'b\\nc\\n'; printf d").unwrap();
    let mut opts = options(dir.path(), Duration::from_secs(20));
    opts.line_times = true;
    let outcome = run(&inv, &opts, std::future::pending()).await;
    assert_eq!(outcome.stdout.text, "a\nb\nc\nd");
    let times = &outcome.stdout.line_times;
    assert_eq!(times.len(), 3, "{times:?}");
    assert!(times[1] - times[0] >= chrono::TimeDelta::milliseconds(400));
    assert!(times[2] >= times[1]);
    assert!(outcome.stderr.line_times.is_empty());
}
