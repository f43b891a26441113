//! The simulator against a real nats-server and an in-process backend: simulated machines
//! come online by heartbeat and answer broadcasts as the agent does (results, a revoked job
//! skipped, a long run announced by its started event, a run past its timeout killed).

use std::time::Duration;

use kanade_backend::BackendConfig;
use kanade_protocol::api::{ExecResponse, ExecutionDetail, Page};
use kanade_sim::spec::RunTime;
use kanade_sim::{Fleet, FleetConfig};
use kanade_testkit::NatsServer;

const TOKEN: &str = "sim-test-token";
const MACHINES: usize = 50;

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
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A backend (in-process) and a broker, the job `job_yaml` registered, and `machines`
/// simulated machines online that each run for `run_time`.
struct Setup {
    nats: NatsServer,
    http: reqwest::Client,
    base: String,
    fleet: Fleet,
    backend: tokio::task::JoinHandle<anyhow::Result<()>>,
    _dir: tempfile::TempDir,
}

async fn setup(job_yaml: &str, machines: usize, run_time: RunTime) -> Setup {
    let _ = rustls::crypto::ring::default_provider().install_default();
    // Clear text on purpose: the simulator cannot pin a CA yet (`FleetConfig` has only
    // `nats_url`, `fleet::connect` no TLS option), and the test broker is TLS-only otherwise.
    // Switch to `NatsServer::start` and pin `ca_file()` once the simulator takes a CA.
    let nats = NatsServer::start_plain();
    let dir = tempfile::tempdir().unwrap();
    let mut config = BackendConfig::default();
    config.nats.url = nats.url();
    config.db.sqlite_path = dir.path().join("backend.db");
    config.secrets.static_token = Some(TOKEN.to_owned());
    config.secrets.bootstrap_admin_password = Some("sim-test-admin-password".to_owned());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let backend = tokio::spawn(kanade_backend::serve(
        config,
        listener,
        std::future::pending(),
    ));

    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {TOKEN}").parse().unwrap(),
    );
    let http = reqwest::Client::builder()
        .default_headers(headers)
        .build()
        .unwrap();
    wait_for("backend health", Duration::from_secs(20), || {
        let (http, url) = (http.clone(), format!("{base}/health"));
        async move {
            http.get(url)
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        }
    })
    .await;
    let resp = http
        .post(format!("{base}/api/jobs"))
        .body(job_yaml.to_owned())
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "register job: {}",
        resp.status()
    );

    let fleet = Fleet::start(FleetConfig {
        nats_url: nats.url(),
        machines,
        groups: "lab:20%,office:80%".parse().unwrap(),
        ramp: Duration::from_millis(500),
        run_time,
        fail_rate: 0.1,
        ..FleetConfig::default()
    })
    .await
    .unwrap();

    let online = || {
        let http = http.clone();
        let url = format!("{base}/api/agents?online=true&limit=1");
        async move {
            match http.get(url).send().await {
                Ok(resp) => resp
                    .json::<Page<serde_json::Value>>()
                    .await
                    .is_ok_and(|p| p.total == machines as u64),
                Err(_) => false,
            }
        }
    };
    wait_for("every machine online", Duration::from_secs(20), online).await;
    Setup {
        nats,
        http,
        base,
        fleet,
        backend,
        _dir: dir,
    }
}

