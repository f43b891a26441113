//! Unit tests of `exec`.

use super::*;

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| (*s).to_owned()).collect()
}

#[test]
fn an_unconfirmed_exec_warns_that_it_may_have_run() {
    let mut response = ExecResponse {
        exec_id: "e1".into(),
        job_id: "hello".into(),
        version: "1".into(),
        request_id: "r1".into(),
        target_count: 1,
        subjects: strings(&["commands.pc.a"]),
        status: "pending".into(),
        machines: vec![],
        warnings: vec![],
    };
    assert_eq!(delivery_note(&response), None);
    response.status = "unconfirmed".into();
    let note = delivery_note(&response).unwrap();
    assert!(
        note.contains("may have run") && note.contains("e1"),
        "{note}"
    );
}

#[test]
fn target_flags_become_an_api_target() {
    let t = target_from_flags(false, &strings(&["a", "b"]), &strings(&["lab"])).unwrap();
    assert_eq!(
        t.subjects(),
        ["commands.group.lab", "commands.pc.a", "commands.pc.b"]
    );
    let t = target_from_flags(true, &[], &[]).unwrap();
    assert_eq!(t.subjects(), ["commands.all"]);
}

#[test]
fn bad_target_flags_name_the_flag() {
    let cases = [
        (
            false,
            vec!["a.b.c.d.e"],
            vec![],
            "--pcs: `a.b.c.d.e` is not a valid name",
        ),
        (
            false,
            vec![],
            vec!["x", ""],
            "--groups: `` is not a valid name",
        ),
        (false, vec![], vec![], "name the machines"),
    ];
    for (all, pcs, groups, want) in cases {
        let err = target_from_flags(all, &strings(&pcs), &strings(&groups)).unwrap_err();
        assert!(err.is::<BadInput>());
        assert!(err.to_string().starts_with(want), "{err}");
    }
}

#[test]
fn waves_are_group_delay_pairs() {
    let waves = strings(&["canary:0", "lab:10m", "prod:1h 30m"]);
    let rollout = rollout_from_flags(&waves, Some(20.0)).unwrap().unwrap();
    let got: Vec<(String, u64)> = rollout
        .waves
        .iter()
        .map(|w| (w.group.clone(), w.delay.as_secs()))
        .collect();
    assert_eq!(
        got,
        [
            ("canary".into(), 0),
            ("lab".into(), 600),
            ("prod".into(), 5400)
        ]
    );
    assert_eq!(rollout.halt_on_failure_pct, Some(20.0));
    assert_eq!(rollout_from_flags(&[], None).unwrap(), None);
    let bare = rollout_from_flags(&strings(&["a"]), None).unwrap().unwrap();
    assert_eq!(bare.waves[0].delay.as_secs(), 0);
    let cases = [
        (
            vec!["a:soon"],
            None,
            "--wave a:soon: `soon` is not a duration",
        ),
        (
            vec!["a.b:1m"],
            None,
            "--wave.waves[0].group: `a.b` is not a valid group",
        ),
        (
            vec!["a:10m", "b:5m"],
            None,
            "--wave.waves[1].delay: delays count from the start",
        ),
        (
            vec!["a"],
            Some(101.0),
            "--halt-on-failure-pct: must be a percentage",
        ),
    ];
    for (waves, halt, want) in cases {
        let err = rollout_from_flags(&strings(&waves), halt).unwrap_err();
        assert!(err.is::<BadInput>());
        assert!(err.to_string().starts_with(want), "{err}");
    }
}

#[test]
fn deadlines_are_instants_or_durations_from_now() {
    let now: DateTime<Utc> = "2026-01-01T12:00:00Z".parse().unwrap();
    let cases = [
        ("10m", "2026-01-01T12:10:00Z"),
        ("1h 30m", "2026-01-01T13:30:00Z"),
        ("90", "2026-01-01T12:01:30Z"),
        ("2026-01-02T00:00:00Z", "2026-01-02T00:00:00Z"),
        ("2026-01-02T09:00:00+09:00", "2026-01-02T00:00:00Z"),
    ];
    for (text, want) in cases {
        let got = parse_deadline(text, now).unwrap();
        assert_eq!(got, want.parse::<DateTime<Utc>>().unwrap(), "{text}");
    }
    let err = parse_deadline("tomorrow", now).unwrap_err();
    assert!(err.contains("neither an RFC 3339 time"), "{err}");
}

fn execution(target: i64, ok: i64, failed: i64, skipped: i64, status: &str) -> ExecutionSummary {
    ExecutionSummary {
        exec_id: "e".into(),
        job_id: "hello".into(),
        version: "1".into(),
        initiated_by: "op".into(),
        initiated_at: Utc::now(),
        target_count: target,
        success_count: ok,
        failure_count: failed,
        skipped_count: skipped,
        status: status.into(),
        outcomes: Default::default(),
        worst: None,
        targets: vec![],
        rollout: false,
    }
}

#[test]
fn an_execution_is_finished_when_all_reported_or_the_backend_says_so() {
    assert!(!finished(&execution(3, 1, 1, 0, "running")));
    assert!(finished(&execution(3, 1, 1, 1, "running")));
    assert!(finished(&execution(3, 1, 0, 0, "expired")));
    assert!(!finished(&execution(0, 0, 0, 0, "pending")));
}

#[test]
fn the_progress_names_who_it_waits_for() {
    let mut detail = ExecutionDetail {
        execution: execution(4, 1, 0, 0, "running"),
        results: vec![],
        approval: None,
        waiting_for: strings(&["b", "c", "d"]),
    };
    assert_eq!(
        progress_message(&detail),
        "1 ok, 3 waiting; waiting for b, c, d"
    );
    detail.waiting_for.push("e".into());
    assert_eq!(
        progress_message(&detail),
        "1 ok, 3 waiting; waiting for b, c and 2 more"
    );
}

#[test]
fn the_outcome_fails_on_failures_skips_and_silence() {
    let detail = |e| ExecutionDetail {
        execution: e,
        results: vec![],
        approval: None,
        waiting_for: vec![],
    };
    assert!(!outcome_failed(&detail(execution(2, 2, 0, 0, "completed"))));
    assert!(outcome_failed(&detail(execution(2, 1, 1, 0, "completed"))));
    assert!(outcome_failed(&detail(execution(2, 1, 0, 1, "completed"))));
    assert!(outcome_failed(&detail(execution(2, 1, 0, 0, "expired"))));
    assert_eq!(
        summary_line(&execution(3, 1, 1, 0, "expired")),
        "hello v1: 1 ok, 1 failed, 1 not reported, of 3 (expired)"
    );
}
