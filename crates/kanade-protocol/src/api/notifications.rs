//! Notifications to the people at machines: the request and its rules, the subjects it is
//! published on, sent rows and acknowledgements, and the per-group e-mail contacts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::target::Target;
use crate::manifest::{ManifestError, Priority};
use crate::subject;

/// `POST /api/notifications`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct NotificationRequest {
    /// Minted when absent; letters, digits, '-' and '_' (at most 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default)]
    pub priority: Priority,
    #[serde(default)]
    pub require_ack: bool,
    pub title: String,
    #[serde(default)]
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
    pub target: Target,
    /// Ask the people's client to show it as a toast too (the original's `toast`).
    #[serde(default)]
    pub toast: bool,
}

/// Longest title a notification may have.
pub const MAX_NOTIFICATION_TITLE_CHARS: usize = 200;

impl NotificationRequest {
    pub fn validate(&self, now: DateTime<Utc>) -> Result<(), ManifestError> {
        let invalid = |field: &str, message: &str| ManifestError::Invalid {
            field: field.to_owned(),
            message: message.to_owned(),
        };
        if let Some(id) = &self.id
            && (id.len() > 64 || !subject::is_valid_token(id))
        {
            return Err(invalid("id", "must be 1-64 letters, digits, '-' or '_'"));
        }
        if self.priority == Priority::Unknown {
            return Err(invalid("priority", "must be info, warn or emergency"));
        }
        if self.title.trim().is_empty() {
            return Err(invalid("title", "must not be empty"));
        }
        // Both are shown as a toast on every targeted machine.
        if self.title.chars().count() > MAX_NOTIFICATION_TITLE_CHARS {
            return Err(invalid(
                "title",
                &format!("must be at most {MAX_NOTIFICATION_TITLE_CHARS} characters"),
            ));
        }
        if self.title.chars().any(char::is_control) {
            return Err(invalid("title", "must not contain control characters"));
        }
        if self
            .body
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(invalid(
                "body",
                "must not contain control characters other than line breaks and tabs",
            ));
        }
        if self.expires_at.is_some_and(|at| at <= now) {
            return Err(invalid("expires_at", "is already in the past"));
        }
        self.target.validate()
    }
}

/// The subjects a notification for `target` is published on. `all` wins over the lists.
pub fn notification_subjects(target: &Target) -> Vec<String> {
    if target.all {
        return vec![subject::NOTIFICATIONS_ALL.to_owned()];
    }
    let mut subjects: Vec<String> = target
        .groups
        .iter()
        .map(|g| subject::notifications_group(g))
        .collect();
    subjects.extend(target.pcs.iter().map(|pc| subject::notifications_pc(pc)));
    subjects.sort();
    subjects.dedup();
    subjects
}

/// Answer of `POST /api/notifications`: the subjects the broker acknowledged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSent {
    pub id: String,
    pub subjects: Vec<String>,
}

/// One sent notification (`GET /api/notifications`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationSummary {
    pub id: String,
    pub priority: Priority,
    pub require_ack: bool,
    pub title: String,
    pub body: String,
    pub issued_at: DateTime<Utc>,
    #[serde(default)]
    pub issued_by: Option<String>,
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
    pub target: Target,
    /// The subjects it was published on.
    pub subjects: Vec<String>,
    /// How many people confirmed it.
    pub acks: u64,
}

/// One person's confirmation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AckRow {
    pub pc_id: String,
    pub user: String,
    pub acked_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// `GET /api/notifications/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct NotificationDetail {
    #[serde(flatten)]
    pub notification: NotificationSummary,
    pub acked_by: Vec<AckRow>,
}

/// `PUT`/`GET /api/groups/{name}/email`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct GroupEmails {
    pub emails: Vec<String>,
}

impl GroupEmails {
    /// At most 50 addresses, each a plausible `local@domain`; duplicates are refused.
    pub fn validate(&self) -> Result<(), ManifestError> {
        if self.emails.len() > 50 {
            return Err(ManifestError::Invalid {
                field: "emails".to_owned(),
                message: "at most 50 addresses".to_owned(),
            });
        }
        for (i, email) in self.emails.iter().enumerate() {
            let problem = match is_plausible_email(email) {
                false => Some(format!("`{email}` is not an e-mail address")),
                true if self.emails[..i]
                    .iter()
                    .any(|e| e.eq_ignore_ascii_case(email)) =>
                {
                    Some(format!("`{email}` is listed twice"))
                }
                true => None,
            };
            if let Some(message) = problem {
                return Err(ManifestError::Invalid {
                    field: format!("emails[{i}]"),
                    message,
                });
            }
        }
        Ok(())
    }
}

/// `local@domain.tld` without spaces, angle brackets, commas or quotes, at most 254 bytes.
pub fn is_plausible_email(text: &str) -> bool {
    let Some((local, domain)) = text.split_once('@') else {
        return false;
    };
    let clean = |part: &str| {
        !part.is_empty()
            && part.chars().all(|c| {
                c.is_ascii_graphic()
                    && !matches!(
                        c,
                        '<' | '>' | ',' | '"' | '@' | '(' | ')' | ';' | ':' | '\\' | '[' | ']'
                    )
            })
    };
    text.len() <= 254
        && clean(local)
        && clean(domain)
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_requests_and_contacts_are_checked_by_field() {
        let now = Utc::now();
        let good = NotificationRequest {
            id: None,
            priority: Priority::Info,
            require_ack: false,
            title: "Reboot tonight".into(),
            body: String::new(),
            expires_at: Some(now + chrono::Duration::hours(1)),
            target: Target {
                groups: vec!["lab".into()],
                pcs: vec!["pc1".into()],
                ..Target::default()
            },
            toast: false,
        };
        good.validate(now).unwrap();
        assert_eq!(
            notification_subjects(&good.target),
            ["notifications.group.lab", "notifications.pc.pc1"]
        );
        let cases = [
            (
                NotificationRequest {
                    title: " ".into(),
                    ..good.clone()
                },
                "title",
            ),
            (
                NotificationRequest {
                    id: Some("a.b".into()),
                    ..good.clone()
                },
                "id",
            ),
            (
                NotificationRequest {
                    expires_at: Some(now),
                    ..good.clone()
                },
                "expires_at",
            ),
            (
                NotificationRequest {
                    target: Target::default(),
                    ..good.clone()
                },
                "target",
            ),
        ];
        for (req, field) in cases {
            assert_eq!(req.validate(now).unwrap_err().field(), Some(field));
        }
        let ok = GroupEmails {
            emails: vec!["ops@example.org".into(), "a.b+c@x.co".into()],
        };
        ok.validate().unwrap();
        for (bad, field) in [
            (vec!["nope"], "emails[0]"),
            (vec!["a@b.c", "Eve <e@x.org>"], "emails[1]"),
            (vec!["a@b.c", "A@B.C"], "emails[1]"),
            (vec!["a@localhost"], "emails[0]"),
        ] {
            let req = GroupEmails {
                emails: bad.into_iter().map(String::from).collect(),
            };
            assert_eq!(req.validate().unwrap_err().field(), Some(field));
        }
    }
}
