//! Zero trust against a real nats-server configured by `kanade-backend broker-config`: each
//! machine joins with its own key (an enrollment token, or an admin's approval), works with
//! only its own subjects, and is cut off at once when revoked. The attacker's view: a
//! machine's credentials reach nothing but that machine's own reports.

use std::time::Duration;

use futures::StreamExt;
use kanade_protocol::enrollment::IdentityStatus;
use kanade_protocol::subject;

use crate::support::{System, pcs, wait_for};

const BIG_OUTPUT: &str = "
id: big
version: 1
execute:
  shell: sh
  script: |
    head -c 400000 /dev/zero | tr '\\\\0' 'x'
    echo
  timeout: 20s
";

const HELLO: &str = "
id: hello
version: 1
execute:
  shell: sh
  script: echo hello from $(hostname)
  timeout: 20s
";

#[tokio::test]
async fn an_enrolled_machine_takes_commands_spills_output_and_follows_its_groups() {
    let system = System::start_zero_trust(&["zt-one"]).await;
    let registry = system.registry().await;
    let identity = registry.identity("zt-one").await.unwrap().unwrap();
    assert_eq!(identity.status, IdentityStatus::Approved);
    assert!(identity.decided_by.unwrap().starts_with("token:"));

    system.api.create_job_yaml(HELLO).await.unwrap();
    let fired = system.exec("hello", pcs(&["zt-one"])).await;
    let done = system.wait_completed(&fired.exec_id).await;
    assert_eq!(done.execution.success_count, 1, "{done:#?}");

    // Output above the inline cap goes through the object store the grant allows.
    system.api.create_job_yaml(BIG_OUTPUT).await.unwrap();
    let fired = system.exec("big", pcs(&["zt-one"])).await;
    let done = system.wait_completed(&fired.exec_id).await;
    assert_eq!(done.execution.success_count, 1, "{done:#?}");

    // Joining a group re-grants the machine its subjects; a command to the group arrives.
    system.api.add_agent_group("zt-one", "lab").await.unwrap();
    let api = &system.api;
    wait_for(
        "a group command answered",
        Duration::from_secs(60),
        || async move {
            let Ok(fired) = api
                .exec(
                    "hello",
                    &kanade_protocol::api::ExecRequest {
                        target: kanade_protocol::api::Target {
                            groups: vec!["lab".to_owned()],
                            ..Default::default()
                        },
                        ..Default::default()
                    },
                )
                .await
            else {
                return false;
            };
            tokio::time::sleep(Duration::from_secs(3)).await;
            api.get_execution(&fired.exec_id)
                .await
                .is_ok_and(|e| e.execution.success_count == 1)
        },
    )
    .await;
    // Joining a group races the kick that re-grants: the agent may try the group's subjects
    // once before its reconnect, and is refused (then subscribed again, granted). Nothing else
    // may ever be refused.
    let violations: Vec<String> = system
        .broker_violations()
        .into_iter()
        .filter(|v| !v.contains("group.lab") && !v.contains("groups.lab"))
        .collect();
    assert!(
        violations.is_empty(),
        "the agent's work needed more than its grant: {violations:#?}"
    );
}

#[tokio::test]
async fn a_machine_without_a_token_waits_for_an_admin() {
    let mut system = System::start_zero_trust(&[]).await;
    system.enrollment_token = None;
    system.start_agent("zt-pending").await;
    let registry = system.registry().await;
    wait_for(
        "the machine recorded as pending",
        Duration::from_secs(30),
        || {
            let registry = registry.clone();
            async move {
                registry
                    .identity("zt-pending")
                    .await
                    .ok()
                    .flatten()
                    .is_some_and(|id| id.status == IdentityStatus::Pending)
            }
        },
    )
    .await;
    // Refused meanwhile: it never heartbeats.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        system.api.get_agent("zt-pending").await.is_err(),
        "a pending machine reached the backend"
    );
    registry
        .decide(
            "zt-pending",
            kanade_backend::access::Decision::Approve,
            "admin",
            None,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    system.wait_online(1).await;
}

