//! Unit tests of `policy`.

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
