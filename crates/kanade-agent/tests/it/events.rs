//! Timeline events through the durable outbox: `agent_started` at every start, and `emit`
//! jobs whose NDJSON stdout lines become events for this machine, in OBS_EVENTS before the
//! job's result.

use kanade_protocol::manifest::EmitKind;
use kanade_protocol::subject;
use kanade_protocol::wire::EmitHint;

use crate::support::{Agent, Broker, WAIT, command, eventually, pc_id};

#[tokio::test]
async fn every_start_records_agent_started() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("started");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let landed = eventually(WAIT, || async { !broker.obs_events(&pc).await.is_empty() }).await;
    assert!(landed, "no agent_started in OBS_EVENTS");
    let events = broker.obs_events(&pc).await;
    assert_eq!(events.len(), 1, "{events:#?}");
    let event = &events[0];
    assert_eq!(event.pc_id, pc);
    assert_eq!(event.kind, "agent_started");
    assert_eq!(event.source, "agent");
    assert_eq!(
        event.event_record_id,
        Some(format!("agent_started:{}", event.at.timestamp_millis()))
    );
    assert_eq!(event.payload["version"], kanade_protocol::VERSION);
    agent.stop().await;

    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let twice = eventually(WAIT, || async { broker.obs_events(&pc).await.len() == 2 }).await;
    assert!(twice, "{:#?}", broker.obs_events(&pc).await);
    agent.stop().await;
}

#[tokio::test]
async fn an_emit_job_turns_ndjson_lines_into_events_before_its_result() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("emit");
    let agent = Agent::start(&broker, &pc, dir.path()).await;
    let started = eventually(WAIT, || async { broker.obs_events(&pc).await.len() == 1 }).await;
    assert!(started);

    let mut cmd = command(
        r#"echo '{"kind":"presence","pc_id":"someone-else","event_record_id":"p-1","payload":{"user":"ann"}}'
echo 'this is not json'
echo ''
echo '{"kind":"app_sample","at":"2026-01-02T03:04:05Z","source":"probe:apps","payload":[1,2]}'
echo 'a warning' >&2"#,
    );
    cmd.emit = Some(EmitHint {
        kind: EmitKind::Events,
    });
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(result.exit_code, 0, "{result:#?}");
    // The stored result keeps the run's own stdout; the summary is a note on stderr.
    assert!(
        result.stdout.starts_with(r#"{"kind":"presence""#)
            && result.stdout.contains("this is not json"),
        "{}",
        result.stdout
    );
    assert!(
        result.stderr.starts_with("a warning\n"),
        "{}",
        result.stderr
    );
    assert!(
        result
            .stderr
            .contains("kanade: emitted 2 events (1 line rejected)\n"),
        "{}",
        result.stderr
    );
    assert!(
        result
            .stderr
            .contains("line 2: not JSON: \"this is not json\""),
        "{}",
        result.stderr
    );
    assert_eq!(result.stdout_object, None);

    // Already there when the result is: no polling.
    let events: Vec<_> = broker
        .obs_events(&pc)
        .await
        .into_iter()
        .filter(|e| e.kind != "agent_started")
        .collect();
    assert_eq!(events.len(), 2, "{events:#?}");
    let (presence, sample) = (&events[0], &events[1]);
    assert_eq!(presence.kind, "presence");
    assert_eq!(presence.pc_id, pc);
    assert_eq!(presence.source, format!("job:{}", cmd.id));
    assert_eq!(presence.event_record_id.as_deref(), Some("p-1"));
    assert_eq!(presence.payload["user"], "ann");
    assert!(presence.at >= result.started_at && presence.at <= result.finished_at);
    assert_eq!(sample.kind, "app_sample");
    assert_eq!(sample.pc_id, pc);
    assert_eq!(sample.source, "probe:apps");
    assert_eq!(sample.at.to_rfc3339(), "2026-01-02T03:04:05+00:00");
    assert_eq!(sample.payload, serde_json::json!([1, 2]));
    agent.stop().await;
}
