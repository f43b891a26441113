//! The scheduler's pure core: given a schedule, what already happened and `now`, decide what
//! to fire and when to look again. No IO and no clock: `now` is a parameter, so every rule
//! (time zones and daylight saving, month ends, windows, skip dates, active periods, per-machine
//! reconciliation, the wave health gate) is checked by table tests.
//!
//! Clock schedules (`calendar`, `cron`) fire ticks. A tick whose wall-clock time does not exist
//! (the spring-forward gap) is skipped; one the clocks repeat (fall-back) fires once. A tick
//! missed by more than the grace (`starting_deadline`, else 5 minutes) is not caught up.
//! Reconcile schedules (`per_pc`, `per_target`) compare the target's machines with the job's
//! successes and fire whatever is due; a dispatch without a result is retried after
//! `redispatch_after`.
//!
//! Shared by the backend's scheduler and the agent's local one (`runs_on: agent`), which
//! evaluates the same rules for its own machine on its own clock.

use std::collections::BTreeMap;

use crate::schedule::{At, Moment, Reconcile, Rollout, Schedule, When, Window, Zone};
use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Utc};

/// How late a clock tick may still fire when the schedule sets no `starting_deadline`.
pub const DEFAULT_GRACE: Duration = Duration::minutes(5);

/// Bound on the ticks examined when looking for the next one that passes the constraints.
const SEARCH_LIMIT: usize = 5000;

/// What already happened, gathered by the scheduler's shell.
#[derive(Debug, Clone)]
pub struct History {
    /// Ticks at or before this never fire: the time the schedule was stored, so creating or
    /// editing a schedule does not fire its past.
    pub not_before: DateTime<Utc>,
    /// The newest tick already fired or passed over.
    pub last_tick: Option<DateTime<Utc>>,
    /// Executions of this schedule not finished yet (for `max_concurrent` of clock schedules).
    pub running: u32,
    /// per_pc / per_target: the target's machines right now (online ones).
    pub machines: Vec<String>,
    /// Newest successful finish of the job per machine.
    pub successes: BTreeMap<String, DateTime<Utc>>,
    /// per_pc: when the schedule last dispatched to each machine.
    pub dispatched: BTreeMap<String, DateTime<Utc>>,
    /// per_target: when the schedule last dispatched to the target.
    pub target_dispatched: Option<DateTime<Utc>>,
    /// The job's timeout, which bounds how long a dispatch may go without a result.
    pub job_timeout: Duration,
}

