//! Recording operator actions: each becomes an `AuditEvent` on `audit.<action>` in stream
//! AUDIT, which the audit projector mirrors into `audit_log`. Payloads never carry passwords,
//! tokens or TOTP secrets; callers pass only what is safe to keep forever.

use async_nats::jetstream;
use chrono::Utc;
use kanade_protocol::subject;
use kanade_protocol::wire::AuditEvent;

use crate::auth::Caller;

/// Publishes one audit event and waits for the broker to store it. A failure is logged, never
/// returned: the action it records has already happened.
pub async fn record(
    js: &jetstream::Context,
    caller: &Caller,
    action: &str,
    target: Option<&str>,
    payload: serde_json::Value,
) {
    let event = AuditEvent {
        actor: caller.username.clone(),
        action: action.to_owned(),
        target: target.map(str::to_owned),
        payload,
        occurred_at: Utc::now(),
        client_addr: caller.client_addr.clone(),
    };
    if let Err(err) = publish(js, &event).await {
        tracing::error!(
            action,
            error = format!("{err:#}"),
            "audit event not recorded"
        );
    }
}

pub async fn publish(js: &jetstream::Context, event: &AuditEvent) -> anyhow::Result<()> {
    let payload = serde_json::to_vec(event)?;
    js.publish(subject::audit(&event.action), payload.into())
        .await?
        .await?;
    Ok(())
}
