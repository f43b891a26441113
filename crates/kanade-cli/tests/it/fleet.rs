//! The fleet commands against the loopback API peer: the requests they send (method, path,
//! query, JSON body), what they print, and their exit codes on 200, 400, 403, 404, 409 and 422.
//! Bad input is refused before any request. Each test signs in through a session file of its
//! own holding one of the peer's role tokens.

use chrono::{DateTime, Utc};
use kanade_cli::client::ApiClient;
use kanade_cli::session::{self, Session};
use serde_json::{Value, json};

use crate::backend::{FakeBackend, Seen};
use crate::support::{Outcome, kanade};

/// The CLI pointed at a fresh peer (which wants a token) with a private session folder.
struct Fleet {
    backend: FakeBackend,
    dir: tempfile::TempDir,
}

impl Fleet {
    async fn start() -> Fleet {
        Fleet {
            backend: FakeBackend::start(Some("s3cret"), 10).await,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// `kanade <args>` signed in as `role` (viewer, operator or admin).
    async fn run(&self, role: &str, args: &[&str]) -> Outcome {
        let stored = Session {
            backend_url: self.backend.url.clone(),
            token: format!("{role}-token"),
            username: role.to_owned(),
            expires_at: "2030-01-01T00:00:00Z".parse().unwrap(),
        };
        session::save(self.dir.path(), &stored).unwrap();
        let mut argv = vec![
            "--backend-url",
            self.backend.url.as_str(),
            "--config-dir",
            self.dir.path().to_str().unwrap(),
        ];
        argv.extend(args);
        kanade(&argv).await
    }

    /// The one request the last command sent.
    fn only_request(&self) -> Seen {
        let mut seen = self.backend.take_requests();
        assert_eq!(seen.len(), 1, "{seen:#?}");
        seen.remove(0)
    }

    /// Nothing was sent since the last look.
    fn assert_no_request(&self) {
        let seen = self.backend.take_requests();
        assert!(seen.is_empty(), "{seen:#?}");
    }
}

fn query(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The words of each line, for tables whose widths depend on the data.
fn words(text: &str) -> Vec<Vec<&str>> {
    text.lines()
        .map(|l| l.split_whitespace().collect())
        .collect()
}

fn ok(out: &Outcome) {
    assert_eq!(out.code, 0, "{out:?}");
}

fn failed(out: &Outcome, stderr: &str) {
    assert_eq!((out.code, out.stderr.as_str()), (1, stderr), "{out:?}");
}

fn bad_input(out: &Outcome, stderr_start: &str) {
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stderr.starts_with(stderr_start),
        "want {stderr_start:?} in {}",
        out.stderr
    );
}

#[tokio::test]
async fn agents_sends_the_filters_and_shows_the_fleet_table() {
    let fleet = Fleet::start().await;
    let out = fleet
        .run(
            "viewer",
            &[
                "agents",
                "--q",
                "PC",
                "--online",
                "--group",
                "lab",
                "--os",
                "linux",
                "--version",
                "0.2.0",
                "--sort",
                "last_heartbeat",
                "--desc",
                "--limit",
                "5",
                "--offset",
                "0",
            ],
        )
        .await;
    ok(&out);
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/api/agents")
    );
    assert_eq!(
        seen.query,
        query(&[
            ("q", "PC"),
            ("online", "true"),
            ("group", "lab"),
            ("os", "linux"),
            ("version", "0.2.0"),
            ("sort", "last_heartbeat"),
            ("order", "desc"),
            ("limit", "5"),
            ("offset", "0"),
        ])
    );
    let lines = words(&out.stdout);
    assert_eq!(
        lines[0],
        [
            "PC",
            "HOST",
            "OS",
            "VERSION",
            "ONLINE",
            "LAST",
            "HEARTBEAT",
            "CPU",
            "RSS"
        ]
    );
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert_eq!(
        &lines[1][..6],
        ["pc1", "pc1.example.lan", "linux", "24.04", "0.2.0", "yes"]
    );
    assert!(
        lines[1][6].ends_with('s') && lines[1][7] == "ago",
        "{:?}",
        lines[1]
    );
    assert_eq!(&lines[1][8..], ["0.4%", "24.0", "MiB"]);

    // No filters: none sent; every machine; a page that is not everything says so.
    let out = fleet.run("viewer", &["agents", "--offline"]).await;
    ok(&out);
    assert_eq!(fleet.only_request().query, query(&[("online", "false")]));
    assert_eq!(
        words(&out.stdout)[1],
        [
            "pc2",
            "pc2.example.lan",
            "windows",
            "11",
            "0.2.0",
            "no",
            "2h",
            "ago",
            "-",
            "-"
        ]
    );
    let out = fleet.run("viewer", &["agents", "--limit", "1"]).await;
    ok(&out);
    assert_eq!(fleet.only_request().query, query(&[("limit", "1")]));
    assert_eq!(
        out.stderr,
        "showing 1 of 3 machines; see more with --offset 1 or --limit\n"
    );
    let out = fleet
        .run("viewer", &["agents", "--q", "nothing-like-it"])
        .await;
    assert_eq!(out.stdout, "no machines match\n");

    let out = fleet.run("viewer", &["--json", "agents"]).await;
    ok(&out);
    let page: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(page["total"], 3);
    assert_eq!(page["items"][2]["pc_id"], "web-3");

    // The backend refuses an unknown sort column with 400: bad input.
    let out = fleet.run("viewer", &["agents", "--sort", "colour"]).await;
    bad_input(
        &out,
        "error: cannot sort by `colour`; use one of pc_id, hostname,",
    );
    assert!(out.stderr.ends_with("(HTTP 400)\n"), "{}", out.stderr);
}

#[tokio::test]
async fn agent_show_has_facts_groups_and_where_each_value_comes_from() {
    let fleet = Fleet::start().await;
    let out = fleet.run("viewer", &["agent", "show", "pc1"]).await;
    ok(&out);
    let seen: Vec<(String, String)> = fleet
        .backend
        .take_requests()
        .into_iter()
        .map(|s| (s.method, s.path))
        .collect();
    assert_eq!(
        seen,
        [
            ("GET".to_owned(), "/api/agents/pc1".to_owned()),
            (
                "GET".to_owned(),
                "/api/agents/pc1/effective_config".to_owned()
            ),
        ]
    );
    let lines = words(&out.stdout);
    assert_eq!(lines[0], ["machine", "pc1"]);
    assert_eq!(lines[2], ["os", "linux", "24.04"]);
    assert_eq!(lines[3], ["agent", "version", "0.2.0"]);
    assert!(
        lines.contains(&vec!["groups", "canary,", "lab"]),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("\neffective config:\nFIELD "),
        "{}",
        out.stdout
    );
    for row in [
        vec!["heartbeat_interval", "20s", "global"],
        vec!["max_local_concurrent", "2", "groups.lab"],
        vec!["target_version", "0.2.0", "groups.lab"],
        vec!["process_perf_top_n", "15", "default"],
        vec!["process_perf_expires_at", "-", "default"],
    ] {
        assert!(lines.contains(&row), "{row:?} in {}", out.stdout);
    }

    let out = fleet
        .run("viewer", &["--json", "agent", "show", "pc1"])
        .await;
    ok(&out);
    let shown: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(shown["agent"]["groups"], json!(["canary", "lab"]));
    assert_eq!(shown["config"]["effective"]["max_local_concurrent"], 2);

    let out = fleet.run("viewer", &["agent", "show", "nope"]).await;
    failed(
        &out,
        "error: machine nope not found (HTTP 404); `kanade agents` lists the machines\n",
    );
    fleet.backend.take_requests();
    let out = fleet.run("viewer", &["agent", "show", "a/b"]).await;
    bad_input(&out, "error: `a/b` is not a valid machine id");
    fleet.assert_no_request();

    let out = fleet.run("viewer", &["agent", "versions"]).await;
    ok(&out);
    assert_eq!(
        out.stdout,
        "VERSION  MACHINES  ONLINE\n0.2.0    2         1\n0.1.0    1         1\n"
    );
}

#[tokio::test]
async fn ping_reports_the_answer_or_exits_1() {
    let fleet = Fleet::start().await;
    let out = fleet.run("viewer", &["ping", "pc1"]).await;
    ok(&out);
    assert_eq!(
        out.stdout,
        "pc1 answered in 3.2 ms (agent 0.2.0, host pc1.example.lan)\n"
    );
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/api/agents/pc1/ping")
    );