impl History {
    /// Nothing happened yet; the schedule was stored at `not_before`.
    pub fn new(not_before: DateTime<Utc>) -> History {
        History {
            not_before,
            last_tick: None,
            running: 0,
            machines: Vec::new(),
            successes: BTreeMap::new(),
            dispatched: BTreeMap::new(),
            target_dispatched: None,
            job_timeout: Duration::minutes(5),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub fire: Option<Fire>,
    /// The newest tick this decision dealt with (fired or skipped); the shell remembers it
    /// as `last_tick`.
    pub handled: Option<DateTime<Utc>>,
    /// A due tick (or reconcile pass) that did not fire, and why.
    pub skipped: Option<(DateTime<Utc>, Skip)>,
    /// When to decide again; `None`: nothing will ever be due again (or reconcile: at the
    /// shell's own cadence).
    pub next_wake: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fire {
    /// The tick (clock schedules) or `now` (reconcile): commands' deadlines count from it.
    pub tick: DateTime<Utc>,
    /// per_pc: exactly these machines; otherwise the schedule's own target.
    pub machines: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// Before `active.from` or after `active.until`.
    Inactive,
    OutsideWindow,
    SkipDate,
    /// `max_concurrent` executions (or machines) are still unfinished.
    Busy,
    /// More than the grace late (the backend was down): not caught up.
    Missed,
}

impl Skip {
    pub fn as_str(&self) -> &'static str {
        match self {
            Skip::Inactive => "outside the active period",
            Skip::OutsideWindow => "outside the window",
            Skip::SkipDate => "a skip date",
            Skip::Busy => "max_concurrent executions still running",
            Skip::Missed => "missed (more than the grace late)",
        }
    }
}

/// Decides what to fire at `now`.
pub fn decide_fire(schedule: &Schedule, history: &History, now: DateTime<Utc>) -> Decision {
    let idle = Decision {
        fire: None,
        handled: None,
        skipped: None,
        next_wake: None,
    };
    if !schedule.enabled {
        return idle;
    }
    match &schedule.when {
        When::PerPc(reconcile) => per_pc(schedule, *reconcile, history, now),
        When::PerTarget(reconcile) => per_target(schedule, *reconcile, history, now),
        When::Calendar(_) | When::Cron(_) => match Clock::of(schedule) {
            Some(clock) => decide_clock(schedule, &clock, history, now),
            None => idle,
        },
        // Fired by the agent when the event happens (`gate` checks the constraints then).
        When::On(_) => idle,
    }
}

/// Why a fire at `at` may not happen (active period, window, skip dates), for fires that
/// are not clock ticks (an agent's `when.on` events); `None` lets it through.
pub fn gate(schedule: &Schedule, at: DateTime<Utc>) -> Option<Skip> {
    blocked(schedule, at)
}

/// The next `n` times a clock schedule fires after `after`, constraints applied (empty for
/// reconcile schedules and disabled ones).
pub fn upcoming(schedule: &Schedule, after: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
    let Some(clock) = Clock::of(schedule).filter(|_| schedule.enabled) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut from = after;
    let mut looked = 0;
    while out.len() < n && looked < SEARCH_LIMIT {
        looked += 1;
        let Some(tick) = clock.next_after(from) else {
            break;
        };
        match blocked(schedule, tick) {
            Some(Skip::Inactive) if ended(schedule, tick) => break,
            Some(_) => {}
            None => out.push(tick),
        }
        from = tick;
    }
    out
}

/// How long a dispatch may go without a result before the machine is dispatched again:
/// jitter + timeout + 90 s, between 90 s and 30 minutes.
pub fn redispatch_after(schedule: &Schedule, job_timeout: Duration) -> Duration {
    let jitter = schedule.jitter.map(|j| to_delta(j.0)).unwrap_or_default();
    (jitter + job_timeout + Duration::seconds(90))
        .clamp(Duration::seconds(90), Duration::minutes(30))
}

/// The wave health gate: halt before the next wave when more than `halt_on_failure_pct` of
/// the results so far failed. Without a threshold, or without results, never halt.
pub fn should_halt(rollout: &Rollout, reported: u64, failed: u64) -> bool {
    match rollout.halt_on_failure_pct {
        Some(pct) if reported > 0 => failed as f64 * 100.0 / reported as f64 > pct,
        _ => false,
    }
}

/// The time a clock schedule fires: cron ticks in the schedule's zone, or one instant.
enum Clock {
    Cron(Box<croner::Cron>, Zone),
    Once(DateTime<Utc>),
}

impl Clock {
    fn of(schedule: &Schedule) -> Option<Clock> {
        let zone = schedule.zone();
        let pattern = match &schedule.when {
            When::Cron(text) => text.clone(),
            When::Calendar(calendar) => match At::parse(&calendar.at).ok()? {
                At::Once(local) => return zone.resolve(local).map(Clock::Once),
                At::Daily(_) => calendar.cron_pattern().ok()??,
            },
            When::PerPc(_) | When::PerTarget(_) | When::On(_) => return None,
        };
        let cron = crate::schedule::cron(&pattern).ok()?;
        Some(Clock::Cron(Box::new(cron), zone))
    }

    /// The first real tick strictly after `at`.
    fn next_after(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Clock::Once(tick) => (*tick > at).then_some(*tick),
            Clock::Cron(cron, zone) => step(cron, *zone, at, true, false),
        }
    }

    /// The newest real tick at or before `at`: one the forward search would also find, so a
    /// fixed time the clocks repeat counts once, like going forward.
    fn latest_until(&self, at: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let (cron, zone) = match self {
            Clock::Once(tick) => return (*tick <= at).then_some(*tick),
            Clock::Cron(cron, zone) => (cron, *zone),
        };
        let mut cursor = at;
        let mut inclusive = true;
        for _ in 0..8 {
            let found = step(cron, zone, cursor, false, inclusive)?;
            if self.next_after(found - Duration::seconds(1)) == Some(found) {
                return Some(found);
            }
            cursor = found;
            inclusive = false;
        }
        None
    }
}

fn step(
    cron: &croner::Cron,
    zone: Zone,
    at: DateTime<Utc>,
    forward: bool,
    inclusive: bool,
) -> Option<DateTime<Utc>> {
    match zone {
        Zone::Utc => real_tick(cron, at, forward, inclusive),
        Zone::Local => real_tick(cron, at.with_timezone(&chrono::Local), forward, inclusive),
        Zone::Named(tz) => real_tick(cron, at.with_timezone(&tz), forward, inclusive),
    }
}

/// Searches forward or backward from `at` for a tick whose wall-clock time matches the
/// pattern. croner moves a fixed time that falls into a daylight-saving gap to just after the
/// gap; such a moved time does not match the pattern, so it is passed over: a time the clocks
/// skip does not fire that day.
fn real_tick<Z: TimeZone>(
    cron: &croner::Cron,
    at: DateTime<Z>,
    forward: bool,
    inclusive: bool,
) -> Option<DateTime<Utc>> {
    let mut cursor = at;
    let mut inclusive = inclusive;
    for _ in 0..8 {
        let found = match forward {
            true => cron.find_next_occurrence(&cursor, inclusive),
            false => cron.find_previous_occurrence(&cursor, inclusive),
        }
        .ok()?;
        if cron.is_time_matching(&found).unwrap_or(false) {
            return Some(found.to_utc());
        }
        cursor = found;
        inclusive = false;
    }
    None
}

fn decide_clock(
    schedule: &Schedule,
    clock: &Clock,
    history: &History,
    now: DateTime<Utc>,
) -> Decision {
    let grace = schedule
        .starting_deadline
        .map(|d| to_delta(d.0))
        .unwrap_or(DEFAULT_GRACE);
    let floor = history
        .last_tick
        .map_or(history.not_before, |t| t.max(history.not_before));
    let next_wake = next_fire(schedule, clock, now);
    let mut decision = Decision {
        fire: None,
        handled: None,
        skipped: None,
        next_wake,
    };
    let Some(tick) = clock.latest_until(now).filter(|t| *t > floor) else {
        return decision;
    };
    decision.handled = Some(tick);
    if tick < now - grace {
        decision.skipped = Some((tick, Skip::Missed));
        return decision;
    }
    let busy = schedule
        .constraints
        .as_ref()
        .and_then(|c| c.max_concurrent)
        .is_some_and(|max| history.running >= max);
    match blocked(schedule, tick) {
        Some(skip) => decision.skipped = Some((tick, skip)),
        None if busy => decision.skipped = Some((tick, Skip::Busy)),
        None => {
            decision.fire = Some(Fire {
                tick,
                machines: None,
            })
        }
    }
    decision
}

/// The next tick after `now` that passes the constraints; when none is found within the
/// search bound, the next raw tick (decide again then).
fn next_fire(schedule: &Schedule, clock: &Clock, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let mut from = now;
    let mut first = None;
    for _ in 0..SEARCH_LIMIT {
        let tick = clock.next_after(from)?;
        first.get_or_insert(tick);
        match blocked(schedule, tick) {
            None => return Some(tick),
            Some(Skip::Inactive) if ended(schedule, tick) => return None,
            Some(_) => from = tick,
        }
    }
    first
}

fn per_pc(schedule: &Schedule, reconcile: Reconcile, h: &History, now: DateTime<Utc>) -> Decision {
    let window = redispatch_after(schedule, h.job_timeout);
    let mut due = Vec::new();
    let mut in_flight = 0u32;
    let mut wake: Option<DateTime<Utc>> = None;
    let mut soonest = |t: DateTime<Utc>| wake = Some(wake.map_or(t, |w| w.min(t)));
    for pc in &h.machines {
        let success = h.successes.get(pc).copied();
        let again_at = match (reconcile, success) {
            (Reconcile::Once, Some(_)) => continue,
            (Reconcile::Every(every), Some(done)) => done + to_delta(every.0),
            (_, None) => now,
        };
        if again_at > now {
            soonest(again_at);
            continue;
        }
        let pending = h
            .dispatched
            .get(pc)
            .filter(|d| success.is_none_or(|s| s < **d) && **d + window > now);
        match pending {
            Some(d) => {
                in_flight += 1;
                soonest(*d + window);
            }
            None => due.push(pc.clone()),
        }
    }
    let mut decision = reconcile_gate(schedule, now, wake);
    if decision.skipped.is_some() || due.is_empty() {
        if due.is_empty() {
            decision.skipped = None;
        }
        return decision;
    }
    if let Some(max) = schedule.constraints.as_ref().and_then(|c| c.max_concurrent) {
        due.truncate(max.saturating_sub(in_flight) as usize);
        if due.is_empty() {
            decision.skipped = Some((now, Skip::Busy));
            return decision;
        }
    }
    decision.fire = Some(Fire {
        tick: now,
        machines: Some(due),
    });
    decision
}

fn per_target(
    schedule: &Schedule,
    reconcile: Reconcile,
    h: &History,
    now: DateTime<Utc>,
) -> Decision {
    let newest = h
        .machines
        .iter()
        .filter_map(|pc| h.successes.get(pc))
        .max()
        .copied();
    let again_at = match (reconcile, newest) {
        (Reconcile::Once, Some(_)) => None,
        (Reconcile::Every(every), Some(done)) => Some(done + to_delta(every.0)),
        (_, None) => Some(now),
    };
    let window = redispatch_after(schedule, h.job_timeout);
    let pending = h
        .target_dispatched
        .filter(|d| newest.is_none_or(|s| s < *d) && *d + window > now);
    let wake = match (again_at, pending) {
        (Some(at), _) if at > now => Some(at),
        (Some(_), Some(d)) => Some(d + window),
        _ => None,
    };
    let mut decision = reconcile_gate(schedule, now, wake);
    let due = again_at.is_some_and(|at| at <= now) && pending.is_none() && !h.machines.is_empty();
    if !due {
        decision.skipped = None;
        return decision;
    }
    if decision.skipped.is_none() {
        decision.fire = Some(Fire {
            tick: now,
            machines: None,
        });
    }
    decision
}

/// A reconcile pass at `now`: blocked by the constraints (and then woken when they may open),
/// or free to fire.
fn reconcile_gate(
    schedule: &Schedule,
    now: DateTime<Utc>,
    wake: Option<DateTime<Utc>>,
) -> Decision {
    let skip = blocked(schedule, now);
    let reopen = skip.and_then(|_| reopens(schedule, now));
    let next_wake = match (wake, reopen) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    Decision {
        fire: None,
        handled: None,
        skipped: skip.map(|s| (now, s)),
        next_wake: match skip {
            Some(Skip::Inactive) if ended(schedule, now) => None,
            _ => next_wake,
        },
    }
}

/// Why the constraints refuse a fire at `at`, if they do.
fn blocked(schedule: &Schedule, at: DateTime<Utc>) -> Option<Skip> {
    let zone = schedule.zone();
    if let Some(active) = &schedule.active {
        let bound = |text: &Option<String>| {
            text.as_deref()
                .and_then(|t| Moment::parse(t).ok())
                .map(|m| m.to_utc(zone))
        };
        if bound(&active.from).is_some_and(|from| at < from)
            || bound(&active.until).is_some_and(|until| at >= until)
        {
            return Some(Skip::Inactive);
        }
    }
    let constraints = schedule.constraints.as_ref()?;
    let local = zone.local(at);
    if constraints.skip_dates.contains(&local.date()) {
        return Some(Skip::SkipDate);
    }
    let window = constraints
        .window
        .as_deref()
        .and_then(|w| Window::parse(w).ok());
    if window.is_some_and(|w| !w.contains(local.time())) {
        return Some(Skip::OutsideWindow);
    }
    None
}

/// True when `at` is at or past `active.until`: the schedule will never fire again.
fn ended(schedule: &Schedule, at: DateTime<Utc>) -> bool {
    let until = schedule
        .active
        .as_ref()
        .and_then(|a| a.until.as_deref())
        .and_then(|t| Moment::parse(t).ok())
        .map(|m| m.to_utc(schedule.zone()));
    until.is_some_and(|until| at >= until)
}

/// The earliest time after `now` at which a blocked reconcile pass may pass: the start of the
/// active period, the window's next opening or the next local midnight (skip dates).
fn reopens(schedule: &Schedule, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let zone = schedule.zone();
    let local = zone.local(now);
    let mut candidates: Vec<DateTime<Utc>> = Vec::new();
    if let Some(from) = schedule.active.as_ref().and_then(|a| a.from.as_deref()) {
        candidates.extend(Moment::parse(from).ok().map(|m| m.to_utc(zone)));
    }
    let at_local = |l: NaiveDateTime| Moment::Local(l).to_utc(zone);
    if let Some(c) = &schedule.constraints {
        if let Some(w) = c.window.as_deref().and_then(|w| Window::parse(w).ok()) {
            let today = local.date().and_time(w.start);
            candidates.push(at_local(today));
            candidates.push(at_local(today + Duration::days(1)));
        }
        if !c.skip_dates.is_empty() {
            let midnight = local.date().and_time(chrono::NaiveTime::MIN) + Duration::days(1);
            candidates.push(at_local(midnight));
        }
    }
    candidates.into_iter().filter(|t| *t > now).min()
}

fn to_delta(d: std::time::Duration) -> Duration {
    Duration::from_std(d).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests;
