//! Desired-state APIs: groups (compare-and-set), layered config with its sources, the
//! fleet freeze, revocation and kill.

use futures::StreamExt;
use kanade_protocol::api::{
    EffectiveConfigView, ErrorBody, FreezeStatus, GroupList, GroupSummary, JobStatus,
};
use reqwest::StatusCode;
use serde_json::json;

use crate::support::beat;
use crate::support::{HELLO, TestBackend};

#[tokio::test]
async fn group_membership_is_edited_without_losing_concurrent_changes() {
    let b = TestBackend::start().await;
    beat(&b, "pc1", chrono::Duration::zero()).await;
    beat(&b, "pc2", chrono::Duration::zero()).await;
    let put: GroupList = b
        .http
        .put(b.url("/api/agents/pc1/groups"))
        .json(&json!({"groups": ["lab", "ops", "lab"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(put.groups, ["lab", "ops"], "sorted and de-duplicated");
    let mut adds = Vec::new();
    for i in 0..12 {
        let (http, url) = (
            b.http.clone(),
            b.url(&format!("/api/agents/pc1/groups/g{i:02}")),
        );
        adds.push(tokio::spawn(async move {
            http.put(url).send().await.unwrap().status()
        }));
    }
    for add in adds {
        assert_eq!(add.await.unwrap(), StatusCode::OK);
    }
    let now: GroupList = b.get("/api/agents/pc1/groups").await;
    assert_eq!(now.groups.len(), 14, "{:?}", now.groups);
    let after: GroupList = b
        .http
        .delete(b.url("/api/agents/pc1/groups/ops"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!after.groups.contains(&"ops".to_owned()));
    b.http
        .put(b.url("/api/agents/pc2/groups"))
        .json(&json!({"groups": ["lab"]}))
        .send()
        .await
        .unwrap();
    let groups: Vec<GroupSummary> = b.get("/api/groups").await;
    assert_eq!(groups.iter().find(|g| g.name == "lab").unwrap().members, 2);
    let bad = b
        .http
        .put(b.url("/api/agents/pc1/groups"))
        .json(&json!({"groups": ["ok", "not ok"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        bad.json::<ErrorBody>()
            .await
            .unwrap()
            .error
            .field
            .as_deref(),
        Some("groups[1]")
    );
    let bad_pc = b
        .http
        .get(b.url("/api/agents/a.b.c.d.e/groups"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_pc.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn effective_config_layers_scopes_and_names_their_source() {
    let b = TestBackend::start().await;
    beat(&b, "pc1", chrono::Duration::zero()).await;
    b.http
        .put(b.url("/api/agents/pc1/groups"))
        .json(&json!({"groups": ["zeta", "alpha"]}))
        .send()
        .await
        .unwrap();
    for (scope, patch) in [
        (
            "global",
            json!({"heartbeat_interval": "20s", "host_perf_interval": "2m"}),
        ),
        (
            "groups.alpha",
            json!({"host_perf_interval": "3m", "max_local_concurrent": 2}),
        ),
        ("groups.zeta", json!({"host_perf_interval": "5m"})),
        ("pcs.pc1", json!({"max_local_concurrent": 8})),
    ] {
        let resp = b
            .http
            .patch(b.url(&format!("/api/config/{scope}")))
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{scope}");
    }
    let view: EffectiveConfigView = b.get("/api/agents/pc1/effective_config").await;
    assert_eq!(view.effective.heartbeat_interval.as_secs(), 20);
    assert_eq!(view.effective.host_perf_interval.as_secs(), 300);
    assert_eq!(view.effective.max_local_concurrent, 8);
    let source = |f: &str| {
        view.sources
            .iter()
            .find(|s| s.field == f)
            .unwrap()
            .scope
            .clone()
    };
    assert_eq!(
        (
            source("heartbeat_interval"),
            source("host_perf_interval"),
            source("max_local_concurrent"),
            source("process_perf_top_n")
        ),
        (
            "global".into(),
            "groups.zeta".into(),
            "pcs.pc1".into(),
            "default".into()
        )
    );

    // null unsets; unknown fields and scopes are named.
    let unset = b
        .http
        .patch(b.url("/api/config/pcs.pc1"))
        .json(&json!({"max_local_concurrent": null}))
        .send()
        .await
        .unwrap();
    assert_eq!(unset.status(), StatusCode::OK);
    let view: EffectiveConfigView = b.get("/api/agents/pc1/effective_config").await;
    assert_eq!(view.effective.max_local_concurrent, 2);
    let unknown = b
        .http
        .patch(b.url("/api/config/global"))
        .json(&json!({"heartbeat": "5s"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        unknown
            .json::<ErrorBody>()
            .await
            .unwrap()
            .error
            .field
            .as_deref(),
        Some("heartbeat")
    );
    let wrong_type = b
        .http
        .patch(b.url("/api/config/global"))
        .json(&json!({"heartbeat_interval": "often"}))
        .send()
        .await
        .unwrap();
    assert_eq!(wrong_type.status(), StatusCode::BAD_REQUEST);
    let bad_scope = b
        .http
        .get(b.url("/api/config/users.x"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_scope.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        b.http
            .delete(b.url("/api/config/global"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let view: EffectiveConfigView = b.get("/api/agents/pc1/effective_config").await;
    assert_eq!(
        view.effective.heartbeat_interval.as_secs(),
        30,
        "back to the default"
    );
}

#[tokio::test]
async fn freeze_on_and_off() {
    let b = TestBackend::start().await;
    let off: FreezeStatus = b.get("/api/freeze").await;
    assert!(!off.frozen);
    let on: FreezeStatus = b
        .http
        .put(b.url("/api/freeze"))
        .json(&json!({"reason": "year-end"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(on.frozen);
    assert_eq!(on.freeze.as_ref().unwrap().set_by.as_deref(), Some("admin"));
    let later: FreezeStatus = b
        .http
        .put(b.url("/api/freeze"))
        .json(&json!({"from": "2999-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!later.frozen, "a future freeze is not active yet");
    let bad = b
        .http
        .put(b.url("/api/freeze"))
        .json(&json!({"from": "2030-01-02T00:00:00Z", "until": "2030-01-01T00:00:00Z"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b.http
            .delete(b.url("/api/freeze"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let status: FreezeStatus = b.get("/api/freeze").await;
    assert!(!status.frozen && status.freeze.is_none());
}

#[tokio::test]
async fn revoke_unrevoke_and_delete_revokes() {
    let b = TestBackend::start().await;
    assert!(
        b.http
            .post(b.url("/api/jobs"))
            .body(HELLO)
            .send()
            .await
            .unwrap()
            .status()
            .is_success()
    );
    let revoked: JobStatus = b
        .http
        .post(b.url("/api/jobs/hello/revoke"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(revoked.revoked);
    let kv =
        b.js.get_key_value(kanade_protocol::names::KV_SCRIPT_STATUS)
            .await
            .unwrap();
    assert_eq!(kv.get("hello").await.unwrap().unwrap().as_ref(), b"REVOKED");
    let active: JobStatus = b
        .http
        .post(b.url("/api/jobs/hello/unrevoke"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(!active.revoked);
    let schedule =
        "id: nightly-hello\njob_id: hello\nwhen: {cron: '0 3 * * *'}\ntarget: {all: true}\n";
    let created = b
        .http
        .post(b.url("/api/schedules"))
        .body(schedule)
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );
    assert_eq!(
        b.http
            .delete(b.url("/api/jobs/hello"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let detail: serde_json::Value = b.get("/api/schedules/nightly-hello").await;
    assert_eq!(
        detail["schedule"]["enabled"], false,
        "a deleted job's schedules are disabled: {detail}"
    );
    let status: JobStatus = b.get("/api/jobs/hello/status").await;
    assert!(
        status.revoked,
        "a deleted job is revoked so replayed commands are refused"
    );
}

#[tokio::test]
async fn kill_publishes_to_every_machine_of_the_execution() {
    let b = TestBackend::start().await;
    let nats = b.nats_client().await;
    let mut sub = nats
        .subscribe(kanade_protocol::subject::kill("exec-1"))
        .await
        .unwrap();
    nats.flush().await.unwrap();
    let resp = b
        .http
        .post(b.url("/api/executions/exec-1/kill"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::ACCEPTED);
    let got = tokio::time::timeout(std::time::Duration::from_secs(30), sub.next())
        .await
        .unwrap();
    assert!(got.is_some());
    crate::support::wait_for(
        "kill audited",
        std::time::Duration::from_secs(10),
        || async {
            b.query_i64(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'kill' AND target = 'exec-1'",
            ) == 1
        },
    )
    .await;
}

#[tokio::test]
async fn agent_releases_are_published_with_their_digest() {
    let b = TestBackend::start().await;
    let binary: Vec<u8> = (0..5 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let resp = b
        .http
        .post(b.url("/api/agent-releases?version=0.2.0&platform=linux-x86_64"))
        .body(binary.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::CREATED,
        "{}",
        resp.text().await.unwrap()
    );
    let list: Vec<kanade_protocol::api::AgentRelease> = b.get("/api/agent-releases").await;
    assert_eq!(list.len(), 1);
    assert_eq!(
        (list[0].key.as_str(), list[0].size),
        ("0.2.0-linux-x86_64", binary.len() as u64)
    );
    assert_eq!(
        list[0].sha256,
        kanade_backend::releases::sha256_hex(&binary)
    );
    let store =
        b.js.get_object_store(kanade_protocol::names::OBJ_AGENT_RELEASES)
            .await
            .unwrap();
    let mut object = store.get("0.2.0-linux-x86_64").await.unwrap();
    let mut back = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut object, &mut back)
        .await
        .unwrap();
    assert_eq!(back, binary);

    let otto = b.account("otto", "operator").await;
    let denied = otto
        .post(b.url("/api/agent-releases?version=0.3.0"))
        .body(vec![1u8])
        .send()
        .await
        .unwrap();
    assert_eq!(
        denied.status(),
        StatusCode::FORBIDDEN,
        "publishing needs an admin"
    );
    let bad = b
        .http
        .post(b.url("/api/agent-releases?version=../x"))
        .body(vec![1u8])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        b.http
            .delete(b.url("/api/agent-releases/0.2.0-linux-x86_64"))
            .send()
            .await
            .unwrap()
            .status(),
        StatusCode::NO_CONTENT
    );
    let list: Vec<kanade_protocol::api::AgentRelease> = b.get("/api/agent-releases").await;
    assert!(list.is_empty());
}
