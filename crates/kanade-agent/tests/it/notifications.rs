//! Notifications for the people at the machine: only the machines a notification targets keep
//! it (by pc, group or all, once per id, never when expired), `kanade-agent notifications
//! list` (the real binary, on the agent's socket) shows them, a new one is handed to
//! `notify-send` on the session bus, and `ack` publishes a `NotificationAck` naming the local
//! account that confirmed into EVENTS.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use futures::TryStreamExt;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::{Notification, NotificationAck, Priority};

use crate::support::{
    AGENT_BIN, Agent, Broker, ChildAgent, WAIT, eventually, output_retrying, pc_id, read_stream,
    write_agent_toml,
};

fn notification(id: &str, title: &str) -> Notification {
    Notification {
        id: id.to_owned(),
        priority: Priority::Warn,
        require_ack: false,
        title: title.to_owned(),
        body: String::new(),
        issued_at: chrono::Utc::now(),
        issued_by: Some("test".into()),
        expires_at: None,
        target: Default::default(),
        toast: false,
    }
}

async fn publish(broker: &Broker, subject: &str, notification: &Notification) {
    broker
        .send_raw(subject, serde_json::to_vec(notification).unwrap())
        .await;
}

/// Waits until a consumer of `subject` exists on NOTIFICATIONS (the agent makes one per
/// subject it listens to).
async fn wait_consumer(broker: &Broker, pc: &str, subject: &str) {
    let ready = eventually(WAIT, || async {
        let Ok(stream) = broker.js.get_stream(names::STREAM_NOTIFICATIONS).await else {
            return false;
        };
        let consumers: Vec<_> = match stream.consumers().try_collect().await {
            Ok(consumers) => consumers,
            Err(_) => return false,
        };
        consumers.iter().any(|c| c.config.filter_subject == subject)
    })
    .await;
    assert!(ready, "{pc} never listened on {subject}");
}

/// `kanade-agent notifications <args> --config <config>`.
async fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    let mut command = tokio::process::Command::new(AGENT_BIN);
    command
        .arg("notifications")
        .args(args)
        .arg("--config")
        .arg(config)
        .env_remove("RUST_LOG");
    output_retrying(&mut command).await
}

/// The ids `list --json` shows, in the order listed.
async fn listed_ids(config: &Path) -> Vec<String> {
    let output = cli(config, &["list", "--json"]).await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["result"], "notifications", "{answer}");
    answer["notifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["notification"]["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn notifications_reach_only_the_machines_they_target() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let in_lab = pc_id("lab");
    let elsewhere = pc_id("other");
    broker.set_groups(&in_lab, &["lab"]).await;
    let mut configs = Vec::new();
    let mut agents = Vec::new();
    for pc in [&in_lab, &elsewhere] {
        let data_dir = dir.path().join(pc.as_str());
        let config = dir.path().join(format!("{pc}.toml"));
        write_agent_toml(&config, &broker, pc, &data_dir);
        configs.push(config);
        agents.push(Agent::start(&broker, pc, &data_dir).await);
    }
    wait_consumer(&broker, &in_lab, &subject::notifications_group("lab")).await;
    wait_consumer(&broker, &elsewhere, &subject::notifications_pc(&elsewhere)).await;

    publish(
        &broker,
        &subject::notifications_pc(&in_lab),
        &notification("to-pc", "Your disk is full"),
    )
    .await;
    // One notification targeted at the pc and its group arrives twice: kept once.
    let both = notification("to-group", "Lab closes at six");
    publish(&broker, &subject::notifications_group("lab"), &both).await;
    publish(&broker, &subject::notifications_pc(&in_lab), &both).await;
    let mut stale = notification("stale", "Old news");
    stale.expires_at = Some(chrono::Utc::now() - chrono::TimeDelta::seconds(1));
    publish(&broker, subject::NOTIFICATIONS_ALL, &stale).await;
    // Last: once a machine has it, it has seen everything published before.
    publish(
        &broker,
        subject::NOTIFICATIONS_ALL,
        &notification("to-all", "Maintenance on Sunday"),
    )
    .await;

    for config in &configs {
        let arrived = eventually(WAIT, || async {
            listed_ids(config).await.contains(&"to-all".to_owned())
        })
        .await;
        assert!(arrived, "{config:?} never listed to-all");
    }
    let mut lab_ids = listed_ids(&configs[0]).await;
    lab_ids.sort();
    assert_eq!(lab_ids, ["to-all", "to-group", "to-pc"]);
    assert_eq!(listed_ids(&configs[1]).await, ["to-all"]);

    let plain = cli(&configs[0], &["list"]).await;
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(plain.status.success());
    assert!(
        text.contains("to-pc") && text.contains("Your disk is full"),
        "{text}"
    );
    for agent in agents {
        agent.stop().await;
    }
}

