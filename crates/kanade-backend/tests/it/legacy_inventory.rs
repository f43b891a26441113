//! The original's legacy inventory feed: a snapshot published on `inventory.<pc>.<kind>`
//! lands in stream INVENTORY and becomes the facts of job `legacy-<kind>` for that machine
//! (newest wins, a non-object or a bad subject is dropped), and a derived group's condition
//! can select machines by it.

use std::time::Duration;

use kanade_protocol::derived::DerivedGroupView;
use kanade_protocol::names;
use kanade_protocol::subject;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestBackend, wait_for};

#[tokio::test]
async fn legacy_snapshots_become_inventory_facts_once() {
    let b = TestBackend::start().await;
    let nats = b.nats_client().await;
    let js = async_nats::jetstream::new(nats);
    let send = |subject: String, body: serde_json::Value| {
        let js = js.clone();
        async move {
            js.publish(subject, serde_json::to_vec(&body).unwrap().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
    };
    send(
        subject::inventory("old-pc", "hw"),
        json!({"os": "Windows 10", "ram_mb": 8192, "collected_at": "2026-01-01T00:00:00Z"}),
    )
    .await;
    send(
        subject::inventory("old-pc", "hw"),
        json!({"os": "Windows 11", "ram_mb": 16384, "collected_at": "2026-02-01T00:00:00Z"}),
    )
    .await;
    // An older snapshot arriving late, and garbage: neither replaces the newest.
    send(
        subject::inventory("old-pc", "hw"),
        json!({"os": "Windows 7", "collected_at": "2025-01-01T00:00:00Z"}),
    )
    .await;
    send(
        subject::inventory("old-pc", "sw"),
        json!(["not", "an", "object"]),
    )
    .await;
    send(
        subject::inventory("web01.corp", "net"),
        json!({"ip": "10.0.0.1"}),
    )
    .await;

    let stream = js.get_stream(names::STREAM_INVENTORY).await.unwrap();
    assert_eq!(stream.cached_info().config.subjects, ["inventory.>"]);
    wait_for(
        "the snapshots projected",
        Duration::from_secs(10),
        || async {
            b.query_i64("SELECT COUNT(*) FROM inventory_facts WHERE job_id LIKE 'legacy-%'") == 2
        },
    )
    .await;
    wait_for(
        "the newest snapshot kept",
        Duration::from_secs(10),
        || async {
            b.query_i64(
            "SELECT COUNT(*) FROM inventory_facts WHERE pc_id = 'old-pc' AND job_id = 'legacy-hw' \
             AND json_extract(facts_json, '$.os') = 'Windows 11'",
        ) == 1
        },
    )
    .await;
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM inventory_facts WHERE pc_id = 'web01.corp' AND job_id = 'legacy-net'"),
        1
    );

    // A derived group can select by it.
    let resp = b
        .http
        .post(b.url("/api/group-defs"))
        .json(&json!({"name": "win11", "where": "EXISTS (SELECT 1 FROM inventory_facts f WHERE f.pc_id = machine.pc_id AND f.job_id = 'legacy-hw' AND json_extract(f.facts_json, '$.os') = 'Windows 11')"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let view: DerivedGroupView = resp.json().await.unwrap();
    assert_eq!(view.members, ["old-pc"]);
}
