//! `kanade kill <exec_id>`: break-glass over NATS. Publishes an empty message on
//! `kill.<exec_id>` (core NATS: every agent running that execution kills its process tree),
//! flushes it to the broker, then records an audit event `kill`. When the backend answers
//! that the execution does not exist, nothing is sent (exit 1); when it cannot be asked (down,
//! not signed in), the kill goes out anyway: break-glass must not depend on it.

use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use kanade_protocol::subject;

use crate::cli::{Global, KillArgs};
use crate::commands::run::local_actor;
use crate::commands::{Io, api_client, nats};
use crate::{BadInput, EXIT_OK, audit};

pub async fn run(args: KillArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let exec_id = args.exec_id;
    if !subject::is_valid_token(&exec_id) {
        return Err(BadInput::err(format!(
            "`{exec_id}` is not a valid execution id (letters, digits, '-' and '_' only)"
        )));
    }
    if known_missing(global, &exec_id).await {
        anyhow::bail!(
            "execution {exec_id} not found: no kill was sent (`kanade executions --status running` \
             lists the running ones)"
        );
    }
    let client = nats(global).await?;
    let kill_subject = subject::kill(&exec_id);
    client
        .publish(kill_subject.clone(), bytes::Bytes::new())
        .await
        .with_context(|| format!("publishing on {kill_subject}"))?;
    client
        .flush()
        .await
        .with_context(|| format!("flushing {kill_subject} to NATS"))?;
    let os_user = audit::os_user();
    let event = audit::kill_event(
        &local_actor(global, &os_user),
        &os_user,
        &exec_id,
        Utc::now(),
    );
    if let Err(err) = audit::publish(&client, &event).await {
        io.note(&format!(
            "warning: the kill was sent but not recorded in the audit log: {err:#}"
        ));
    }
    if global.json {
        io.json(&serde_json::json!({ "exec_id": exec_id, "subject": kill_subject }))?;
    } else {
        io.print(&format!("kill sent to every machine running {exec_id}\n"))?;
    }
    Ok(EXIT_OK)
}

/// True only when the backend answered 404 for `exec_id` within a few seconds.
async fn known_missing(global: &Global, exec_id: &str) -> bool {
    let Ok(client) = api_client(global) else {
        return false;
    };
    match tokio::time::timeout(Duration::from_secs(3), client.get_execution(exec_id)).await {
        Ok(Err(err)) => err.status() == Some(reqwest::StatusCode::NOT_FOUND),
        _ => false,
    }
}
