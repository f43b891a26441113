//! Compliance alerts. The results projector decides (`is_alert`, pure) inside its transaction
//! and hands the alerts to `AlertQueue` once the batch is committed; `run` delivers them from
//! its own task — a notification to the machine (`notify_user`) and/or e-mail to the groups'
//! contacts (`notify_groups`) — so a slow broker or SMTP server never holds up projection.
//!
//! An alert fires only on a transition into a listed status, only for a result the broker
//! stored recently (`ALERT_WINDOW`) and after the replay horizon (the RESULTS sequence already
//! seen when the read model was rebuilt), and only once per result (`check_alerts`).

use std::sync::Arc;

use async_nats::jetstream;
use chrono::{DateTime, Duration, Utc};
use kanade_protocol::api::Target;
use kanade_protocol::hints::CheckStatus;
use kanade_protocol::manifest::AlertSpec;
use kanade_protocol::names;
use kanade_protocol::wire::Notification;
use tokio::sync::mpsc;

use crate::mail::Mailer;
use crate::notify;
use crate::store::Store;

/// Results the broker stored longer ago than this never alert (they are history).
pub const ALERT_WINDOW: Duration = Duration::minutes(15);
/// Alerts waiting for delivery; beyond this they are dropped (and logged).
const QUEUE: usize = 1024;

/// One alert to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct Alert {
    pub pc_id: String,
    pub check_name: String,
    pub label: Option<String>,
    pub status: CheckStatus,
    pub detail: Option<String>,
    /// Who last logged on at the machine, from its newest heartbeat (`{last_logon}`).
    pub last_logon: Option<String>,
    pub spec: AlertSpec,
}

/// Where a result sits, for the freshness rules.
#[derive(Debug, Clone, Copy)]
pub struct Freshness {
    /// The broker's publish time of the result.
    pub published: DateTime<Utc>,
    pub stream_seq: u64,
    /// RESULTS sequence at or below which results were already seen before a rebuild.
    pub horizon: u64,
    pub now: DateTime<Utc>,
}

/// Whether moving from `previous` to `current` alerts under `spec`.
pub fn is_alert(
    previous: Option<CheckStatus>,
    current: CheckStatus,
    spec: &AlertSpec,
    fresh: Freshness,
) -> bool {
    previous != Some(current)
        && spec.alert_on().contains(&current)
        && fresh.stream_seq > fresh.horizon
        && fresh.now - fresh.published <= ALERT_WINDOW
}

impl Alert {
    /// `template` with `{pc_id}`, `{name}`, `{label}`, `{status}`, `{detail}` and
    /// `{last_logon}` (`unknown` when the machine never reported one) filled in.
    pub fn fill(&self, template: &str) -> String {
        let label = self.label.as_deref().unwrap_or(&self.check_name);
        template
            .replace("{pc_id}", &self.pc_id)
            .replace("{name}", &self.check_name)
            .replace("{label}", label)
            .replace("{status}", self.status.as_str())
            .replace("{detail}", self.detail.as_deref().unwrap_or(""))
            .replace(
                "{last_logon}",
                self.last_logon
                    .as_deref()
                    .filter(|u| !u.is_empty())
                    .unwrap_or("unknown"),
            )
    }

    pub fn title(&self) -> String {
        self.fill(
            self.spec
                .title
                .as_deref()
                .unwrap_or(AlertSpec::DEFAULT_TITLE),
        )
    }

    pub fn body(&self) -> String {
        self.fill(self.spec.body.as_deref().unwrap_or(AlertSpec::DEFAULT_BODY))
    }

    /// The notification for the people at the machine (`notify_user`) and for the groups of
    /// `notify_groups` (published on `notifications.group.<g>`, as the original does), with
    /// `toast` as the alert asks. `None` when it goes to neither.
    pub fn notification(&self, now: DateTime<Utc>) -> Option<Notification> {
        let pcs = match self.spec.notify_user {
            true => vec![self.pc_id.clone()],
            false => Vec::new(),
        };
        if pcs.is_empty() && self.spec.notify_groups.is_empty() {
            return None;
        }
        Some(Notification {
            id: uuid::Uuid::new_v4().to_string(),
            priority: self.spec.priority.unwrap_or_default(),
            require_ack: self.spec.require_ack,
            title: self.title(),
            body: self.body(),
            issued_at: now,
            issued_by: Some(format!("compliance:{}", self.check_name)),
            expires_at: None,
            target: Target {
                pcs,
                groups: self.spec.notify_groups.clone(),
                ..Target::default()
            },
            toast: self.spec.toast,
        })
    }
}

/// The sending side, held by the results projector.
#[derive(Clone)]
pub struct AlertQueue(mpsc::Sender<Alert>);

pub fn queue() -> (AlertQueue, mpsc::Receiver<Alert>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    (AlertQueue(tx), rx)
}

impl AlertQueue {
    /// Hands `alert` to the delivery task without waiting; a full queue drops it loudly.
    pub fn send(&self, alert: Alert) {
        if let Err(err) = self.0.try_send(alert) {
            tracing::error!(%err, "compliance alert dropped: the delivery queue is full or closed");
        }
    }
}

