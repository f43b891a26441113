//! Screen locks and unlocks of the active local user session, for the `lock` / `unlock`
//! triggers of agent-side schedules: systemd-logind's `LockedHint` property of its
//! `org.freedesktop.login1.Session` objects, followed over D-Bus (`PropertiesChanged` signals
//! sent by `org.freedesktop.login1`; `[agent] logind_bus`, the system bus by default). A change
//! to locked is a `lock`, to unlocked an `unlock`; a session that is not active is ignored.
//! Without a bus (or logind) nothing fires; the watcher retries with a growing pause.

use std::collections::HashMap;
use std::time::Duration;

use futures::StreamExt;
use kanade_protocol::schedule::OsEvent;
use tokio::sync::mpsc;
use zbus::OwnedVariant;

const LOGIND: &str = "org.freedesktop.login1";
const SESSION_IFACE: &str = "org.freedesktop.login1.Session";
const PROPERTIES_IFACE: &str = "org.freedesktop.DBus.Properties";
/// `[agent] logind_bus` for the machine's system bus.
pub const SYSTEM_BUS: &str = "system";
/// `[agent] logind_bus` that turns the watcher off.
pub const OFF: &str = "off";

/// Follows `bus` ("system", "off" or a D-Bus address) and sends every lock and unlock of the
/// active session to `events` until the receiver is gone.
pub async fn watch(bus: String, events: mpsc::UnboundedSender<OsEvent>) {
    if bus == OFF {
        return;
    }
    let mut failures = 0u32;
    loop {
        match follow(&bus, &events).await {
            Ok(()) => return,
            Err(err) => {
                failures += 1;
                if failures == 1 || failures.is_power_of_two() {
                    tracing::info!(
                        bus,
                        error = format!("{err:#}"),
                        "cannot follow logind's screen locks: `lock` / `unlock` schedules do not fire"
                    );
                }
                tokio::time::sleep(Duration::from_secs(u64::from(failures.min(30)))).await;
            }
        }
    }
}

async fn connect(bus: &str) -> zbus::Result<zbus::Connection> {
    let builder = if bus == SYSTEM_BUS {
        zbus::connection::Builder::system()
    } else {
        zbus::connection::Builder::address(bus)
    };
    builder.build().await
}

/// One connection's worth of following; `Ok` when the receiver is gone.
async fn follow(bus: &str, events: &mpsc::UnboundedSender<OsEvent>) -> anyhow::Result<()> {
    let conn = connect(bus).await?;
    // Only logind's own signals: the bus checks the sender, so no other client can fake one.
    let rule = zbus::MatchRule::builder()
        .msg_type(zbus::message::Type::Signal)
        .sender(LOGIND)
        .interface(PROPERTIES_IFACE)
        .member("PropertiesChanged")
        .path_namespace("/org/freedesktop/login1/session")
        .arg(0, SESSION_IFACE)
        .build()?;
    let mut stream = zbus::MessageStream::for_match_rule(rule, &conn, None).await?;
    tracing::info!(bus, "following logind's screen locks");
    // Session object path -> locked, as last seen.
    let mut locked: HashMap<String, bool> = HashMap::new();
    while let Some(msg) = stream.next().await {
        let msg = msg?;
        let Some(path) = msg.header().path().map(|p| p.to_string()) else {
            continue;
        };
        let body = msg.body();
        let Ok((iface, changed, _invalidated)) =
            body.deserialize::<(String, HashMap<String, OwnedVariant>, Vec<String>)>()
        else {
            continue;
        };
        if iface != SESSION_IFACE {
            continue;
        }
        let Some(now_locked) = changed.get("LockedHint").and_then(as_bool) else {
            continue;
        };
        let before = locked.insert(path.clone(), now_locked).unwrap_or(false);
        if before == now_locked || !active(&conn, &path).await {
            continue;
        }
        let event = if now_locked {
            OsEvent::Lock
        } else {
            OsEvent::Unlock
        };
        tracing::info!(
            session = path,
            event = event.as_str(),
            "screen {}",
            event.as_str()
        );
        if events.send(event).is_err() {
            return Ok(());
        }
    }
    anyhow::bail!("the bus connection ended")
}

fn as_bool(value: &OwnedVariant) -> Option<bool> {
    bool::try_from(value).ok()
}

/// Whether the session at `path` is logind's active one (its `Active` property).
async fn active(conn: &zbus::Connection, path: &str) -> bool {
    let reply = conn
        .call_method(
            Some(LOGIND),
            path,
            Some(PROPERTIES_IFACE),
            "Get",
            &(SESSION_IFACE, "Active"),
        )
        .await;
    match reply {
        Ok(reply) => reply
            .body()
            .deserialize::<OwnedVariant>()
            .ok()
            .as_ref()
            .and_then(as_bool)
            .unwrap_or(false),
        Err(err) => {
            tracing::debug!(session = path, error = %err, "cannot read the session's Active");
            false
        }
    }
}
