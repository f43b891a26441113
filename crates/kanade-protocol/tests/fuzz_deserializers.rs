//! Property tests over every deserializer of operator input and wire messages: valid seed
//! documents with one or two values replaced by arbitrary JSON (huge and negative numbers,
//! hostile strings, wrong shapes) never panic, and what they refuse names a path.

use std::path::PathBuf;

use chrono::Utc;
use kanade_protocol::api::{
    AccountPatch, ExecRequest, FreezeRequest, GroupEmails, GroupList, NewAccount,
    NotificationRequest, check_group_names,
};
use kanade_protocol::config::ConfigScope;
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::ids::IdKind;
use kanade_protocol::manifest::{Manifest, parse_document};
use kanade_protocol::schedule::Schedule;
use kanade_protocol::wire;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Numbers and strings that have broken parsers before, mixed into the arbitrary leaves.
fn hostile_leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!(1e20)),
        Just(json!(-1)),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(f64::MAX)),
        Just(json!(1.5e-300)),
        Just(json!("99999999999999999999s")),
        Just(json!("500000years")),
        Just(json!("4000days")),
        Just(json!("x".repeat(5000))),
        Just(json!("a\u{0}b")),
        Just(json!("*")),
        Just(json!(">")),
        Just(json!("../..")),
        Just(json!("")),
        Just(json!("25:99")),
        Just(json!("9999-99-99")),
        Just(json!("Mars/Olympus")),
        Just(json!("* * * * * * * *")),
    ]
}

fn arbitrary_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        3 => hostile_leaf(),
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => ".{0,24}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Every place in `doc` a value could be replaced: JSON pointers to each node but the root.
fn pointers(doc: &Value, at: String, out: &mut Vec<String>) {
    match doc {
        Value::Object(map) => {
            for (k, v) in map {
                let p = format!("{at}/{k}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let p = format!("{at}/{i}");
                out.push(p.clone());
                pointers(v, p, out);
            }
        }
        _ => {}
    }
}

fn mutate(seed: &Value, picks: &[(prop::sample::Index, Value)]) -> Value {
    let mut doc = seed.clone();
    for (index, value) in picks {
        let mut all = Vec::new();
        pointers(&doc, String::new(), &mut all);
        if all.is_empty() {
            break;
        }
        let at = index.get(&all).clone();
        if let Some(slot) = doc.pointer_mut(&at) {
            *slot = value.clone();
        }
    }
    doc
}

fn shipped_jobs() -> Vec<Value> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../jobs");
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("jobs/ at the repository root") {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "yaml") {
            let text = std::fs::read_to_string(&path).unwrap();
            out.push(parse_document::<Value>(&text).unwrap());
        }
    }
    out
}