    let out = fleet.run("viewer", &["ping", "pc2"]).await;
    assert_eq!(
        (out.code, out.stdout.as_str()),
        (1, "pc2: no answer in 5 s\n")
    );
    let out = fleet.run("viewer", &["--json", "ping", "pc2"]).await;
    assert_eq!(out.code, 1);
    let answer: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(answer["answered"], false);
    fleet.backend.take_requests();

    let out = fleet.run("viewer", &["ping", "a.b.c.d.e"]).await;
    bad_input(&out, "error: `a.b.c.d.e` is not a valid machine id");
    fleet.assert_no_request();
}

#[tokio::test]
async fn group_commands_edit_membership() {
    let fleet = Fleet::start().await;
    let out = fleet.run("viewer", &["group", "list"]).await;
    ok(&out);
    assert_eq!(out.stdout, "GROUP   MACHINES\ncanary  1\nlab     2\n");
    let out = fleet.run("viewer", &["group", "get", "pc1"]).await;
    assert_eq!(out.stdout, "canary\nlab\n");
    let out = fleet.run("viewer", &["group", "get", "web-3"]).await;
    assert_eq!(
        (out.stdout.as_str(), out.stderr.as_str()),
        ("", "web-3 is in no group\n")
    );
    fleet.backend.take_requests();

    let out = fleet
        .run("operator", &["group", "set", "pc1", "lab, ops"])
        .await;
    ok(&out);
    assert_eq!(out.stdout, "pc1: lab, ops\n");
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PUT", "/api/agents/pc1/groups")
    );
    assert_eq!(seen.body, Some(json!({"groups": ["lab", "ops"]})));

    let out = fleet
        .run("operator", &["group", "add", "web-3", "canary"])
        .await;
    assert_eq!(out.stdout, "web-3: canary\n");
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str(), seen.body_len),
        ("PUT", "/api/agents/web-3/groups/canary", 0)
    );
    let out = fleet
        .run("operator", &["group", "remove", "pc1", "ops"])
        .await;
    assert_eq!(out.stdout, "pc1: lab\n");
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("DELETE", "/api/agents/pc1/groups/ops")
    );
    let out = fleet
        .run("operator", &["--json", "group", "set", "pc2", ""])
        .await;
    ok(&out);
    assert_eq!(fleet.only_request().body, Some(json!({"groups": []})));
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!({"groups": []})
    );
    assert!(fleet.backend.groups_of("pc2").is_empty());

    // 403 for a viewer, 409 when the write keeps conflicting; bad names never leave.
    let out = fleet.run("viewer", &["group", "add", "pc1", "ops"]).await;
    failed(
        &out,
        "error: this needs the operator role; you are viewer (HTTP 403)\n",
    );
    let out = fleet
        .run(
            "operator",
            &["group", "add", "contended", "ops", "--allow-unknown"],
        )
        .await;
    failed(
        &out,
        "error: the groups of contended changed while they were written; try again (HTTP 409)\n",
    );
    fleet.backend.take_requests();
    for (args, want) in [
        (
            vec!["group", "set", "pc1", "lab,a.b"],
            "error: groups[1]: `a.b` is not a valid group name",
        ),
        (
            vec!["group", "add", "pc1", "a b"],
            "error: `a b` is not a valid group name",
        ),
        (
            vec!["group", "get", "pc/1"],
            "error: `pc/1` is not a valid machine id",
        ),
    ] {
        let out = fleet.run("operator", &args).await;
        bad_input(&out, want);
    }
    fleet.assert_no_request();
}

