//! Running commands: results carry output, exit codes and timing; broadcasts reach every
//! agent; groups; duplicates and bad input.

use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::AgentGroups;

use crate::support::{Agent, Broker, command, pc_id};

#[tokio::test]
async fn a_command_runs_and_reports_output_exit_code_and_timing() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("run");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let mut cmd = command("echo hello; echo oops >&2; sleep 0.2");
    // Break-glass ids are not KV-safe: they must read as "no pin, not revoked".
    cmd.id = format!("run:{}", cmd.request_id);
    let before = chrono::Utc::now();
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.exit_code, 0);
    assert_eq!(result.stdout, "hello\n");
    assert_eq!(result.stderr, "oops\n");
    assert!(!result.skipped);
    assert_eq!(result.pc_id, pc);
    assert_eq!(result.job_id, cmd.id);
    assert_eq!(result.exec_id, cmd.exec_id);
    assert_eq!(result.version, "1");
    assert!(result.started_at >= before - chrono::TimeDelta::seconds(1));
    assert!(result.finished_at - result.started_at >= chrono::TimeDelta::milliseconds(200));
    assert!(uuid::Uuid::parse_str(&result.result_id).is_ok());

    // A run shorter than STARTED_EVENT_AFTER reports only its result …
    let started = broker.started_events(&cmd.exec_id).await;
    assert!(
        started.is_empty(),
        "a 0.2 s run was announced: {started:#?}"
    );
    // … a longer one is announced once, while it runs, with the result's ids.
    let long = command("sleep 1.5; echo done");
    broker.send(&subject::commands_pc(&pc), &long).await;
    let announced = crate::support::eventually(crate::support::WAIT, || async {
        !broker.started_events(&long.exec_id).await.is_empty()
    })
    .await;
    assert!(announced, "a 1.5 s run was never announced");
    assert!(
        broker.results(&long.request_id).await.is_empty(),
        "announced only after it ended"
    );
    let result = broker.wait_result(&long.request_id).await;
    let started = broker.started_events(&long.exec_id).await;
    assert_eq!(started.len(), 1, "{started:#?}");
    assert_eq!(started[0].result_id, result.result_id);
    assert_eq!(started[0].timeout_secs, Some(30));

    let failing = command("echo partial; exit 7");
    broker.send(&subject::commands_pc(&pc), &failing).await;
    let result = broker.wait_result(&failing.request_id).await;
    assert_eq!(result.exit_code, 7);
    assert_eq!(result.stdout, "partial\n");
    assert!(!result.skipped);
    agent.stop().await;
}

#[tokio::test]
async fn a_broadcast_reaches_every_agent_once() {
    let broker = Broker::start().await;
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut agents = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        agents.push(Agent::start(&broker, &pc_id(&format!("bc{i}")), dir.path()).await);
    }
    let cmd = command("echo everyone");
    broker.send(subject::COMMANDS_ALL, &cmd).await;
    let results = broker.wait_results(&cmd.request_id, 3).await;
    assert_eq!(results.len(), 3, "{results:#?}");
    let mut result_ids: Vec<_> = results.iter().map(|r| r.result_id.clone()).collect();
    result_ids.sort();
    result_ids.dedup();
    assert_eq!(result_ids.len(), 3);
    let mut pcs: Vec<_> = results.iter().map(|r| r.pc_id.clone()).collect();
    pcs.sort();
    let mut want: Vec<_> = agents.iter().map(|a| a.pc_id.clone()).collect();
    want.sort();
    assert_eq!(pcs, want);
    for agent in agents {
        agent.stop().await;
    }
}

#[tokio::test]
async fn group_members_receive_group_commands() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("grp");
    let groups = AgentGroups {
        groups: vec!["lab".into(), "bad.name".into()],
    };
    broker
        .kv_put(
            names::KV_AGENT_GROUPS,
            &pc,
            &serde_json::to_string(&groups).unwrap(),
        )
        .await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let cmd = command("echo lab member");
    broker.send(&subject::commands_group("lab"), &cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.stdout, "lab member\n");
    agent.stop().await;
}

#[tokio::test]
async fn the_same_command_delivered_twice_runs_once() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("dup");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let cmd = command("echo once");
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    broker.send(subject::COMMANDS_ALL, &cmd).await;
    broker.wait_result(&cmd.request_id).await;
    // A later command on the same path finishing proves the duplicates were processed.
    let after = command("echo after");
    broker.send(&subject::commands_pc(&pc), &after).await;
    broker.wait_result(&after.request_id).await;
    agent.stop().await;

    // After a restart the seen set still knows the request.
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let probe = command("echo probe");
    broker.send(&subject::commands_pc(&pc), &probe).await;
    broker.wait_result(&probe.request_id).await;
    assert_eq!(broker.results(&cmd.request_id).await.len(), 1);
    agent.stop().await;
}