#[tokio::test]
async fn a_revoked_machine_is_cut_off_and_stays_out() {
    let system = System::start_zero_trust(&["zt-rev", "zt-ok"]).await;
    let admin = system.backend_nats().await;
    let mut beats = admin.subscribe(subject::heartbeat("zt-rev")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), beats.next())
        .await
        .expect("heartbeats before the revoke");

    let access = system.access().await;
    let (identity, closed) = access
        .decide(
            "zt-rev",
            kanade_backend::access::Decision::Revoke,
            "admin",
            Some("stolen laptop".to_owned()),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(identity.status, IdentityStatus::Revoked);
    assert_eq!(closed, 1, "its one connection is closed");
    // Heartbeats stop within seconds and do not come back (reconnects are refused).
    tokio::time::sleep(Duration::from_secs(2)).await;
    while tokio::time::timeout(Duration::from_millis(50), beats.next())
        .await
        .is_ok()
    {}
    assert!(
        tokio::time::timeout(Duration::from_secs(5), beats.next())
            .await
            .is_err(),
        "a revoked machine still heartbeats"
    );
    // Break-glass to it is refused up front instead of waiting for an answer that cannot come.
    let cmd = kanade_cli::run::adhoc_command(
        "zt-rev",
        kanade_protocol::manifest::Shell::Sh,
        "echo hi",
        Duration::from_secs(5),
        chrono::Utc::now(),
    )
    .unwrap();
    let refused = system
        .api
        .sign_command(&cmd, &subject::commands_pc("zt-rev"))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("revoked"), "{refused}");
    // The other machine is untouched.
    let mut other = admin.subscribe(subject::heartbeat("zt-ok")).await.unwrap();
    tokio::time::timeout(Duration::from_secs(10), other.next())
        .await
        .expect("the other machine keeps working");
}

/// Connects with the named machine's broker credentials as an attacker holding its disk
/// would: its seed, its connection name.
async fn as_machine(
    system: &System,
    name: &str,
    seed_of: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let seed = std::fs::read_to_string(system.agent_dir(seed_of).join("machine.seed")).unwrap();
    async_nats::ConnectOptions::with_nkey(seed.trim().to_owned())
        .name(format!("kanade-agent/{name}"))
        .custom_inbox_prefix(format!("_INBOX_{name}"))
        .add_root_certificates(system.nats.ca_file().unwrap())
        .require_tls(true)
        .connect(system.nats.url())
        .await
}

/// Waits until nats-server has logged a refusal naming `subject`.
async fn refused(system: &System, subject: &str) {
    let wanted = format!("\"{subject}\"");
    wait_for(
        &format!("the broker refusing {subject}"),
        Duration::from_secs(20),
        || async {
            system
                .broker_violations()
                .iter()
                .any(|v| v.contains(&wanted))
        },
    )
    .await;
}