#[tokio::test]
async fn a_person_confirms_a_notification_and_the_ack_names_them() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("ack");
    let config = dir.path().join("agent.toml");
    write_agent_toml(&config, &broker, &pc, &dir.path().join("data"));
    // A notify-send that writes down what it was asked to show, and a session bus address.
    let bin = dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let shown = dir.path().join("shown.txt");
    let fake = bin.join("notify-send");
    std::fs::write(
        &fake,
        format!("#!/bin/sh\nprintf '%s\\n' \"$@\" >> {shown:?}\n"),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let agent = ChildAgent::start(
        Path::new(AGENT_BIN),
        &config,
        &[
            ("PATH", path.as_str()),
            ("DBUS_SESSION_BUS_ADDRESS", "unix:path=/nonexistent/bus"),
            // Run straight from target/: never confirm (that would write next to it).
            ("KANADE_AGENT_HEALTHY_AFTER_SECS", "3600"),
        ],
    )
    .await;
    wait_consumer(&broker, &pc, &subject::notifications_pc(&pc)).await;

    let mut urgent = notification("reboot-1", "Reboot tonight");
    urgent.body = "Please save your work.".into();
    urgent.require_ack = true;
    urgent.priority = Priority::Emergency;
    publish(&broker, &subject::notifications_pc(&pc), &urgent).await;
    let desktop = eventually(WAIT, || async {
        std::fs::read_to_string(&shown)
            .unwrap_or_default()
            .contains("Reboot tonight")
    })
    .await;
    assert!(desktop, "not shown:\n{}", agent.output());
    let args = std::fs::read_to_string(&shown).unwrap();
    assert!(args.contains("--urgency=critical"), "{args}");
    assert!(
        args.contains("kanade-agent notifications ack reboot-1"),
        "{args}"
    );

    let listed = cli(&config, &["list"]).await;
    let text = String::from_utf8_lossy(&listed.stdout);
    assert!(
        text.contains("reboot-1") && text.contains("please confirm"),
        "{text}"
    );

    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .expect("the test runs as a named account")
        .name;
    let acked = cli(&config, &["ack", "reboot-1"]).await;
    assert!(
        acked.status.success(),
        "{}",
        String::from_utf8_lossy(&acked.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&acked.stdout),
        format!("Confirmed reboot-1 as {me}.\n")
    );
    let filter = format!("events.notifications.acked.{pc}.>");
    let landed = eventually(WAIT, || async {
        !read_stream::<NotificationAck>(&broker.js, names::STREAM_EVENTS, &filter)
            .await
            .is_empty()
    })
    .await;
    assert!(landed, "no ack in EVENTS:\n{}", agent.output());
    let acks: Vec<NotificationAck> = read_stream(&broker.js, names::STREAM_EVENTS, &filter).await;
    assert_eq!(acks.len(), 1, "{acks:#?}");
    assert_eq!(acks[0].notification_id, "reboot-1");
    assert_eq!(acks[0].pc_id, pc);
    assert_eq!(acks[0].user, me);

    let answer = cli(&config, &["list", "--json"]).await;
    let answer: serde_json::Value = serde_json::from_slice(&answer.stdout).unwrap();
    assert_eq!(answer["user"], me.as_str());
    assert_eq!(answer["notifications"][0]["acked"], true, "{answer}");

    let unknown = cli(&config, &["ack", "no-such-thing"]).await;
    assert!(!unknown.status.success());
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("no current notification"), "{stderr}");
    agent.stop().await;

    let gone = cli(&config, &["list"]).await;
    assert!(!gone.status.success());
    let stderr = String::from_utf8_lossy(&gone.stderr);
    assert!(stderr.contains("the agent is not running"), "{stderr}");
}

