//! A short-lived cache of list totals: counting every matching row of a 50,000-machine fleet
//! on each page request costs milliseconds, while the page itself costs microseconds, so a
//! list's total may be up to `TTL` old. Pages themselves are always read fresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const TTL: Duration = Duration::from_secs(2);
const MAX_ENTRIES: usize = 1024;

#[derive(Default)]
pub struct Totals {
    entries: Mutex<HashMap<String, (Instant, u64)>>,
}

impl Totals {
    /// A total counted for `key` less than `TTL` before `now`.
    pub fn get(&self, key: &str, now: Instant) -> Option<u64> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(key)
            .filter(|(at, _)| now.duration_since(*at) < TTL)
            .map(|(_, total)| *total)
    }

    pub fn put(&self, key: String, total: u64, now: Instant) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (at, _)| now.duration_since(*at) < TTL);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (now, total));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_expire_and_stay_bounded() {
        let totals = Totals::default();
        let start = Instant::now();
        totals.put("a".into(), 7, start);
        assert_eq!(totals.get("a", start + Duration::from_millis(500)), Some(7));
        assert_eq!(totals.get("a", start + TTL), None);
        assert_eq!(totals.get("b", start), None);
        for i in 0..5000 {
            totals.put(format!("k{i}"), i, start);
        }
        assert!(totals.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
