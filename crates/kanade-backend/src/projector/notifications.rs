//! NOTIFICATIONS (`notifications.>`) → `notifications` and the subjects each landed on, so
//! sent notifications survive a read-model wipe; EVENTS (`events.notifications.>`) →
//! `notification_acks`, the first confirmation of each person.

use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::{Notification, NotificationAck};
use rusqlite::Transaction;

use crate::projector::{Durable, Meta, Projection};
use crate::store;

pub struct Sent;

/// A notification and the subject this copy was published on.
pub struct Copy {
    pub subject: String,
    pub notification: Notification,
}

impl Projection for Sent {
    type Event = Copy;
    type Effect = ();
    const DURABLE: Durable = Durable {
        stream: names::STREAM_NOTIFICATIONS,
        consumer: names::CONSUMER_NOTIFICATIONS,
        filter: subject::NOTIFICATIONS_FILTER,
    };

    fn decode(subject: &str, payload: &[u8]) -> Result<Copy, String> {
        let notification: Notification =
            serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if notification.id.is_empty() {
            return Err("id must not be empty".to_owned());
        }
        Ok(Copy {
            subject: subject.to_owned(),
            notification,
        })
    }

    fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &Copy,
        meta: Meta,
        _effects: &mut Vec<()>,
    ) -> rusqlite::Result<()> {
        store::notifications::insert(
            tx,
            &event.notification,
            &event.subject,
            meta.stream_seq,
            meta.published,
        )
    }
}

pub struct Acks;

impl Projection for Acks {
    type Event = NotificationAck;
    type Effect = ();
    const DURABLE: Durable = Durable {
        stream: names::STREAM_EVENTS,
        consumer: names::CONSUMER_NOTIFICATION_ACKS,
        filter: subject::NOTIFICATION_EVENTS_FILTER,
    };

    fn decode(_subject: &str, payload: &[u8]) -> Result<NotificationAck, String> {
        let ack: NotificationAck = serde_json::from_slice(payload).map_err(|e| e.to_string())?;
        if ack.notification_id.is_empty() || ack.pc_id.is_empty() || ack.user.is_empty() {
            return Err("notification_id, pc_id and user must not be empty".to_owned());
        }
        Ok(ack)
    }

    fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &NotificationAck,
        meta: Meta,
        _effects: &mut Vec<()>,
    ) -> rusqlite::Result<()> {
        store::notifications::insert_ack(tx, event, meta.published)
    }
}