/// Fires `job` at every machine and waits until its execution completes.
async fn broadcast(s: &Setup, job: &str, machines: usize) -> ExecutionDetail {
    let fired: ExecResponse = s
        .http
        .post(format!("{}/api/exec/{job}", s.base))
        .json(&serde_json::json!({"target": {"all": true}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fired.target_count, machines as i64);
    let url = format!("{}/api/executions/{}", s.base, fired.exec_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let detail: ExecutionDetail = s.http.get(&url).send().await.unwrap().json().await.unwrap();
        if detail.execution.status == "completed" {
            return detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broadcast did not complete: {:?}",
            detail.execution
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

const HELLO: &str =
    "id: sim-hello\nversion: \"1\"\nexecute:\n  shell: sh\n  script: echo hello\n  timeout: 30s\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simulated_machines_come_online_and_answer_a_broadcast() {
    let s = setup(
        HELLO,
        MACHINES,
        RunTime::Uniform(Duration::ZERO, Duration::from_millis(50)),
    )
    .await;
    let (http, base) = (&s.http, &s.base);
    let detail = broadcast(&s, "sim-hello", MACHINES).await;
    assert_eq!(detail.results.len(), MACHINES);
    let e = &detail.execution;
    assert_eq!(e.success_count + e.failure_count, MACHINES as i64);
    assert_eq!(e.skipped_count, 0);
    assert!(detail.results.iter().all(|r| r.finished_at.is_some()));

    // Group targeting sees the groups the simulator wrote into KV agent_groups.
    let fired: ExecResponse = http
        .post(format!("{base}/api/exec/sim-hello"))
        .json(&serde_json::json!({"target": {"groups": ["lab"]}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fired.target_count, 10);

    // A revoked job is refused by every machine, each reporting why.
    let resp = http
        .post(format!("{base}/api/jobs/sim-hello/revoke"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "revoke: {}", resp.status());
    let detail = broadcast(&s, "sim-hello", MACHINES).await;
    assert_eq!(detail.execution.skipped_count, MACHINES as i64);
    assert!(
        detail
            .results
            .iter()
            .all(|r| r.skipped && r.exit_code == Some(kanade_protocol::names::exit_code::REVOKED)),
        "every run skipped as revoked"
    );

    let stats = s.fleet.stop(Duration::from_secs(10)).await;
    assert_eq!(stats.unacked, 0);
    assert_eq!(stats.js_lost, 0);
    assert!(stats.commands >= 2 * MACHINES as u64 + 10);
    assert_eq!(stats.skipped, MACHINES as u64);
    s.backend.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_runs_are_announced_first_and_runs_past_their_timeout_are_killed() {
    const N: usize = 20;
    // Each machine runs 1.2-1.5 s: past `STARTED_EVENT_AFTER` (1 s), so it announces the run;
    // `sim-slow`'s timeout of 1 s cuts every run there.
    let jobs =
        "id: sim-long\nversion: \"1\"\nexecute:\n  shell: sh\n  script: sleep 1\n  timeout: 30s\n";
    let s = setup(
        jobs,
        N,
        RunTime::Uniform(Duration::from_millis(1200), Duration::from_millis(1500)),
    )
    .await;
    let resp = s
        .http
        .post(format!("{}/api/jobs", s.base))
        .body("id: sim-slow\nversion: \"1\"\nexecute:\n  shell: sh\n  script: sleep 9\n  timeout: 1s\n")
        .send()
        .await
        .unwrap();
    assert!(
        resp.status().is_success(),
        "register sim-slow: {}",
        resp.status()
    );

    let detail = broadcast(&s, "sim-long", N).await;
    let e = &detail.execution;
    assert_eq!(e.success_count + e.failure_count, N as i64);
    let client = async_nats::connect(s.nats.url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut events = js
        .get_stream(kanade_protocol::names::STREAM_EVENTS)
        .await
        .unwrap();
    let announced = events.info().await.unwrap().state.messages;
    assert_eq!(announced, N as u64, "one started event per machine");
    assert!(
        detail.results.iter().all(|r| {
            let took = r.finished_at.unwrap() - r.started_at.unwrap();
            took >= chrono::Duration::milliseconds(1150)
        }),
        "each result reports the run's own time"
    );

    let detail = broadcast(&s, "sim-slow", N).await;
    assert_eq!(
        detail.execution.outcomes.timed_out, N as i64,
        "{:?}",
        detail.execution
    );
    assert!(
        detail
            .results
            .iter()
            .all(|r| r.exit_code == Some(kanade_protocol::names::exit_code::KILLED)),
        "every run killed at its timeout"
    );
    let announced = events.info().await.unwrap().state.messages;
    assert_eq!(announced, N as u64, "a run cut at 1 s is not announced");
    s.fleet.stop(Duration::from_secs(10)).await;
    s.backend.abort();
}