#[tokio::test]
async fn group_add_refuses_a_machine_never_seen_unless_allowed() {
    let fleet = Fleet::start().await;
    for args in [
        vec!["group", "add", "web-9", "canary"],
        vec!["group", "set", "web-9", "canary,lab"],
    ] {
        let out = fleet.run("operator", &args).await;
        failed(
            &out,
            &format!(
                "error: machine web-9 was never seen (no heartbeat, not enrolled); check the name \
                 with `kanade agents`, or pass --allow-unknown to {} before it enrolls\n",
                match args[1] {
                    "add" => "put it in the group",
                    _ => "give it groups",
                }
            ),
        );
        assert_eq!(out.stdout, "");
        assert!(fleet.only_request().query.is_empty(), "{args:?}");
    }
    assert!(fleet.backend.groups_of("web-9").is_empty());

    let out = fleet
        .run(
            "operator",
            &["group", "add", "web-9", "canary", "--allow-unknown"],
        )
        .await;
    ok(&out);
    assert_eq!(out.stdout, "web-9: canary\n");
    let seen = fleet.only_request();
    assert_eq!(
        (
            seen.path.as_str(),
            seen.query.get("allow_unknown").map(String::as_str)
        ),
        ("/api/agents/web-9/groups/canary", Some("true"))
    );
    let out = fleet
        .run(
            "operator",
            &["group", "set", "web-9", "lab", "--allow-unknown"],
        )
        .await;
    ok(&out);
    assert_eq!(fleet.backend.groups_of("web-9"), ["lab"]);
}

