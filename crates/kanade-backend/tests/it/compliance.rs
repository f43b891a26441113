//! Compliance checks and alerts against the real broker: a transition into a listed status
//! alerts once, a steady state and a redelivery do not, out-of-order results keep the newest,
//! a replay after a wipe sends no old alert, and alert e-mail reaches a real SMTP sink.

use std::time::Duration;

use chrono::Utc;
use kanade_protocol::api::{CheckRow, ComplianceSummary, GroupEmails, Page};
use kanade_protocol::names;
use kanade_protocol::wire::Notification;
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

use crate::inventory::{projected, publish, register, rows, run};
use crate::support::{ADMIN_PASSWORD, TestBackend, wait_for};

const DISK: &str = "
id: disk
version: 1
execute: {shell: sh, script: check-disk, timeout: 30s}
check:
  name: disk-free
  label: Enough disk
  alert:
    on: [fail]
    notify_user: true
    require_ack: true
    title: '{label} is {status} on {pc_id}'
    body: 'Details: {detail} ({name})'
";

fn check_out(status: &str, detail: &str) -> String {
    json!({"status": status, "detail": detail}).to_string()
}

/// Alert notifications the broker holds for `pc`.
async fn alerts_sent(b: &TestBackend, pc: &str) -> Vec<Notification> {
    let stream = b.js.get_stream(names::STREAM_NOTIFICATIONS).await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    let mut out = Vec::new();
    for seq in 1..=last {
        let Ok(msg) = stream.get_raw_message(seq).await else {
            continue;
        };
        if msg.subject.as_str() == format!("notifications.pc.{pc}") {
            out.push(serde_json::from_slice(&msg.payload).unwrap());
        }
    }
    out
}

