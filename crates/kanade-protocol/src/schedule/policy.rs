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
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    fn schedule(rest: &str) -> Schedule {
        let text = format!("id: s\njob_id: j\n{rest}");
        let text = match text.contains("\ntarget:") || text.contains("\nrollout:") {
            true => text,
            false => format!("{text}\ntarget: {{all: true}}\n"),
        };
        Schedule::parse(&text).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    fn times(ts: &[DateTime<Utc>]) -> String {
        ts.iter()
            .map(|t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The next `n` fire times of `when`-and-friends after `after`, as UTC text.
    fn check_upcoming(rest: &str, after: &str, n: usize) -> String {
        times(&upcoming(&schedule(rest), at(after), n))
    }

    /// One decision, as text: what fires (or is skipped and why) and the next wake.
    fn check(rest: &str, history: &History, now: &str) -> String {
        let d = decide_fire(&schedule(rest), history, at(now));
        let mut out = Vec::new();
        if let Some(fire) = &d.fire {
            match &fire.machines {
                Some(m) => out.push(format!("fire {} on {}", times(&[fire.tick]), m.join(","))),
                None => out.push(format!("fire {}", times(&[fire.tick]))),
            }
        }
        if let Some((t, skip)) = d.skipped {
            out.push(format!("skip {} ({})", times(&[t]), skip.as_str()));
        }
        match d.next_wake {
            Some(w) => out.push(format!("next {}", times(&[w]))),
            None => out.push("never".to_owned()),
        }
        out.join("; ")
    }

    #[test]
    fn calendars_and_crons_tick_where_expected() {
        let cases = [
            // Month ends: the 31st only in months that have one; `last` every month.
            (
                "when: {cron: '0 9 31 * *'}",
                "2026-04-01T00:00:00Z",
                3,
                "2026-05-31T09:00:00Z 2026-07-31T09:00:00Z 2026-08-31T09:00:00Z",
            ),
            (
                "when: {calendar: {at: '09:00', days: ['31']}}",
                "2026-04-01T00:00:00Z",
                2,
                "2026-05-31T09:00:00Z 2026-07-31T09:00:00Z",
            ),
            (
                "when: {calendar: {at: '09:00', days: [last]}}",
                "2026-01-31T10:00:00Z",
                3,
                "2026-02-28T09:00:00Z 2026-03-31T09:00:00Z 2026-04-30T09:00:00Z",
            ),
            (
                "when: {calendar: {at: '09:00', days: [last]}}",
                "2028-02-01T00:00:00Z",
                1,
                "2028-02-29T09:00:00Z",
            ),
            // The 2nd Tuesday and the last Friday of each month.
            (
                "when: {calendar: {at: '10:00', days: ['tue#2']}}",
                "2026-01-01T00:00:00Z",
                3,
                "2026-01-13T10:00:00Z 2026-02-10T10:00:00Z 2026-03-10T10:00:00Z",
            ),
            (
                "when: {calendar: {at: '17:30', days: [friL]}}",
                "2026-01-01T00:00:00Z",
                3,
                "2026-01-30T17:30:00Z 2026-02-27T17:30:00Z 2026-03-27T17:30:00Z",
            ),
            // Weekday lists and ranges (2026-01-02 is a Friday).
            (
                "when: {calendar: {at: '08:00', days: [mon-fri]}}",
                "2026-01-02T09:00:00Z",
                2,
                "2026-01-05T08:00:00Z 2026-01-06T08:00:00Z",
            ),
            (
                "when: {calendar: {at: '08:00', days: [weekends]}}",
                "2026-01-02T09:00:00Z",
                3,
                "2026-01-03T08:00:00Z 2026-01-04T08:00:00Z 2026-01-10T08:00:00Z",
            ),
            (
                "when: {calendar: {at: '08:00', days: [mon, '1']}}",
                "2026-01-27T09:00:00Z",
                3,
                "2026-02-01T08:00:00Z 2026-02-02T08:00:00Z 2026-02-09T08:00:00Z",
            ),
            // Cron, 5 and 6 fields.
            (
                "when: {cron: '*/15 * * * *'}",
                "2026-01-01T00:07:00Z",
                2,
                "2026-01-01T00:15:00Z 2026-01-01T00:30:00Z",
            ),
            (
                "when: {cron: '*/2 * * * * *'}",
                "2026-01-01T00:00:00Z",
                3,
                "2026-01-01T00:00:02Z 2026-01-01T00:00:04Z 2026-01-01T00:00:06Z",
            ),
            (
                "when: {cron: '30 0 12 * * 1'}",
                "2026-01-01T00:00:00Z",
                1,
                "2026-01-05T12:00:30Z",
            ),
            // A one-shot fires once, in its zone.
            (
                "when: {calendar: {at: '2026-06-01 09:00'}}\ntz: Asia/Tokyo",
                "2026-01-01T00:00:00Z",
                3,
                "2026-06-01T00:00:00Z",
            ),
            (
                "when: {calendar: {at: '2026-06-01 09:00'}}",
                "2026-07-01T00:00:00Z",
                3,
                "",
            ),
            // Zones: 03:00 in Tokyo is 18:00 UTC the day before.
            (
                "when: {calendar: {at: '03:00'}}\ntz: Asia/Tokyo",
                "2026-01-01T00:00:00Z",
                2,
                "2026-01-01T18:00:00Z 2026-01-02T18:00:00Z",
            ),
        ];
        for (rest, after, n, want) in cases {
            assert_eq!(check_upcoming(rest, after, n), want, "{rest}");
        }
    }

    #[test]
    fn daylight_saving_skips_the_gap_and_does_not_double_the_repeat() {
        let cases = [
            // Berlin springs forward on 2026-03-29 at 02:00 -> 03:00: 02:30 does not exist that day.
            (
                "when: {calendar: {at: '02:30'}}\ntz: Europe/Berlin",
                "2026-03-27T12:00:00Z",
                3,
                "2026-03-28T01:30:00Z 2026-03-30T00:30:00Z 2026-03-31T00:30:00Z",
            ),
            (
                "when: {cron: '30 2 * * *'}\ntz: Europe/Berlin",
                "2026-03-27T12:00:00Z",
                3,
                "2026-03-28T01:30:00Z 2026-03-30T00:30:00Z 2026-03-31T00:30:00Z",
            ),
            // Times outside the gap keep their wall-clock time across the change.
            (
                "when: {calendar: {at: '03:30'}}\ntz: Europe/Berlin",
                "2026-03-28T12:00:00Z",
                2,
                "2026-03-29T01:30:00Z 2026-03-30T01:30:00Z",
            ),
            // It falls back on 2026-10-25 at 03:00 -> 02:00: 02:30 happens twice, fires once.
            (
                "when: {calendar: {at: '02:30'}}\ntz: Europe/Berlin",
                "2026-10-24T12:00:00Z",
                3,
                "2026-10-25T00:30:00Z 2026-10-26T01:30:00Z 2026-10-27T01:30:00Z",
            ),
            (
                "when: {cron: '0 30 2 * * *'}\ntz: Europe/Berlin",
                "2026-10-24T12:00:00Z",
                2,
                "2026-10-25T00:30:00Z 2026-10-26T01:30:00Z",
            ),
            // Hourly ticks run through both passes of the repeated hour but never the gap.
            (
                "when: {cron: '0 * * * *'}\ntz: Europe/Berlin",
                "2026-10-25T00:30:00Z",
                3,
                "2026-10-25T01:00:00Z 2026-10-25T02:00:00Z 2026-10-25T03:00:00Z",
            ),
            (
                "when: {cron: '0 * * * *'}\ntz: Europe/Berlin",
                "2026-03-29T00:30:00Z",
                2,
                "2026-03-29T01:00:00Z 2026-03-29T02:00:00Z",
            ),
        ];
        for (rest, after, n, want) in cases {
            assert_eq!(check_upcoming(rest, after, n), want, "{rest}");
        }
        // The decision on the fall-back night: the second 02:30 is not a new tick.
        let rest = "when: {calendar: {at: '02:30'}}\ntz: Europe/Berlin";
        let mut h = History::new(at("2026-10-01T00:00:00Z"));
        assert_eq!(
            check(rest, &h, "2026-10-25T00:30:01Z"),
            "fire 2026-10-25T00:30:00Z; next 2026-10-26T01:30:00Z"
        );
        h.last_tick = Some(at("2026-10-25T00:30:00Z"));
        assert_eq!(
            check(rest, &h, "2026-10-25T01:30:01Z"),
            "next 2026-10-26T01:30:00Z"
        );
    }

    #[test]
    fn constraints_filter_ticks() {
        let cases = [
            // A window across midnight keeps 22:00..04:00 of an hourly cron.
            (
                "when: {cron: '0 * * * *'}\nconstraints: {window: '22:00-04:00'}",
                "2026-01-01T02:30:00Z",
                4,
                "2026-01-01T03:00:00Z 2026-01-01T22:00:00Z 2026-01-01T23:00:00Z 2026-01-02T00:00:00Z",
            ),
            // The window is in the schedule's zone.
            (
                "when: {cron: '0 * * * *'}\ntz: Asia/Tokyo\nconstraints: {window: '09:00-11:00'}",
                "2026-01-01T00:30:00Z",
                3,
                "2026-01-01T01:00:00Z 2026-01-02T00:00:00Z 2026-01-02T01:00:00Z",
            ),
            // Skip dates, in the schedule's zone.
            (
                "when: {calendar: {at: '09:00'}}\nconstraints: {skip_dates: [2026-12-24, 2026-12-25]}",
                "2026-12-23T10:00:00Z",
                2,
                "2026-12-26T09:00:00Z 2026-12-27T09:00:00Z",
            ),
            (
                "when: {calendar: {at: '00:30'}}\ntz: America/New_York\nconstraints: {skip_dates: [2026-07-04]}",
                "2026-07-03T12:00:00Z",
                1,
                "2026-07-05T04:30:00Z",
            ),
            // Active from / until: nothing before, nothing at or after the end.
            (
                "when: {calendar: {at: '09:00'}}\nactive: {from: 2026-03-10, until: '2026-03-12 09:00'}",
                "2026-01-01T00:00:00Z",
                5,
                "2026-03-10T09:00:00Z 2026-03-11T09:00:00Z",
            ),
            (
                "when: {calendar: {at: '09:00'}}\ntz: Europe/Berlin\nactive: {from: '2026-03-10T07:00:00Z'}",
                "2026-03-09T00:00:00Z",
                1,
                "2026-03-10T08:00:00Z",
            ),
        ];
        for (rest, after, n, want) in cases {
            assert_eq!(check_upcoming(rest, after, n), want, "{rest}");
        }
    }

    #[test]
    fn clock_decisions() {
        let every_2s = "when: {cron: '*/2 * * * * *'}";
        let created = History::new(at("2026-01-01T00:00:00.500Z"));
        let fired = History {
            last_tick: Some(at("2026-01-01T00:00:02Z")),
            ..created.clone()
        };
        let busy = History {
            running: 2,
            ..created.clone()
        };
        let cases = [
            // A due tick fires; the next wake is the following tick.
            (
                every_2s,
                &created,
                "2026-01-01T00:00:02.100Z",
                "fire 2026-01-01T00:00:02Z; next 2026-01-01T00:00:04Z",
            ),
            // Already fired: nothing until the next one.
            (
                every_2s,
                &fired,
                "2026-01-01T00:00:03Z",
                "next 2026-01-01T00:00:04Z",
            ),
            // The tick at creation time is the past: creating a schedule does not fire it.
            (
                every_2s,
                &History::new(at("2026-01-01T00:00:02Z")),
                "2026-01-01T00:00:02.5Z",
                "next 2026-01-01T00:00:04Z",
            ),
            // Late within the grace (5 minutes by default): fire the newest tick only.
            (
                every_2s,
                &fired,
                "2026-01-01T00:04:00Z",
                "fire 2026-01-01T00:04:00Z; next 2026-01-01T00:04:02Z",
            ),
            (
                "when: {calendar: {at: '03:00'}}",
                &created,
                "2026-01-01T03:04:00Z",
                "fire 2026-01-01T03:00:00Z; next 2026-01-02T03:00:00Z",
            ),
            // Later than the grace: missed, not caught up.
            (
                "when: {calendar: {at: '03:00'}}",
                &created,
                "2026-01-01T03:06:00Z",
                "skip 2026-01-01T03:00:00Z (missed (more than the grace late)); next 2026-01-02T03:00:00Z",
            ),
            (
                "when: {calendar: {at: '03:00'}}\nstarting_deadline: 1h",
                &created,
                "2026-01-01T03:59:00Z",
                "fire 2026-01-01T03:00:00Z; next 2026-01-02T03:00:00Z",
            ),
            // max_concurrent.
            (
                "when: {calendar: {at: '03:00'}}\nconstraints: {max_concurrent: 2}",
                &busy,
                "2026-01-01T03:00:01Z",
                "skip 2026-01-01T03:00:00Z (max_concurrent executions still running); next 2026-01-02T03:00:00Z",
            ),
            // Outside the window / on a skip date: passed over, and the next wake is the next allowed tick.
            (
                "when: {cron: '0 * * * *'}\nconstraints: {window: '22:00-04:00'}",
                &created,
                "2026-01-01T12:00:01Z",
                "skip 2026-01-01T12:00:00Z (outside the window); next 2026-01-01T22:00:00Z",
            ),
            (
                "when: {calendar: {at: '09:00'}}\nconstraints: {skip_dates: [2026-01-01]}",
                &created,
                "2026-01-01T09:00:01Z",
                "skip 2026-01-01T09:00:00Z (a skip date); next 2026-01-02T09:00:00Z",
            ),
            // After active.until: never again.
            (
                "when: {calendar: {at: '09:00'}}\nactive: {until: 2026-01-01}",
                &created,
                "2026-01-01T09:00:01Z",
                "skip 2026-01-01T09:00:00Z (outside the active period); never",
            ),
            // A one-shot fires once; done, it never wakes again.
            (
                "when: {calendar: {at: '2026-01-01 09:00'}}",
                &created,
                "2026-01-01T09:00:00Z",
                "fire 2026-01-01T09:00:00Z; never",
            ),
        ];
        for (rest, history, now, want) in cases {
            assert_eq!(check(rest, history, now), want, "{rest} at {now}");
        }
        let disabled = format!("{every_2s}\nenabled: false");
        assert_eq!(
            check(&disabled, &created, "2026-01-01T00:00:02.1Z"),
            "never"
        );
    }

    fn machines(h: &mut History, pcs: &[&str]) {
        h.machines = pcs.iter().map(|p| (*p).to_owned()).collect();
    }

    #[test]
    fn per_pc_once_runs_each_machine_once_including_later_ones() {
        let once = "when: {per_pc: once}";
        let mut h = History::new(at("2026-01-01T00:00:00Z"));
        h.job_timeout = Duration::seconds(30);
        // Nobody online: nothing to do.
        assert_eq!(check(once, &h, "2026-01-01T00:00:05Z"), "never");
        machines(&mut h, &["a", "b"]);
        assert_eq!(
            check(once, &h, "2026-01-01T00:00:05Z"),
            "fire 2026-01-01T00:00:05Z on a,b; never"
        );
        // Dispatched, no result yet: not again until the redispatch window (30s + 90s) passes.
        h.dispatched.insert("a".into(), at("2026-01-01T00:00:05Z"));
        h.dispatched.insert("b".into(), at("2026-01-01T00:00:05Z"));
        assert_eq!(
            check(once, &h, "2026-01-01T00:01:00Z"),
            "next 2026-01-01T00:02:05Z"
        );
        // a succeeded; b never answered and is dispatched again after the window.
        h.successes.insert("a".into(), at("2026-01-01T00:00:20Z"));
        assert_eq!(
            check(once, &h, "2026-01-01T00:02:06Z"),
            "fire 2026-01-01T00:02:06Z on b; never"
        );
        h.dispatched.insert("b".into(), at("2026-01-01T00:02:06Z"));
        h.successes.insert("b".into(), at("2026-01-01T00:02:30Z"));
        assert_eq!(check(once, &h, "2026-01-01T01:00:00Z"), "never");
        // c starts heartbeating later: only c runs.
        machines(&mut h, &["a", "b", "c"]);
        assert_eq!(
            check(once, &h, "2026-01-01T02:00:00Z"),
            "fire 2026-01-01T02:00:00Z on c; never"
        );
        // A success before the dispatch does not count for it: a re-run was asked for.
        h.dispatched.insert("c".into(), at("2026-01-01T02:00:00Z"));
        assert_eq!(
            check(once, &h, "2026-01-01T02:00:10Z"),
            "next 2026-01-01T02:02:00Z"
        );
    }

    #[test]
    fn per_pc_every_reruns_after_the_interval() {
        let every = "when: {per_pc: {every: 12h}}";
        let mut h = History::new(at("2026-01-01T00:00:00Z"));
        machines(&mut h, &["a", "b"]);
        h.successes.insert("a".into(), at("2026-01-01T00:00:00Z"));
        h.successes.insert("b".into(), at("2026-01-01T06:00:00Z"));
        let cases = [
            ("2026-01-01T11:59:59Z", "next 2026-01-01T12:00:00Z"),
            (
                "2026-01-01T12:00:00Z",
                "fire 2026-01-01T12:00:00Z on a; next 2026-01-01T18:00:00Z",
            ),
            (
                "2026-01-01T18:00:00Z",
                "fire 2026-01-01T18:00:00Z on a,b; never",
            ),
        ];
        for (now, want) in cases {
            assert_eq!(check(every, &h, now), want, "{now}");
        }
    }

    #[test]
    fn per_pc_respects_window_skip_dates_active_and_max_concurrent() {
        let mut h = History::new(at("2026-01-01T00:00:00Z"));
        machines(&mut h, &["a", "b", "c"]);
        let cases = [
            (
                "when: {per_pc: once}\nconstraints: {window: '22:00-04:00'}",
                "2026-01-01T12:00:00Z",
                "skip 2026-01-01T12:00:00Z (outside the window); next 2026-01-01T22:00:00Z",
            ),
            (
                "when: {per_pc: once}\nconstraints: {window: '22:00-04:00'}",
                "2026-01-01T23:00:00Z",
                "fire 2026-01-01T23:00:00Z on a,b,c; never",
            ),
            (
                "when: {per_pc: once}\nconstraints: {skip_dates: [2026-01-01]}",
                "2026-01-01T12:00:00Z",
                "skip 2026-01-01T12:00:00Z (a skip date); next 2026-01-02T00:00:00Z",
            ),
            (
                "when: {per_pc: once}\nactive: {from: 2026-02-01}",
                "2026-01-01T12:00:00Z",
                "skip 2026-01-01T12:00:00Z (outside the active period); next 2026-02-01T00:00:00Z",
            ),
            (
                "when: {per_pc: once}\nactive: {until: 2026-01-01}",
                "2026-01-01T12:00:00Z",
                "skip 2026-01-01T12:00:00Z (outside the active period); never",
            ),
            (
                "when: {per_pc: once}\nconstraints: {max_concurrent: 2}",
                "2026-01-01T12:00:00Z",
                "fire 2026-01-01T12:00:00Z on a,b; never",
            ),
        ];
        for (rest, now, want) in cases {
            assert_eq!(check(rest, &h, now), want, "{rest}");
        }
        h.dispatched.insert("a".into(), at("2026-01-01T11:59:00Z"));
        h.dispatched.insert("b".into(), at("2026-01-01T11:59:00Z"));
        assert_eq!(
            check(
                "when: {per_pc: once}\nconstraints: {max_concurrent: 2}",
                &h,
                "2026-01-01T12:00:00Z"
            ),
            "skip 2026-01-01T12:00:00Z (max_concurrent executions still running); next 2026-01-01T12:05:30Z"
        );
    }

    #[test]
    fn per_target_is_gated_by_the_newest_success() {
        let mut h = History::new(at("2026-01-01T00:00:00Z"));
        assert_eq!(
            check("when: {per_target: once}", &h, "2026-01-01T00:00:01Z"),
            "never"
        );
        machines(&mut h, &["a", "b"]);
        assert_eq!(
            check("when: {per_target: once}", &h, "2026-01-01T00:00:01Z"),
            "fire 2026-01-01T00:00:01Z; never"
        );
        h.target_dispatched = Some(at("2026-01-01T00:00:01Z"));
        assert_eq!(
            check("when: {per_target: once}", &h, "2026-01-01T00:01:00Z"),
            "next 2026-01-01T00:06:31Z"
        );
        h.successes.insert("b".into(), at("2026-01-01T00:00:30Z"));
        assert_eq!(
            check("when: {per_target: once}", &h, "2026-01-01T00:10:00Z"),
            "never"
        );
        let every = "when: {per_target: {every: 1h}}";
        assert_eq!(
            check(every, &h, "2026-01-01T00:10:00Z"),
            "next 2026-01-01T01:00:30Z"
        );
        assert_eq!(
            check(every, &h, "2026-01-01T01:00:30Z"),
            "fire 2026-01-01T01:00:30Z; never"
        );
        // The success of a machine no longer in the target does not count.
        machines(&mut h, &["a"]);
        assert_eq!(
            check("when: {per_target: once}", &h, "2026-01-01T00:10:00Z"),
            "fire 2026-01-01T00:10:00Z; never"
        );
    }

    #[test]
    fn the_wave_gate_halts_above_the_threshold_only() {
        let rollout = |pct: Option<f64>| Rollout {
            waves: vec![],
            halt_on_failure_pct: pct,
        };
        let cases = [
            (None, 10, 10, false),
            (Some(50.0), 0, 0, false),
            (Some(50.0), 4, 2, false),
            (Some(50.0), 3, 2, true),
            (Some(0.0), 10, 1, true),
            (Some(0.0), 10, 0, false),
            (Some(100.0), 1, 1, false),
        ];
        for (pct, reported, failed, want) in cases {
            assert_eq!(
                should_halt(&rollout(pct), reported, failed),
                want,
                "{pct:?} {reported} {failed}"
            );
        }
    }

    #[test]
    fn redispatch_window_is_clamped() {
        let s = schedule("when: {per_pc: once}\njitter: 5m");
        assert_eq!(
            redispatch_after(&s, Duration::seconds(30)),
            Duration::seconds(420)
        );
        assert_eq!(
            redispatch_after(&s, Duration::hours(2)),
            Duration::minutes(30)
        );
        let s = schedule("when: {per_pc: once}");
        assert_eq!(
            redispatch_after(&s, Duration::zero()),
            Duration::seconds(90)
        );
    }
}