#[tokio::test]
async fn config_set_types_values_and_patches_the_scope() {
    let fleet = Fleet::start().await;
    let out = fleet.run("viewer", &["config", "get", "groups.lab"]).await;
    ok(&out);
    assert_eq!(
        out.stdout,
        "max_local_concurrent  2\ntarget_version        0.2.0\n"
    );
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("GET", "/api/config/groups.lab")
    );
    let out = fleet.run("viewer", &["config", "get", "pcs.web-3"]).await;
    assert_eq!(
        out.stdout,
        "pcs.web-3 sets nothing: lower scopes or the defaults apply\n"
    );
    fleet.backend.take_requests();

    let out = fleet
        .run(
            "operator",
            &[
                "config",
                "set",
                "group.lab",
                "heartbeat_interval=45s",
                "process_perf_enabled=true",
                "process_perf_expires_at=2030-01-01T09:00:00+09:00",
                "process_perf_top_n=25",
            ],
        )
        .await;
    ok(&out);
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PATCH", "/api/config/groups.lab")
    );
    assert_eq!(
        seen.body,
        Some(json!({
            "heartbeat_interval": "45s",
            "process_perf_enabled": true,
            "process_perf_expires_at": "2030-01-01T00:00:00Z",
            "process_perf_top_n": 25,
        }))
    );
    assert_eq!(
        out.stdout,
        "updated groups.lab\n\
         heartbeat_interval       45s\n\
         process_perf_enabled     true\n\
         process_perf_expires_at  2030-01-01T00:00:00Z\n\
         process_perf_top_n       25\n\
         max_local_concurrent     2\n\
         target_version           0.2.0\n"
    );

    let out = fleet
        .run(
            "operator",
            &[
                "config",
                "unset",
                "groups.lab",
                "target_version",
                "process_perf_enabled",
            ],
        )
        .await;
    ok(&out);
    assert_eq!(
        fleet.only_request().body,
        Some(json!({"target_version": null, "process_perf_enabled": null}))
    );
    let scope = fleet.backend.config_scope("groups.lab").unwrap();
    assert_eq!(scope.target_version, None);
    assert_eq!(scope.max_local_concurrent, Some(2));

    let out = fleet
        .run(
            "operator",
            &[
                "--json",
                "config",
                "set",
                "pcs.pc1",
                "max_local_concurrent=8",
            ],
        )
        .await;
    ok(&out);
    fleet.backend.take_requests();
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!({"max_local_concurrent": 8})
    );
    let out = fleet.run("viewer", &["config", "effective", "pc1"]).await;
    ok(&out);
    let lines = words(&out.stdout);
    assert_eq!(lines[0], ["FIELD", "VALUE", "SOURCE"]);
    assert!(
        lines.contains(&vec!["max_local_concurrent", "8", "pcs.pc1"]),
        "{}",
        out.stdout
    );
    assert!(
        lines.contains(&vec!["heartbeat_interval", "45s", "groups.lab"]),
        "{}",
        out.stdout
    );
    assert!(
        lines.contains(&vec!["host_perf_interval", "1m", "default"]),
        "{}",
        out.stdout
    );
    let seen = fleet.only_request();
    assert_eq!(seen.path, "/api/agents/pc1/effective_config");

    // A viewer may not write.
    let out = fleet
        .run(
            "viewer",
            &["config", "set", "global", "heartbeat_interval=10s"],
        )
        .await;
    failed(
        &out,
        "error: this needs the operator role; you are viewer (HTTP 403)\n",
    );
    fleet.backend.take_requests();

    // Wrong keys, values and scopes exit 2 naming them, before any request.
    for (args, want) in [
        (
            vec!["config", "set", "global", "heartbeat=10s"],
            "error: `heartbeat` is not a config field; known: heartbeat_interval,",
        ),
        (
            vec!["config", "set", "global", "max_local_concurrent=lots"],
            "error: max_local_concurrent=lots: not a whole number",
        ),
        (
            vec!["config", "set", "global", "host_perf_interval=5 parsecs"],
            "error: host_perf_interval=5 parsecs: `5 parsecs` is not a duration",
        ),
        (
            vec!["config", "set", "global", "process_perf_enabled=on"],
            "error: process_perf_enabled=on: not true or false",
        ),
        (
            vec!["config", "unset", "global", "colour"],
            "error: `colour` is not a config field",
        ),
        (
            vec!["config", "set", "everyone", "heartbeat_interval=10s"],
            "error: `everyone` is not a scope; use global, groups.<name> or pcs.<machine>",
        ),
        (
            vec!["config", "effective", "a.b.c.d.e"],
            "error: `a.b.c.d.e` is not a valid machine id",
        ),
    ] {
        let out = fleet.run("operator", &args).await;
        bad_input(&out, want);
    }
    fleet.assert_no_request();
}

#[tokio::test]
async fn exec_while_frozen_says_before_sending_what_will_happen() {
    let fleet = Fleet::start().await;
    ok(&fleet
        .run("operator", &["freeze", "on", "--reason", "patch tuesday"])
        .await);
    let out = fleet
        .run("operator", &["exec", "hello", "--pcs", "a"])
        .await;
    ok(&out);
    assert_eq!(
        out.stderr.lines().next(),
        Some(
            "warning: the fleet is frozen (reason: patch tuesday; until lifted): scheduled fires and rollout waves are held; this manual run goes out now"
        ),
        "{out:?}"
    );
    assert_eq!(out.stdout, "exec-1\n");
    let out = fleet
        .run("operator", &["exec", "hello", "--wave", "A"])
        .await;
    ok(&out);
    assert!(
        out.stderr
            .starts_with("warning: the fleet is frozen (reason: patch tuesday; until lifted): scheduled fires and rollout waves are held; this rollout's waves wait until the freeze ends\n"),
        "{out:?}"
    );
    ok(&fleet.run("operator", &["freeze", "off"]).await);
    let out = fleet
        .run("operator", &["exec", "hello", "--pcs", "a"])
        .await;
    ok(&out);
    assert!(!out.stderr.contains("frozen"), "{out:?}");
}

