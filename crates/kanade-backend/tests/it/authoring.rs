//! The routes behind the dashboard's authoring pages, as a viewer uses them: a check's daily
//! compliance trend, a draft schedule's next fires, and what an unset config field falls back
//! to; bad input is refused naming the field.

use chrono::{DateTime, Days, NaiveTime, Utc};
use kanade_protocol::api::CheckTrend;
use kanade_protocol::config::Sourced;
use kanade_protocol::schedule::SchedulePreview;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::inventory::{projected, publish, register, run};
use crate::support::TestBackend;

const DISK: &str = "
id: disk
version: 1
execute: {shell: sh, script: check-disk, timeout: 30s}
check:
  name: disk-free
  label: Enough disk
";

fn check_out(status: &str) -> String {
    json!({"status": status, "detail": "x"}).to_string()
}

async fn error_of(resp: reqwest::Response) -> (StatusCode, Value) {
    let status = resp.status();
    (status, resp.json::<Value>().await.unwrap()["error"].clone())
}

#[tokio::test]
async fn the_trend_counts_each_machine_once_a_day_by_its_last_result() {
    let b = TestBackend::start().await;
    register(&b, DISK).await;
    let today = Utc::now().date_naive();
    let day = |back: u64, secs: i64| -> DateTime<Utc> {
        (today - Days::new(back)).and_time(NaiveTime::MIN).and_utc()
            + chrono::Duration::seconds(secs)
    };
    let results = [
        // Two days ago: pc1 fails.
        run("disk", "pc1", &check_out("fail"), 1, day(2, 60)),
        // Yesterday: pc1 fails then recovers (the later one counts), pc2 warns.
        run("disk", "pc1", &check_out("fail"), 1, day(1, 60)),
        run("disk", "pc1", &check_out("ok"), 0, day(1, 120)),
        run("disk", "pc2", &check_out("warn"), 0, day(1, 60)),
        // Today: both fine, and pc2's result delivered twice.
        run("disk", "pc1", &check_out("ok"), 0, day(0, 1)),
        run("disk", "pc2", &check_out("ok"), 0, day(0, 2)),
    ];
    for r in results.iter().chain([&results[5]]) {
        publish(&b, r).await;
        projected(&b, r).await;
    }
    let viewer = b.account("vera", "viewer").await;
    let resp = viewer
        .get(b.url("/api/compliance/disk-free/trend?days=7"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let trend: CheckTrend = resp.json().await.unwrap();
    assert_eq!((trend.check_name.as_str(), trend.days), ("disk-free", 7));
    let shown: Vec<(String, u64, u64, u64)> = trend
        .points
        .iter()
        .map(|p| (p.day.clone(), p.ok, p.warn, p.fail))
        .collect();
    let date = |back: u64| (today - Days::new(back)).to_string();
    assert_eq!(
        shown,
        [(date(2), 0, 0, 1), (date(1), 1, 1, 0), (date(0), 2, 0, 0)]
    );

    // One day back reaches today only.
    let trend: CheckTrend = b.get("/api/compliance/disk-free/trend?days=1").await;
    assert_eq!(trend.points.len(), 1);

    for bad in ["0", "367"] {
        let resp = viewer
            .get(b.url(&format!("/api/compliance/disk-free/trend?days={bad}")))
            .send()
            .await
            .unwrap();
        let (status, err) = error_of(resp).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "days={bad}");
        assert_eq!(err["field"], "days", "{err}");
    }
    let resp = viewer
        .get(b.url("/api/compliance/no-such-check/trend"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let resp = b
        .anon
        .get(b.url("/api/compliance/disk-free/trend"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_draft_schedule_previews_its_next_fires_without_being_saved() {
    let b = TestBackend::start().await;
    let viewer = b.account("vera", "viewer").await;
    let draft = "
id: nightly
job_id: not-registered-yet
enabled: false
tz: UTC
when: {calendar: {at: '03:00', days: [daily]}}
target: {all: true}
";
    let resp = viewer
        .post(b.url("/api/schedules:preview"))
        .body(draft)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let preview: SchedulePreview = resp.json().await.unwrap();
    assert!(!preview.enabled);
    assert!(preview.when.contains("03:00"), "{}", preview.when);
    assert_eq!(preview.next_fires.len(), 5, "{preview:?}");
    let now = Utc::now();
    for (i, at) in preview.next_fires.iter().enumerate() {
        assert!(*at > now);
        assert_eq!(at.format("%H:%M").to_string(), "03:00");
        if i > 0 {
            assert_eq!(*at - preview.next_fires[i - 1], chrono::Duration::days(1));
        }
    }
    // Nothing was saved.
    let listed: Vec<Value> = b.get("/api/schedules").await;
    assert!(listed.is_empty(), "{listed:?}");

    let resp = viewer
        .post(b.url("/api/schedules:preview?count=2"))
        .body(draft)
        .send()
        .await
        .unwrap();
    let preview: SchedulePreview = resp.json().await.unwrap();
    assert_eq!(preview.next_fires.len(), 2);

    // A schedule that reconciles has no clock fires.
    let per_pc = "
id: ensure
job_id: x
when: {per_pc: once}
target: {all: true}
";
    let preview: SchedulePreview = viewer
        .post(b.url("/api/schedules:preview"))
        .body(per_pc)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(preview.next_fires.is_empty());

    let resp = viewer
        .post(b.url("/api/schedules:preview?count=0"))
        .body(draft)
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["field"], "count", "{err}");

    let bad = draft.replace("'03:00'", "'25:00'");
    let resp = viewer
        .post(b.url("/api/schedules:preview"))
        .body(bad)
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(resp).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{err}");
    assert!(
        err["field"].as_str().unwrap_or("").starts_with("when"),
        "{err}"
    );
}

fn source<'a>(sources: &'a [Sourced], field: &str) -> &'a Sourced {
    sources.iter().find(|s| s.field == field).unwrap()
}

#[tokio::test]
async fn an_unset_field_shows_what_it_falls_back_to() {
    let b = TestBackend::start().await;
    let resp = b
        .http
        .patch(b.url("/api/config/global"))
        .json(&json!({"heartbeat_interval": "45s"}))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "{}", resp.status());
    let viewer = b.account("vera", "viewer").await;

    let global: Vec<Sourced> = viewer
        .get(b.url("/api/config/global/inherited"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hb = source(&global, "heartbeat_interval");
    assert_eq!((hb.scope.as_str(), &hb.value), ("default", &json!("30s")));
    // Each machine's own CPU count: no single value outside a machine scope.
    assert_eq!(source(&global, "max_local_concurrent").value, Value::Null);

    let group: Vec<Sourced> = viewer
        .get(b.url("/api/config/groups.lab/inherited"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hb = source(&group, "heartbeat_interval");
    assert_eq!((hb.scope.as_str(), &hb.value), ("global", &json!("45s")));
    let host = source(&group, "host_perf_interval");
    assert_eq!(
        (host.scope.as_str(), &host.value),
        ("default", &json!("1m"))
    );

    // A machine inherits from its groups too, not from its own scope.
    crate::support::beat(&b, "pc1", chrono::Duration::zero()).await;
    for (path, body) in [
        (
            "/api/config/groups.lab",
            json!({"host_perf_interval": "2m"}),
        ),
        ("/api/config/pcs.pc1", json!({"host_perf_interval": "5m"})),
    ] {
        let resp = b.http.patch(b.url(path)).json(&body).send().await.unwrap();
        assert!(resp.status().is_success(), "{path}: {}", resp.status());
    }
    let resp = b
        .http
        .put(b.url("/api/agents/pc1/groups/lab"))
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success(), "join lab: {}", resp.status());
    let pc: Vec<Sourced> = viewer
        .get(b.url("/api/config/pcs.pc1/inherited"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let host = source(&pc, "host_perf_interval");
    assert_eq!(
        (host.scope.as_str(), &host.value),
        ("groups.lab", &json!("2m"))
    );
    assert_eq!(source(&pc, "heartbeat_interval").scope, "global");

    for path in ["/api/config/global/inherited", "/api/schedules:preview"] {
        let resp = match path.ends_with("preview") {
            true => b.anon.post(b.url(path)).body("id: x").send().await.unwrap(),
            false => b.anon.get(b.url(path)).send().await.unwrap(),
        };
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{path}");
    }

    let resp = viewer
        .get(b.url("/api/config/users.x/inherited"))
        .send()
        .await
        .unwrap();
    let (status, err) = error_of(resp).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(err["field"], "scope", "{err}");
}
