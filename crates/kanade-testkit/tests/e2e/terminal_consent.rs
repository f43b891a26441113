//! `terminal: consent` end to end: the machine's signed-in user (a logind session file in the
//! agent's sessions folder) is asked over the agent's real local socket; accepting opens the
//! shell, declining or silence past the configured timeout refuses it, nobody signed in
//! refuses at once; each way is audited and `kanade shell` says why. Past sessions and their
//! transcripts are for admins only.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use kanade_agent::local::{self, Request, Response};
use kanade_cli::client::ApiClient;
use kanade_cli::client::terminal::{TerminalEvent, TerminalReader, TerminalWriter};
use kanade_protocol::api::{LoginRequest, NewAccount, Role};

use crate::support::{System, wait_for};

/// A logind sessions folder in which this test's own account is signed in.
fn signed_in(dir: &Path) -> PathBuf {
    let uid = std::fs::metadata("/proc/self").unwrap().uid();
    let sessions = dir.join("sessions-signed-in");
    std::fs::create_dir_all(&sessions).unwrap();
    std::fs::write(
        sessions.join("c1"),
        format!(
            "UID={uid}\nUSER={}\nACTIVE=1\nCLASS=user\nTYPE=x11\n",
            local::user_name(uid)
        ),
    )
    .unwrap();
    sessions
}

async fn consents(socket: &Path) -> Vec<String> {
    match local::request(socket, &Request::Consents).await {
        Ok(Response::Consents { requests, .. }) => requests.into_iter().map(|r| r.id).collect(),
        _ => Vec::new(),
    }
}

/// Opens a terminal on `pc` and waits until the agent asks for consent (its request listed on
/// `socket`), retrying while the agent has not yet taken `terminal: consent` from its live
/// config (it then opens without asking). The `waiting` frame comes first every time.
async fn asked(
    api: &ApiClient,
    pc: &str,
    socket: &Path,
) -> (TerminalWriter, TerminalReader, String) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the agent never asked"
        );
        let (mut writer, mut reader) = api.open_terminal(pc, 24, 80).await.unwrap();
        match tokio::time::timeout(Duration::from_secs(10), reader.next()).await {
            Ok(Some(TerminalEvent::Waiting {
                message,
                timeout_secs,
            })) => {
                assert!(message.contains("waiting for the user"), "{message}");
                assert!(timeout_secs > 0);
            }
            other => panic!("no waiting frame first: {other:?}"),
        }
        loop {
            if let Some(id) = consents(socket).await.into_iter().next() {
                return (writer, reader, id);
            }
            match tokio::time::timeout(Duration::from_millis(200), reader.next()).await {
                Err(_) => continue,
                Ok(Some(TerminalEvent::Opened(_))) => {
                    // Opened without asking: the agent's config is not there yet.
                    writer.close().await;
                    break;
                }
                Ok(other) => panic!("unexpected before the consent request: {other:?}"),
            }
        }
    }
}

async fn answer(socket: &Path, id: &str, accept: bool) {
    let response = local::request(
        socket,
        &Request::Consent {
            id: id.to_owned(),
            accept,
        },
    )
    .await
    .unwrap();
    assert!(
        matches!(response, Response::Consented { accepted, .. } if accepted == accept),
        "{response:?}"
    );
}

async fn next(reader: &mut TerminalReader) -> Option<TerminalEvent> {
    tokio::time::timeout(Duration::from_secs(20), reader.next())
        .await
        .expect("an answer from the backend")
}

async fn account(system: &System, name: &str, role: Role) -> ApiClient {
    let password = format!("{name}-password-1");
    let new = NewAccount {
        username: name.into(),
        password: password.clone(),
        role,
        email: None,
    };
    system.api.create_account(&new).await.unwrap();
    let login = LoginRequest {
        username: name.into(),
        password,
        totp: None,
    };
    let login = system.api.login(&login).await.unwrap();
    ApiClient::new(&system.base, Some(login.token)).unwrap()
}