/// Waits until the alert task has had its chance: the result is projected, then the
/// notification count is stable at `want` for a moment.
async fn expect_alerts(b: &TestBackend, pc: &str, want: usize) -> Vec<Notification> {
    wait_for("the alert count", Duration::from_secs(10), || async {
        alerts_sent(b, pc).await.len() >= want
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let sent = alerts_sent(b, pc).await;
    assert_eq!(sent.len(), want, "{sent:#?}");
    sent
}

#[tokio::test]
async fn a_transition_into_fail_alerts_once_and_a_steady_state_stays_quiet() {
    let b = TestBackend::start().await;
    register(&b, DISK).await;
    let t = Utc::now() - chrono::Duration::minutes(1);
    let second = |n: i64| t + chrono::Duration::seconds(n);

    let ok = run("disk", "pc1", &check_out("ok", "fine"), 0, second(1));
    publish(&b, &ok).await;
    projected(&b, &ok).await;
    expect_alerts(&b, "pc1", 0).await;

    let fail = run("disk", "pc1", &check_out("fail", "/ at 97%"), 1, second(2));
    publish(&b, &fail).await;
    projected(&b, &fail).await;
    let sent = expect_alerts(&b, "pc1", 1).await;
    assert_eq!(sent[0].title, "Enough disk is fail on pc1");
    assert_eq!(sent[0].body, "Details: / at 97% (disk-free)");
    assert!(sent[0].require_ack);
    assert_eq!(sent[0].issued_by.as_deref(), Some("compliance:disk-free"));

    // Still failing, and the same result redelivered: nothing new.
    let still = run("disk", "pc1", &check_out("FAIL", "/ at 98%"), 1, second(3));
    publish(&b, &still).await;
    publish(&b, &fail).await;
    projected(&b, &still).await;
    expect_alerts(&b, "pc1", 1).await;

    // Recovered, then failing again: a second alert. A warn (not listed) never alerts.
    for (n, status) in [(4, "ok"), (5, "warn"), (6, "fail")] {
        let r = run("disk", "pc1", &check_out(status, "x"), 0, second(n));
        publish(&b, &r).await;
        projected(&b, &r).await;
    }
    expect_alerts(&b, "pc1", 2).await;
    assert_eq!(b.query_i64("SELECT COUNT(*) FROM check_alerts"), 2);

    // The alerts are recorded as sent notifications too.
    wait_for(
        "alert notifications projected",
        Duration::from_secs(10),
        || async {
            b.query_i64(
                "SELECT COUNT(*) FROM notifications WHERE issued_by = 'compliance:disk-free'",
            ) == 2
        },
    )
    .await;
}

#[tokio::test]
async fn out_of_order_results_keep_the_newest_and_the_views_agree() {
    let b = TestBackend::start().await;
    register(&b, DISK).await;
    let t = Utc::now() - chrono::Duration::minutes(1);
    let newer = run("disk", "pc1", &check_out("fail", "new"), 0, t);
    let older = run(
        "disk",
        "pc1",
        &check_out("ok", "old"),
        0,
        t - chrono::Duration::seconds(30),
    );
    let other = run("disk", "pc2", &check_out("nonsense", "?"), 0, t);
    let crashed = run("disk", "pc3", "", 2, t);
    for r in [&newer, &older, &other, &crashed] {
        publish(&b, r).await;
        projected(&b, r).await;
    }
    assert_eq!(
        rows(
            &b,
            "SELECT pc_id, status, detail FROM check_status ORDER BY pc_id"
        ),
        [
            "pc1|fail|new",
            "pc2|unknown|?",
            "pc3|unknown|the job exited 2 without a check result"
        ]
    );
    let summary: Vec<ComplianceSummary> = b.get("/api/compliance").await;
    assert_eq!(summary.len(), 1);
    let s = &summary[0];
    assert_eq!(
        (
            s.check_name.as_str(),
            s.label.as_deref(),
            s.ok,
            s.warn,
            s.fail,
            s.unknown
        ),
        ("disk-free", Some("Enough disk"), 0, 0, 1, 2)
    );
    assert_eq!(s.failing, ["pc1"]);
    let per_pc: Page<CheckRow> = b.get("/api/compliance/disk-free?status=unknown").await;
    assert_eq!(
        per_pc
            .items
            .iter()
            .map(|r| r.pc_id.as_str())
            .collect::<Vec<_>>(),
        ["pc2", "pc3"]
    );
    let mine: Vec<CheckRow> = b.get("/api/agents/pc1/checks").await;
    assert_eq!((mine.len(), mine[0].detail.as_deref()), (1, Some("new")));
    let resp = b
        .http
        .get(b.url("/api/compliance/nope"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = b
        .http
        .get(b.url("/api/compliance/disk-free?status=red"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    // The older ok never reported a transition: one alert (pc1 into fail) in all.
    expect_alerts(&b, "pc1", 1).await;
}

#[tokio::test]
async fn a_replay_after_a_wipe_sends_no_old_alert() {
    let mut b = TestBackend::start().await;
    register(&b, DISK).await;
    let fail = run("disk", "pc1", &check_out("fail", "full"), 1, Utc::now());
    publish(&b, &fail).await;
    projected(&b, &fail).await;
    expect_alerts(&b, "pc1", 1).await;

    b.kill().await;
    kanade_backend::wipe::wipe(&b.db_path()).unwrap();
    b.boot().await;
    wait_for("check status replayed", Duration::from_secs(20), || async {
        b.query_i64("SELECT COUNT(*) FROM check_status WHERE status = 'fail'") == 1
            && b.query_i64("SELECT COUNT(*) FROM notifications") == 1
    })
    .await;
    expect_alerts(&b, "pc1", 1).await;
    assert_eq!(
        b.query_i64("SELECT COUNT(*) FROM check_alerts"),
        0,
        "nothing decided on replay"
    );

    // New evidence after the replay still alerts.
    let ok = run("disk", "pc1", &check_out("ok", ""), 0, Utc::now());
    let again = run(
        "disk",
        "pc1",
        &check_out("fail", "full again"),
        1,
        Utc::now() + chrono::Duration::seconds(1),
    );
    for r in [&ok, &again] {
        publish(&b, r).await;
        projected(&b, r).await;
    }
    expect_alerts(&b, "pc1", 2).await;
}

/// A minimal SMTP server: accepts every command and hands each message's DATA to `messages`.
/// It never waits for QUIT (lettre's pool keeps the connection open).
async fn smtp_sink() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 sink ESMTP\r\n").await.ok();
                let mut data: Option<String> = None;
                while let Ok(Some(line)) = lines.next_line().await {
                    if let Some(body) = data.as_mut() {
                        if line == "." {
                            tx.send(data.take().unwrap_or_default()).ok();
                            write.write_all(b"250 queued\r\n").await.ok();
                        } else {
                            body.push_str(&line);
                            body.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" | "HELO" => b"250 sink\r\n",
                        "DATA" => {
                            data = Some(String::new());
                            b"354 go ahead\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.ok();
                            return;
                        }
                        _ => b"250 ok\r\n",
                    };
                    write.write_all(reply).await.ok();
                }
            });
        }
    });
    (port, rx)
}

#[tokio::test]
async fn alert_email_reaches_the_group_contacts_through_a_real_smtp_server() {
    let (port, mut messages) = smtp_sink().await;
    let nats = kanade_testkit::NatsServer::start();
    let dir = tempfile::tempdir().unwrap();
    let client = crate::support::connect(&nats).await;
    let mut config = kanade_backend::BackendConfig::default();
    crate::support::use_broker(&mut config, &nats);
    config.db.sqlite_path = dir.path().join("backend.db");
    config.secrets.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned());
    config.mail = Some(kanade_backend::config::MailConfig {
        host: "127.0.0.1".into(),
        port: Some(port),
        tls: kanade_backend::config::MailTls::None,
        from: "kanade <kanade@example.org>".into(),
        username: None,
    });
    let b = TestBackend::with_config(nats, dir, async_nats::jetstream::new(client), config).await;

    let bad = b
        .http
        .put(b.url("/api/groups/ops/email"))
        .json(&json!({"emails": ["ops@example.org", "not an address"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["error"]["field"], "emails[1]");
    let resp = b
        .http
        .put(b.url("/api/groups/ops/email"))
        .json(&json!({"emails": ["ops@example.org", "oncall@example.org"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let stored: GroupEmails = b.get("/api/groups/ops/email").await;
    assert_eq!(stored.emails, ["ops@example.org", "oncall@example.org"]);

    register(
        &b,
        &DISK.replace("notify_user: true", "notify_groups: [ops]"),
    )
    .await;
    let fail = run(
        "disk",
        "ws-7",
        &check_out("fail", "/var at 99%"),
        1,
        Utc::now(),
    );
    publish(&b, &fail).await;
    let mut got = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(Duration::from_secs(15), messages.recv())
            .await
            .expect("an e-mail within 15 s")
            .unwrap();
        got.push(message);
    }
    let all = got.join("\n----\n");
    assert!(
        all.contains("Subject: Enough disk is fail on ws-7"),
        "{all}"
    );
    assert!(all.contains("Details: /var at 99% (disk-free)"), "{all}");
    assert!(
        all.contains("To: ops@example.org") && all.contains("To: oncall@example.org"),
        "{all}"
    );
    assert!(all.contains("From: kanade <kanade@example.org>"), "{all}");
    assert!(
        alerts_sent(&b, "ws-7").await.is_empty(),
        "no notify_user, no notification"
    );
}

/// The original's alert shape: `toast` travels on the notification, `{last_logon}` is the
/// machine's last logged-on user from its heartbeat, and `notify_groups` also publishes on
/// `notifications.group.<g>` (besides the e-mail).
#[tokio::test]
async fn the_originals_alert_fields_reach_the_notification() {
    const LOW_DISK: &str = "
id: low-disk
version: 1
execute: {shell: sh, script: check-disk, timeout: 30s}
check:
  name: low-disk
  alert: { on: [fail], notify_user: true, notify_groups: [helpdesk], toast: true, title: 'Low disk on {pc_id} ({last_logon})' }
";
    let b = TestBackend::start().await;
    register(&b, LOW_DISK).await;
    let nats = b.nats_client().await;
    let beat = json!({
        "pc_id": "pc9", "at": Utc::now().to_rfc3339(), "agent_version": "0.40.0",
        "hostname": "pc9", "os_family": "windows", "last_logon_user": "CORP\\alice",
    });
    nats.publish("heartbeat.pc9", serde_json::to_vec(&beat).unwrap().into())
        .await
        .unwrap();
    nats.flush().await.unwrap();
    wait_for("the heartbeat", Duration::from_secs(10), || async {
        b.query_i64("SELECT COUNT(*) FROM agents WHERE last_logon_user = 'CORP\\alice'") == 1
    })
    .await;

    let fail = run(
        "low-disk",
        "pc9",
        &check_out("fail", "/ at 97%"),
        1,
        Utc::now(),
    );
    publish(&b, &fail).await;
    projected(&b, &fail).await;
    let sent = expect_alerts(&b, "pc9", 1).await;
    assert_eq!(sent[0].title, "Low disk on pc9 (CORP\\alice)");
    assert!(sent[0].toast);
    assert_eq!(sent[0].target.groups, ["helpdesk"]);
    let stream = b.js.get_stream(names::STREAM_NOTIFICATIONS).await.unwrap();
    let to_group = stream
        .get_last_raw_message_by_subject("notifications.group.helpdesk")
        .await
        .expect("no notification on notifications.group.helpdesk");
    let n: Notification = serde_json::from_slice(&to_group.payload).unwrap();
    assert_eq!((n.id.as_str(), n.toast), (sent[0].id.as_str(), true));
}

/// The original's gate-only check (`fleet: false`): its rows are stored, the fleet listing
/// leaves it out unless asked, and its own page and the machine's checks still show it.
#[tokio::test]
async fn a_gate_only_check_is_stored_but_left_out_of_the_fleet_view() {
    const GATE: &str = "
id: vpn-gate
version: 1
execute: {shell: sh, script: check-vpn, timeout: 30s}
check: {name: vpn-ready, label: VPN client ready, fleet: false}
";
    let b = TestBackend::start().await;
    register(&b, GATE).await;
    register(&b, DISK).await;
    let t = Utc::now() - chrono::Duration::minutes(1);
    for (job, pc) in [("vpn-gate", "pc1"), ("disk", "pc1")] {
        let r = run(job, pc, &check_out("fail", "no"), 1, t);
        publish(&b, &r).await;
        projected(&b, &r).await;
    }
    let names = |list: Vec<ComplianceSummary>| -> Vec<String> {
        list.into_iter().map(|s| s.check_name).collect()
    };
    assert_eq!(names(b.get("/api/compliance").await), ["disk-free"]);
    let mut all = names(b.get("/api/compliance?include_non_fleet=true").await);
    all.sort();
    assert_eq!(all, ["disk-free", "vpn-ready"]);
    let rows: Page<CheckRow> = b.get("/api/compliance/vpn-ready").await;
    assert_eq!(rows.total, 1, "its rows are stored");
    let on_pc: Vec<CheckRow> = b.get("/api/agents/pc1/checks").await;
    assert_eq!(on_pc.len(), 2);
}