#[tokio::test]
async fn bad_input_is_ignored_and_the_agent_keeps_working() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("bad");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let subject = subject::commands_pc(&pc);
    broker.send_raw(&subject, b"{not json".to_vec()).await;
    broker.send_raw(&subject, b"\xff\xfe".to_vec()).await;
    broker.send_raw(&subject, br#"{"id":"x"}"#.to_vec()).await;
    let mut unroutable = command("echo never");
    unroutable.request_id = "a.b.>".into();
    broker.send(&subject, &unroutable).await;
    let mut wrong_shell = serde_json::to_value(command("echo never")).unwrap();
    wrong_shell["shell"] = "fish".into();
    broker
        .send_raw(&subject, serde_json::to_vec(&wrong_shell).unwrap())
        .await;

    let cmd = command("echo still alive");
    broker.send(&subject, &cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.stdout, "still alive\n");
    agent.stop().await;
}

#[tokio::test]
async fn a_failing_command_is_retried_after_its_backoff_and_reports_the_last_attempt() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("retry");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let counter = dir.path().join("attempts");
    let script = format!(
        "n=$(cat {c} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {c}; echo attempt $n; [ $n -ge 3 ]",
        c = counter.display()
    );

    let mut flaky = command(&script);
    flaky.retry = Some(kanade_protocol::wire::RetrySpec {
        max: 3,
        backoff_secs: 1,
    });
    let sent = std::time::Instant::now();
    broker.send(&subject::commands_pc(&pc), &flaky).await;
    let result = broker.wait_result(&flaky.request_id).await;
    assert_eq!(result.exit_code, 0, "{result:#?}");
    assert_eq!(result.stdout, "attempt 3\n");
    assert!(
        result.stderr.contains("kanade: attempt 3 of 4"),
        "{}",
        result.stderr
    );
    assert!(
        sent.elapsed() >= std::time::Duration::from_secs(2),
        "two backoffs of 1 s"
    );
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "3");
    assert_eq!(
        broker.started_events(&flaky.exec_id).await.len(),
        1,
        "one run, one started event"
    );

    // Always failing: the first attempt plus `max` retries, then the last failure is reported.
    std::fs::remove_file(&counter).unwrap();
    let mut hopeless = command(&format!("{script}; exit 9"));
    hopeless.retry = Some(kanade_protocol::wire::RetrySpec {
        max: 1,
        backoff_secs: 1,
    });
    broker.send(&subject::commands_pc(&pc), &hopeless).await;
    let result = broker.wait_result(&hopeless.request_id).await;
    assert_eq!(result.exit_code, 9);
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "2");

    // Without a retry spec a failure is final.
    std::fs::remove_file(&counter).unwrap();
    let once = command(&script);
    broker.send(&subject::commands_pc(&pc), &once).await;
    let result = broker.wait_result(&once.request_id).await;
    assert_eq!(result.exit_code, 1);
    assert_eq!(std::fs::read_to_string(&counter).unwrap().trim(), "1");
    agent.stop().await;
}

/// The original allows a host's FQDN as its machine id (at most four labels): such an agent
/// heartbeats, takes commands on its own pc subject and reports on subjects that name it.
#[tokio::test]
async fn an_agent_with_a_dotted_machine_id_works_like_any_other() {
    use std::time::Duration;
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = format!("web{}.corp.example", crate::support::short_id());
    let mut beats = crate::support::Beats::subscribe(&broker, &pc).await;
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    beats
        .wait_cadence(Duration::ZERO..Duration::from_secs(30), 1)
        .await;

    let cmd = command("echo from an fqdn");
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    // Its result goes out on `results.<its id, one token per label>.<request>`.
    let on_its_subject = subject::results_of(&pc, &cmd.request_id);
    let mut results = Vec::new();
    let arrived = crate::support::eventually(Duration::from_secs(20), || {
        let (broker, on_its_subject) = (&broker, &on_its_subject);
        async move {
            let found: Vec<kanade_protocol::wire::ExecResult> =
                crate::support::read_stream(&broker.js, names::STREAM_RESULTS, on_its_subject)
                    .await;
            !found.is_empty()
        }
    })
    .await;
    assert!(arrived, "no result on {on_its_subject}");
    results.extend(
        crate::support::read_stream::<kanade_protocol::wire::ExecResult>(
            &broker.js,
            names::STREAM_RESULTS,
            &on_its_subject,
        )
        .await,
    );
    assert_eq!(results.len(), 1, "{results:#?}");
    assert_eq!(
        (results[0].exit_code, results[0].stdout.as_str()),
        (0, "from an fqdn\n")
    );
    assert_eq!(results[0].pc_id, pc);
    agent.stop().await;
}