#[tokio::test]
async fn one_machine_s_credentials_reach_nothing_but_its_own_reports() {
    let system = System::start_zero_trust(&["zt-a", "zt-b"]).await;
    let stolen = as_machine(&system, "zt-a", "zt-a").await.unwrap();
    let admin = system.backend_nats().await;
    let mut commands = admin.subscribe("commands.>").await.unwrap();
    // zt-b's real heartbeats keep coming; only a forged one would say "forged".
    let mut beats_b = admin.subscribe(subject::heartbeat("zt-b")).await.unwrap();
    let mut results = admin.subscribe("results.>").await.unwrap();

    // Publishing: commands anywhere, another machine's reports, KV writes, stream management.
    let forbidden_publish = [
        "commands.all".to_owned(),
        subject::commands_pc("zt-b"),
        subject::commands_group("lab"),
        subject::heartbeat("zt-b"),
        subject::results_of("zt-b", "r1"),
        subject::results("r1"),
        subject::events_started("e1", "zt-b"),
        "$KV.script_status.hello".to_owned(),
        "$KV.agent_groups.zt-a".to_owned(),
        "$KV.fleet_config.freeze".to_owned(),
        "$KV.command_keys.attacker".to_owned(),
        "$JS.API.STREAM.PURGE.KV_jobs".to_owned(),
        "$JS.API.STREAM.DELETE.EXEC".to_owned(),
        "$JS.API.STREAM.MSG.DELETE.RESULTS".to_owned(),
        "kill.e1".to_owned(),
        "audit.run".to_owned(),
    ];
    for subject in &forbidden_publish {
        stolen
            .publish(subject.clone(), "forged".into())
            .await
            .unwrap();
    }
    // Reading another machine's commands: live, by direct get, or through a consumer.
    let _live = stolen
        .subscribe(subject::commands_pc("zt-b"))
        .await
        .unwrap();
    let _all = stolen.subscribe("commands.>").await.unwrap();
    let _results = stolen.subscribe("results.>").await.unwrap();
    let reads = [
        format!("$JS.API.DIRECT.GET.EXEC.{}", subject::commands_pc("zt-b")),
        "$JS.API.DIRECT.GET.EXEC".to_owned(),
        "$JS.API.STREAM.MSG.GET.EXEC".to_owned(),
        "$JS.API.CONSUMER.CREATE.EXEC".to_owned(),
        "$JS.API.CONSUMER.CREATE.EXEC.spy".to_owned(),
        "$JS.API.CONSUMER.CREATE.RESULTS".to_owned(),
        "$JS.API.DIRECT.GET.KV_agent_config.$KV.agent_config.pcs.zt-b".to_owned(),
        // Watching another machine's config or groups: the filter must be named, and its own.
        "$JS.API.CONSUMER.CREATE.KV_agent_config".to_owned(),
        "$JS.API.CONSUMER.CREATE.KV_agent_config.spy.$KV.agent_config.pcs.zt-b".to_owned(),
        "$JS.API.CONSUMER.CREATE.KV_agent_groups.spy.$KV.agent_groups.zt-b".to_owned(),
        // Another machine's notifications, or all of them.
        "$JS.API.CONSUMER.CREATE.NOTIFICATIONS.spy.notifications.pc.zt-b".to_owned(),
        "$JS.API.CONSUMER.CREATE.NOTIFICATIONS.spy.notifications.>".to_owned(),
        "$JS.API.CONSUMER.CREATE.NOTIFICATIONS".to_owned(),
    ];
    for subject in &reads {
        stolen.publish(subject.clone(), "{}".into()).await.unwrap();
    }
    stolen.flush().await.unwrap();

    for subject in forbidden_publish.iter().chain(reads.iter()) {
        refused(&system, subject).await;
    }
    for subject in [
        subject::commands_pc("zt-b"),
        "commands.>".to_owned(),
        "results.>".to_owned(),
    ] {
        refused(&system, &subject).await;
    }
    // Nothing forged reached anyone.
    let nothing = |what: &'static str| {
        move |got: Result<Option<async_nats::Message>, _>| {
            assert!(got.is_err(), "{what} got through: {got:?}")
        }
    };
    nothing("a command")(tokio::time::timeout(Duration::from_millis(500), commands.next()).await);
    nothing("a result")(tokio::time::timeout(Duration::from_millis(500), results.next()).await);
    let forged_beat = tokio::time::timeout(Duration::from_millis(300), async {
        loop {
            match beats_b.next().await {
                Some(m) if m.payload.as_ref() == b"forged" => return m,
                Some(_) => continue,
                None => std::future::pending::<()>().await,
            }
        }
    })
    .await;
    assert!(forged_beat.is_err(), "a forged heartbeat got through");

    // Its own report still goes through: the grant is its own subjects, not nothing. (Sent
    // until seen: two connections' operations are not ordered with each other.)
    let mut own = admin.subscribe(subject::heartbeat("zt-a")).await.unwrap();
    admin.flush().await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            stolen
                .publish(subject::heartbeat("zt-a"), "own".into())
                .await
                .unwrap();
            stolen.flush().await.unwrap();
            let seen = tokio::time::timeout(Duration::from_millis(300), async {
                loop {
                    match own.next().await {
                        Some(m) if m.payload.as_ref() == b"own" => return,
                        Some(_) => continue,
                        None => std::future::pending::<()>().await,
                    }
                }
            })
            .await;
            if seen.is_ok() {
                return;
            }
        }
    })
    .await;
    assert!(got.is_ok(), "its own heartbeat subject is granted");

    // Another machine's name with this key: refused, and kept for an admin to see.
    let err = as_machine(&system, "zt-b", "zt-a").await.err().unwrap();
    assert!(
        err.to_string().to_lowercase().contains("authorization"),
        "{err}"
    );
    let b = system
        .registry()
        .await
        .identity("zt-b")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.status, IdentityStatus::Approved, "zt-b itself stays in");
    assert!(
        b.pending_nkey.is_some(),
        "the foreign key is recorded for an admin"
    );
    // A name nobody enrolled, with a key nobody approved: refused, recorded pending.
    let err = as_machine(&system, "zt-new", "zt-a").await.err().unwrap();
    assert!(
        err.to_string().to_lowercase().contains("authorization"),
        "{err}"
    );
}

