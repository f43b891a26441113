//! Unit tests of `config_supervisor`.

use super::*;
use kv::Operation::{Delete, Put};

const LOCAL: Duration = Duration::from_secs(7);

fn put<'a>(key: &'a str, revision: u64, value: &'a str) -> Seen<'a> {
    Seen {
        key,
        revision,
        operation: Put,
        value: value.as_bytes(),
    }
}

/// Reads `entries` as a sync would: groups first, then every scope key.
fn synced(groups: Option<&str>, scopes: &[(&str, u64, &str)]) -> Desired {
    let mut desired = Desired::default();
    desired.read_groups(groups.map(|g| put("pc1", 1, g)));
    for key in desired.scope_keys("pc1") {
        let entry = scopes
            .iter()
            .find(|(k, _, _)| *k == key)
            .map(|(k, rev, value)| put(k, *rev, value));
        desired.read_scope(&key, entry);
    }
    desired
}

fn effective(desired: &Desired) -> EffectiveConfig {
    desired.effective("pc1", &desired.groups(), LOCAL)
}

#[test]
fn pc_beats_groups_which_apply_alphabetically_over_global() {
    let desired = synced(
        Some(r#"{"groups":["zeta","alpha","not.a.token"]}"#),
        &[
            (
                "global",
                1,
                r#"{"heartbeat_interval":"20s","host_perf_interval":"2m"}"#,
            ),
            (
                "groups.zeta",
                2,
                r#"{"host_perf_interval":"5m","process_perf_top_n":3}"#,
            ),
            (
                "groups.alpha",
                3,
                r#"{"host_perf_interval":"3m","max_local_concurrent":2}"#,
            ),
            ("pcs.pc1", 4, r#"{"process_perf_top_n":9}"#),
            // Another machine's scope is not even read.
            ("pcs.pc2", 5, r#"{"max_local_concurrent":99}"#),
        ],
    );
    assert_eq!(desired.groups(), ["alpha", "zeta"].map(String::from).into());
    assert_eq!(
        desired.scope_keys("pc1"),
        ["global", "groups.alpha", "groups.zeta", "pcs.pc1"]
    );
    let eff = effective(&desired);
    assert_eq!(eff.heartbeat_interval.as_secs(), 20);
    assert_eq!(eff.host_perf_interval.as_secs(), 300);
    assert_eq!(eff.max_local_concurrent, 2);
    assert_eq!(eff.process_perf_top_n, 9);
}

#[test]
fn derived_groups_unite_with_the_machines_own() {
    let mut desired = synced(Some(r#"{"groups":["ops"]}"#), &[]);
    assert!(desired.read_derived(Some(put("pc1", 1, r#"{"groups":["firefox","ops"]}"#))));
    assert_eq!(
        desired.groups(),
        ["firefox", "ops"].map(String::from).into()
    );
    assert!(
        desired
            .scope_keys("pc1")
            .contains(&"groups.firefox".to_owned())
    );
    let gone = Seen {
        operation: Delete,
        ..put("pc1", 2, "")
    };
    assert!(desired.watched_derived(gone));
    assert_eq!(desired.groups(), ["ops"].map(String::from).into());
}

#[test]
fn the_local_heartbeat_applies_until_a_scope_sets_one() {
    let mut desired = synced(None, &[]);
    assert_eq!(effective(&desired).heartbeat_interval.0, LOCAL);
    assert_eq!(effective(&desired).host_perf_interval.as_secs(), 60);
    assert!(desired.watched_scope(put("pcs.pc1", 3, r#"{"heartbeat_interval":"2s"}"#)));
    assert_eq!(effective(&desired).heartbeat_interval.as_secs(), 2);
    let gone = Seen {
        operation: Delete,
        ..put("pcs.pc1", 4, "")
    };
    assert!(desired.watched_scope(gone));
    assert_eq!(effective(&desired).heartbeat_interval.0, LOCAL);
}

#[test]
fn stale_revisions_and_undecodable_values_change_nothing() {
    let mut desired = synced(None, &[("global", 10, r#"{"max_local_concurrent":3}"#)]);
    // A late delivery of an older revision.
    assert!(!desired.watched_scope(put("global", 9, r#"{"max_local_concurrent":1}"#)));
    assert!(!desired.watched_scope(put("global", 10, r#"{"max_local_concurrent":1}"#)));
    // Bad values keep the last good one.
    assert!(!desired.watched_scope(put("global", 11, "{not json")));
    assert!(!desired.watched_scope(put("global", 12, r#"{"heartbeat":"5s"}"#)));
    assert_eq!(effective(&desired).max_local_concurrent, 3);
    // ...but newer good ones apply.
    assert!(desired.watched_scope(put("global", 13, r#"{"max_local_concurrent":5}"#)));
    assert_eq!(effective(&desired).max_local_concurrent, 5);
    // Keys this machine does not follow are ignored.
    assert!(!desired.watched_scope(put("groups.other", 14, r#"{"max_local_concurrent":1}"#)));
    // A read is authoritative, so a recreated bucket (revisions from 1 again) is followed.
    assert!(desired.read_scope(
        "global",
        Some(put("global", 1, r#"{"max_local_concurrent":2}"#))
    ));
    assert_eq!(effective(&desired).max_local_concurrent, 2);
    assert!(desired.read_scope("global", None));
    // Back to the built-in default: the machine's CPU count.
    assert_eq!(
        effective(&desired).max_local_concurrent,
        kanade_protocol::config::default_max_local_concurrent()
    );
}

#[test]
fn group_changes_are_reported_once() {
    let mut desired = synced(Some(r#"{"groups":["a"]}"#), &[]);
    assert!(!desired.watched_groups(put("pc1", 2, r#"{"groups":["a"]}"#)));
    assert!(desired.watched_groups(put("pc1", 3, r#"{"groups":["a","b"]}"#)));
    assert!(!desired.watched_groups(put("pc1", 4, "garbage")));
    assert_eq!(desired.groups().len(), 2);
    let left = Seen {
        operation: Delete,
        ..put("pc1", 5, "")
    };
    assert!(desired.watched_groups(left));
    assert!(desired.groups().is_empty());
}

#[test]
fn values_that_would_stall_or_spin_the_agent_are_clamped() {
    let desired = synced(
        None,
        &[(
            "global",
            1,
            r#"{"heartbeat_interval":0,"host_perf_interval":"1ms","process_perf_interval":0,
                    "max_local_concurrent":0,"process_perf_top_n":100000}"#,
        )],
    );
    let eff = effective(&desired);
    assert_eq!(eff.heartbeat_interval.0, MIN_INTERVAL);
    assert_eq!(eff.host_perf_interval.0, MIN_INTERVAL);
    assert_eq!(eff.process_perf_interval.0, MIN_INTERVAL);
    assert_eq!(eff.max_local_concurrent, 1);
    assert_eq!(eff.process_perf_top_n, MAX_TOP_N);
}