/// A machine that was away gets what was sent meanwhile, once; a brand-new machine does not
/// get the backlog from before it first listened.
#[tokio::test]
async fn an_absent_machine_catches_up_and_a_new_one_gets_no_backlog() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    publish(
        &broker,
        subject::NOTIFICATIONS_ALL,
        &notification("before", "Sent before anyone listened"),
    )
    .await;
    let pc = pc_id("away");
    let data_dir = dir.path().join(pc.as_str());
    let config = dir.path().join(format!("{pc}.toml"));
    write_agent_toml(&config, &broker, &pc, &data_dir);
    let agent = Agent::start(&broker, &pc, &data_dir).await;
    wait_consumer(&broker, &pc, subject::NOTIFICATIONS_ALL).await;
    publish(
        &broker,
        subject::NOTIFICATIONS_ALL,
        &notification("while-here", "First"),
    )
    .await;
    let here = eventually(WAIT, || async {
        listed_ids(&config).await.contains(&"while-here".to_owned())
    })
    .await;
    assert!(here);
    agent.stop().await;

    publish(
        &broker,
        &subject::notifications_pc(&pc),
        &notification("while-away", "Sent while it was off"),
    )
    .await;
    let agent = Agent::start(&broker, &pc, &data_dir).await;
    let caught_up = eventually(WAIT, || async {
        listed_ids(&config).await.contains(&"while-away".to_owned())
    })
    .await;
    assert!(caught_up, "{:?}", listed_ids(&config).await);
    let mut ids = listed_ids(&config).await;
    ids.sort();
    assert_eq!(
        ids,
        ["while-away", "while-here"],
        "no backlog, nothing twice"
    );
    agent.stop().await;
}

/// A confirmation is also a read mark in KV `notifications_read` (`<pc>.<user>.<id>`), and the
/// list honours marks it finds there, so a person who confirmed before a reinstall (or through
/// an original kanade client) is not asked again.
#[tokio::test]
async fn confirmations_are_read_marks_in_the_broker_and_the_list_honours_them() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("marks");
    let data_dir = dir.path().join(pc.as_str());
    let config = dir.path().join(format!("{pc}.toml"));
    write_agent_toml(&config, &broker, &pc, &data_dir);
    let agent = Agent::start(&broker, &pc, &data_dir).await;
    wait_consumer(&broker, &pc, &subject::notifications_pc(&pc)).await;
    let me = nix::unistd::User::from_uid(nix::unistd::getuid())
        .unwrap()
        .expect("the test runs as a named account")
        .name;
    let marks = broker
        .js
        .get_key_value(names::KV_NOTIFICATIONS_READ)
        .await
        .unwrap();
    // Confirmed earlier, elsewhere: the mark is in the broker before the notification arrives.
    let earlier = kanade_protocol::wire::NotificationRead {
        acked_at: chrono::Utc::now(),
        acked_by: me.clone(),
    };
    marks
        .put(
            names::notification_read_key(&pc, &me, "seen-before"),
            serde_json::to_vec(&earlier).unwrap().into(),
        )
        .await
        .unwrap();
    for id in ["seen-before", "fresh"] {
        let mut n = notification(id, "Please confirm");
        n.require_ack = true;
        publish(&broker, &subject::notifications_pc(&pc), &n).await;
    }
    let acked = |answer: &serde_json::Value, id: &str| {
        answer["notifications"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["notification"]["id"] == id)
            .map(|n| n["acked"] == true)
    };
    let listed = eventually(WAIT, || async {
        let answer = cli(&config, &["list", "--json"]).await;
        let answer: serde_json::Value = serde_json::from_slice(&answer.stdout).unwrap_or_default();
        answer["notifications"]
            .as_array()
            .is_some_and(|a| a.len() == 2)
    })
    .await;
    assert!(listed, "both notifications listed");
    let answer = cli(&config, &["list", "--json"]).await;
    let answer: serde_json::Value = serde_json::from_slice(&answer.stdout).unwrap();
    assert_eq!(acked(&answer, "seen-before"), Some(true), "{answer}");
    assert_eq!(acked(&answer, "fresh"), Some(false), "{answer}");

    let done = cli(&config, &["ack", "fresh"]).await;
    assert!(
        done.status.success(),
        "{}",
        String::from_utf8_lossy(&done.stderr)
    );
    let entry = marks
        .get(names::notification_read_key(&pc, &me, "fresh"))
        .await
        .unwrap()
        .expect("the confirmation is a read mark in the broker");
    let mark: kanade_protocol::wire::NotificationRead = serde_json::from_slice(&entry).unwrap();
    assert_eq!(mark.acked_by, me);
    agent.stop().await;
}