#[tokio::test]
async fn break_glass_needs_a_live_operator_session() {
    let system = System::start_zero_trust(&["zt-op"]).await;
    let connect = |token: Option<String>| {
        let access = kanade_bus::Access {
            ca_file: system.nats.ca_file(),
            nkey_seed: None,
            token,
        };
        let url = system.nats.url();
        async move { kanade_bus::connect_with(kanade_bus::Role::Cli, &url, &access).await }
    };
    // No session, a made-up one: refused.
    assert!(connect(None).await.is_err());
    assert!(connect(Some("not-a-session".to_owned())).await.is_err());
    // A viewer: refused.
    system
        .api
        .create_account(&kanade_protocol::api::NewAccount {
            username: "watcher".into(),
            password: "watcher-password-1".into(),
            role: kanade_protocol::api::Role::Viewer,
            email: None,
        })
        .await
        .unwrap();
    let viewer = system
        .api
        .login(&kanade_protocol::api::LoginRequest {
            username: "watcher".into(),
            password: "watcher-password-1".into(),
            totp: None,
        })
        .await
        .unwrap();
    assert!(
        connect(Some(viewer.token)).await.is_err(),
        "a viewer got broker access"
    );

    // The admin's live session: let in with the break-glass grant, which holds no KV.
    let operator = connect(Some(system.token.clone())).await.unwrap();
    operator
        .publish("$KV.script_status.hello", "REVOKED".into())
        .await
        .unwrap();
    operator.flush().await.unwrap();
    refused(&system, "$KV.script_status.hello").await;
    // A run through the CLI's own path reaches the agent and its result comes back.
    let cmd = kanade_cli::run::adhoc_command(
        "zt-op",
        kanade_protocol::manifest::Shell::Sh,
        "echo break-glass",
        Duration::from_secs(20),
        chrono::Utc::now(),
    )
    .unwrap();
    let signed = system
        .api
        .sign_command(&cmd, &subject::commands_pc("zt-op"))
        .await
        .unwrap();
    let result = kanade_cli::run::start(&operator, "zt-op", &signed)
        .await
        .unwrap()
        .result()
        .await
        .unwrap();
    assert_eq!(result.stdout, "break-glass\n");

    // Signed out: the session no longer opens the broker.
    system.api.logout().await.unwrap();
    assert!(connect(Some(system.token.clone())).await.is_err());
}

#[tokio::test]
async fn a_used_up_or_expired_token_enrolls_nobody() {
    let mut system = System::start_zero_trust(&[]).await;
    let registry = system.registry().await;
    let now = chrono::Utc::now();
    let (_, once) = registry
        .create_token(
            Some("lab".into()),
            chrono::Duration::hours(1),
            1,
            "test",
            now,
        )
        .await
        .unwrap();
    let (_, brief) = registry
        .create_token(None, chrono::Duration::seconds(1), 5, "test", now)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;

    system.enrollment_token = Some(once.clone());
    system.start_agent("zt-first").await;
    system.wait_online(1).await;
    assert_eq!(
        system.api.agent_groups("zt-first").await.unwrap().groups,
        ["lab"],
        "the token's group is joined"
    );
    system.start_agent("zt-second").await;
    system.enrollment_token = Some(brief);
    system.start_agent("zt-late").await;
    system.enrollment_token = Some("kanade-enroll-garbage".into());
    system.start_agent("zt-junk").await;
    for (pc, why) in [
        ("zt-second", "no uses left"),
        ("zt-late", "expired"),
        ("zt-junk", "malformed"),
    ] {
        let registry = registry.clone();
        wait_for(
            &format!("{pc} pending because the token is {why}"),
            Duration::from_secs(30),
            || {
                let registry = registry.clone();
                async move {
                    registry
                        .identity(pc)
                        .await
                        .ok()
                        .flatten()
                        .is_some_and(|id| {
                            id.status == IdentityStatus::Pending
                                && id.reason.as_deref().is_some_and(|r| r.contains(why))
                        })
                }
            },
        )
        .await;
    }
    let tokens = registry.tokens().await.unwrap();
    let spent = tokens.iter().find(|t| t.uses_total == 1).unwrap();
    assert_eq!(spent.uses_left, 0, "exactly one use was spent");
    let expired = tokens.iter().find(|t| t.uses_total == 5).unwrap();
    assert_eq!(expired.uses_left, 5, "an expired token is never spent");
}
