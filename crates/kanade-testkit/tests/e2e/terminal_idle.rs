//! `terminal_idle_timeout` end to end: the API refuses a value out of range; a real agent
//! configured with a short timeout keeps a session that is typed into open past it, then
//! closes it by itself once the typing stops, kills the shell with its background jobs, and
//! the close is audited with the reason `idle`.

use std::time::Duration;

use kanade_cli::client::terminal::TerminalEvent;

use crate::support::{System, wait_for};
use crate::terminal::{read_until, shell_and_its_session_gone, shell_with_a_background_job};

#[tokio::test]
async fn an_idle_session_closes_after_the_configured_timeout_and_typing_keeps_it_open() {
    let mut system = System::start(&[]).await;
    let api = &system.api;

    // Out of range: refused, naming the field, and nothing is stored.
    for bad in ["0s", "25h"] {
        let patch = serde_json::json!({ "terminal_idle_timeout": bad });
        let err = api
            .patch_config("pcs.idle1", patch.as_object().unwrap())
            .await
            .err()
            .unwrap_or_else(|| panic!("{bad} was accepted"));
        assert_eq!(err.status().map(|s| s.as_u16()), Some(422), "{bad}: {err}");
        assert!(err.to_string().contains("between 1s and 24h"), "{err}");
    }
    let stored = api.get_config("pcs.idle1").await.unwrap();
    assert_eq!(stored.terminal_idle_timeout, None);

    let patch = serde_json::json!({ "terminal_idle_timeout": "2s" });
    api.patch_config("pcs.idle1", patch.as_object().unwrap())
        .await
        .unwrap();
    system.start_agent("idle1").await;
    system.wait_online(1).await;
    let api = &system.api;

    let (mut writer, mut reader) = api.open_terminal("idle1", 24, 80).await.unwrap();
    let Some(TerminalEvent::Opened(session_id)) = reader.next().await else {
        panic!("no opened frame");
    };
    let mut seen = String::new();
    let (pid, proc_dir) = shell_with_a_background_job(&mut writer, &mut reader, &mut seen).await;

    // Typing every half second for three times the timeout keeps the session open.
    let typing_since = tokio::time::Instant::now();
    let mut n = 0;
    let mut last_input = typing_since;
    while typing_since.elapsed() < Duration::from_secs(6) {
        n += 1;
        writer
            .input(format!("echo tick''{n}\r").as_bytes())
            .await
            .unwrap();
        // The idle clock starts at the last keystroke (or its echo, later), not after the
        // pause below: measuring from there made a correct close look early.
        last_input = tokio::time::Instant::now();
        read_until(&mut reader, &mut seen, &format!("tick{n}")).await;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Then silence: the agent closes it by itself.
    let ended = loop {
        match tokio::time::timeout(Duration::from_secs(20), reader.next()).await {
            Ok(Some(TerminalEvent::Output(_))) => continue,
            Ok(other) => break other,
            Err(_) => panic!("the idle session was not closed"),
        }
    };
    let quiet = last_input.elapsed();
    match ended {
        Some(TerminalEvent::Exit { reason, .. }) => assert_eq!(reason, "idle"),
        other => panic!("not closed as idle: {other:?}"),
    }
    assert!(
        quiet >= Duration::from_secs(2),
        "closed after {quiet:?} without input, before the 2 s timeout"
    );
    shell_and_its_session_gone(pid, &proc_dir).await;

    wait_for(
        "the idle close in the audit log",
        Duration::from_secs(20),
        || {
            let sid = session_id.clone();
            async move {
                api.terminal_sessions(Some("idle1"))
                    .await
                    .is_ok_and(|list| {
                        list.iter()
                            .any(|s| s.session_id == sid && s.end_reason.as_deref() == Some("idle"))
                    })
            }
        },
    )
    .await;
    let audit = api.list_audit(&Default::default()).await.unwrap();
    let close = audit
        .items
        .iter()
        .find(|e| e.action == "terminal_close" && e.payload["session_id"] == session_id.as_str())
        .expect("terminal_close audited");
    assert_eq!(close.payload["reason"], "idle");
    assert_eq!(close.target.as_deref(), Some("idle1"));
    let duration = close.payload["duration_secs"].as_f64().unwrap();
    assert!(duration >= 8.0, "open through the typing: {duration} s");
}
