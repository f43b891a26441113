//! Throttling of every secret check (password sign-in, TOTP codes on login, MFA verify and
//! disable, the current password on change-password). Three scopes, all in memory (a restart
//! forgets) and decided by pure functions of `now`:
//! - one client address: 30 attempts a minute, whatever the accounts;
//! - one account from one address: 5 free attempts, then an exponential wait (30 s, 1 min, …,
//!   capped at 5 min) between attempts;
//! - one account from anywhere: 20 free attempts, then an exponential wait capped at 1 min, so
//!   strangers cannot lock a known user out for long, yet cannot guess at speed either.
//!
//! Check and count are one step: [`Throttle::begin`] reserves the attempt (counting it as a
//! failure) before any hashing, so parallel attempts cannot all pass a check made before any of
//! them was recorded. The [`Ticket`] it returns is settled as failed (the count stays),
//! succeeded (the account's count from that address is cleared) or, when dropped unsettled
//! (nothing was judged: hashing was busy, a TOTP code is still needed), released.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How failures of one scope turn into waits.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// Attempts allowed without any wait.
    pub free: u32,
    /// The wait after the free attempts; it doubles with each further attempt.
    pub first_wait: Duration,
    pub max_wait: Duration,
    /// A scope without attempts for this long starts afresh.
    pub forget_after: Duration,
}

/// One account from one client address.
pub const PAIR: Policy = Policy {
    free: 5,
    first_wait: Duration::from_secs(30),
    max_wait: Duration::from_secs(5 * 60),
    forget_after: Duration::from_secs(30 * 60),
};

/// One account from every address together.
pub const ACCOUNT: Policy = Policy {
    free: 20,
    first_wait: Duration::from_secs(2),
    max_wait: Duration::from_secs(60),
    forget_after: Duration::from_secs(15 * 60),
};

pub const ADDRESS_ATTEMPTS: usize = 30;
pub const ADDRESS_WINDOW: Duration = Duration::from_secs(60);

/// Entries kept before forgotten scopes are swept out, and how often at most (a sweep walks
/// every entry, so it must not run on every attempt while the maps stay large).
const SWEEP_AT: usize = 100_000;
const SWEEP_EVERY: Duration = Duration::from_secs(10);
/// Longer user names are throttled by their first this many bytes.
const KEY_LEN: usize = 128;

/// The wait `policy` imposes after `attempts` counted attempts (before the next one).
pub fn delay(policy: &Policy, attempts: u32) -> Duration {
    if attempts < policy.free {
        return Duration::ZERO;
    }
    let doublings = (attempts - policy.free).min(20);
    policy
        .first_wait
        .saturating_mul(1u32 << doublings)
        .min(policy.max_wait)
}

/// Counted attempts of one scope and when the last one started.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub attempts: u32,
    pub last: Option<Instant>,
}

impl Backoff {
    /// How long from `now` until the next attempt may start; zero when it may start now.
    pub fn wait(&self, policy: &Policy, now: Instant) -> Duration {
        let delay = delay(policy, self.attempts);
        match self.last {
            Some(last)
                if !delay.is_zero()
                    && now.saturating_duration_since(last) < policy.forget_after =>
            {
                (last + delay).saturating_duration_since(now)
            }
            _ => Duration::ZERO,
        }
    }

    /// Counts an attempt starting at `now`.
    pub fn count(&mut self, policy: &Policy, now: Instant) {
        if self
            .last
            .is_some_and(|last| now.saturating_duration_since(last) >= policy.forget_after)
        {
            self.attempts = 0;
        }
        self.attempts = self.attempts.saturating_add(1);
        self.last = Some(now);
    }

    fn forgotten(&self, policy: &Policy, now: Instant) -> bool {
        self.attempts == 0
            || self
                .last
                .is_none_or(|last| now.saturating_duration_since(last) >= policy.forget_after)
    }
}

/// Why an attempt may not start now, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Too many attempts from this client address.
    Address(Duration),
    /// Too many failed attempts for this account (from this address or from everywhere).
    Account(Duration),
}

#[derive(Default)]
struct State {
    addresses: HashMap<String, VecDeque<Instant>>,
    pairs: HashMap<(String, String), Backoff>,
    accounts: HashMap<String, Backoff>,
    last_sweep: Option<Instant>,
}

