//! The scheduler and wave rollouts against the real broker and SQLite: cron schedules fire,
//! follow edits and stop on delete; per_pc reaches late machines once; restarts and a second
//! backend never fire a tick twice; waves keep their delays and the health gate halts them;
//! the fleet freeze stops everything.

use std::time::{Duration, Instant};

use chrono::Utc;
use kanade_backend::BackendConfig;
use kanade_protocol::api::{ErrorBody, ExecResponse};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::names;
use kanade_protocol::schedule::{RolloutProgress, ScheduleDetail, ScheduleSummary, UpcomingFire};
use kanade_protocol::subject;
use kanade_protocol::wire::{ExecResult, FREEZE_KEY};
use reqwest::StatusCode;
use tokio::task::JoinHandle;

use crate::support::{ADMIN_PASSWORD, HELLO, TestBackend, wait_for};

fn config_for(nats: &kanade_testkit::NatsServer, dir: &std::path::Path) -> BackendConfig {
    let mut config = BackendConfig::default();
    crate::support::use_broker(&mut config, nats);
    config.db.sqlite_path = dir.join("backend.db");
    config.secrets.bootstrap_admin_password = Some(ADMIN_PASSWORD.into());
    config.scheduler.lease_ttl = HumanDuration::from_secs(2);
    config.scheduler.reconcile_every = HumanDuration(Duration::from_millis(300));
    config
}

async fn start() -> TestBackend {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let nats = kanade_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let js = async_nats::jetstream::new(crate::support::connect(&nats).await);
    let config = config_for(&nats, dir.path());
    let b = TestBackend::with_config(nats, dir, js, config).await;
    let resp = b
        .http
        .post(b.url("/api/jobs"))
        .body(HELLO)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    b
}

async fn put_schedule(b: &TestBackend, text: &str) -> StatusCode {
    let resp = b
        .http
        .post(b.url("/api/schedules"))
        .body(text.to_owned())
        .send()
        .await
        .unwrap();
    resp.status()
}

fn fired_by(b: &TestBackend, schedule: &str) -> i64 {
    b.query_i64(&format!(
        "SELECT COUNT(*) FROM executions WHERE initiated_by = 'scheduler:{schedule}'"
    ))
}

/// Seconds between consecutive fires of `schedule`, oldest first.
fn gaps(db: &std::path::Path, schedule: &str) -> Vec<f64> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT initiated_at FROM executions WHERE initiated_by = ?1 ORDER BY initiated_at",
        )
        .unwrap();
    let times: Vec<chrono::DateTime<Utc>> = stmt
        .query_map([format!("scheduler:{schedule}")], |r| r.get::<_, String>(0))
        .unwrap()
        .map(|t| t.unwrap().parse().unwrap())
        .collect();
    times
        .windows(2)
        .map(|w| (w[1] - w[0]).num_milliseconds() as f64 / 1000.0)
        .collect()
}

async fn core(b: &TestBackend) -> async_nats::Client {
    b.nats_client().await
}

async fn heartbeat(nats: &async_nats::Client, pc: &str) {
    let beat = serde_json::json!({"pc_id": pc, "at": Utc::now(), "agent_version": "0.1.0"});
    nats.publish(
        subject::heartbeat(pc),
        serde_json::to_vec(&beat).unwrap().into(),
    )
    .await
    .unwrap();
    nats.flush().await.unwrap();
}