#[tokio::test]
async fn consent_accepted_opens_declined_silent_or_nobody_refuses_and_all_is_audited() {
    let mut system = System::start(&[]).await;
    for pc in ["consent1", "consent2"] {
        let patch = serde_json::json!({ "terminal": "consent", "terminal_consent_timeout": "3s" });
        system
            .api
            .patch_config(&format!("pcs.{pc}"), patch.as_object().unwrap())
            .await
            .unwrap();
    }
    let sessions = signed_in(system.dir.path());
    let nobody = system.dir.path().join("sessions-empty");
    std::fs::create_dir_all(&nobody).unwrap();
    system
        .start_agent_with("consent1", |c| c.agent.sessions_dir = sessions)
        .await;
    system
        .start_agent_with("consent2", |c| c.agent.sessions_dir = nobody)
        .await;
    system.wait_online(2).await;
    let socket = local::socket_path(&system.agent_dir("consent1"));
    let api = &system.api;

    // Accepted: the shell opens and runs a command.
    let (mut writer, mut reader, id) = asked(api, "consent1", &socket).await;
    answer(&socket, &id, true).await;
    let Some(TerminalEvent::Opened(session_id)) = next(&mut reader).await else {
        panic!("not opened after the user accepted");
    };
    assert_eq!(session_id, id, "the request names the session");
    writer.input(b"echo con''sented\r").await.unwrap();
    let mut seen = String::new();
    while !seen.contains("consented") {
        match next(&mut reader).await {
            Some(TerminalEvent::Output(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("the session ended early: {other:?}; saw {seen:?}"),
        }
    }
    writer.input(b"exit\r").await.unwrap();
    while let Some(TerminalEvent::Output(_)) = next(&mut reader).await {}
    assert!(
        consents(&socket).await.is_empty(),
        "an answered request is gone"
    );

    // Declined: refused with the reason, and nothing to answer any more.
    let (_writer, mut reader, id) = asked(api, "consent1", &socket).await;
    answer(&socket, &id, false).await;
    match next(&mut reader).await {
        Some(TerminalEvent::Refused(reason)) => assert!(reason.contains("declined"), "{reason}"),
        other => panic!("not refused after the user declined: {other:?}"),
    }
    let late = local::request(
        &socket,
        &Request::Consent {
            id: id.clone(),
            accept: true,
        },
    )
    .await
    .unwrap();
    assert!(matches!(late, Response::Error { .. }), "{late:?}");

    // Silence: refused once the configured 3 s are up.
    let (_writer, mut reader, _) = asked(api, "consent1", &socket).await;
    match next(&mut reader).await {
        Some(TerminalEvent::Refused(reason)) => {
            assert!(reason.contains("no answer in 3 s"), "{reason}")
        }
        other => panic!("not refused after the timeout: {other:?}"),
    }

    // Nobody signed in: refused at once; `kanade shell` says it waited and why not.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let reason = loop {
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        let (mut writer, mut reader) = api.open_terminal("consent2", 24, 80).await.unwrap();
        let (mut out, mut err, mut input) = (Vec::new(), Vec::new(), std::io::empty());
        let mut io = kanade_cli::commands::Io {
            out: &mut out,
            err: &mut err,
            input: &mut input,
            interactive: false,
        };
        let waited = kanade_cli::commands::shell::wait_opened(&mut reader, &mut io).await;
        let err = String::from_utf8_lossy(&err).into_owned();
        assert!(err.contains("waiting for the user"), "{err}");
        match waited {
            Err(reason) => break reason,
            // Opened before the agent took the consent config: try again.
            Ok(_) => writer.close().await,
        }
    };
    assert!(reason.contains("nobody is signed in"), "{reason}");

    // Audited either way: the accepted open names who accepted; each refusal its reason.
    wait_for(
        "the refusals in the audit log",
        Duration::from_secs(20),
        || async {
            let audit = api.list_audit(&Default::default()).await.unwrap();
            let refused: Vec<String> = audit
                .items
                .iter()
                .filter(|e| e.action == "terminal_refused")
                .map(|e| e.payload["reason"].as_str().unwrap_or_default().to_owned())
                .collect();
            ["declined", "no answer in 3 s", "nobody is signed in"]
                .iter()
                .all(|why| refused.iter().any(|r| r.contains(why)))
        },
    )
    .await;
    let audit = api.list_audit(&Default::default()).await.unwrap();
    let user = local::user_name(std::fs::metadata("/proc/self").unwrap().uid());
    assert!(
        audit.items.iter().any(|e| e.action == "terminal_open"
            && e.payload["session_id"] == session_id.as_str()
            && e.payload["accepted_by"] == user.as_str()),
        "the open records who accepted"
    );

    // Past sessions and transcripts: admins only.
    wait_for("the session's end", Duration::from_secs(20), || async {
        api.terminal_sessions(Some("consent1"))
            .await
            .is_ok_and(|l| {
                l.iter()
                    .any(|s| s.session_id == session_id && s.has_transcript)
            })
    })
    .await;
    let transcript = api.terminal_transcript(&session_id).await.unwrap();
    assert!(transcript.iter().any(|e| e.text.contains("consented")));
    for (name, role) in [("op", Role::Operator), ("look", Role::Viewer)] {
        let client = account(&system, name, role).await;
        let err = client
            .terminal_sessions(Some("consent1"))
            .await
            .err()
            .unwrap();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(403), "{name} lists");
        let err = client.terminal_transcript(&session_id).await.err().unwrap();
        assert_eq!(err.status().map(|s| s.as_u16()), Some(403), "{name} reads");
    }
}

