//! Fault tests against a real three-node broker cluster (every resource on three nodes), two
//! backend replicas and the fleet simulator, each counting results: a broker node killed with
//! `kill -9` during a fan-out loses and doubles nothing on either replica, and killing the
//! backend that holds the scheduler lease lets the other fire the next ticks, none twice.
//! Size: `KANADE_FAULT_MACHINES` machines (default 500; `scripts/test --faults` runs 5,000).

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream;
use futures::StreamExt;
use kanade_backend::BackendConfig;
use kanade_protocol::api::ExecResponse;
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::names;
use kanade_sim::spec::RunTime;
use kanade_sim::{Fleet, FleetConfig};
use kanade_testkit::NatsCluster;
use tokio::task::JoinHandle;

const TOKEN: &str = "cluster-faults-token";
const JOB: &str =
    "id: fault-job\nversion: \"1\"\nexecute:\n  shell: sh\n  script: echo hi\n  timeout: 30s\n";

fn machines() -> usize {
    std::env::var("KANADE_FAULT_MACHINES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(500)
}

async fn wait_for<F, Fut>(what: &str, limit: Duration, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// One backend replica on the cluster, in-process.
struct Backend {
    base: String,
    db: PathBuf,
    data: PathBuf,
    task: Option<JoinHandle<anyhow::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Backend {
    async fn start(cluster: &NatsCluster, replica: &str) -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let mut config = BackendConfig::default();
        config.nats.url = cluster.url();
        config.nats.replicas = Some(3);
        config.db.sqlite_path = dir.path().join("backend.db");
        config.server.replica = Some(replica.to_owned());
        config.secrets.static_token = Some(TOKEN.to_owned());
        config.secrets.bootstrap_admin_password = Some("cluster-faults-admin".to_owned());
        config.scheduler.lease_ttl = HumanDuration::from_secs(2);
        config.scheduler.reconcile_every = HumanDuration(Duration::from_millis(300));
        let db = config.db.sqlite_path.clone();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(kanade_backend::serve(
            config,
            listener,
            std::future::pending(),
        ));
        let backend = Backend {
            base,
            db,
            data: dir.path().to_path_buf(),
            task: Some(task),
            _dir: dir,
        };
        // The cluster elects its JetStream meta leader a moment after the nodes listen.
        wait_for(
            &format!("backend {replica} ready"),
            Duration::from_secs(90),
            || async {
                http()
                    .get(format!("{}/health", backend.base))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
            },
        )
        .await;
        backend
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn query(&self, sql: &str, param: &str) -> i64 {
        rusqlite::Connection::open(&self.db)
            .and_then(|c| c.query_row(sql, [param], |r| r.get(0)))
            .unwrap_or(-1)
    }

    async fn online(&self) -> u64 {
        let Ok(resp) = http()
            .get(self.url("/api/agents?online=true&limit=1"))
            .send()
            .await
        else {
            return 0;
        };
        resp.json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["total"].as_u64())
            .unwrap_or(0)
    }

    /// `kill`: the task is dropped mid-flight, as a crash would (no lease released).
    async fn kill(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

fn http() -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap()
}

/// A cluster with both replicas up, the job registered and `n` simulated machines online on
/// both.
async fn setup(n: usize, run_time: RunTime) -> (NatsCluster, Backend, Backend, Fleet) {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Clear text: the simulator cannot pin a CA yet (see tests/it.rs).
    let cluster = NatsCluster::start_plain(3);
    let a = Backend::start(&cluster, "a").await;
    let b = Backend::start(&cluster, "b").await;
    let resp = http()
        .post(a.url("/api/jobs"))
        .body(JOB)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "register: {}", resp.status());
    let fleet = Fleet::start(FleetConfig {
        nats_url: cluster.url(),
        machines: n,
        heartbeat: Duration::from_secs(5),
        host_perf: None,
        ramp: Duration::from_secs(1),
        run_time,
        fail_rate: 0.1,
        ..FleetConfig::default()
    })
    .await
    .unwrap();
    for (name, backend) in [("a", &a), ("b", &b)] {
        wait_for(
            &format!("{n} machines online on {name}"),
            Duration::from_secs(60),
            || async { backend.online().await == n as u64 },
        )
        .await;
    }
    (cluster, a, b, fleet)
}

const RESULTS_OF: &str =
    "SELECT COUNT(*) FROM execution_results WHERE exec_id = ?1 AND finished_at IS NOT NULL";
const MACHINES_OF: &str = "SELECT COUNT(DISTINCT pc_id) FROM execution_results WHERE exec_id = ?1";
const COUNTED: &str =
    "SELECT success_count + failure_count + skipped_count FROM executions WHERE exec_id = ?1";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_broker_node_killed_during_a_fan_out_loses_and_doubles_no_result_on_either_replica() {
    let n = machines();
    let (mut cluster, a, b, fleet) =
        setup(n, RunTime::Uniform(Duration::ZERO, Duration::from_secs(2))).await;
    let client = kanade_sim::fleet::connect(&cluster.url(), "fault-test".into())
        .await
        .unwrap();
    let js = jetstream::new(client);
    let status = kanade_bus::stream_status(&js).await.unwrap();
    let leader = status
        .iter()
        .find(|s| s.name == names::STREAM_RESULTS)
        .and_then(|s| s.leader.clone())
        .expect("RESULTS has a leader");
    let victim = (0..3).find(|i| cluster.node_name(*i) == leader).unwrap();

    let fired: ExecResponse = http()
        .post(a.url("/api/exec/fault-job"))
        .json(&serde_json::json!({"target": {"all": true}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fired.target_count, n as i64);
    let exec = fired.exec_id.clone();
    // Results are flowing: kill the node leading RESULTS in the middle of them. Counted where
    // they are sent (the machines), not where they are projected: the projectors write in
    // batches of up to 250 ms, so the read model moves in steps.
    let before = fleet.stats().results;
    wait_for("the first results", Duration::from_secs(120), || async {
        fleet.stats().results >= before + (n / 20).max(1) as u64
    })
    .await;
    cluster.kill(victim);
    let during = fleet.stats().results - before;
    assert!(
        during < n as u64,
        "the node died after every machine had sent its result ({during} of {n}); nothing was tested"
    );

    for (name, backend) in [("a", &a), ("b", &b)] {
        wait_for(
            &format!("every result projected on {name}"),
            Duration::from_secs(180),
            || async {
                backend.query(RESULTS_OF, &exec) >= n as i64
                    && backend.query(COUNTED, &exec) >= n as i64
            },
        )
        .await;
    }
    assert!(
        fleet.wait_idle(Duration::from_secs(60)).await,
        "the fleet kept results unacknowledged"
    );
    cluster.restart(victim);
    let stats = fleet.stop(Duration::from_secs(10)).await;
    assert_eq!(stats.js_lost, 0, "{stats:?}");
    assert_eq!(
        stats.results, n as u64,
        "each machine ran it once: {stats:?}"
    );
    for (name, backend) in [("a", &a), ("b", &b)] {
        assert_eq!(backend.query(RESULTS_OF, &exec), n as i64, "rows on {name}");
        assert_eq!(
            backend.query(MACHINES_OF, &exec),
            n as i64,
            "machines on {name}"
        );
        assert_eq!(
            backend.query(COUNTED, &exec),
            n as i64,
            "counters on {name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_standby_backend_fires_the_next_ticks_when_the_lease_holder_dies_and_none_twice() {
    let n = (machines() / 10).max(20);
    let (cluster, a, b, fleet) = setup(
        n,
        RunTime::Uniform(Duration::ZERO, Duration::from_millis(50)),
    )
    .await;
    let schedule =
        "id: tick\njob_id: fault-job\nwhen: {cron: '* * * * * *'}\ntarget: {all: true}\n";
    let resp = http()
        .post(a.url("/api/schedules"))
        .body(schedule)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "schedule: {}", resp.status());
    let fires = "SELECT COUNT(*) FROM executions WHERE initiated_by = ?1";
    let by = "scheduler:tick";
    // Both read models hold the first fires (each replica projects the other's from AUDIT),
    // so what the standby counts after the kill is its own fires on top of the leader's.
    wait_for(
        "three ticks fired, seen by both replicas",
        Duration::from_secs(90),
        || async { a.query(fires, by) >= 3 && b.query(fires, by) >= 3 },
    )
    .await;

    let client = kanade_sim::fleet::connect(&cluster.url(), "fault-test".into())
        .await
        .unwrap();
    let js = jetstream::new(client);
    let lease = js.get_key_value(names::KV_SCHEDULER_LEASE).await.unwrap();
    let holder = lease
        .get("scheduler")
        .await
        .unwrap()
        .expect("a lease holder");
    let (mut leader, standby) = match std::fs::read(a.data.join("scheduler-id")) {
        Ok(id) if id == holder.as_ref() => (a, b),
        _ => (b, a),
    };
    leader.kill().await;
    let before = standby.query(fires, by);
    wait_for(
        "the standby fires three more ticks",
        Duration::from_secs(90),
        || async { standby.query(fires, by) >= before + 3 },
    )
    .await;
    let resp = http()
        .patch(standby.url("/api/schedules/tick/disable"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());

    // Every fire is complete on the standby's read model (which holds the dead leader's too).
    let all_done =
        "SELECT COUNT(*) FROM executions WHERE initiated_by = ?1 AND status <> 'completed'";
    wait_for("every fire completed", Duration::from_secs(120), || async {
        standby.query(all_done, by) == 0
    })
    .await;
    assert!(fleet.wait_idle(Duration::from_secs(30)).await);
    let executions = standby.query(fires, by);
    let dispatch = js
        .get_key_value(names::KV_SCHEDULER_DISPATCH)
        .await
        .unwrap();
    let mut ticks = 0i64;
    let mut keys = dispatch.keys().await.unwrap();
    while let Some(key) = keys.next().await {
        if key.unwrap().starts_with("tick.tick.") {
            ticks += 1;
        }
    }
    // One execution per claimed tick: never two. (A tick claimed by the leader in the very
    // moment it died may have no execution.)
    assert!(
        executions == ticks || executions + 1 == ticks,
        "{executions} executions for {ticks} ticks"
    );
    let stats = fleet.stop(Duration::from_secs(10)).await;
    let targets = "SELECT COALESCE(SUM(target_count), 0) FROM executions WHERE initiated_by = ?1";
    let sent = standby.query(targets, by);
    assert_eq!(
        sent,
        executions * n as i64,
        "every fire reached every machine"
    );
    assert_eq!(
        stats.results as i64, sent,
        "each machine ran each tick once: {stats:?}"
    );
    let rows = "SELECT COUNT(*) FROM execution_results r JOIN executions e USING (exec_id)
        WHERE e.initiated_by = ?1";
    assert_eq!(standby.query(rows, by), sent, "results projected once each");
}