/// Delivers alerts until the queue closes. Every failure is logged; nothing here fails.
pub async fn run(
    mut alerts: mpsc::Receiver<Alert>,
    js: jetstream::Context,
    mailer: Option<Arc<Mailer>>,
) {
    while let Some(alert) = alerts.recv().await {
        tracing::info!(pc_id = %alert.pc_id, check = %alert.check_name, status = alert.status.as_str(), "compliance alert");
        if let Some(notification) = alert.notification(Utc::now())
            && notify::publish(&js, &notification).await.is_empty()
        {
            tracing::error!(pc_id = %alert.pc_id, check = %alert.check_name, "alert notification not delivered");
        }
        if alert.spec.notify_groups.is_empty() {
            continue;
        }
        let Some(mailer) = mailer.clone() else {
            tracing::warn!(check = %alert.check_name, "alert e-mail skipped: no [mail] configured");
            continue;
        };
        let js = js.clone();
        tokio::spawn(async move {
            let to = notify::emails_of(&js, &alert.spec.notify_groups).await;
            if to.is_empty() {
                tracing::warn!(check = %alert.check_name, groups = ?alert.spec.notify_groups, "alert e-mail skipped: the groups have no contacts");
                return;
            }
            if let Err(err) = mailer.send(&to, &alert.title(), &alert.body()).await {
                tracing::error!(check = %alert.check_name, error = format!("{err:#}"), "alert e-mail failed");
            }
        });
    }
}

/// The RESULTS sequence up to which results count as already seen: the stream's last
/// sequence when the read model has no results (fresh or wiped, so the stream is about to be
/// replayed), else 0.
pub async fn replay_horizon(js: &jetstream::Context, store: &Store) -> anyhow::Result<u64> {
    let empty: bool = store
        .read(|c| {
            c.query_row(
                "SELECT NOT EXISTS (SELECT 1 FROM execution_results)",
                [],
                |r| r.get(0),
            )
        })
        .await?;
    if !empty {
        return Ok(0);
    }
    let mut stream = js.get_stream(names::STREAM_RESULTS).await?;
    Ok(stream.info().await?.state.last_sequence)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> AlertSpec {
        AlertSpec {
            on: vec![CheckStatus::Warn, CheckStatus::Fail],
            notify_user: true,
            title: Some("{label} is {status} on {pc_id}".into()),
            ..AlertSpec::default()
        }
    }

    #[test]
    fn only_fresh_transitions_into_listed_statuses_alert() {
        let now = Utc::now();
        let fresh = Freshness {
            published: now,
            stream_seq: 10,
            horizon: 0,
            now,
        };
        use CheckStatus::*;
        let cases = [
            (None, Fail, fresh, true),
            (Some(Ok), Warn, fresh, true),
            (Some(Warn), Fail, fresh, true),
            (Some(Fail), Fail, fresh, false),
            (Some(Fail), Ok, fresh, false),
            (Some(Ok), Unknown, fresh, false),
            (
                Some(Ok),
                Fail,
                Freshness {
                    horizon: 10,
                    ..fresh
                },
                false,
            ),
            (
                Some(Ok),
                Fail,
                Freshness {
                    published: now - Duration::minutes(16),
                    ..fresh
                },
                false,
            ),
        ];
        for (previous, current, fresh, want) in cases {
            assert_eq!(
                is_alert(previous, current, &spec(), fresh),
                want,
                "{previous:?} -> {current:?}"
            );
        }
        let default_on = AlertSpec::default();
        assert!(is_alert(Some(Ok), Fail, &default_on, fresh));
        assert!(!is_alert(Some(Ok), Warn, &default_on, fresh));
    }

    #[test]
    fn templates_are_filled() {
        let alert = Alert {
            pc_id: "pc7".into(),
            check_name: "disk".into(),
            label: None,
            status: CheckStatus::Fail,
            detail: Some("/ at 95%".into()),
            last_logon: None,
            spec: spec(),
        };
        assert_eq!(alert.title(), "disk is fail on pc7");
        assert_eq!(alert.body(), "Check disk reports fail on pc7: / at 95%");
        let n = alert.notification(Utc::now()).unwrap();
        assert_eq!(n.target.pcs, ["pc7"]);
        assert!(n.target.groups.is_empty() && !n.toast);
        assert_eq!(n.issued_by.as_deref(), Some("compliance:disk"));

        // The original's alert shape: toast, {last_logon}, groups.
        let spec: AlertSpec = kanade_protocol::manifest::parse_document(
            "{on: [fail], notify_user: false, notify_groups: [helpdesk], toast: true, \
             title: 'Low disk on {pc_id} ({last_logon})'}",
        )
        .unwrap();
        let mut alert = Alert { spec, ..alert };
        assert_eq!(alert.title(), "Low disk on pc7 (unknown)");
        alert.last_logon = Some("CORP\\alice".into());
        assert_eq!(alert.title(), "Low disk on pc7 (CORP\\alice)");
        let n = alert.notification(Utc::now()).unwrap();
        assert!(n.toast);
        assert!(n.target.pcs.is_empty());
        assert_eq!(n.target.groups, ["helpdesk"]);
        alert.spec.notify_groups.clear();
        assert!(alert.notification(Utc::now()).is_none(), "nobody to tell");
    }
}