/// `kanade <args>` against the system (auth disabled: the caller is an admin).
async fn kanade(system: &System, args: &[&str]) -> (i32, String, String) {
    let mut argv = vec![
        "kanade".to_owned(),
        "--backend-url".to_owned(),
        system.base.clone(),
    ];
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(argv, &mut out, &mut err).await;
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (code, text(&out), text(&err))
}

#[tokio::test]
async fn kanade_shell_sessions_and_transcript_show_past_sessions() {
    let system = System::start_without_auth(&["shell-past"]).await;
    let (mut writer, mut reader) = system
        .api
        .open_terminal("shell-past", 24, 80)
        .await
        .unwrap();
    let Some(TerminalEvent::Opened(session_id)) = next(&mut reader).await else {
        panic!("not opened");
    };
    writer.input(b"echo pa''st-42\r").await.unwrap();
    let mut seen = String::new();
    while !seen.contains("past-42") {
        match next(&mut reader).await {
            Some(TerminalEvent::Output(bytes)) => seen.push_str(&String::from_utf8_lossy(&bytes)),
            other => panic!("ended early: {other:?}"),
        }
    }
    writer.input(b"exit 0\r").await.unwrap();
    while let Some(TerminalEvent::Output(_)) = next(&mut reader).await {}
    let api = &system.api;
    wait_for("the session recorded", Duration::from_secs(20), || async {
        api.terminal_sessions(Some("shell-past"))
            .await
            .is_ok_and(|l| {
                l.iter()
                    .any(|s| s.session_id == session_id && s.has_transcript)
            })
    })
    .await;

    let (code, out, err) = kanade(&system, &["shell", "sessions", "--pc", "shell-past"]).await;
    assert_eq!(code, 0, "{err}");
    let row = out
        .lines()
        .find(|l| l.contains(&session_id))
        .unwrap_or_else(|| panic!("the session is listed: {out}"));
    assert!(
        row.contains("shell exited") && row.contains("shell-past"),
        "{row}"
    );

    let (code, out, err) = kanade(&system, &["shell", "transcript", &session_id]).await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("past-42"), "{out}");

    let (code, _, err) = kanade(&system, &["shell", "transcript", "no-such-session"]).await;
    assert_ne!(code, 0);
    assert!(err.contains("no-such-session"), "{err}");
    let (code, _, err) = kanade(&system, &["shell"]).await;
    assert_eq!(code, 2, "{err}");
}