#[tokio::test]
async fn freeze_on_status_off() {
    let fleet = Fleet::start().await;
    let out = fleet.run("viewer", &["freeze", "status"]).await;
    assert_eq!((out.code, out.stdout.as_str()), (0, "not frozen\n"));
    fleet.backend.take_requests();

    let before = Utc::now();
    let out = fleet
        .run(
            "operator",
            &["freeze", "on", "--for", "2h", "--reason", "patch tuesday"],
        )
        .await;
    ok(&out);
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("PUT", "/api/freeze")
    );
    let body = seen.body.unwrap();
    assert_eq!(body["reason"], "patch tuesday");
    assert!(body.get("from").is_none(), "{body}");
    let until: DateTime<Utc> = body["until"].as_str().unwrap().parse().unwrap();
    let two_hours = chrono::TimeDelta::hours(2);
    assert!(
        until >= before + two_hours && until <= Utc::now() + two_hours,
        "{until}"
    );
    assert!(out.stdout.starts_with("frozen until "), "{}", out.stdout);
    assert!(
        out.stdout.contains("; set by operator at "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.ends_with(": patch tuesday\n"), "{}", out.stdout);

    let out = fleet.run("viewer", &["--json", "freeze", "status"]).await;
    let status: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(status["frozen"], true);
    assert_eq!(status["freeze"]["reason"], "patch tuesday");
    fleet.backend.take_requests();

    let out = fleet
        .run(
            "operator",
            &[
                "freeze",
                "on",
                "--from",
                "2030-01-01T00:00:00Z",
                "--until",
                "2030-01-02T00:00:00Z",
            ],
        )
        .await;
    ok(&out);
    assert_eq!(
        fleet.only_request().body,
        Some(json!({"from": "2030-01-01T00:00:00Z", "until": "2030-01-02T00:00:00Z"}))
    );
    assert!(
        out.stdout
            .starts_with("freeze scheduled from 2030-01-01T00:00:00Z until 2030-01-02T00:00:00Z; set by operator at "),
        "{}",
        out.stdout
    );

    let out = fleet.run("viewer", &["freeze", "off"]).await;
    failed(
        &out,
        "error: this needs the operator role; you are viewer (HTTP 403)\n",
    );
    fleet.backend.take_requests();
    let out = fleet.run("operator", &["freeze", "off"]).await;
    ok(&out);
    assert_eq!(
        out.stdout,
        "freeze lifted: schedules fire and held rollout waves go out again\n"
    );
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("DELETE", "/api/freeze")
    );

    for (args, want) in [
        (
            vec!["freeze", "on", "--until", "2001-01-01T00:00:00Z"],
            "error: --until: 2001-01-01T00:00:00Z is already in the past",
        ),
        (
            vec!["freeze", "on", "--for", "0s"],
            "error: --for: must be longer than 0s",
        ),
        (
            vec!["freeze", "on", "--from", "3h", "--until", "2h"],
            "error: --from must be before the end",
        ),
        (
            vec!["freeze", "on", "--for", "2h", "--until", "3h"],
            "error: the argument",
        ),
    ] {
        let out = fleet.run("operator", &args).await;
        bad_input(&out, want);
    }
    fleet.assert_no_request();
}

#[tokio::test]
async fn revoke_unrevoke_and_job_status() {
    let fleet = Fleet::start().await;
    let out = fleet.run("operator", &["revoke", "hello"]).await;
    ok(&out);
    assert_eq!(
        out.stdout,
        "revoked job hello: agents refuse it, including commands replayed after an outage\n"
    );
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/api/jobs/hello/revoke")
    );
    let out = fleet.run("viewer", &["job", "status", "hello"]).await;
    assert_eq!(
        out.stdout,
        "job             hello\nrevoked         yes: agents refuse it\npinned version  -\n"
    );
    assert_eq!(fleet.only_request().path, "/api/jobs/hello/status");
    let out = fleet.run("operator", &["unrevoke", "hello"]).await;
    assert_eq!(out.stdout, "job hello may run again\n");
    assert_eq!(fleet.only_request().path, "/api/jobs/hello/unrevoke");
    let out = fleet
        .run("viewer", &["--json", "job", "status", "hello"])
        .await;
    assert_eq!(
        serde_json::from_str::<Value>(&out.stdout).unwrap(),
        json!({"id": "hello", "revoked": false, "pinned_version": null})
    );
    fleet.backend.take_requests();

    let out = fleet.run("viewer", &["revoke", "hello"]).await;
    failed(
        &out,
        "error: this needs the operator role; you are viewer (HTTP 403)\n",
    );
    fleet.backend.take_requests();
    let out = fleet.run("operator", &["revoke", "no/such"]).await;
    bad_input(&out, "error: `no/such` is not a valid job id");
    fleet.assert_no_request();
}

