//! The system as an operator uses it: register a job, fire it at machines, read the results.

use std::time::Duration;

use crate::support::{System, all, pcs};

const WHOAMI: &str = "
id: whoami
version: 1
execute:
  shell: sh
  script: |
    echo \"running on $(hostname)\"
    echo warn >&2
    exit 0
  timeout: 20s
";

#[tokio::test]
async fn a_job_runs_on_a_live_agent_and_its_result_reaches_the_api() {
    let system = System::start(&["pc-one"]).await;
    system.api.create_job_yaml(WHOAMI).await.unwrap();
    let fired = system.exec("whoami", pcs(&["pc-one"])).await;
    assert_eq!(fired.target_count, 1);
    let done = system.wait_completed(&fired.exec_id).await;
    assert_eq!(
        (done.execution.success_count, done.execution.failure_count),
        (1, 0)
    );
    assert_eq!(done.results.len(), 1);
    let row = &done.results[0];
    assert_eq!(
        (row.pc_id.as_str(), row.exit_code, row.skipped),
        ("pc-one", Some(0), false)
    );
    let detail = system.api.get_result(&row.result_id).await.unwrap();
    assert!(
        detail.stdout.starts_with("running on "),
        "{:?}",
        detail.stdout
    );
    assert_eq!(detail.stderr, "warn\n");
    let started = detail.summary.started_at.unwrap();
    assert!(detail.summary.finished_at.unwrap() >= started);
}

#[tokio::test]
async fn a_broadcast_reaches_every_agent_once() {
    let system = System::start(&["pc-a", "pc-b", "pc-c"]).await;
    system.api.create_job_yaml(WHOAMI).await.unwrap();
    let fired = system.exec("whoami", all()).await;
    assert_eq!(fired.target_count, 3);
    let done = system.wait_completed(&fired.exec_id).await;
    assert_eq!(done.execution.success_count, 3);
    let mut machines: Vec<&str> = done.results.iter().map(|r| r.pc_id.as_str()).collect();
    machines.sort();
    assert_eq!(machines, ["pc-a", "pc-b", "pc-c"]);
    // Nothing more arrives later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        system
            .api
            .get_execution(&fired.exec_id)
            .await
            .unwrap()
            .results
            .len(),
        3
    );
}

#[tokio::test]
async fn failing_machines_are_counted_as_failures() {
    let system = System::start(&["pc-x", "pc-y"]).await;
    let job = "id: fails\nversion: 1\nexecute:\n  shell: sh\n  script: echo about to fail; exit 7\n  timeout: 10s\n";
    system.api.create_job_yaml(job).await.unwrap();
    let fired = system.exec("fails", pcs(&["pc-x", "pc-y"])).await;
    let done = system.wait_completed(&fired.exec_id).await;
    assert_eq!(
        (done.execution.success_count, done.execution.failure_count),
        (0, 2)
    );
    assert!(done.results.iter().all(|r| r.exit_code == Some(7)));
}

#[tokio::test]
async fn an_offline_agent_catches_up_with_the_newest_command_only() {
    let mut system = System::start(&["pc-late"]).await;
    system.api.create_job_yaml(WHOAMI).await.unwrap();
    system.stop_agent("pc-late").await;
    let first = system.exec("whoami", pcs(&["pc-late"])).await;
    let second = system.exec("whoami", pcs(&["pc-late"])).await;
    system.start_agent("pc-late").await;
    let done = system.wait_completed(&second.exec_id).await;
    assert_eq!(done.execution.success_count, 1);
    tokio::time::sleep(Duration::from_secs(2)).await;
    let skipped = system.api.get_execution(&first.exec_id).await.unwrap();
    assert!(
        skipped.results.is_empty(),
        "the older command was superseded while the machine was away"
    );
    assert_eq!(skipped.execution.status, "pending");
    let again = system.api.get_execution(&second.exec_id).await.unwrap();
    assert_eq!(
        again.results.len(),
        1,
        "the newest command ran exactly once"
    );
}