async fn report(b: &TestBackend, exec_id: &str, request_id: &str, pc: &str, exit_code: i32) {
    let now = Utc::now();
    let result = ExecResult {
        result_id: format!("{exec_id}-{pc}"),
        request_id: request_id.to_owned(),
        exec_id: exec_id.to_owned(),
        pc_id: pc.to_owned(),
        job_id: "hello".to_owned(),
        version: "1".to_owned(),
        exit_code,
        stdout: String::new(),
        stderr: String::new(),
        stdout_object: None,
        stderr_object: None,
        started_at: now,
        finished_at: now,
        skipped: false,
        schedule_id: None,
    };
    b.js.publish(
        subject::results(request_id),
        serde_json::to_vec(&result).unwrap().into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

/// (exec_id, request_id, subjects) of every execution of `schedule`, oldest first.
fn executions_of(b: &TestBackend, schedule: &str) -> Vec<(String, String, String)> {
    let conn = rusqlite::Connection::open(b.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT exec_id, request_id, subjects FROM executions WHERE initiated_by = ?1 ORDER BY initiated_at")
        .unwrap();
    stmt.query_map([format!("scheduler:{schedule}")], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
    .unwrap()
    .map(|r| r.unwrap())
    .collect()
}

const EVERY_2S: &str =
    "id: tick\njob_id: hello\nwhen: {cron: '*/2 * * * * *'}\ntarget: {pcs: [pc1]}\n";

#[tokio::test]
async fn a_cron_schedule_fires_follows_edits_and_stops_when_deleted() {
    let b = start().await;
    assert_eq!(put_schedule(&b, EVERY_2S).await, StatusCode::CREATED);
    wait_for("three fires", Duration::from_secs(10), || async {
        fired_by(&b, "tick") >= 3
    })
    .await;
    // Every second second: no tick twice (gaps of at least a second), and on average 2 s
    // apart (one late fire under load shortens the next gap, so single gaps are not exact).
    let all = gaps(&b.db_path(), "tick");
    assert!(
        all.iter().all(|gap| *gap >= 1.0),
        "no tick fired twice: {all:?}"
    );
    let mean = all.iter().sum::<f64>() / all.len() as f64;
    assert!((1.5..2.8).contains(&mean), "2 s apart on average: {all:?}");
    let list: Vec<ScheduleSummary> = b.get("/api/schedules").await;
    assert_eq!(list.len(), 1);
    assert!(list[0].next_fire.is_some_and(|t| t > Utc::now()));
    let detail: ScheduleDetail = b.get("/api/schedules/tick").await;
    assert_eq!(detail.yaml.as_deref(), Some(EVERY_2S));
    let upcoming: Vec<UpcomingFire> = b.get("/api/schedules/upcoming?limit=3").await;
    assert_eq!(upcoming.len(), 3);

    // The same id again replaces it: every second now, live.
    let every_1s = EVERY_2S.replace("*/2 * * * * *", "* * * * * *");
    assert_eq!(put_schedule(&b, &every_1s).await, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = fired_by(&b, "tick");
    tokio::time::sleep(Duration::from_millis(4200)).await;
    let fired = fired_by(&b, "tick") - before;
    assert!(
        (2..=7).contains(&fired),
        "about one a second after the edit: {fired}"
    );

    // Disabled: nothing; enabled again: fires again.
    let resp = b
        .http
        .patch(b.url("/api/schedules/tick/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = fired_by(&b, "tick");
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(fired_by(&b, "tick"), before, "disabled");
    let resp = b
        .http
        .patch(b.url("/api/schedules/tick/enable"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    wait_for("a fire after enabling", Duration::from_secs(5), || async {
        fired_by(&b, "tick") > before
    })
    .await;

    let resp = b
        .http
        .delete(b.url("/api/schedules/tick"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after_delete = fired_by(&b, "tick");
    tokio::time::sleep(Duration::from_millis(3000)).await;
    assert_eq!(fired_by(&b, "tick"), after_delete, "deleted: no more fires");

    // Every fire was an execution with its exec audit event, as an operator's exec is.
    wait_for("audit events", Duration::from_secs(10), || async {
        b.query_i64(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'exec' AND actor = 'scheduler:tick'",
        ) == after_delete
    })
    .await;
    for action in [
        "schedule.create",
        "schedule.update",
        "schedule.disable",
        "schedule.enable",
        "schedule.delete",
    ] {
        wait_for(action, Duration::from_secs(10), || async {
            b.query_i64(&format!(
                "SELECT COUNT(*) FROM audit_log WHERE action = '{action}'"
            )) == 1
        })
        .await;
    }
}

#[tokio::test]
async fn bad_schedules_are_refused_by_field_and_change_nothing() {
    let b = start().await;
    let cases = [
        (
            EVERY_2S.replace("*/2 * * * * *", "*/2 * *"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("when.cron"),
        ),
        (
            EVERY_2S.replace("job_id: hello", "job_id: nope"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("job_id"),
        ),
        (
            format!("{EVERY_2S}colour: red\n"),
            StatusCode::BAD_REQUEST,
            Some("colour"),
        ),
        (
            format!("{EVERY_2S}tz: Mars/Base\n"),
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("tz"),
        ),
    ];
    for (text, status, field) in cases {
        let resp = b
            .http
            .post(b.url("/api/schedules"))
            .body(text.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), status, "{text}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert_eq!(err.error.field.as_deref(), field, "{}", err.error.message);
    }
    let list: Vec<ScheduleSummary> = b.get("/api/schedules").await;
    assert!(list.is_empty());
    let resp = b
        .http
        .get(b.url("/api/schedules/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let viewer = b.account("vera", "viewer").await;
    let resp = viewer
        .post(b.url("/api/schedules"))
        .body(EVERY_2S)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    // Deleting a job's schedules' way: disable_for_job switches them all off.
    assert_eq!(put_schedule(&b, EVERY_2S).await, StatusCode::CREATED);
    let off = kanade_backend::schedules::disable_for_job(&b.js, "hello")
        .await
        .unwrap();
    assert_eq!(off, ["tick"]);
    let detail: ScheduleDetail = b.get("/api/schedules/tick").await;
    assert!(!detail.schedule.enabled && detail.next_fire.is_none());
}

#[tokio::test]
async fn per_pc_once_runs_once_on_every_machine_including_one_that_appears_later() {
    let b = start().await;
    let nats = core(&b).await;
    for pc in ["pc1", "pc2"] {
        heartbeat(&nats, pc).await;
    }
    wait_for("two agents", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM agents") == 2
    })
    .await;
    let text = "id: each\njob_id: hello\nwhen: {per_pc: once}\ntarget: {all: true}\n";
    assert_eq!(put_schedule(&b, text).await, StatusCode::CREATED);
    wait_for("the first dispatch", Duration::from_secs(10), || async {
        fired_by(&b, "each") == 1
    })
    .await;
    let (exec_id, request_id, subjects) = executions_of(&b, "each").remove(0);
    assert_eq!(subjects, r#"["commands.pc.pc1","commands.pc.pc2"]"#);
    for pc in ["pc1", "pc2"] {
        report(&b, &exec_id, &request_id, pc, 0).await;
    }
    wait_for("two successes", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM execution_results WHERE exit_code = 0") == 2
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        fired_by(&b, "each"),
        1,
        "done machines are not dispatched again"
    );

    heartbeat(&nats, "pc3").await;
    wait_for(
        "the late machine's dispatch",
        Duration::from_secs(10),
        || async { fired_by(&b, "each") == 2 },
    )
    .await;
    let (exec_id, request_id, subjects) = executions_of(&b, "each").remove(1);
    assert_eq!(subjects, r#"["commands.pc.pc3"]"#);
    report(&b, &exec_id, &request_id, "pc3", 0).await;
    wait_for("three successes", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM execution_results WHERE exit_code = 0") == 3
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fired_by(&b, "each"), 2, "once per machine");

    // Retention removes the runs; each machine's success is remembered, so none runs again.
    b.housekeep(|c| c.retention.results = kanade_protocol::duration::HumanDuration::from_secs(0))
        .await;
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM execution_results"), 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        fired_by(&b, "each"),
        2,
        "a machine's success outlives its run's retention"
    );
}

#[tokio::test]
async fn a_restart_never_fires_a_tick_twice() {
    let mut b = start().await;
    let text = EVERY_2S.replace("*/2 * * * * *", "*/5 * * * * *");
    assert_eq!(put_schedule(&b, &text).await, StatusCode::CREATED);
    wait_for("the first fire", Duration::from_secs(10), || async {
        fired_by(&b, "tick") == 1
    })
    .await;
    // Crash right after the fire and come straight back, well within the tick's grace.
    b.kill().await;
    b.boot().await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        fired_by(&b, "tick"),
        1,
        "the tick already fired is not fired again"
    );
    wait_for("the next tick", Duration::from_secs(10), || async {
        fired_by(&b, "tick") == 2
    })
    .await;
    let gaps = gaps(&b.db_path(), "tick");
    assert!(gaps[0] >= 4.0, "{gaps:?}");
}

struct Second {
    _dir: tempfile::TempDir,
    task: JoinHandle<anyhow::Result<()>>,
    db: std::path::PathBuf,
}

async fn second_backend(b: &TestBackend) -> Second {
    let dir = tempfile::tempdir().unwrap();
    let config = config_for(&b.nats, dir.path());
    let db = config.db.sqlite_path.clone();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/health", listener.local_addr().unwrap());
    let task = tokio::spawn(kanade_backend::serve(
        config,
        listener,
        std::future::pending(),
    ));
    wait_for("second backend", Duration::from_secs(20), || {
        let url = url.clone();
        async move {
            reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    Second {
        _dir: dir,
        task,
        db,
    }
}

#[tokio::test]
async fn two_backends_fire_each_tick_once_and_the_standby_takes_over() {
    let mut b = start().await;
    let second = second_backend(&b).await;
    let every_1s = EVERY_2S.replace("*/2 * * * * *", "* * * * * *");
    assert_eq!(put_schedule(&b, &every_1s).await, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let resp = b
        .http
        .patch(b.url("/api/schedules/tick/disable"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    // Each backend records the executions it fires (the durable audit consumer is shared, so
    // neither sees all of the other's): together they hold one execution per tick.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut fires: std::collections::BTreeMap<String, chrono::DateTime<Utc>> = Default::default();
    for db in [b.db_path(), second.db.clone()] {
        let conn = rusqlite::Connection::open(db).unwrap();
        let mut stmt = conn
            .prepare("SELECT exec_id, initiated_at FROM executions WHERE initiated_by = 'scheduler:tick'")
            .unwrap();
        for row in stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
        {
            let (id, at) = row.unwrap();
            fires.insert(id, at.parse().unwrap());
        }
    }
    let mut times: Vec<_> = fires.values().copied().collect();
    times.sort();
    assert!(times.len() >= 3, "{times:?}");
    for pair in times.windows(2) {
        let gap = (pair[1] - pair[0]).num_milliseconds();
        assert!(gap >= 500, "one fire per tick, not two: {times:?}");
    }
    // The leader goes away; the standby takes over once the lease runs out.
    let lease = b.js.get_key_value(names::KV_SCHEDULER_LEASE).await.unwrap();
    let holder = lease.get("scheduler").await.unwrap().unwrap();
    let mine = std::fs::read(b.db_path().parent().unwrap().join("scheduler-id")).unwrap();
    let count = |db: &std::path::Path| -> i64 {
        rusqlite::Connection::open(db)
            .unwrap()
            .query_row(
                "SELECT COUNT(*) FROM executions WHERE initiated_by = 'scheduler:tick'",
                [],
                |r| r.get(0),
            )
            .unwrap()
    };
    let resp = b
        .http
        .patch(b.url("/api/schedules/tick/enable"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    if holder.as_ref() == mine.as_slice() {
        b.kill().await;
        let before = count(&second.db);
        wait_for("the standby fires", Duration::from_secs(10), || async {
            count(&second.db) >= before + 2
        })
        .await;
        second.task.abort();
    } else {
        second.task.abort();
        let _ = second.task.await;
        let before = fired_by(&b, "tick");
        wait_for("the standby fires", Duration::from_secs(10), || async {
            fired_by(&b, "tick") >= before + 2
        })
        .await;
    }
}

async fn subscribe(
    nats: &async_nats::Client,
    subject: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<Instant> {
    use futures::StreamExt;
    let mut sub = nats.subscribe(subject.to_owned()).await.unwrap();
    nats.flush().await.unwrap();
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while sub.next().await.is_some() {
            let _ = tx.send(Instant::now());
        }
    });
    rx
}

async fn exec_waves(b: &TestBackend, body: serde_json::Value) -> ExecResponse {
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    resp.json().await.unwrap()
}

#[tokio::test]
async fn waves_go_out_group_by_group_after_their_delay() {
    let b = start().await;
    let nats = core(&b).await;
    let mut wave_a = subscribe(&nats, "commands.group.A").await;
    let mut wave_b = subscribe(&nats, "commands.group.B").await;
    let started = Instant::now();
    let fired = exec_waves(
        &b,
        serde_json::json!({"target": {}, "allow_unknown": true, "rollout": {"waves": [{"group": "A"}, {"group": "B", "delay": "2s"}]}}),
    )
    .await;
    assert_eq!(fired.subjects, ["commands.group.A", "commands.group.B"]);
    let a = tokio::time::timeout(Duration::from_secs(30), wave_a.recv())
        .await
        .unwrap()
        .unwrap();
    let b_at = tokio::time::timeout(Duration::from_secs(40), wave_b.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(a < b_at, "wave A goes out before wave B");
    assert!(
        b_at - started >= Duration::from_millis(1900),
        "wave B after 2s: {:?}",
        b_at - started
    );
    wait_for("rollout done", Duration::from_secs(5), || async {
        let p: RolloutProgress = b
            .get(&format!("/api/executions/{}/rollout", fired.exec_id))
            .await;
        p.status == "done" && p.waves_published == 2
    })
    .await;
    // Bad waves are refused by field.
    let resp = b
        .http
        .post(b.url("/api/exec/hello"))
        .json(&serde_json::json!({"target": {"all": true}, "rollout": {"waves": [{"group": "A"}]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let err: ErrorBody = resp.json().await.unwrap();
    assert_eq!(err.error.field.as_deref(), Some("target"));
}

#[tokio::test]
async fn the_health_gate_halts_the_next_wave_when_too_many_failed() {
    let b = start().await;
    let groups = b.js.get_key_value(names::KV_AGENT_GROUPS).await.unwrap();
    for (pc, g) in [("a1", "A"), ("a2", "A"), ("b1", "B")] {
        groups
            .put(pc, format!(r#"{{"groups":["{g}"]}}"#).into())
            .await
            .unwrap();
    }
    let nats = core(&b).await;
    let mut wave_a = subscribe(&nats, "commands.group.A").await;
    let mut wave_b = subscribe(&nats, "commands.group.B").await;
    let fired = exec_waves(
        &b,
        serde_json::json!({"target": {}, "allow_unknown": true, "rollout": {"waves": [{"group": "A"}, {"group": "B", "delay": "3s"}], "halt_on_failure_pct": 50}}),
    )
    .await;
    assert_eq!(fired.target_count, 3);
    tokio::time::timeout(Duration::from_secs(30), wave_a.recv())
        .await
        .unwrap()
        .unwrap();
    report(&b, &fired.exec_id, &fired.request_id, "a1", 1).await;
    report(&b, &fired.exec_id, &fired.request_id, "a2", 0).await;
    report(&b, &fired.exec_id, &fired.request_id, "a2b", 2).await;
    wait_for("halted", Duration::from_secs(10), || async {
        let p: RolloutProgress = b
            .get(&format!("/api/executions/{}/rollout", fired.exec_id))
            .await;
        p.status == "halted"
    })
    .await;
    let p: RolloutProgress = b
        .get(&format!("/api/executions/{}/rollout", fired.exec_id))
        .await;
    assert_eq!(p.waves_published, 1);
    assert!(
        p.note.as_deref().unwrap().contains("2 of 3 results failed"),
        "{p:?}"
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(1500), wave_b.recv())
            .await
            .is_err(),
        "wave B never went out"
    );
    wait_for(
        "the halt in the audit log",
        Duration::from_secs(10),
        || async {
            b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action = 'rollout.halt'") == 1
        },
    )
    .await;
    let status: String = rusqlite::Connection::open(b.db_path())
        .unwrap()
        .query_row(
            "SELECT status FROM executions WHERE exec_id = ?1",
            [&fired.exec_id],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        status, "completed",
        "the target shrank to the machines that got a wave"
    );
}

#[tokio::test]
async fn nothing_fires_while_the_fleet_is_frozen() {
    let b = start().await;
    let fleet = b.js.get_key_value(names::KV_FLEET_CONFIG).await.unwrap();
    let freeze = serde_json::json!({"set_at": Utc::now(), "reason": "change freeze"});
    fleet
        .put(FREEZE_KEY, serde_json::to_vec(&freeze).unwrap().into())
        .await
        .unwrap();
    let every_1s = EVERY_2S.replace("*/2 * * * * *", "* * * * * *");
    assert_eq!(put_schedule(&b, &every_1s).await, StatusCode::CREATED);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(fired_by(&b, "tick"), 0, "frozen");
    fleet.delete(FREEZE_KEY).await.unwrap();
    wait_for("fires after the freeze", Duration::from_secs(5), || async {
        fired_by(&b, "tick") >= 1
    })
    .await;
}

#[tokio::test]
async fn a_schedules_on_failure_retry_travels_with_its_commands() {
    let b = start().await;
    let text = "id: retrying\njob_id: hello\nwhen: {cron: '* * * * * *'}\ntarget: {pcs: [pc-retry]}\non_failure: {retry: {max: 3, backoff: 2m}}\n";
    assert_eq!(put_schedule(&b, text).await, StatusCode::CREATED);
    wait_for("a fire", Duration::from_secs(15), || async {
        fired_by(&b, "retrying") >= 1
    })
    .await;
    let stream =
        b.js.get_stream(kanade_protocol::names::STREAM_EXEC)
            .await
            .unwrap();
    let msg = stream
        .get_last_raw_message_by_subject("commands.pc.pc-retry")
        .await
        .unwrap();
    let command: kanade_protocol::wire::Command = serde_json::from_slice(&msg.payload).unwrap();
    assert_eq!(
        command.retry,
        Some(kanade_protocol::wire::RetrySpec {
            max: 3,
            backoff_secs: 120
        })
    );
}

/// `runs_on: agent` schedules (the original's shapes) are stored for the agents, which fire
/// them themselves: the backend's scheduler never does, while its own schedules keep firing.
#[tokio::test]
async fn agent_side_schedules_are_left_to_the_agents() {
    let b = start().await;
    let on_agents = "id: local-tick\njob_id: hello\nwhen: {cron: '* * * * * *'}\nruns_on: agent\ntarget: {all: true}\n";
    assert_eq!(put_schedule(&b, on_agents).await, StatusCode::CREATED);
    let logon = "id: logon-compliance\njob_id: hello\nwhen: { on: [startup, logon] }\nruns_on: agent\ntarget: { all: true }\n";
    assert_eq!(put_schedule(&b, logon).await, StatusCode::CREATED);
    let detail: ScheduleDetail = b.get("/api/schedules/logon-compliance").await;
    assert_eq!(detail.schedule.when.describe(), "on startup,logon");
    assert_eq!(detail.next_fire, None);
    // Screen locks too (the agent follows logind over D-Bus); still never fired here.
    let unlock = logon.replace("logon] }", "lock, unlock] }");
    assert_eq!(put_schedule(&b, &unlock).await, StatusCode::OK);
    let every_1s = EVERY_2S.replace("*/2 * * * * *", "* * * * * *");
    assert_eq!(put_schedule(&b, &every_1s).await, StatusCode::CREATED);
    wait_for(
        "the backend's own schedule fires",
        Duration::from_secs(10),
        || async { fired_by(&b, "tick") >= 2 },
    )
    .await;
    assert_eq!(fired_by(&b, "local-tick"), 0, "fired by the backend");
    assert_eq!(fired_by(&b, "logon-compliance"), 0);
}
