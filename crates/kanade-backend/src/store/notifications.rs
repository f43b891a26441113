//! `notifications` + `notification_subjects` (projected from stream NOTIFICATIONS, so a wiped
//! read model gets them back) and `notification_acks` (from EVENTS; the first confirmation of
//! each person is kept).

use chrono::{DateTime, Utc};
use kanade_protocol::api::{AckRow, NotificationDetail, NotificationSummary, Page, Target};
use kanade_protocol::manifest::Priority;
use kanade_protocol::wire::{Notification, NotificationAck};
use rusqlite::{Connection, OptionalExtension, Row, Transaction, params};

use crate::store::{parse_ts, ts};

/// Records one published copy of a notification; the first copy creates the row.
pub fn insert(
    tx: &Transaction<'_>,
    n: &Notification,
    subject: &str,
    stream_seq: u64,
    recorded_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO notifications (id, priority, require_ack, title, body, issued_at, issued_by,
             expires_at, target_json, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (id) DO NOTHING",
        params![
            n.id,
            priority_text(n.priority),
            n.require_ack,
            n.title,
            n.body,
            ts(n.issued_at),
            n.issued_by,
            n.expires_at.map(ts),
            serde_json::to_string(&n.target).unwrap_or_else(|_| "{}".into()),
            ts(recorded_at),
        ],
    )?;
    tx.execute(
        "INSERT INTO notification_subjects (notification_id, subject, stream_seq)
         VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        params![n.id, subject, i64::try_from(stream_seq).unwrap_or(i64::MAX)],
    )?;
    Ok(())
}

pub fn insert_ack(
    tx: &Transaction<'_>,
    ack: &NotificationAck,
    recorded_at: DateTime<Utc>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO notification_acks (notification_id, pc_id, user, acked_at, recorded_at)
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
        params![
            ack.notification_id,
            ack.pc_id,
            ack.user,
            ts(ack.acked_at),
            ts(recorded_at),
        ],
    )?;
    Ok(())
}

fn priority_text(p: Priority) -> &'static str {
    match p {
        Priority::Info => "info",
        Priority::Warn => "warn",
        Priority::Emergency => "emergency",
        Priority::Unknown => "unknown",
    }
}

const COLUMNS: &str = "n.id, n.priority, n.require_ack, n.title, n.body, n.issued_at, n.issued_by,
    n.expires_at, n.target_json,
    (SELECT json_group_array(subject) FROM
        (SELECT subject FROM notification_subjects s WHERE s.notification_id = n.id ORDER BY subject)),
    (SELECT COUNT(*) FROM notification_acks a WHERE a.notification_id = n.id)";

fn summary(r: &Row<'_>) -> rusqlite::Result<NotificationSummary> {
    let priority: String = r.get(1)?;
    Ok(NotificationSummary {
        id: r.get(0)?,
        priority: serde_json::from_value(serde_json::Value::String(priority))
            .unwrap_or(Priority::Unknown),
        require_ack: r.get(2)?,
        title: r.get(3)?,
        body: r.get(4)?,
        issued_at: parse_ts(r.get(5)?).unwrap_or_default(),
        issued_by: r.get(6)?,
        expires_at: parse_ts(r.get(7)?),
        target: serde_json::from_str::<Target>(&r.get::<_, String>(8)?).unwrap_or_default(),
        subjects: serde_json::from_str(&r.get::<_, String>(9)?).unwrap_or_default(),
        acks: crate::store::count_at(r, 10)?,
    })
}

/// Sent notifications, newest first.
pub fn list(
    conn: &Connection,
    limit: u32,
    offset: u64,
) -> rusqlite::Result<Page<NotificationSummary>> {
    let total: i64 = conn.query_row("SELECT COUNT(*) FROM notifications", [], |r| r.get(0))?;
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM notifications n ORDER BY n.issued_at DESC, n.id DESC
         LIMIT ?1 OFFSET ?2"
    ))?;
    let items = stmt
        .query_map(
            params![limit, i64::try_from(offset).unwrap_or(i64::MAX)],
            summary,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Page {
        items,
        total: u64::try_from(total).unwrap_or(0),
        limit,
        offset,
    })
}

/// One notification with everyone who confirmed it.
pub fn get(conn: &Connection, id: &str) -> rusqlite::Result<Option<NotificationDetail>> {
    let Some(notification) = conn
        .query_row(
            &format!("SELECT {COLUMNS} FROM notifications n WHERE n.id = ?1"),
            [id],
            summary,
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT pc_id, user, acked_at, recorded_at FROM notification_acks
         WHERE notification_id = ?1 ORDER BY acked_at, pc_id, user",
    )?;
    let acked_by = stmt
        .query_map([id], |r| {
            Ok(AckRow {
                pc_id: r.get(0)?,
                user: r.get(1)?,
                acked_at: parse_ts(r.get(2)?).unwrap_or_default(),
                recorded_at: parse_ts(r.get(3)?).unwrap_or_default(),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(Some(NotificationDetail {
        notification,
        acked_by,
    }))
}
