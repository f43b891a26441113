//! Notification read marks in zero-trust mode: a person at the machine confirms a notification
//! over the agent's local socket, and the confirmation lands in KV `notifications_read` under
//! the machine's own key, which its grant allows and nothing else needed.

use std::time::Duration;

use kanade_agent::local::{self, Request, Response};
use kanade_protocol::api::{NotificationRequest, Target};
use kanade_protocol::names;
use kanade_protocol::wire::NotificationRead;

use crate::support::{System, wait_for};

#[tokio::test]
async fn a_confirmation_is_written_under_the_machines_own_key() {
    let system = System::start_zero_trust(&["rm-one"]).await;
    system.wait_online(1).await;
    let socket = local::socket_path(&system.agent_dir("rm-one"));
    system
        .api
        .send_notification(&NotificationRequest {
            id: Some("patch-day".into()),
            priority: Default::default(),
            require_ack: true,
            title: "Patch day".into(),
            body: String::new(),
            expires_at: None,
            target: Target {
                pcs: vec!["rm-one".into()],
                ..Default::default()
            },
            toast: false,
        })
        .await
        .unwrap();
    let socket = &socket;
    wait_for(
        "the notification listed",
        Duration::from_secs(30),
        || async move {
            matches!(
                local::request(socket, &Request::List).await,
                Ok(Response::Notifications { notifications, .. }) if notifications.len() == 1
            )
        },
    )
    .await;
    let answer = local::request(
        socket,
        &Request::Ack {
            id: "patch-day".into(),
        },
    )
    .await
    .unwrap();
    let Response::Acked { user, .. } = answer else {
        panic!("not acked: {answer:?}");
    };

    let js = async_nats::jetstream::new(system.backend_nats().await);
    let marks = js
        .get_key_value(names::KV_NOTIFICATIONS_READ)
        .await
        .unwrap();
    let entry = marks
        .get(names::notification_read_key("rm-one", &user, "patch-day"))
        .await
        .unwrap()
        .expect("the read mark is in the broker");
    let mark: NotificationRead = serde_json::from_slice(&entry).unwrap();
    assert_eq!(mark.acked_by, user);
    let Ok(Response::Notifications { notifications, .. }) =
        local::request(socket, &Request::List).await
    else {
        panic!("no list");
    };
    assert!(notifications[0].acked);
    let violations = system.broker_violations();
    assert!(violations.is_empty(), "{violations:#?}");
}