/// A file that starts like an ELF executable.
fn fake_binary(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("kanade-agent");
    let mut bytes = b"\x7fELF".to_vec();
    bytes.extend(std::iter::repeat_n(7u8, 2044));
    std::fs::write(&path, bytes).unwrap();
    path
}

#[tokio::test]
async fn agent_publish_uploads_the_binary_and_checks_its_hash() {
    let fleet = Fleet::start().await;
    let files = tempfile::tempdir().unwrap();
    let binary = fake_binary(files.path());
    let binary = binary.to_str().unwrap();
    let sha = kanade_cli::commands::releases::sha256_hex(&std::fs::read(binary).unwrap());

    let out = fleet
        .run(
            "admin",
            &[
                "agent",
                "publish",
                binary,
                "--version",
                "1.2.0",
                "--platform",
                "linux-x86_64",
            ],
        )
        .await;
    ok(&out);
    assert_eq!(
        out.stdout,
        format!("published 1.2.0-linux-x86_64 (2.0 KiB)\nsha256 {sha}\n")
    );
    let seen = fleet.only_request();
    assert_eq!(
        (seen.method.as_str(), seen.path.as_str()),
        ("POST", "/api/agent-releases")
    );
    assert_eq!(
        seen.query,
        query(&[("version", "1.2.0"), ("platform", "linux-x86_64")])
    );
    assert_eq!(seen.body_len, 2048);

    let out = fleet.run("viewer", &["agent", "releases"]).await;
    ok(&out);
    assert_eq!(
        words(&out.stdout),
        [
            vec![
                "KEY",
                "VERSION",
                "PLATFORM",
                "SIZE",
                "SHA256",
                "PUBLISHED",
                "BY"
            ],
            vec![
                "1.2.0-linux-x86_64",
                "1.2.0",
                "linux-x86_64",
                "2.0",
                "KiB",
                &sha,
                "admin"
            ],
        ]
    );
    fleet.backend.take_requests();

    // Only admins publish; the backend refuses what is not an executable (422); a hash that
    // does not match is a failure.
    let out = fleet
        .run(
            "operator",
            &["agent", "publish", binary, "--version", "1.2.1"],
        )
        .await;
    failed(
        &out,
        "error: this needs the admin role; you are operator (HTTP 403)\n",
    );
    let text = files.path().join("notes.txt");
    std::fs::write(&text, "not a program").unwrap();
    let out = fleet
        .run(
            "admin",
            &[
                "agent",
                "publish",
                text.to_str().unwrap(),
                "--version",
                "1.2.1",
            ],
        )
        .await;
    bad_input(
        &out,
        "error: body: not an executable (no ELF, PE or Mach-O header) (HTTP 422)",
    );
    let out = fleet
        .run(
            "admin",
            &["agent", "publish", binary, "--version", "tampered"],
        )
        .await;
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .starts_with("error: the backend stored tampered-linux-x86_64 with SHA-256 "),
        "{}",
        out.stderr
    );
    let seen = fleet.backend.take_requests();
    assert_eq!(seen.len(), 3);
    assert!(!seen[0].query.contains_key("platform"), "{:?}", seen[0]);

    for (args, want) in [
        (
            vec!["agent", "publish", binary, "--version", "1/2"],
            "error: --version: `1/2` may use letters, digits",
        ),
        (
            vec![
                "agent",
                "publish",
                binary,
                "--version",
                "1.0",
                "--platform",
                "linux x86",
            ],
            "error: --platform: `linux x86` may use letters, digits",
        ),
        (
            vec!["agent", "publish", "/nonexistent/agent", "--version", "1.0"],
            "error: cannot read /nonexistent/agent",
        ),
    ] {
        let out = fleet.run("admin", &args).await;
        bad_input(&out, want);
    }
    fleet.assert_no_request();

    // The client's delete (no command yet): 204, then 404.
    let client = ApiClient::new(&fleet.backend.url, Some("admin-token".into())).unwrap();
    client.delete_release("1.2.0-linux-x86_64").await.unwrap();
    let gone = client
        .delete_release("1.2.0-linux-x86_64")
        .await
        .unwrap_err();
    assert_eq!(gone.status().map(|s| s.as_u16()), Some(404));
}

