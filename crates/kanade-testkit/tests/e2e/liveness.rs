//! Liveness with real agents: three machines heartbeating are online; stopping one flips it
//! offline with an `agent_offline` timeline event; starting it again records `agent_online`.

use std::time::Duration;

use kanade_protocol::api::{AgentRow, ObsEntry, Page};
use kanade_protocol::duration::HumanDuration;

use crate::support::{System, wait_for};

async fn get<T: serde::de::DeserializeOwned>(system: &System, path: &str) -> T {
    let token = system.token.clone();
    reqwest::Client::new()
        .get(format!("{}{path}", system.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

async fn kinds(system: &System, pc: &str) -> Vec<String> {
    let page: Page<ObsEntry> = get(
        system,
        &format!("/api/obs_events?pc_id={pc}&source=backend:heartbeat-watchdog"),
    )
    .await;
    page.items.iter().rev().map(|e| e.kind.clone()).collect()
}

#[tokio::test]
async fn stopping_an_agent_flips_it_offline_and_back() {
    let mut system = System::start_with(&["live-a", "live-b", "live-c"], |c| {
        c.telemetry.offline_after = HumanDuration::from_secs(3);
        c.telemetry.watchdog_interval = HumanDuration(Duration::from_millis(250));
    })
    .await;
    let online: Page<AgentRow> = get(&system, "/api/agents?online=true").await;
    assert_eq!(online.total, 3);

    system.stop_agent("live-c").await;
    wait_for("agent_offline", Duration::from_secs(20), || async {
        kinds(&system, "live-c").await == ["agent_offline"]
    })
    .await;
    let offline: Page<AgentRow> = get(&system, "/api/agents?online=false").await;
    assert_eq!(
        offline
            .items
            .iter()
            .map(|a| a.pc_id.as_str())
            .collect::<Vec<_>>(),
        ["live-c"]
    );
    assert!(
        kinds(&system, "live-a").await.is_empty(),
        "the others never went away"
    );

    system.start_agent("live-c").await;
    wait_for("agent_online", Duration::from_secs(20), || async {
        kinds(&system, "live-c").await == ["agent_offline", "agent_online"]
    })
    .await;
    let row: AgentRow = get(&system, "/api/agents/live-c").await;
    assert!(row.online);
}