impl State {
    /// The whole decision: refuse, or count the attempt in every scope.
    fn begin(&mut self, account: &str, address: &str, now: Instant) -> Result<(), Refused> {
        let window = self.addresses.entry(address.to_owned()).or_default();
        while window
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= ADDRESS_WINDOW)
        {
            window.pop_front();
        }
        if window.len() >= ADDRESS_ATTEMPTS {
            let oldest = window.front().copied().unwrap_or(now);
            return Err(Refused::Address(
                (oldest + ADDRESS_WINDOW).saturating_duration_since(now),
            ));
        }
        let pair_key = (account.to_owned(), address.to_owned());
        let pair = self.pairs.get(&pair_key).copied().unwrap_or_default();
        let whole = self.accounts.get(account).copied().unwrap_or_default();
        let wait = pair.wait(&PAIR, now).max(whole.wait(&ACCOUNT, now));
        if !wait.is_zero() {
            return Err(Refused::Account(wait));
        }
        window.push_back(now);
        self.pairs.entry(pair_key).or_default().count(&PAIR, now);
        self.accounts
            .entry(account.to_owned())
            .or_default()
            .count(&ACCOUNT, now);
        let large = self.pairs.len() > SWEEP_AT
            || self.accounts.len() > SWEEP_AT
            || self.addresses.len() > SWEEP_AT;
        let due = self
            .last_sweep
            .is_none_or(|t| now.saturating_duration_since(t) >= SWEEP_EVERY);
        if large && due {
            self.sweep(now);
        }
        Ok(())
    }

    /// Takes back one counted attempt (nothing was judged).
    fn release(&mut self, account: &str, address: &str, at: Instant) {
        if let Some(window) = self.addresses.get_mut(address)
            && let Some(i) = window.iter().rposition(|t| *t == at)
        {
            window.remove(i);
        }
        let key = (account.to_owned(), address.to_owned());
        if let Some(pair) = self.pairs.get_mut(&key) {
            pair.attempts = pair.attempts.saturating_sub(1);
        }
        if let Some(whole) = self.accounts.get_mut(account) {
            whole.attempts = whole.attempts.saturating_sub(1);
        }
    }

    /// The secret was right: this address starts afresh for the account; the attempt no
    /// longer counts against the account or the address.
    fn succeed(&mut self, account: &str, address: &str, at: Instant) {
        self.release(account, address, at);
        self.pairs.remove(&(account.to_owned(), address.to_owned()));
    }

    fn sweep(&mut self, now: Instant) {
        self.last_sweep = Some(now);
        self.addresses.retain(|_, w| {
            w.back()
                .is_some_and(|t| now.saturating_duration_since(*t) < ADDRESS_WINDOW)
        });
        self.pairs.retain(|_, b| !b.forgotten(&PAIR, now));
        self.accounts.retain(|_, b| !b.forgotten(&ACCOUNT, now));
    }
}

#[derive(Default, Clone)]
pub struct Throttle {
    inner: Arc<Mutex<State>>,
}

fn key(name: &str) -> &str {
    if name.len() <= KEY_LEN {
        return name;
    }
    let mut end = KEY_LEN;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
}

