//! Login throttling: 5 failed sign-ins of one account within 15 minutes lock it for 15
//! minutes; 30 failures from one client address within a minute answer 429. Kept in memory
//! (a restart forgets), decided by pure functions of `now`.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const ACCOUNT_FAILURES: usize = 5;
pub const ACCOUNT_WINDOW: Duration = Duration::from_secs(15 * 60);
pub const ACCOUNT_LOCK: Duration = Duration::from_secs(15 * 60);
pub const ADDRESS_FAILURES: usize = 30;
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Allowed,
    /// Too many failures from this address.
    AddressLimited,
    /// The account is locked until this long from now.
    AccountLocked(Duration),
}

#[derive(Default)]
pub struct Throttle {
    inner: Mutex<State>,
}

#[derive(Default)]
struct State {
    accounts: HashMap<String, (VecDeque<Instant>, Option<Instant>)>,
    addresses: HashMap<String, VecDeque<Instant>>,
}

impl Throttle {
    pub fn check(&self, username: &str, address: &str, now: Instant) -> Verdict {
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(failures) = state.addresses.get_mut(address) {
            prune(failures, now, ADDRESS_WINDOW);
            if failures.len() >= ADDRESS_FAILURES {
                return Verdict::AddressLimited;
            }
        }
        if let Some((_, Some(until))) = state
            .accounts
            .get(username)
            .filter(|(_, u)| u.is_some_and(|u| u > now))
        {
            return Verdict::AccountLocked(*until - now);
        }
        Verdict::Allowed
    }

    pub fn record_failure(&self, username: &str, address: &str, now: Instant) {
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let by_address = state.addresses.entry(address.to_owned()).or_default();
        prune(by_address, now, ADDRESS_WINDOW);
        by_address.push_back(now);
        let (failures, locked) = state.accounts.entry(username.to_owned()).or_default();
        prune(failures, now, ACCOUNT_WINDOW);
        failures.push_back(now);
        if failures.len() >= ACCOUNT_FAILURES {
            *locked = Some(now + ACCOUNT_LOCK);
            failures.clear();
        }
        if state.accounts.len() > 100_000 || state.addresses.len() > 100_000 {
            state
                .accounts
                .retain(|_, (f, l)| !f.is_empty() || l.is_some_and(|u| u > now));
            state.addresses.retain(|_, f| !f.is_empty());
        }
    }

    pub fn record_success(&self, username: &str) {
        let mut state = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        state.accounts.remove(username);
    }
}

fn prune(failures: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while failures
        .front()
        .is_some_and(|t| now.duration_since(*t) >= window)
    {
        failures.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_the_account_for_fifteen_minutes() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..4 {
            t.record_failure("bob", &format!("10.0.0.{i}"), start);
            assert_eq!(t.check("bob", "x", start), Verdict::Allowed);
        }
        t.record_failure("bob", "x", start);
        assert!(matches!(
            t.check("bob", "y", start),
            Verdict::AccountLocked(_)
        ));
        assert_eq!(
            t.check("alice", "y", start),
            Verdict::Allowed,
            "other accounts unaffected"
        );
        assert_eq!(t.check("bob", "y", start + ACCOUNT_LOCK), Verdict::Allowed);
    }

    #[test]
    fn failures_outside_the_window_do_not_count() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..4 {
            t.record_failure("bob", "x", start + Duration::from_secs(i * 300));
        }
        // The first failure is 15 minutes old by now.
        t.record_failure("bob", "x", start + ACCOUNT_WINDOW);
        assert_eq!(
            t.check("bob", "x", start + ACCOUNT_WINDOW),
            Verdict::Allowed
        );
    }

    #[test]
    fn thirty_failures_from_one_address_in_a_minute_are_limited() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..30 {
            assert_eq!(
                t.check(&format!("u{i}"), "1.2.3.4", start),
                Verdict::Allowed
            );
            t.record_failure(&format!("u{i}"), "1.2.3.4", start);
        }
        assert_eq!(t.check("new", "1.2.3.4", start), Verdict::AddressLimited);
        assert_eq!(t.check("new", "5.6.7.8", start), Verdict::Allowed);
        assert_eq!(
            t.check("new", "1.2.3.4", start + ADDRESS_WINDOW),
            Verdict::Allowed
        );
    }

    #[test]
    fn success_clears_the_account_count() {
        let t = Throttle::default();
        let start = Instant::now();
        for _ in 0..4 {
            t.record_failure("bob", "x", start);
        }
        t.record_success("bob");
        t.record_failure("bob", "x", start);
        assert_eq!(t.check("bob", "x", start), Verdict::Allowed);
    }
}
