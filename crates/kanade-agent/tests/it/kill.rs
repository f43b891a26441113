//! Stopping scripts: a timeout or `kill.<exec_id>` kills the whole process tree, not only the
//! shell, and the result says why.

use std::time::Duration;

use kanade_protocol::subject;

use crate::support::{Agent, Broker, WAIT, command, eventually, pc_id};

/// Live (non-zombie) processes whose process group is `pgid`.
fn group_members(pgid: u32) -> Vec<u32> {
    let mut members = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return members;
    };
    for entry in entries.flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid pgrp ..."; comm may contain spaces, so split after ')'.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        if fields.len() > 2 && fields[0] != "Z" && fields[2] == pgid.to_string() {
            members.push(pid);
        }
    }
    members
}

fn first_line_pid(stdout: &str) -> u32 {
    stdout
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("script printed its pid first: {stdout:?}"))
}

#[tokio::test]
async fn a_timeout_kills_the_whole_process_tree() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("tmo");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let mut cmd = command("echo $$; sleep 1000 & sleep 1000");
    cmd.timeout_secs = 2;
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.exit_code, -1, "{result:#?}");
    assert!(!result.skipped);
    assert!(
        result
            .stderr
            .ends_with("kanade: timed out after 2s; process tree killed\n"),
        "{:?}",
        result.stderr
    );
    let elapsed = result.finished_at - result.started_at;
    assert!(elapsed >= chrono::TimeDelta::seconds(2), "{elapsed}");
    assert!(elapsed < chrono::TimeDelta::seconds(10), "{elapsed}");

    // The shell was started as its own group leader, so its pid is the group id.
    let pgid = first_line_pid(&result.stdout);
    let gone = eventually(WAIT, || async { group_members(pgid).is_empty() }).await;
    assert!(gone, "left behind: {:?}", group_members(pgid));
    agent.stop().await;
}

#[tokio::test]
async fn an_operator_kill_stops_a_running_script_quickly() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("kill");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let mut cmd = command("echo $$; sleep 999 & sleep 999");
    cmd.timeout_secs = 600;
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let started = eventually(WAIT, || async {
        !broker.started_events(&cmd.exec_id).await.is_empty()
    })
    .await;
    assert!(started, "no started event");

    let killed_at = chrono::Utc::now();
    broker
        .client
        .publish(subject::kill(&cmd.exec_id), "".into())
        .await
        .unwrap();
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.exit_code, -1);
    assert!(
        result.stderr.ends_with("kanade: killed by operator\n"),
        "{:?}",
        result.stderr
    );
    let reaction = result.finished_at - killed_at;
    assert!(
        reaction < chrono::TimeDelta::seconds(2),
        "took {reaction} to stop"
    );
    let pgid = first_line_pid(&result.stdout);
    let gone = eventually(Duration::from_secs(10), || async {
        group_members(pgid).is_empty()
    })
    .await;
    assert!(gone, "left behind: {:?}", group_members(pgid));
    agent.stop().await;
}

#[tokio::test]
async fn a_clean_shutdown_kills_running_jobs_and_still_reports_them() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("shut");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let mut cmd = command("echo $$; sleep 1000");
    cmd.timeout_secs = 600;
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let started = eventually(WAIT, || async {
        !broker.started_events(&cmd.exec_id).await.is_empty()
    })
    .await;
    assert!(started, "no started event");
    agent.stop().await;

    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.exit_code, -1);
    assert!(
        result
            .stderr
            .ends_with("kanade: the agent is shutting down; process tree killed\n"),
        "{:?}",
        result.stderr
    );
    let pgid = first_line_pid(&result.stdout);
    let gone = eventually(Duration::from_secs(10), || async {
        group_members(pgid).is_empty()
    })
    .await;
    assert!(gone, "left behind: {:?}", group_members(pgid));
}

#[tokio::test]
async fn dropping_the_agent_leaves_no_process_behind() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("drop");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let pid_file = dir.path().join("script.pid");
    let mut cmd = command(&format!(
        "echo $$ > {}; sleep 1000 & sleep 1000",
        pid_file.display()
    ));
    cmd.timeout_secs = 600;
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let written = eventually(WAIT, || async {
        std::fs::read_to_string(&pid_file).is_ok_and(|s| s.ends_with('\n'))
    })
    .await;
    assert!(written, "script never started");
    let pgid: u32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(
        eventually(WAIT, || async { group_members(pgid).len() >= 2 }).await,
        "the background sleep never started"
    );
    drop(agent);
    let gone = eventually(WAIT, || async { group_members(pgid).is_empty() }).await;
    assert!(gone, "left behind: {:?}", group_members(pgid));
}