fn seeds() -> Vec<(&'static str, Value)> {
    let mut seeds: Vec<(&'static str, Value)> = shipped_jobs()
        .into_iter()
        .map(|j| ("manifest", j))
        .collect();
    seeds.extend([
        (
            "manifest",
            json!({"id": "a.b", "version": "1", "description": "d",
            "execute": {"shell": "sh", "script": "true", "timeout": "30s"},
            "emit": {"type": "events"}}),
        ),
        (
            "schedule",
            json!({"id": "nightly", "job_id": "inv", "description": "d",
            "when": {"calendar": {"at": "03:00", "days": ["mon-fri", "tue#2", "last"]}},
            "target": {"groups": ["lab"], "pcs": ["pc1"]}, "jitter": "5m",
            "starting_deadline": "1h", "tz": "Europe/Berlin",
            "active": {"from": "2026-01-01", "until": "2027-01-01 00:00"},
            "constraints": {"window": "22:00-04:00", "skip_dates": ["2026-12-24"],
                "max_concurrent": 2},
            "on_failure": {"retry": {"max": 3, "backoff": "10m"}}}),
        ),
        (
            "schedule",
            json!({"id": "w", "job_id": "inv", "when": {"per_target": {"every": "12h"}},
            "rollout": {"waves": [{"group": "canary"}, {"group": "office", "delay": "30m"}],
                "halt_on_failure_pct": 20.0}}),
        ),
        (
            "schedule",
            json!({"id": "c", "job_id": "inv", "when": {"cron": "*/2 * * * * *"},
            "target": {"all": true}}),
        ),
        (
            "exec",
            json!({"target": {"pcs": ["pc1"], "groups": ["lab"]}, "jitter": "30s",
            "deadline_at": "2099-01-01T00:00:00Z", "retry": {"max": 2, "backoff": "1m"}}),
        ),
        (
            "exec",
            json!({"target": {}, "rollout": {"waves": [{"group": "a", "delay": "1m"}]}}),
        ),
        (
            "config",
            json!({"heartbeat_interval": "30s", "host_perf_interval": "1m",
            "process_perf_enabled": true, "process_perf_expires_at": "2099-01-01T00:00:00Z",
            "process_perf_interval": "10s", "process_perf_top_n": 5, "max_local_concurrent": 2,
            "target_version": "1.2.3", "target_version_jitter": "10m"}),
        ),
        (
            "notification",
            json!({"id": "n1", "priority": "warn", "require_ack": true,
            "title": "t", "body": "b", "expires_at": "2099-01-01T00:00:00Z",
            "target": {"groups": ["lab"]}}),
        ),
        (
            "freeze",
            json!({"reason": "r", "until": "2099-01-01T00:00:00Z"}),
        ),
        ("groups", json!({"groups": ["a", "b"]})),
        ("emails", json!({"emails": ["a@example.org"]})),
        (
            "account",
            json!({"username": "j.doe", "password": "a-long-password", "role": "viewer"}),
        ),
        (
            "account_patch",
            json!({"role": "operator", "disabled": false}),
        ),
        (
            "command",
            json!({"id": "j", "version": "1", "request_id": "r", "exec_id": "e",
            "shell": "sh", "script": "true", "timeout_secs": 30, "jitter_secs": 5,
            "deadline_at": "2099-01-01T00:00:00Z", "issued_at": "2026-01-01T00:00:00Z",
            "retry": {"max": 2, "backoff_secs": 60}}),
        ),
        (
            "result",
            json!({"result_id": "x", "request_id": "r", "exec_id": "e", "pc_id": "p",
            "job_id": "j", "exit_code": 0, "started_at": "2026-01-01T00:00:00Z",
            "finished_at": "2026-01-01T00:00:01Z"}),
        ),
        (
            "heartbeat",
            json!({"pc_id": "p", "at": "2026-01-01T00:00:00Z",
            "agent_version": "1", "agent_cpu_pct": 1.5, "quarantined_versions": ["0.9"]}),
        ),
        (
            "wire_notification",
            json!({"id": "n", "priority": "info", "title": "t",
            "issued_at": "2026-01-01T00:00:00Z", "target": {"all": true}}),
        ),
        ("agent_groups", json!({"groups": ["a"]})),
    ]);
    seeds
}

/// A refused document names where: serde's path, or the field of a broken rule.
fn named<T: serde::de::DeserializeOwned>(doc: &Value) -> Result<T, String> {
    serde_path_to_error::deserialize::<_, T>(doc.clone()).map_err(|err| {
        let path = err.path().to_string();
        assert!(!path.is_empty(), "an error without a path: {err}");
        path
    })
}

/// Feeds `doc` to the deserializer (and rules) of `kind`; true when it was accepted.
fn exercise(kind: &str, doc: &Value) -> bool {
    let now = Utc::now();
    let text = doc.to_string();
    // Only a document that is not a mapping at all is refused without a field.
    let field_named = |r: Result<(), kanade_protocol::manifest::ManifestError>| match r {
        Ok(()) => true,
        Err(err) => {
            assert!(
                err.field().is_some() || !doc.is_object(),
                "{kind}: no field in `{err}` for {text}"
            );
            false
        }
    };
    match kind {
        "manifest" => field_named(Manifest::parse(&text).map(|_| ())),
        "schedule" => field_named(Schedule::parse(&text).map(|s| {
            let _ = (s.when.describe(), s.zone(), s.summary(None));
            if let kanade_protocol::schedule::When::Calendar(c) = &s.when {
                let _ = c.cron_pattern();
            }
        })),
        "exec" => named::<ExecRequest>(doc).is_ok_and(|req| field_named(req.validate(now))),
        "config" => named::<ConfigScope>(doc).is_ok(),
        "notification" => {
            named::<NotificationRequest>(doc).is_ok_and(|req| field_named(req.validate(now)))
        }
        "freeze" => named::<FreezeRequest>(doc).is_ok(),
        "groups" => {
            named::<GroupList>(doc).is_ok_and(|list| field_named(check_group_names(&list.groups)))
        }
        "emails" => named::<GroupEmails>(doc).is_ok_and(|list| field_named(list.validate())),
        "account" => named::<NewAccount>(doc).is_ok(),
        "account_patch" => named::<AccountPatch>(doc).is_ok(),
        "command" => named::<wire::Command>(doc).is_ok(),
        "result" => named::<wire::ExecResult>(doc).is_ok(),
        "heartbeat" => named::<wire::Heartbeat>(doc).is_ok(),
        "wire_notification" => named::<wire::Notification>(doc).is_ok(),
        "agent_groups" => named::<wire::AgentGroups>(doc).is_ok(),
        other => panic!("no deserializer for seed kind {other}"),
    }
}

#[test]
fn every_seed_is_accepted_as_written() {
    for (kind, seed) in seeds() {
        assert!(exercise(kind, &seed), "{kind}: {seed}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn mutated_documents_never_panic_and_errors_name_a_path(
        seed in any::<prop::sample::Index>(),
        picks in prop::collection::vec(
            (any::<prop::sample::Index>(), prop_oneof![2 => hostile_leaf(), 1 => arbitrary_json()]),
            1..3,
        ),
    ) {
        let seeds = seeds();
        let (kind, seed) = seed.get(&seeds);
        let _ = exercise(kind, &mutate(seed, &picks));
    }

    #[test]
    fn whole_documents_of_any_shape_never_panic(doc in arbitrary_json()) {
        for kind in ["manifest", "schedule", "exec", "config", "notification", "command"] {
            let _ = exercise(kind, &doc);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_document_parsers(text in "\\PC{0,200}") {
        let _ = Manifest::parse(&text);
        let _ = Schedule::parse(&text);
        let _ = text.parse::<HumanDuration>();
        let _ = IdKind::Scope.check(&text);
    }

    #[test]
    fn durations_parse_or_refuse_within_the_maximum(secs in any::<f64>(), whole in any::<u64>()) {
        for v in [json!(secs), json!(whole), json!(format!("{whole}s")), json!(format!("{whole}d"))] {
            if let Ok(d) = serde_json::from_value::<HumanDuration>(v) {
                prop_assert!(d.0 <= kanade_protocol::duration::MAX);
            }
        }
    }
}
