//! The persistent set of request ids this machine has already accepted, so a command that
//! arrives twice (live and by replay, or replayed after a restart) runs exactly once.
//!
//! Stored as a JSON object `{request_id: accepted_at}` in `<data_dir>/seen_requests.json`,
//! rewritten atomically on every new id and bounded by age and count.

use std::collections::HashMap;
use std::path::PathBuf;

use chrono::{DateTime, TimeDelta, Utc};

/// Ids older than this are forgotten: EXEC keeps commands for 7 days, so a replay can never
/// bring back anything older.
pub const MAX_AGE: TimeDelta = TimeDelta::days(8);
/// At most this many ids are kept; the oldest go first.
pub const MAX_ENTRIES: usize = 10_000;

pub struct SeenRequests {
    path: PathBuf,
    entries: HashMap<String, DateTime<Utc>>,
}

impl SeenRequests {
    /// Reads the set from disk. A missing file is an empty set; an unreadable one is logged,
    /// kept aside as `<file>.bad` and replaced by an empty set.
    pub fn load(path: PathBuf) -> SeenRequests {
        let entries = match std::fs::read(&path) {
            Ok(bytes) => match serde_json::from_slice(&bytes) {
                Ok(entries) => entries,
                Err(err) => {
                    tracing::warn!(path = %path.display(), error = %err,
                        "seen-requests file is corrupt; starting with an empty set");
                    let _ = std::fs::rename(&path, path.with_extension("json.bad"));
                    HashMap::new()
                }
            },
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => HashMap::new(),
            Err(err) => {
                tracing::warn!(path = %path.display(), error = %err,
                    "cannot read the seen-requests file; starting with an empty set");
                HashMap::new()
            }
        };
        SeenRequests { path, entries }
    }

    /// Records `request_id` and returns true when it was not seen before. The set is
    /// persisted before returning, so a crash right after cannot make the command run again.
    pub fn first_sighting(&mut self, request_id: &str, now: DateTime<Utc>) -> bool {
        if self.entries.contains_key(request_id) {
            return false;
        }
        self.entries.insert(request_id.to_owned(), now);
        prune(&mut self.entries, now);
        if let Err(err) = self.persist() {
            tracing::warn!(path = %self.path.display(), error = %err,
                "cannot persist the seen-requests set; duplicates after a restart may run again");
        }
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn persist(&self) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&self.entries)?;
        crate::outbox::write_atomic(&self.path, &bytes)
    }
}

/// Drops ids older than `MAX_AGE`, then the oldest ones beyond `MAX_ENTRIES`.
pub fn prune(entries: &mut HashMap<String, DateTime<Utc>>, now: DateTime<Utc>) {
    entries.retain(|_, at| now.signed_duration_since(*at) <= MAX_AGE);
    if entries.len() <= MAX_ENTRIES {
        return;
    }
    let mut by_age: Vec<(DateTime<Utc>, String)> =
        entries.iter().map(|(id, at)| (*at, id.clone())).collect();
    by_age.sort();
    let excess = entries.len() - MAX_ENTRIES;
    for (_, id) in by_age.into_iter().take(excess) {
        entries.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_across_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen_requests.json");
        let now = Utc::now();
        let mut seen = SeenRequests::load(path.clone());
        assert!(seen.first_sighting("r1", now));
        assert!(!seen.first_sighting("r1", now));
        let mut again = SeenRequests::load(path);
        assert!(!again.first_sighting("r1", now));
        assert!(again.first_sighting("r2", now));
    }

    #[test]
    fn corrupt_file_is_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seen_requests.json");
        std::fs::write(&path, b"{not json").unwrap();
        let mut seen = SeenRequests::load(path.clone());
        assert!(seen.is_empty());
        assert!(dir.path().join("seen_requests.json.bad").exists());
        assert!(seen.first_sighting("r1", Utc::now()));
    }

    #[test]
    fn bounded_by_age_then_count() {
        let now = Utc::now();
        let mut entries = HashMap::new();
        entries.insert("old".to_owned(), now - TimeDelta::days(9));
        entries.insert("recent".to_owned(), now - TimeDelta::days(7));
        prune(&mut entries, now);
        assert!(!entries.contains_key("old"));
        assert!(entries.contains_key("recent"));

        let mut entries: HashMap<String, DateTime<Utc>> = (0..MAX_ENTRIES + 5)
            .map(|i| (format!("r{i}"), now - TimeDelta::seconds(i as i64)))
            .collect();
        prune(&mut entries, now);
        assert_eq!(entries.len(), MAX_ENTRIES);
        // The five oldest (largest offsets) went.
        for i in MAX_ENTRIES..MAX_ENTRIES + 5 {
            assert!(!entries.contains_key(&format!("r{i}")), "r{i}");
        }
        assert!(entries.contains_key("r0"));
    }
}
