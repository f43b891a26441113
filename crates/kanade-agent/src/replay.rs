//! Catch-up after being away. Commands: EXEC keeps the newest command per subject, so the
//! agent asks for exactly that on each of its own subjects (`$JS.API.DIRECT.GET.EXEC.<subject>`,
//! which its broker grant names one by one: no consumer, no way to read another machine's
//! commands) and handles what is newer than the last sequence it handled there (`Marks`,
//! persisted). A subject it never had a mark for starts at what is there now ("deliver new"),
//! so a brand-new machine does not run an old broadcast; a group joined live starts at the
//! sequence of the moment its subscription was in place, so nothing sent after the join is
//! missed. `Marks` also keeps the notifications' per-subject progress (`notifications`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use anyhow::Context;
use async_nats::jetstream::{self, stream::DirectGetErrorKind};
use kanade_protocol::names;

/// The last EXEC sequence handled per command subject, in `<data_dir>/catch_up.json`.
pub struct Marks {
    path: PathBuf,
    marks: BTreeMap<String, u64>,
}

impl Marks {
    /// Reads the marks; a missing or unreadable file is an empty set (logged when unreadable).
    pub fn load(path: PathBuf) -> Marks {
        let marks = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|err| {
                tracing::warn!(path = %path.display(), error = %err, "catch-up marks unreadable; starting afresh");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        };
        Marks { path, marks }
    }

    /// The last sequence handled on `subject`.
    pub fn get(&self, subject: &str) -> Option<u64> {
        self.marks.get(subject).copied()
    }

    /// Records `sequence` as handled on `subject` and persists the marks.
    pub fn set(&mut self, subject: &str, sequence: u64) {
        if self.marks.get(subject) != Some(&sequence) {
            self.marks.insert(subject.to_owned(), sequence);
            self.persist();
        }
    }

    fn persist(&self) {
        let written = serde_json::to_vec(&self.marks)
            .map_err(anyhow::Error::from)
            .and_then(|bytes| Ok(crate::outbox::write_atomic(&self.path, &bytes)?));
        if let Err(err) = written {
            tracing::warn!(path = %self.path.display(), error = format!("{err:#}"),
                "cannot persist the catch-up marks; commands may be offered again after a restart (they run once)");
        }
    }
}

/// Hands each subject's newest command that is newer than its mark to `accept` (subject,
/// stream sequence, payload). `joined` gives the starting mark of groups joined live since
/// the last catch-up. Returns how many commands were handed over.
pub async fn catch_up(
    js: &jetstream::Context,
    subjects: &[String],
    joined: &BTreeMap<String, u64>,
    marks: &mut Marks,
    mut accept: impl FnMut(&str, u64, &[u8]),
) -> anyhow::Result<usize> {
    let stream = js
        .get_stream_no_info(names::STREAM_EXEC)
        .await
        .context("opening stream EXEC")?;
    let mut handed = 0;
    let mut changed = false;
    for subject in subjects {
        let newest = match stream.direct_get_last_for_subject(subject.as_str()).await {
            Ok(message) => Some(message),
            Err(err) if err.kind() == DirectGetErrorKind::NotFound => None,
            Err(err) => {
                return Err(anyhow::Error::new(err)
                    .context(format!("reading the newest command on {subject}")));
            }
        };
        let sequence = newest.as_ref().map_or(0, |m| m.sequence);
        let mark = match (marks.marks.get(subject), joined.get(subject)) {
            (Some(mark), _) => *mark,
            (None, Some(floor)) => (*floor).min(sequence),
            // Never listened here before: what is stored now was not meant for this machine.
            (None, None) => sequence,
        };
        if let Some(message) = newest.filter(|m| m.sequence > mark) {
            accept(subject, message.sequence, &message.payload);
            handed += 1;
        }
        if marks.marks.get(subject) != Some(&sequence) {
            marks.marks.insert(subject.clone(), sequence);
            changed = true;
        }
    }
    // Subjects it no longer listens to are forgotten (a group rejoined later starts afresh).
    let wanted: BTreeSet<&String> = subjects.iter().collect();
    let before = marks.marks.len();
    marks.marks.retain(|subject, _| wanted.contains(subject));
    if changed || marks.marks.len() != before {
        marks.persist();
    }
    Ok(handed)
}
