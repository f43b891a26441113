//! Saved inventory searches (`/api/saved-searches`, KV `saved_searches`): viewers list and use
//! them but cannot save or delete; an operator's private ones stay private, shared ones are
//! listed to all; a bad name or query is 422 naming it; operators delete only their own,
//! admins any; every change is audited. Also: the agent list carries each machine's
//! addresses, uptime and load from its heartbeat, and `q` finds a machine by address.

use std::time::Duration;

use chrono::Utc;
use kanade_protocol::api::{AgentRow, ErrorBody, Page};
use kanade_protocol::saved::SavedSearch;
use kanade_protocol::subject;
use kanade_protocol::wire::Heartbeat;
use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestBackend, wait_for};

async fn list(client: &reqwest::Client, b: &TestBackend) -> Vec<SavedSearch> {
    let resp = client
        .get(b.url("/api/saved-searches"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

async fn save(
    client: &reqwest::Client,
    b: &TestBackend,
    body: serde_json::Value,
) -> reqwest::Response {
    client
        .post(b.url("/api/saved-searches"))
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn operators_save_viewers_use_and_private_ones_stay_private() {
    let b = TestBackend::start().await;
    let viewer = b.account("vera", "viewer").await;
    let otto = b.account("otto", "operator").await;
    let olga = b.account("olga", "operator").await;
    let low_disk =
        json!({"name": "Low disk", "query": "table=inv_volumes&free__lt=1000", "shared": true});

    // A viewer may not write, whatever the body.
    let resp = save(&viewer, &b, low_disk.clone()).await;
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);

    let resp = save(&otto, &b, low_disk.clone()).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let shared: SavedSearch = resp.json().await.unwrap();
    assert_eq!(shared.owner, "otto");
    assert!(shared.shared);
    let resp = save(
        &otto,
        &b,
        json!({"name": "mine only", "query": "table=inv_apps&name__eq=vim"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let private: SavedSearch = resp.json().await.unwrap();

    // Saving under the same name (any case) replaces it and keeps its id.
    let resp = save(
        &otto,
        &b,
        json!({"name": "LOW DISK", "query": "table=inv_volumes&free__lt=500", "shared": true}),
    )
    .await;
    let replaced: SavedSearch = resp.json().await.unwrap();
    assert_eq!(replaced.id, shared.id);
    assert_eq!(replaced.query, "table=inv_volumes&free__lt=500");

    let theirs = list(&otto, &b).await;
    assert_eq!(
        theirs.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["LOW DISK", "mine only"]
    );
    for other in [&viewer, &olga] {
        let seen = list(other, &b).await;
        assert_eq!(seen.len(), 1, "only the shared one: {seen:?}");
        assert_eq!(seen[0].id, shared.id);
    }

    // Only its owner (or an admin) deletes it; a viewer never.
    let path = format!("/api/saved-searches/{}", private.id);
    for (client, status) in [
        (&viewer, StatusCode::FORBIDDEN),
        (&olga, StatusCode::NOT_FOUND),
    ] {
        let resp = client.delete(b.url(&path)).send().await.unwrap();
        assert_eq!(resp.status(), status);
    }
    let resp = otto.delete(b.url(&path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    let resp = otto.delete(b.url(&path)).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = b
        .http
        .delete(b.url(&format!("/api/saved-searches/{}", shared.id)))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::NO_CONTENT,
        "an admin deletes anyone's"
    );
    assert!(list(&otto, &b).await.is_empty());

    wait_for("audit rows", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM audit_log WHERE action LIKE 'saved_search.%'") == 5
    })
    .await;
}

#[tokio::test]
async fn bad_searches_are_refused_naming_the_field() {
    let b = TestBackend::start().await;
    for (body, field) in [
        (json!({"name": " ", "query": "table=inv_x"}), "name"),
        (
            json!({"name": "n".repeat(81), "query": "table=inv_x"}),
            "name",
        ),
        (json!({"name": "no table", "query": "free__lt=3"}), "query"),
        (json!({"name": "empty", "query": ""}), "query"),
    ] {
        let resp = save(&b.http, &b, body.clone()).await;
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: ErrorBody = resp.json().await.unwrap();
        assert_eq!(err.error.field.as_deref(), Some(field), "{body}");
    }
    let resp = save(
        &b.http,
        &b,
        json!({"name": "x", "query": "table=inv_x", "owner": "eve"}),
    )
    .await;
    assert_eq!(
        resp.status(),
        StatusCode::BAD_REQUEST,
        "unknown keys refused"
    );
    assert!(list(&b.http, &b).await.is_empty(), "nothing stored");
}

#[tokio::test]
async fn the_agent_list_shows_addresses_uptime_and_load() {
    let b = TestBackend::start().await;
    let hb = Heartbeat {
        pc_id: "web-1".into(),
        at: Utc::now(),
        agent_version: "0.1.0".into(),
        hostname: "web-1.lan".into(),
        ip_addresses: vec!["10.1.2.3".into(), "2001:db8::7".into()],
        uptime_secs: Some(90_061),
        load_avg: vec![0.5, 0.25, 0.125],
        ..Default::default()
    };
    let old = Heartbeat {
        pc_id: "old-1".into(),
        at: Utc::now(),
        agent_version: "0.0.9".into(),
        ..Default::default()
    };
    let nats = b.nats_client().await;
    for beat in [&hb, &old] {
        nats.publish(
            subject::heartbeat(&beat.pc_id),
            serde_json::to_vec(beat).unwrap().into(),
        )
        .await
        .unwrap();
    }
    nats.flush().await.unwrap();
    wait_for(
        "both heartbeats projected",
        Duration::from_secs(10),
        || async { b.query_i64("SELECT COUNT(*) FROM agents") == 2 },
    )
    .await;
    let page: Page<AgentRow> = b.get("/api/agents?sort=uptime_secs&order=desc").await;
    let web = &page.items[0];
    assert_eq!(web.pc_id, "web-1");
    assert_eq!(web.ip_addresses, ["10.1.2.3", "2001:db8::7"]);
    assert_eq!(web.uptime_secs, Some(90_061));
    assert_eq!(web.load_avg, [0.5, 0.25, 0.125]);
    let older = &page.items[1];
    assert!(older.ip_addresses.is_empty() && older.uptime_secs.is_none());
    assert!(
        older.load_avg.is_empty(),
        "an agent that does not say: unknown"
    );

    let found: Page<AgentRow> = b.get("/api/agents?q=10.1.2").await;
    assert_eq!(
        found
            .items
            .iter()
            .map(|a| a.pc_id.as_str())
            .collect::<Vec<_>>(),
        ["web-1"]
    );
}
