//! Audit events the CLI records itself. The backend records every action that goes through its
//! API; the break-glass `run` and `kill` go straight to the broker, so the CLI publishes their
//! `AuditEvent` on `audit.<action>` into stream `AUDIT`, where the backend's projector picks it
//! up like any other.
//!
//! Who: the user name of the stored session (`kanade login`) when there is a live one, else
//! `cli:<OS user>`. Neither is proof of identity (break-glass runs on NATS credentials alone); the
//! OS user is always in the payload too.
//!
//! What: never the script itself, which may hold secrets. A `run` records its SHA-256, its length
//! and its first line cut to 80 characters.

use anyhow::Context;
use async_nats::jetstream::{self, context::PublishErrorKind};
use chrono::{DateTime, Utc};
use kanade_protocol::subject;
use kanade_protocol::wire::{AuditEvent, Command};
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::session::Session;

/// The script's first line is cut to this many characters in a `run` event.
pub const FIRST_LINE_MAX: usize = 80;

/// The OS user running the CLI: `$USER` (`$USERNAME` on Windows), else `unknown`.
pub fn os_user() -> String {
    ["USER", "USERNAME"]
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The actor of a break-glass action: the stored session's user when it has not expired, else
/// `cli:<os_user>`.
pub fn actor(session: Option<&Session>, os_user: &str, now: DateTime<Utc>) -> String {
    match session.filter(|s| !s.expired(now)) {
        Some(session) => session.username.clone(),
        None => format!("cli:{os_user}"),
    }
}

/// The `run` event for a break-glass `command`, before its result is known.
pub fn run_event(actor: &str, os_user: &str, command: &Command, pc_id: &str) -> AuditEvent {
    let digest = Sha256::digest(command.script.as_bytes());
    let sha256: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    AuditEvent {
        actor: actor.to_owned(),
        action: "run".to_owned(),
        target: Some(pc_id.to_owned()),
        payload: json!({
            "request_id": command.request_id,
            "exec_id": command.exec_id,
            "shell": command.shell.as_str(),
            "timeout_secs": command.timeout_secs,
            "script_sha256": sha256,
            "script_bytes": command.script.len(),
            "script_first_line": first_line(&command.script),
            "os_user": os_user,
        }),
        occurred_at: command.issued_at,
        client_addr: None,
    }
}

/// The `kill` event for `exec_id`.
pub fn kill_event(actor: &str, os_user: &str, exec_id: &str, now: DateTime<Utc>) -> AuditEvent {
    AuditEvent {
        actor: actor.to_owned(),
        action: "kill".to_owned(),
        target: Some(exec_id.to_owned()),
        payload: json!({
            "subject": subject::kill(exec_id),
            "os_user": os_user,
        }),
        occurred_at: now,
        client_addr: None,
    }
}

/// The first line with something on it, control characters made spaces, cut to
/// `FIRST_LINE_MAX` characters (with `…` when cut).
pub fn first_line(script: &str) -> String {
    let line: String = crate::render::first_line(script)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    match line.char_indices().nth(FIRST_LINE_MAX) {
        Some((end, _)) => format!("{}…", &line[..end]),
        None => line,
    }
}

/// Publishes `event` on `audit.<action>` through JetStream and waits for the broker's
/// acknowledgement; returns the stream sequence.
pub async fn publish(nats: &async_nats::Client, event: &AuditEvent) -> anyhow::Result<u64> {
    let subject = subject::audit(&event.action);
    let payload = serde_json::to_vec(event).context("encoding the audit event")?;
    let js = jetstream::new(nats.clone());
    let ack = js
        .publish(subject.clone(), payload.into())
        .await
        .with_context(|| format!("publishing the audit event on {subject}"))?;
    let ack = ack.await.map_err(|err| match err.kind() {
        PublishErrorKind::StreamNotFound => {
            anyhow::anyhow!("the broker has no stream for {subject}: run `kanade jetstream setup`")
        }
        _ => anyhow::Error::new(err).context(format!(
            "the broker did not acknowledge the audit event on {subject}"
        )),
    })?;
    Ok(ack.sequence)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanade_protocol::manifest::Shell;

    fn command(script: &str) -> Command {
        Command {
            id: "_adhoc".into(),
            version: "0".into(),
            request_id: "req-1".into(),
            exec_id: "exec-1".into(),
            shell: Shell::Bash,
            script: script.into(),
            timeout_secs: 30,
            jitter_secs: None,
            retry: None,
            deadline_at: None,
            cwd: None,
            run_as: None,
            staleness: None,
            emit: None,
            emergency: true,
            issued_at: "2026-01-01T12:00:00Z".parse().unwrap(),
            issued_by: Some("kanade-cli".into()),
            collect: None,
            finalize: None,
            signature: None,
        }
    }

    #[test]
    fn a_run_event_has_no_script_body_beyond_the_first_line() {
        let script =
            "\n  export TOKEN=abc\ncurl -H \"Authorization: Bearer s3cret-body\" https://x\n";
        let event = run_event("alice", "root", &command(script), "pc-1");
        assert_eq!(
            (event.actor.as_str(), event.action.as_str()),
            ("alice", "run")
        );
        assert_eq!(event.target.as_deref(), Some("pc-1"));
        assert_eq!(event.client_addr, None);
        assert_eq!(event.occurred_at, command(script).issued_at);
        let p = &event.payload;
        assert_eq!(p["request_id"], "req-1");
        assert_eq!(p["exec_id"], "exec-1");
        assert_eq!(p["shell"], "bash");
        assert_eq!(p["timeout_secs"], 30);
        assert_eq!(p["script_bytes"], script.len());
        assert_eq!(p["script_first_line"], "export TOKEN=abc");
        assert_eq!(p["os_user"], "root");
        let sha = p["script_sha256"].as_str().unwrap();
        assert_eq!(sha.len(), 64);
        assert!(sha.chars().all(|c| c.is_ascii_hexdigit()));
        // Nothing of the script's later lines is anywhere in the event.
        let text = serde_json::to_string(&event).unwrap();
        assert!(!text.contains("s3cret-body"), "{text}");
        assert!(!text.contains("curl"), "{text}");
        assert!(!text.contains("\"script\""), "{text}");
    }

    #[test]
    fn the_hash_is_sha256_of_the_script() {
        let event = run_event("a", "u", &command("abc"), "pc");
        assert_eq!(
            event.payload["script_sha256"],
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_first_line_is_cut_at_80_characters() {
        let long = format!("echo {}\nsecond", "é".repeat(200));
        let line = first_line(&long);
        assert_eq!(line.chars().count(), FIRST_LINE_MAX + 1);
        assert!(line.ends_with('…') && line.starts_with("echo éé"), "{line}");
        assert_eq!(first_line("a\tb\u{1b}[0m"), "a b [0m");
        assert_eq!(first_line(&"x".repeat(80)), "x".repeat(80));
        assert_eq!(first_line(""), "");
    }

    #[test]
    fn the_actor_is_the_live_session_user_else_the_os_user() {
        let now: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
        let session = |expires: &str| Session {
            backend_url: "http://b".into(),
            token: "t".into(),
            username: "alice".into(),
            expires_at: expires.parse().unwrap(),
        };
        let live = session("2026-01-02T00:00:00Z");
        let expired = session("2026-01-01T11:00:00Z");
        assert_eq!(actor(Some(&live), "root", now), "alice");
        assert_eq!(actor(Some(&expired), "root", now), "cli:root");
        assert_eq!(actor(None, "unknown", now), "cli:unknown");
    }

    #[test]
    fn a_kill_event_targets_the_execution() {
        let now = Utc::now();
        let event = kill_event("cli:bob", "bob", "exec-9", now);
        assert_eq!(event.action, "kill");
        assert_eq!(event.target.as_deref(), Some("exec-9"));
        assert_eq!(event.payload["subject"], "kill.exec-9");
        assert_eq!(event.occurred_at, now);
    }
}