#[tokio::test]
async fn agent_rollout_patches_the_scope_and_clear_unsets_it() {
    let fleet = Fleet::start().await;
    let files = tempfile::tempdir().unwrap();
    let binary = fake_binary(files.path());
    let out = fleet
        .run(
            "admin",
            &[
                "agent",
                "publish",
                binary.to_str().unwrap(),
                "--version",
                "1.2.0",
            ],
        )
        .await;
    ok(&out);
    fleet.backend.take_requests();

    let out = fleet
        .run(
            "operator",
            &[
                "agent", "rollout", "1.2.0", "--group", "canary", "--jitter", "10m",
            ],
        )
        .await;
    ok(&out);
    assert_eq!(out.stderr, "");
    assert_eq!(
        out.stdout,
        "groups.canary: target_version 1.2.0, each machine within 10m\n"
    );
    let seen = fleet.backend.take_requests();
    assert_eq!(seen.len(), 2, "{seen:#?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/api/agent-releases")
    );
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        ("PATCH", "/api/config/groups.canary")
    );
    assert_eq!(
        seen[1].body,
        Some(json!({"target_version": "1.2.0", "target_version_jitter": "10m"}))
    );
    let scope = fleet.backend.config_scope("groups.canary").unwrap();
    assert_eq!(scope.target_version.as_deref(), Some("1.2.0"));

    // A version nobody published is rolled out with a warning.
    let out = fleet
        .run("operator", &["agent", "rollout", "9.9.9", "--pc", "pc1"])
        .await;
    ok(&out);
    assert_eq!(out.stdout, "pcs.pc1: target_version 9.9.9\n");
    assert!(
        out.stderr
            .starts_with("warning: no published release has version 9.9.9;"),
        "{}",
        out.stderr
    );
    let seen = fleet.backend.take_requests();
    assert_eq!(seen[1].body, Some(json!({"target_version": "9.9.9"})));

    let out = fleet
        .run(
            "operator",
            &["agent", "rollout", "--clear", "--group", "canary"],
        )
        .await;
    ok(&out);
    assert_eq!(
        out.stdout,
        "groups.canary: target_version cleared; machines follow the lower scopes again\n"
    );
    let seen = fleet.only_request();
    assert_eq!(seen.path, "/api/config/groups.canary");
    assert_eq!(
        seen.body,
        Some(json!({"target_version": null, "target_version_jitter": null}))
    );
    assert_eq!(fleet.backend.config_scope("groups.canary"), None);

    let out = fleet
        .run("viewer", &["agent", "rollout", "1.2.0", "--global"])
        .await;
    failed(
        &out,
        "error: this needs the operator role; you are viewer (HTTP 403)\n",
    );
    fleet.backend.take_requests();
    for (args, want) in [
        (
            vec!["agent", "rollout", "1.2.0", "--group", "a.b"],
            "error: `a.b` is not a valid group name",
        ),
        (
            vec!["agent", "rollout", "1 2", "--global"],
            "error: `1 2` is not a version",
        ),
        (
            vec!["agent", "rollout", "1.2.0", "--global", "--pc", "x"],
            "error: the argument",
        ),
    ] {
        let out = fleet.run("operator", &args).await;
        bad_input(&out, want);
    }
    fleet.assert_no_request();
}

#[tokio::test]
async fn timeline_filters_and_lists_events() {
    let fleet = Fleet::start().await;
    let out = fleet
        .run(
            "viewer",
            &[
                "timeline",
                "--pc",
                "pc1",
                "--kind",
                "self_update",
                "--since",
                "2026-01-31T09:00:00+09:00",
                "--limit",
                "10",
            ],
        )
        .await;
    ok(&out);
    let seen = fleet.only_request();
    assert_eq!(seen.path, "/api/obs_events");
    assert_eq!(
        seen.query,
        query(&[
            ("pc_id", "pc1"),
            ("kind", "self_update"),
            ("from", "2026-01-31T00:00:00Z"),
            ("limit", "10"),
        ])
    );
    assert_eq!(
        out.stdout,
        "TIME                  PC   KIND         SOURCE  DETAIL\n\
         2026-01-31T10:00:00Z  pc1  self_update  agent   {\"from\":\"0.1.0\",\"to\":\"0.2.0\"}\n"
    );

    let out = fleet.run("viewer", &["timeline", "--limit", "2"]).await;
    ok(&out);
    let pcs: Vec<&str> = words(&out.stdout).iter().skip(1).map(|l| l[1]).collect();
    assert_eq!(pcs, ["pc1", "pc2"]);
    assert!(
        out.stderr.starts_with("showing 2 of 3 events"),
        "{}",
        out.stderr
    );
    let out = fleet.run("viewer", &["timeline", "--kind", "reboot"]).await;
    assert_eq!(out.stdout, "no timeline events match\n");
    let out = fleet
        .run("viewer", &["--json", "timeline", "--pc", "pc2"])
        .await;
    let page: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(page["items"][0]["kind"], "boot");
    fleet.backend.take_requests();

    let out = fleet
        .run("viewer", &["timeline", "--since", "yesterday"])
        .await;
    bad_input(
        &out,
        "error: --since: `yesterday` is neither an RFC 3339 time",
    );
    let out = fleet
        .run("viewer", &["timeline", "--since", "1h", "--until", "2h"])
        .await;
    bad_input(&out, "error: --since is later than --until");
    fleet.assert_no_request();
}

