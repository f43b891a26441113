//! The HTTP client and the backend-facing commands against the loopback API peer.

use kanade_cli::client::{ApiClient, ResultQuery};

use crate::backend::FakeBackend;
use crate::support::kanade;

const HELLO: &str = "# says hello\nid: hello\nversion: 1\nexecute:\n  shell: sh\n  script: hostname\n  timeout: 30s\n";

#[tokio::test]
async fn the_client_sends_the_token_and_reports_server_errors() {
    let backend = FakeBackend::start(Some("s3cret"), 10).await;
    let client = ApiClient::new(&backend.url, Some("s3cret".into())).unwrap();

    assert_eq!(client.health().await.unwrap().status, "ok");
    let created = client.create_job_yaml(HELLO).await.unwrap();
    assert_eq!(created.yaml.as_deref(), Some(HELLO));
    assert_eq!(client.list_jobs().await.unwrap()[0].id, "hello");

    let refused = client
        .create_job_yaml(&HELLO.replace("30s", "0s"))
        .await
        .unwrap_err();
    assert_eq!(refused.status().map(|s| s.as_u16()), Some(422));
    assert!(refused.is_bad_input());
    assert!(
        refused
            .to_string()
            .starts_with("execute.timeout: must be between"),
        "{refused}"
    );

    let missing = client.get_job("nope").await.unwrap_err();
    assert_eq!(missing.status().map(|s| s.as_u16()), Some(404));
    assert_eq!(missing.server_message(), Some("job `nope` not found"));
    assert!(!missing.is_bad_input());

    let anonymous = ApiClient::new(&backend.url, None).unwrap();
    let err = anonymous.list_jobs().await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "not signed in (or the session expired): run `kanade login`"
    );
}

#[tokio::test]
async fn result_queries_leave_unset_filters_out() {
    let backend = FakeBackend::start(None, 10).await;
    let client = ApiClient::new(&backend.url, None).unwrap();
    let query = ResultQuery {
        exec_id: Some("e 1&x".into()),
        limit: Some(5),
        ..ResultQuery::default()
    };
    client.list_results(&query).await.unwrap();
    let seen = backend.seen_queries();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].get("exec_id").map(String::as_str), Some("e 1&x"));
    assert_eq!(seen[0].get("limit").map(String::as_str), Some("5"));
    assert!(!seen[0].contains_key("pc_id"));
}

