//! Notifications against the real broker: they reach only the subjects of their target, are
//! listed from their projection, and an ack published on EVENTS lands in
//! `notification_acks` once.

use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use kanade_protocol::api::{NotificationDetail, NotificationSent, NotificationSummary, Page};
use kanade_protocol::subject;
use kanade_protocol::wire::NotificationAck;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestBackend, wait_for};

#[tokio::test]
async fn notifications_reach_only_the_targeted_subjects() {
    let b = TestBackend::start().await;
    let watcher = b.nats_client().await;
    let mut seen = watcher
        .subscribe(subject::NOTIFICATIONS_FILTER)
        .await
        .unwrap();
    watcher.flush().await.unwrap();

    let resp = b
        .http
        .post(b.url("/api/notifications"))
        .json(&json!({
            "id": "reboot-1",
            "priority": "emergency",
            "require_ack": true,
            "title": "Reboot at 22:00",
            "body": "Save your work.",
            "expires_at": (Utc::now() + chrono::Duration::hours(2)).to_rfc3339(),
            "target": {"groups": ["lab"], "pcs": ["pc1", "pc1"]},
            "toast": true
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let sent: NotificationSent = resp.json().await.unwrap();
    assert_eq!(sent.id, "reboot-1");
    assert_eq!(
        sent.subjects,
        ["notifications.group.lab", "notifications.pc.pc1"]
    );

    let mut subjects = Vec::new();
    for _ in 0..2 {
        let msg = tokio::time::timeout(Duration::from_secs(30), seen.next())
            .await
            .unwrap()
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&msg.payload).unwrap();
        assert_eq!(body["toast"], true, "the original's toast travels: {body}");
        subjects.push(msg.subject.to_string());
    }
    subjects.sort();
    assert_eq!(subjects, sent.subjects);
    let extra = tokio::time::timeout(Duration::from_millis(500), seen.next()).await;
    assert!(extra.is_err(), "nothing on any other subject: {extra:?}");

    let everyone = b
        .http
        .post(b.url("/api/notifications"))
        .json(&json!({"title": "Hello all", "target": {"all": true, "pcs": ["pc9"]}}))
        .send()
        .await
        .unwrap();
    let everyone: NotificationSent = everyone.json().await.unwrap();
    assert_eq!(everyone.subjects, ["notifications.all"]);

    wait_for(
        "both notifications projected",
        Duration::from_secs(10),
        || async { b.query_i64("SELECT COUNT(*) FROM notifications") == 2 },
    )
    .await;
    let list: Page<NotificationSummary> = b.get("/api/notifications").await;
    let reboot = list.items.iter().find(|n| n.id == "reboot-1").unwrap();
    assert_eq!(reboot.subjects, sent.subjects);
    assert_eq!(reboot.issued_by.as_deref(), Some("admin"));
    assert_eq!(reboot.target.groups, ["lab"]);

    let refusals = [
        (json!({"title": " ", "target": {"all": true}}), "title"),
        (json!({"title": "x", "target": {}}), "target"),
        (
            json!({"title": "x", "target": {"pcs": ["a.b.c.d.e"]}}),
            "target.pcs[0]",
        ),
        (
            json!({"title": "x", "priority": "loud", "target": {"all": true}}),
            "priority",
        ),
        (
            json!({"title": "x", "expires_at": "2000-01-01T00:00:00Z", "target": {"all": true}}),
            "expires_at",
        ),
    ];
    for (body, field) in refusals {
        let resp = b
            .http
            .post(b.url("/api/notifications"))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["field"], field, "{body}");
    }
    let unknown_key = b
        .http
        .post(b.url("/api/notifications"))
        .json(&json!({"title": "x", "target": {"all": true}, "colour": "red"}))
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_key.status(), StatusCode::BAD_REQUEST);

    let viewer = b.account("vic", "viewer").await;
    let resp = viewer
        .post(b.url("/api/notifications"))
        .json(&json!({"title": "x", "target": {"all": true}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    let resp = viewer
        .get(b.url("/api/notifications/reboot-1"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_ack_on_the_events_subject_lands_in_notification_acks_once() {
    let b = TestBackend::start().await;
    let resp = b
        .http
        .post(b.url("/api/notifications"))
        .json(&json!({"id": "n-1", "require_ack": true, "title": "Patch day", "target": {"pcs": ["pc1"]}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let ack = NotificationAck {
        notification_id: "n-1".into(),
        pc_id: "pc1".into(),
        user: "CORP\\alice".into(),
        acked_at: Utc::now(),
    };
    for _ in 0..2 {
        b.js.publish(
            subject::notification_acked(&ack.pc_id, &ack.user, &ack.notification_id),
            serde_json::to_vec(&ack).unwrap().into(),
        )
        .await
        .unwrap()
        .await
        .unwrap();
    }
    wait_for("the ack", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM notification_acks") == 1
            && b.query_i64("SELECT COUNT(*) FROM notifications") == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let detail: NotificationDetail = b.get("/api/notifications/n-1").await;
    assert_eq!(detail.notification.acks, 1);
    assert_eq!(detail.acked_by.len(), 1);
    assert_eq!(
        (
            detail.acked_by[0].pc_id.as_str(),
            detail.acked_by[0].user.as_str()
        ),
        ("pc1", "CORP\\alice")
    );
    let resp = b
        .http
        .get(b.url("/api/notifications/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}