#[tokio::test]
async fn perf_shows_a_machine_the_fleet_and_the_top() {
    let fleet = Fleet::start().await;
    let before = Utc::now();
    let out = fleet
        .run("viewer", &["perf", "pc1", "--since", "2h", "--step", "10m"])
        .await;
    ok(&out);
    let seen = fleet.only_request();
    assert_eq!(seen.path, "/api/agents/pc1/perf");
    assert_eq!(seen.query.get("step").map(String::as_str), Some("600"));
    assert!(!seen.query.contains_key("to"));
    let from: DateTime<Utc> = seen.query["from"].parse().unwrap();
    let two_hours = chrono::TimeDelta::hours(2);
    assert!(
        from >= before - two_hours - chrono::TimeDelta::seconds(1)
            && from <= Utc::now() - two_hours
    );
    assert_eq!(
        words(&out.stdout),
        [
            vec![
                "AT", "CPU", "MEMORY", "DISK", "READ", "DISK", "WRITE", "NET", "IN", "NET", "OUT"
            ],
            vec![
                "2026-01-31T17:00:00Z",
                "12.5%",
                "2.0",
                "GiB",
                "(25.0%)",
                "1.5",
                "KiB/s",
                "0",
                "B/s",
                "2.0",
                "KiB/s",
                "512",
                "B/s"
            ],
            vec![
                "2026-01-31T17:05:00Z",
                "50.0%",
                "2.0",
                "GiB",
                "(25.0%)",
                "1.5",
                "KiB/s",
                "0",
                "B/s",
                "2.0",
                "KiB/s",
                "512",
                "B/s"
            ],
        ]
    );
    assert_eq!(out.stderr, "pc1: 2 point(s), one per 600s\n");
    let out = fleet.run("viewer", &["perf", "web-3"]).await;
    ok(&out);
    assert!(
        out.stdout
            .starts_with("no performance samples from web-3 between "),
        "{}",
        out.stdout
    );
    assert_eq!(fleet.only_request().query["step"], "300");

    let out = fleet
        .run("viewer", &["perf", "fleet", "--step", "1m"])
        .await;
    ok(&out);
    let seen = fleet.only_request();
    assert_eq!(seen.path, "/api/perf/fleet");
    assert_eq!(seen.query["step"], "60");
    assert_eq!(
        out.stdout,
        "machines            2\n\
         cpu p50/p90/p99     10.0% / 40.0% / 55.5%\n\
         memory p50/p90/p99  25.0% / 60.0% / 61.0%\n\
         \n\
         AT                    MACHINES  CPU AVG  CPU MAX  MEM AVG  MEM MAX\n\
         2026-01-31T17:00:00Z  2         20.0%    55.5%    30.0%    61.0%\n"
    );

    let out = fleet
        .run(
            "viewer",
            &["perf", "top", "--metric", "net", "--limit", "1"],
        )
        .await;
    ok(&out);
    assert_eq!(
        fleet.only_request().query,
        query(&[("metric", "net"), ("limit", "1")])
    );
    assert_eq!(
        out.stdout,
        "PC     NET        SAMPLED\nweb-3  2.0 MiB/s  2026-01-31T17:59:30Z\n"
    );
    let out = fleet.run("viewer", &["--json", "perf", "top"]).await;
    let top: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(top[0]["value"], 55.5);
    assert_eq!(fleet.only_request().query["metric"], "cpu");

    let out = fleet
        .run("viewer", &["perf", "pc1", "--since", "soon"])
        .await;
    bad_input(&out, "error: --since: `soon` is neither");
    fleet.assert_no_request();
}

#[tokio::test]
async fn fleet_commands_need_a_sign_in() {
    let backend = FakeBackend::start(Some("s3cret"), 10).await;
    let dir = tempfile::tempdir().unwrap();
    let out = kanade(&[
        "--backend-url",
        &backend.url,
        "--config-dir",
        dir.path().to_str().unwrap(),
        "agents",
    ])
    .await;
    failed(
        &out,
        "error: not signed in (or the session expired): run `kanade login`\n",
    );
}
