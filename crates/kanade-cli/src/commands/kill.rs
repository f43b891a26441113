//! `kanade kill <exec_id>`: break-glass over NATS. Publishes an empty message on
//! `kill.<exec_id>` (core NATS: every agent running that execution kills its process tree),
//! flushes it to the broker, then records an audit event `kill`.

use anyhow::Context;
use chrono::Utc;
use kanade_protocol::subject;

use crate::cli::{Global, KillArgs};
use crate::commands::run::local_actor;
use crate::commands::{Io, nats};
use crate::{BadInput, EXIT_OK, audit};

pub async fn run(args: KillArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let exec_id = args.exec_id;
    if !subject::is_valid_token(&exec_id) {
        return Err(BadInput::err(format!(
            "`{exec_id}` is not a valid execution id (letters, digits, '-' and '_' only)"
        )));
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
