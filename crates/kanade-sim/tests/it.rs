//! The simulator against a real nats-server and an in-process backend: 50 simulated machines
//! come online by heartbeat, and a broadcast exec completes with 50 results.

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_simulated_machines_come_online_and_answer_a_broadcast() {
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
        .body("id: sim-hello\nversion: \"1\"\nexecute:\n  shell: sh\n  script: echo hello\n  timeout: 30s\n")
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
        machines: MACHINES,
        groups: "lab:20%,office:80%".parse().unwrap(),
        ramp: Duration::from_millis(500),
        run_time: RunTime::Uniform(Duration::ZERO, Duration::from_millis(50)),
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
                    .is_ok_and(|p| p.total == MACHINES as u64),
                Err(_) => false,
            }
        }
    };
    wait_for("50 machines online", Duration::from_secs(20), online).await;

    let fired: ExecResponse = http
        .post(format!("{base}/api/exec/sim-hello"))
        .json(&serde_json::json!({"target": {"all": true}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fired.target_count, MACHINES as i64);
    let url = format!("{base}/api/executions/{}", fired.exec_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let detail = loop {
        let detail: ExecutionDetail = http.get(&url).send().await.unwrap().json().await.unwrap();
        if detail.execution.status == "completed" {
            break detail;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the broadcast did not complete: {:?}",
            detail.execution
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
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

    let stats = fleet.stop(Duration::from_secs(10)).await;
    assert_eq!(stats.unacked, 0);
    assert_eq!(stats.js_lost, 0);
    assert!(stats.commands >= MACHINES as u64);
    backend.abort();
}