impl Throttle {
    /// Reserves one attempt to check a secret of `account` from `address`, or says how long
    /// to wait.
    pub fn begin(&self, account: &str, address: &str, now: Instant) -> Result<Ticket, Refused> {
        let account = key(account);
        self.lock().begin(account, address, now)?;
        Ok(Ticket {
            throttle: self.clone(),
            account: account.to_owned(),
            address: address.to_owned(),
            at: now,
            settled: false,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// One reserved attempt. Dropping it unsettled releases it.
pub struct Ticket {
    throttle: Throttle,
    account: String,
    address: String,
    at: Instant,
    settled: bool,
}

impl Ticket {
    /// The secret was wrong: the attempt stays counted.
    pub fn failed(mut self) {
        self.settled = true;
    }

    /// The secret was right.
    pub fn succeeded(mut self) {
        self.settled = true;
        self.throttle
            .lock()
            .succeed(&self.account, &self.address, self.at);
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.settled {
            self.throttle
                .lock()
                .release(&self.account, &self.address, self.at);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fail(t: &Throttle, account: &str, address: &str, now: Instant) -> Result<(), Refused> {
        t.begin(account, address, now).map(Ticket::failed)
    }

    #[test]
    fn delays_grow_exponentially_after_the_free_attempts_and_are_capped() {
        assert_eq!(delay(&PAIR, 4), Duration::ZERO);
        assert_eq!(delay(&PAIR, 5), Duration::from_secs(30));
        assert_eq!(delay(&PAIR, 6), Duration::from_secs(60));
        assert_eq!(delay(&PAIR, 7), Duration::from_secs(120));
        assert_eq!(delay(&PAIR, 9), PAIR.max_wait);
        assert_eq!(delay(&PAIR, u32::MAX), PAIR.max_wait);
        assert_eq!(delay(&ACCOUNT, 20), Duration::from_secs(2));
        assert_eq!(delay(&ACCOUNT, 500), ACCOUNT.max_wait);
    }

    #[test]
    fn one_address_gets_five_free_attempts_then_waits_that_grow() {
        let t = Throttle::default();
        let start = Instant::now();
        for _ in 0..5 {
            fail(&t, "bob", "x", start).unwrap();
        }
        assert_eq!(
            fail(&t, "bob", "x", start),
            Err(Refused::Account(Duration::from_secs(30)))
        );
        let later = start + Duration::from_secs(30);
        fail(&t, "bob", "x", later).unwrap();
        assert_eq!(
            fail(&t, "bob", "x", later + Duration::from_secs(59)),
            Err(Refused::Account(Duration::from_secs(1)))
        );
        fail(&t, "bob", "x", later + Duration::from_secs(60)).unwrap();
        assert!(fail(&t, "alice", "x", later).is_ok(), "other accounts");
    }

    #[test]
    fn strangers_on_one_address_do_not_lock_the_account_elsewhere() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..100 {
            let _ = fail(&t, "admin", "6.6.6.6", start + Duration::from_millis(i));
        }
        let ticket = t.begin("admin", "10.0.0.1", start).unwrap();
        ticket.succeeded();
    }

    #[test]
    fn many_addresses_together_meet_a_short_capped_account_wait() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..20 {
            fail(&t, "admin", &format!("10.0.0.{i}"), start).unwrap();
        }
        assert_eq!(
            fail(&t, "admin", "10.0.1.1", start),
            Err(Refused::Account(Duration::from_secs(2)))
        );
        let mut now = start;
        for i in 0..20 {
            assert!(fail(&t, "admin", &format!("10.0.2.{i}"), now).is_err());
            now += ACCOUNT.max_wait;
            fail(&t, "admin", &format!("10.0.2.{i}"), now).unwrap();
        }
        // However many strangers, the real user waits at most the cap.
        assert!(t.begin("admin", "10.9.9.9", now + ACCOUNT.max_wait).is_ok());
    }

    #[test]
    fn thirty_attempts_from_one_address_in_a_minute_are_limited() {
        let t = Throttle::default();
        let start = Instant::now();
        for i in 0..30 {
            fail(&t, &format!("u{i}"), "1.2.3.4", start).unwrap();
        }
        assert!(matches!(
            fail(&t, "new", "1.2.3.4", start),
            Err(Refused::Address(_))
        ));
        assert!(fail(&t, "new", "5.6.7.8", start).is_ok());
        assert!(fail(&t, "new", "1.2.3.4", start + ADDRESS_WINDOW).is_ok());
    }

    #[test]
    fn reservations_are_counted_before_the_outcome_is_known() {
        let t = Throttle::default();
        let start = Instant::now();
        let pending: Vec<_> = (0..5)
            .map(|_| t.begin("bob", "x", start).unwrap())
            .collect();
        assert!(t.begin("bob", "x", start).is_err(), "no sixth in flight");
        drop(pending);
        assert!(t.begin("bob", "x", start).is_ok(), "unjudged ones released");
    }

    #[test]
    fn a_sweep_drops_only_forgotten_scopes_and_waits_before_the_next() {
        let start = Instant::now();
        let mut state = State::default();
        state.begin("old", "1.1.1.1", start).unwrap();
        let later = start + PAIR.forget_after;
        state.begin("new", "2.2.2.2", later).unwrap();
        state.sweep(later);
        assert_eq!(state.pairs.len(), 1);
        assert_eq!(state.accounts.len(), 1);
        assert_eq!(state.addresses.len(), 1);
        assert!(
            state
                .pairs
                .contains_key(&("new".to_owned(), "2.2.2.2".to_owned()))
        );
        assert_eq!(state.last_sweep, Some(later));
    }

    #[test]
    fn success_clears_the_address_and_old_scopes_are_forgotten() {
        let t = Throttle::default();
        let start = Instant::now();
        for _ in 0..4 {
            fail(&t, "bob", "x", start).unwrap();
        }
        t.begin("bob", "x", start).unwrap().succeeded();
        for _ in 0..5 {
            fail(&t, "bob", "x", start).unwrap();
        }
        assert!(fail(&t, "bob", "x", start).is_err());
        assert!(fail(&t, "bob", "x", start + PAIR.forget_after).is_ok());
    }
}
