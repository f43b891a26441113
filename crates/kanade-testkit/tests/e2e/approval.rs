//! The two-person rule end to end: a job with `require_approval: true`, requested by one
//! operator, reaches a real agent only after a second operator approves it; the requester's
//! own approval is refused and nothing runs meanwhile.

use std::time::Duration;

use kanade_cli::client::ApiClient;
use kanade_protocol::api::{ChangePasswordRequest, ExecRequest, LoginRequest, NewAccount, Role};
use kanade_protocol::approval::ApprovalState;

use crate::support::{System, pcs};

const GUARDED: &str = "
id: guarded
version: 1
execute:
  shell: sh
  script: echo approved-run
  timeout: 30s
require_approval: true
";

/// An operator account, signed in with its changed password.
async fn operator(system: &System, name: &str) -> ApiClient {
    let first = format!("{name}-first-password-1");
    system
        .api
        .create_account(&NewAccount {
            username: name.into(),
            password: first.clone(),
            role: Role::Operator,
            email: None,
        })
        .await
        .unwrap();
    let login = |password: String| LoginRequest {
        username: name.into(),
        password,
        totp: None,
    };
    let token = system.api.login(&login(first.clone())).await.unwrap().token;
    let second = format!("{name}-second-password-1");
    ApiClient::new(&system.base, Some(token))
        .unwrap()
        .change_password(&ChangePasswordRequest {
            current_password: first,
            new_password: second.clone(),
        })
        .await
        .unwrap();
    let token = system.api.login(&login(second)).await.unwrap().token;
    ApiClient::new(&system.base, Some(token)).unwrap()
}

#[tokio::test]
async fn a_second_operator_s_approval_makes_the_agent_run_it() {
    let system = System::start(&["pc-appr"]).await;
    system.api.create_job_yaml(GUARDED).await.unwrap();
    let olga = operator(&system, "olga").await;
    let req = ExecRequest {
        target: pcs(&["pc-appr"]),
        ..ExecRequest::default()
    };
    let asked = olga.exec("guarded", &req).await.unwrap();
    assert_eq!(asked.status, "awaiting_approval");

    let own = olga.decide(&asked.exec_id, true, None).await.unwrap_err();
    assert_eq!(own.status(), Some(reqwest::StatusCode::FORBIDDEN), "{own}");
    // Nothing reaches the agent while the request waits.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let waiting = system.api.get_execution(&asked.exec_id).await.unwrap();
    assert_eq!(waiting.execution.status, "awaiting_approval");
    assert!(waiting.results.is_empty(), "the agent ran nothing");

    let approved = system
        .api
        .decide(&asked.exec_id, true, Some("second pair of eyes".into()))
        .await
        .unwrap();
    assert_eq!(approved.state, ApprovalState::Approved);
    let done = system.wait_completed(&asked.exec_id).await;
    assert_eq!(done.execution.success_count, 1);
    let result = system
        .api
        .get_result(&done.results[0].result_id)
        .await
        .unwrap();
    assert!(result.stdout.contains("approved-run"), "{}", result.stdout);
    assert_eq!(
        done.approval.map(|a| a.decided_by),
        Some(Some("admin".to_owned()))
    );
}

/// Runs the `kanade` command with the session stored in `dir`.
async fn kanade(system: &System, dir: &str, args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut argv: Vec<String> = ["kanade", "--backend-url", &system.base, "--config-dir", dir]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
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

#[tokio::test]
async fn the_cli_requests_lists_refuses_the_requester_and_rejects() {
    let system = System::start(&["pc-cli-appr"]).await;
    system.api.create_job_yaml(GUARDED).await.unwrap();
    operator(&system, "olga").await;
    let (olga_dir, admin_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (olga, admin) = (
        olga_dir.path().to_str().unwrap(),
        admin_dir.path().to_str().unwrap(),
    );
    let login = ["login", "--password-stdin", "--username"];
    let (code, _, err) = kanade(
        &system,
        olga,
        &[&login[..], &["olga"]].concat(),
        "olga-second-password-1\n",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let password = format!("{}\n", crate::support::ADMIN_PASSWORD);
    let (code, _, err) = kanade(
        &system,
        admin,
        &[&login[..], &["admin"]].concat(),
        &password,
    )
    .await;
    assert_eq!(code, 0, "{err}");

    let (code, out, err) = kanade(
        &system,
        olga,
        &["exec", "guarded", "--pcs", "pc-cli-appr"],
        "",
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let exec_id = out.trim().to_owned();
    assert!(
        err.contains("awaits approval") && err.contains(&format!("kanade approve {exec_id}")),
        "{err}"
    );
    let (code, _, err) = kanade(&system, olga, &["approve", &exec_id], "").await;
    assert_ne!(code, 0, "the requester approved their own request");
    assert!(err.contains("cannot approve"), "{err}");

    let (code, out, err) = kanade(&system, admin, &["--json", "approvals"], "").await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains(&exec_id) && out.contains("olga"), "{out}");
    let (code, out, err) = kanade(
        &system,
        admin,
        &["reject", &exec_id, "--reason", "not now"],
        "",
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("nothing was sent"), "{out}");
    let (code, out, _) = kanade(&system, admin, &["approvals"], "").await;
    assert_eq!(code, 0);
    assert!(out.contains("no approval requests"), "{out}");
    let detail = system.api.get_execution(&exec_id).await.unwrap();
    assert_eq!(detail.execution.status, "rejected");
    assert!(detail.results.is_empty());
}
