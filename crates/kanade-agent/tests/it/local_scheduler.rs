//! Agent-side schedules (`runs_on: agent`) in the original's shapes: the agent fires them on
//! its own clock while the broker is stopped (results reach the backend once it is back),
//! `startup` fires once per boot (not again after an agent restart), `logon` on a new logind
//! session, and a fleet freeze the agent cached holds fires even when the agent starts again
//! with the broker down.

use std::path::Path;
use std::time::Duration;

use chrono::{DateTime, Utc};
use kanade_protocol::manifest::Manifest;
use kanade_protocol::schedule::Schedule;
use kanade_protocol::wire::{ExecResult, FREEZE_KEY, Freeze};
use kanade_protocol::{names, subject};

use crate::support::{Agent, Broker, WAIT, agent_config, eventually, pc_id, read_stream, short_id};

/// Registers a job and an agent-side schedule of it, both as the original writes them.
pub(crate) async fn register(broker: &Broker, schedule_rest: &str) -> String {
    let job = format!("job-{}", short_id());
    let manifest = Manifest::parse(&format!(
        "id: {job}\nversion: '1'\nexecute:\n  shell: sh\n  timeout: 30s\n  script: echo fired\n"
    ))
    .unwrap();
    broker
        .kv_put(
            names::KV_JOBS,
            &job,
            &serde_json::to_string(&manifest).unwrap(),
        )
        .await;
    let schedule = Schedule::parse(&format!(
        "id: local-{job}\njob_id: {job}\nruns_on: agent\n{schedule_rest}"
    ))
    .unwrap();
    broker
        .kv_put(
            names::KV_SCHEDULES,
            &schedule.id,
            &serde_json::to_string(&schedule).unwrap(),
        )
        .await;
    job
}

pub(crate) async fn results_of(broker: &Broker, pc: &str, job: &str) -> Vec<ExecResult> {
    let all: Vec<ExecResult> = read_stream(
        &broker.js,
        names::STREAM_RESULTS,
        &subject::results_of(pc, "*"),
    )
    .await;
    all.into_iter().filter(|r| r.job_id == job).collect()
}

async fn wait_results(broker: &Broker, pc: &str, job: &str, n: usize) -> Vec<ExecResult> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let found = results_of(broker, pc, job).await;
        if found.len() >= n {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "expected {n} result(s) of {job}, got {found:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Results of `job` waiting in the agent's outbox (the broker is away).
fn held_results(data_dir: &Path, job: &str) -> usize {
    let Ok(dir) = std::fs::read_dir(data_dir.join("outbox")) else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
        .filter(|text| text.contains("exit_code") && text.contains(job))
        .count()
}

fn cached(data_dir: &Path, needle: &str) -> bool {
    std::fs::read_to_string(data_dir.join("local_schedules.json"))
        .is_ok_and(|text| text.contains(needle))
}

#[tokio::test]
async fn an_agent_side_schedule_fires_while_the_broker_is_stopped() {
    let mut broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("local");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    // Every second, on this machine only.
    let job = register(
        &broker,
        &format!("when: {{cron: '* * * * * *'}}\ntarget: {{pcs: [{pc}]}}\n"),
    )
    .await;
    let first = wait_results(&broker, &pc, &job, 1).await;
    assert_eq!(first[0].stdout, "fired\n");
    assert_eq!(first[0].exit_code, 0);
    // The result names its schedule, so the backend can record the agent's execution.
    let schedule = format!("local-{job}");
    assert_eq!(first[0].schedule_id.as_deref(), Some(schedule.as_str()));
    assert!(cached(dir.path(), &job), "the schedule is kept on disk");

    broker.server.stop();
    let stopped_at: DateTime<Utc> = Utc::now();
    assert!(
        eventually(WAIT, || async { held_results(dir.path(), &job) >= 2 }).await,
        "the agent kept firing while the broker was stopped"
    );
    // An agent that starts while the broker is away fires from its cache too.
    agent.stop().await;
    let held = held_results(dir.path(), &job);
    let agent = Agent::spawn(&broker, &pc, dir.path());
    assert!(
        eventually(WAIT, || async {
            held_results(dir.path(), &job) >= held + 2
        })
        .await,
        "an agent started offline did not fire its cached schedule"
    );
    broker.server.restart();
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let results = results_of(&broker, &pc, &job).await;
        if results
            .iter()
            .any(|r| r.started_at > stopped_at + chrono::TimeDelta::seconds(1))
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no result of a run during the outage arrived: {results:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    agent.stop().await;
}

#[tokio::test]
async fn startup_fires_once_per_boot_and_logon_on_a_new_session() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("sessions");
    std::fs::create_dir(&sessions).unwrap();
    let data = dir.path().join("data");
    let pc = pc_id("boot");
    let job = register(
        &broker,
        "when: {on: [startup, logon]}\ntarget: {all: true}\n",
    )
    .await;
    let config = || {
        let mut config = agent_config(&broker, &pc, &data);
        config.agent.sessions_dir = sessions.clone();
        config
    };
    let agent = Agent::spawn_with(config());
    agent.wait_ready(&broker).await;
    let fired = wait_results(&broker, &pc, &job, 1).await;
    assert_eq!(fired[0].stdout, "fired\n");
    agent.stop().await;

    // The agent starts again in the same boot: no second startup fire.
    let agent = Agent::spawn_with(config());
    agent.wait_ready(&broker).await;
    assert!(
        !eventually(Duration::from_secs(3), || async {
            results_of(&broker, &pc, &job).await.len() > 1
        })
        .await,
        "startup fired again in the same boot"
    );
    // A user logs on: a logind session becomes active.
    std::fs::write(
        sessions.join("c7"),
        "UID=0\nUSER=root\nACTIVE=1\nREMOTE=0\nCLASS=user\nTYPE=tty\n",
    )
    .unwrap();
    let both = wait_results(&broker, &pc, &job, 2).await;
    assert_eq!(both.len(), 2, "{both:#?}");
    agent.stop().await;
}

#[tokio::test]
async fn a_cached_freeze_holds_agent_side_fires_even_offline() {
    let mut broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("frz");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let now = Utc::now();
    let freeze = Freeze {
        from: None,
        until: Some(now + chrono::TimeDelta::hours(1)),
        reason: Some("change freeze".into()),
        set_by: Some("ops".into()),
        set_at: now,
    };
    broker
        .kv_put(
            names::KV_FLEET_CONFIG,
            FREEZE_KEY,
            &serde_json::to_string(&freeze).unwrap(),
        )
        .await;
    let job = register(
        &broker,
        &format!("when: {{cron: '* * * * * *'}}\ntarget: {{pcs: [{pc}]}}\n"),
    )
    .await;
    assert!(
        eventually(WAIT, || async {
            cached(dir.path(), &job) && cached(dir.path(), "change freeze")
        })
        .await,
        "the agent caches the schedule and the freeze"
    );
    agent.stop().await;
    broker.server.stop();

    // Started again with the broker down: the cached freeze holds every tick.
    let agent = Agent::spawn(&broker, &pc, dir.path());
    assert!(
        !eventually(Duration::from_secs(4), || async {
            held_results(dir.path(), &job) > 0
        })
        .await,
        "a frozen agent-side schedule fired"
    );
    broker.server.restart();
    agent.wait_ready(&broker).await;
    assert!(results_of(&broker, &pc, &job).await.is_empty());

    // The thaw reaches the agent and the schedule fires again.
    broker.kv_delete(names::KV_FLEET_CONFIG, FREEZE_KEY).await;
    wait_results(&broker, &pc, &job, 1).await;
    agent.stop().await;
}