#[tokio::test]
async fn a_401_tells_the_operator_to_sign_in() {
    let backend = FakeBackend::start(Some("s3cret"), 10).await;
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().to_str().unwrap();
    let out = kanade(&[
        "--backend-url",
        &backend.url,
        "--config-dir",
        folder,
        "job",
        "list",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(
        out.stderr,
        "error: not signed in (or the session expired): run `kanade login`\n"
    );
}

#[tokio::test]
async fn job_commands_round_trip() {
    let backend = FakeBackend::start(None, 10).await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("hello.yaml");
    std::fs::write(&file, HELLO).unwrap();
    let url = backend.url.as_str();

    let created = kanade(&[
        "--backend-url",
        url,
        "job",
        "create",
        file.to_str().unwrap(),
    ])
    .await;
    assert_eq!(
        (created.code, created.stdout.as_str()),
        (0, "registered job hello (version 1)\n")
    );
    let list = kanade(&["--backend-url", url, "job", "list"]).await;
    assert_eq!(
        list.stdout,
        "ID     VERSION  SHELL  TIMEOUT  TAGS  DESCRIPTION\nhello  1        sh     30s\n"
    );
    let got = kanade(&["--backend-url", url, "job", "get", "hello"]).await;
    assert_eq!(got.stdout, HELLO);
    let json = kanade(&["--backend-url", url, "--json", "job", "get", "hello"]).await;
    let manifest: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(manifest["execute"]["timeout"], "30s");
    let deleted = kanade(&["--backend-url", url, "job", "delete", "hello"]).await;
    assert_eq!(deleted.code, 0);
    let gone = kanade(&["--backend-url", url, "job", "get", "hello"]).await;
    assert_eq!(gone.code, 1);
    assert_eq!(
        gone.stderr,
        "error: job `hello` not found (HTTP 404); `kanade job list` lists the jobs\n"
    );

    std::fs::write(&file, HELLO.replace("shell: sh", "shell: fish")).unwrap();
    let bad = kanade(&[
        "--backend-url",
        url,
        "job",
        "create",
        file.to_str().unwrap(),
    ])
    .await;
    assert_eq!(bad.code, 2, "{bad:?}");
    assert!(
        bad.stderr.contains("execute.shell: unknown variant `fish`"),
        "{}",
        bad.stderr
    );
}

#[tokio::test]
async fn exec_wait_succeeds_when_every_machine_exits_0() {
    let backend = FakeBackend::start(None, 50).await;
    let out = kanade(&[
        "--backend-url",
        &backend.url,
        "exec",
        "hello",
        "--pcs",
        "a,b",
        "--wait",
    ])
    .await;
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "exec-1");
    assert_eq!(lines[1], "hello v1 on 2 machine(s)");
    assert_eq!(
        lines[2].split_whitespace().collect::<Vec<_>>(),
        ["PC", "EXIT", "DURATION", "OUTCOME", "OUTPUT", "RESULT"]
    );
    assert_eq!(
        lines[3].split_whitespace().collect::<Vec<_>>(),
        ["a", "0", "1.5s", "ok", "hello", "from", "a", "exec-1.a"]
    );
    assert_eq!(lines[5], "hello v1: 2 ok, of 2 (completed)");
}

#[tokio::test]
async fn exec_wait_fails_on_a_failed_or_silent_machine() {
    let backend = FakeBackend::start(None, 4).await;
    let out = kanade(&[
        "--backend-url",
        &backend.url,
        "exec",
        "hello",
        "--pcs",
        "a,bad,ghost",
        "--wait",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stdout.contains("stderr: disk full"), "{}", out.stdout);
    let ghost = out.stdout.lines().find(|l| l.starts_with("ghost")).unwrap();
    assert!(ghost.contains("(no result)"), "{ghost}");
    assert!(
        out.stdout
            .contains("1 ok, 1 failed, 1 not reported, of 3 (expired)"),
        "{}",
        out.stdout
    );
}

#[tokio::test]
async fn exec_wait_gives_up_at_the_timeout() {
    let backend = FakeBackend::start(None, 1000).await;
    let out = kanade(&[
        "--backend-url",
        &backend.url,
        "exec",
        "hello",
        "--pcs",
        "ghost",
        "--wait",
        "--wait-timeout",
        "1s",
    ])
    .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("gave up waiting after 1s; follow up with `kanade results exec-1`"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn exec_refuses_bad_input_before_calling_the_backend() {
    let url = format!("http://127.0.0.1:{}", kanade_testkit::free_port());
    let cases = [
        (
            vec!["exec", "hello", "--pcs", "a.b.c.d.e"],
            "--pcs: `a.b.c.d.e` is not a valid name",
        ),
        (
            vec!["exec", "hello", "--all", "--deadline", "soon"],
            "--deadline: `soon` is neither",
        ),
        (
            vec![
                "exec",
                "hello",
                "--all",
                "--deadline",
                "2001-01-01T00:00:00Z",
            ],
            "deadline_at: is already in the past",
        ),
        (
            vec!["exec", "no/such", "--all"],
            "`no/such` is not a valid job id",
        ),
    ];
    for (args, want) in cases {
        let mut argv = vec!["--backend-url", url.as_str()];
        argv.extend(args);
        let out = kanade(&argv).await;
        assert_eq!(out.code, 2, "{out:?}");
        assert!(
            out.stderr.starts_with(&format!("error: {want}")),
            "{}",
            out.stderr
        );
    }
}

#[tokio::test]
async fn results_show_a_table_or_one_machine_output() {
    let backend = FakeBackend::start(None, 50).await;
    let url = backend.url.as_str();
    let started = kanade(&["--backend-url", url, "exec", "hello", "--pcs", "b,a"]).await;
    assert_eq!(started.stdout, "exec-1\n");

    let table = kanade(&["--backend-url", url, "results", "exec-1"]).await;
    let pcs: Vec<&str> = table
        .stdout
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(pcs, ["a", "b"]);

    let one = kanade(&["--backend-url", url, "results", "exec-1", "--pc", "b"]).await;
    assert_eq!(one.stdout, "\nhello from b\nmore\n");
    assert!(
        one.stderr.starts_with("-- b hello v1: exit 0, 1.5s"),
        "{}",
        one.stderr
    );

    let direct = kanade(&["--backend-url", url, "result", "exec-1.a"]).await;
    assert_eq!(direct.stdout, "\nhello from a\nmore\n");

    let none = kanade(&["--backend-url", url, "results", "exec-1", "--pc", "zz"]).await;
    assert_eq!(none.code, 1);
    assert_eq!(
        none.stderr,
        "error: no result from zz in execution exec-1\n"
    );
}

#[tokio::test]
async fn an_unreachable_backend_is_a_failure() {
    let url = format!("http://127.0.0.1:{}", kanade_testkit::free_port());
    let out = kanade(&["--backend-url", &url, "job", "list"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("error: cannot reach the backend (GET "),
        "{}",
        out.stderr
    );
}
