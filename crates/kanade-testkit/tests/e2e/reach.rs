//! Reaching into a machine: live output while a script runs (through the broker grant of a
//! zero-trust agent), a spilled 5 MiB output read back whole, the agent's own log lines, and
//! a viewer refused all three.

use std::time::Duration;

use kanade_cli::client::{ApiClient, TailEvent};
use kanade_protocol::api::{LoginRequest, NewAccount, Role};
use kanade_protocol::reach::OutputStream;

use crate::support::{System, pcs, wait_for};

const TICKER: &str = "
id: ticker
version: 1
execute:
  shell: sh
  script: |
    for i in $(seq 1 25); do echo \"tick $i\"; sleep 0.1; done
    echo done >&2
  timeout: 30s
";

/// 5 MiB of a known pattern, after a pause so the watcher is connected first.
const BIG: &str = "
id: big
version: 1
execute:
  shell: sh
  script: |
    sleep 1
    yes 'abcdefghijklmnopqrstuvwxyz0123456789' | head -c 5242880
  timeout: 60s
";

fn big_expected() -> Vec<u8> {
    let line = b"abcdefghijklmnopqrstuvwxyz0123456789\n";
    line.iter().copied().cycle().take(5 * 1024 * 1024).collect()
}

/// Violations about the subjects this feature uses (other features have their own tests).
fn violations_of_reach(system: &System) -> Vec<String> {
    system
        .broker_violations()
        .into_iter()
        .filter(|line| line.contains("job.tail") || line.contains("logs.fetch"))
        .collect()
}

async fn read_all(mut response: reqwest::Response) -> Vec<u8> {
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    bytes
}

async fn viewer(system: &System) -> ApiClient {
    system
        .api
        .create_account(&NewAccount {
            username: "looker".into(),
            password: "looker-password-1".into(),
            role: Role::Viewer,
            email: None,
        })
        .await
        .unwrap();
    let login = system
        .api
        .login(&LoginRequest {
            username: "looker".into(),
            password: "looker-password-1".into(),
            totp: None,
        })
        .await
        .unwrap();
    ApiClient::new(&system.base, Some(login.token)).unwrap()
}

#[tokio::test]
async fn a_running_script_is_seen_line_by_line_before_it_ends() {
    let system = System::start_zero_trust(&["pc-tail.lab"]).await;
    system.api.create_job_yaml(TICKER).await.unwrap();
    let fired = system.exec("ticker", pcs(&["pc-tail.lab"])).await;
    let mut stream = system.api.tail(&fired.exec_id, None).await.unwrap();
    let mut lines: Vec<String> = Vec::new();
    let mut seen_while_running = 0;
    let mut done_chunk = None;
    let end = tokio::time::timeout(Duration::from_secs(40), async {
        while let Some(event) = stream.next().await {
            match event.unwrap() {
                TailEvent::Chunk(chunk) => {
                    assert_eq!(chunk.pc_id, "pc-tail.lab");
                    if chunk.done {
                        done_chunk = Some(chunk);
                        continue;
                    }
                    if chunk.stream == OutputStream::Stdout && !chunk.text.is_empty() {
                        let detail = system.api.get_execution(&fired.exec_id).await.unwrap();
                        if detail.results.iter().all(|r| r.exit_code.is_none()) {
                            seen_while_running += 1;
                        }
                        lines.extend(chunk.text.lines().map(str::to_owned));
                    }
                }
                TailEvent::End(status) => return status,
            }
        }
        panic!("the stream closed without an end event");
    })
    .await
    .expect("the tail ended");
    assert_eq!(end, "completed");
    assert!(
        seen_while_running >= 5,
        "only {seen_while_running} chunks arrived before the result: {lines:?}"
    );
    // Whole lines, in order, ending with the last one.
    let numbers: Vec<u32> = lines
        .iter()
        .map(|l| l.strip_prefix("tick ").unwrap().parse().unwrap())
        .collect();
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
    assert_eq!(numbers.last(), Some(&25));
    let done = done_chunk.expect("a done chunk");
    assert_eq!(done.dropped_bytes, 0);
    // The grant allowed the live output subject.
    assert_eq!(violations_of_reach(&system), Vec::<String>::new());
}

#[tokio::test]
async fn a_spilled_5_mib_output_comes_back_byte_for_byte() {
    let system = System::start(&["pc-big"]).await;
    system.api.create_job_yaml(BIG).await.unwrap();
    let fired = system.exec("big", pcs(&["pc-big"])).await;
    let mut stream = system
        .api
        .tail(&fired.exec_id, Some("pc-big"))
        .await
        .unwrap();
    let mut live_bytes = 0usize;
    let mut dropped = 0;
    while let Some(event) = stream.next().await {
        match event.unwrap() {
            TailEvent::Chunk(chunk) => {
                live_bytes += chunk.text.len();
                dropped = chunk.dropped_bytes;
            }
            TailEvent::End(_) => break,
        }
    }
    // The live copy is capped (64 KiB/s per run); what it left out is counted.
    assert!(
        dropped > 0,
        "a 5 MiB burst was relayed whole ({live_bytes} bytes)"
    );
    assert!(live_bytes < 1024 * 1024, "{live_bytes} bytes relayed live");

    let done = system.wait_completed(&fired.exec_id).await;
    let result = system
        .api
        .get_result(&done.results[0].result_id)
        .await
        .unwrap();
    assert!(result.stdout_object.is_some(), "the output was not spilled");
    assert!(result.stdout.len() <= 256 * 1024);
    let response = system
        .api
        .result_output(&result.summary.result_id, OutputStream::Stdout)
        .await
        .unwrap();
    assert_eq!(
        response.headers().get("x-kanade-output").unwrap(),
        "spilled"
    );
    let whole = read_all(response).await;
    assert_eq!(whole.len(), 5 * 1024 * 1024);
    assert!(whole == big_expected(), "the spilled output differs");
    // stderr was small: served inline.
    let response = system
        .api
        .result_output(&result.summary.result_id, OutputStream::Stderr)
        .await
        .unwrap();
    assert_eq!(response.headers().get("x-kanade-output").unwrap(), "inline");
}

#[tokio::test]
async fn agent_logs_come_from_the_machine_filtered_and_only_for_operators() {
    let mut system = System::start_zero_trust(&["pc-logs"]).await;
    let folder = system.agent_dir("pc-logs").join("logs");
    std::fs::create_dir_all(&folder).unwrap();
    let today = chrono::Utc::now();
    let stamp = |mins: i64| (today - chrono::Duration::minutes(mins)).to_rfc3339();
    let text = format!(
        "{}  INFO kanade_agent: kanade agent starting\n{}  WARN kanade_agent::commands: needle in the haystack\n{}  INFO kanade_agent: job finished\n",
        stamp(30),
        stamp(20),
        stamp(10)
    );
    std::fs::write(
        folder.join(format!("kanade-agent.{}.log", today.format("%Y-%m-%d"))),
        text,
    )
    .unwrap();

    let all = system
        .api
        .agent_logs("pc-logs", None, None, None)
        .await
        .unwrap();
    assert_eq!(all.error, None);
    assert!(all.text.contains("kanade agent starting"), "{}", all.text);
    assert_eq!(all.text.lines().count(), 3);
    let grep = system
        .api
        .agent_logs("pc-logs", None, Some("needle"), None)
        .await
        .unwrap();
    assert_eq!(grep.text.lines().count(), 1, "{}", grep.text);
    assert!(grep.text.contains("needle in the haystack"));
    let recent = system
        .api
        .agent_logs(
            "pc-logs",
            Some(today - chrono::Duration::minutes(15)),
            None,
            None,
        )
        .await
        .unwrap();
    assert_eq!(recent.text.lines().count(), 1, "{}", recent.text);
    assert!(recent.text.contains("job finished"));
    // Audited.
    wait_for("the logs audit entry", Duration::from_secs(20), || async {
        let query = kanade_cli::client::AuditQuery {
            action: Some("agent.logs".into()),
            ..Default::default()
        };
        system.api.list_audit(&query).await.is_ok_and(|page| {
            page.items
                .iter()
                .any(|e| e.target.as_deref() == Some("pc-logs"))
        })
    })
    .await;
    // A machine never seen: 404; a known one that does not answer: 504, named.
    let err = system
        .api
        .agent_logs("pc-absent", None, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(404), "{err}");

    // A viewer may do none of it.
    let viewer = viewer(&system).await;
    let err = viewer
        .agent_logs("pc-logs", None, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    system.api.create_job_yaml(TICKER).await.unwrap();
    let fired = system.exec("ticker", pcs(&["pc-logs"])).await;
    let err = viewer.tail(&fired.exec_id, None).await.err().unwrap();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    let done = system.wait_completed(&fired.exec_id).await;
    let err = viewer
        .result_output(&done.results[0].result_id, OutputStream::Stdout)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(403));
    assert_eq!(violations_of_reach(&system), Vec::<String>::new());

    // Known but gone: 504 naming it.
    system.stop_agent("pc-logs").await;
    let err = system
        .api
        .agent_logs("pc-logs", None, None, None)
        .await
        .unwrap_err();
    assert_eq!(err.status().map(|s| s.as_u16()), Some(504), "{err}");
    assert!(err.to_string().contains("pc-logs"), "{err}");
}

async fn kanade(system: &System, args: &[&str]) -> (i32, Vec<u8>, String) {
    let mut argv = vec![
        "kanade".to_owned(),
        "--backend-url".to_owned(),
        system.base.clone(),
    ];
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(argv, &mut out, &mut err).await;
    (code, out, String::from_utf8_lossy(&err).into_owned())
}

#[tokio::test]
async fn the_cli_follows_runs_line_by_line_and_reads_whole_outputs_and_agent_logs() {
    let system = System::start_without_auth(&["cli-a", "cli-b"]).await;
    system.api.create_job_yaml(TICKER).await.unwrap();
    // Two machines: every line carries its machine; the summary follows.
    let (code, out, err) = kanade(
        &system,
        &["exec", "ticker", "--pcs", "cli-a,cli-b", "--follow"],
    )
    .await;
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{out}{err}");
    for pc in ["cli-a", "cli-b"] {
        assert!(out.contains(&format!("{pc}: tick 25\n")), "{out}");
    }
    assert!(
        err.contains("cli-a: done"),
        "stderr lines go to stderr: {err}"
    );
    // Live text and JSON do not mix: refused before anything is sent.
    let (code, _, err) = kanade(
        &system,
        &["--json", "exec", "ticker", "--pcs", "cli-a", "--follow"],
    )
    .await;
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--follow"), "{err}");

    // `kanade tail --pc` ends by itself once that machine's run is finished.
    let fired = system.exec("ticker", pcs(&["cli-a"])).await;
    let (code, out, err) = kanade(&system, &["tail", &fired.exec_id, "--pc", "cli-a"]).await;
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("tick 25\n") && !out.contains("cli-a:"),
        "{out}"
    );
    assert!(err.contains("kanade results"), "{err}");

    // The whole output, bytes as written.
    let done = system.wait_completed(&fired.exec_id).await;
    let result_id = &done.results[0].result_id;
    let (code, out, err) = kanade(&system, &["results", "output", result_id]).await;
    assert_eq!(code, 0, "{err}");
    let want: String = (1..=25).map(|i| format!("tick {i}\n")).collect();
    assert_eq!(String::from_utf8_lossy(&out), want);
    let (code, out, _) = kanade(&system, &["results", "output", result_id, "--stderr"]).await;
    assert_eq!((code, out.as_slice()), (0, b"done\n".as_slice()));

    // The agent's log lines, filtered.
    let folder = system.agent_dir("cli-b").join("logs");
    std::fs::create_dir_all(&folder).unwrap();
    let now = chrono::Utc::now();
    std::fs::write(
        folder.join(format!("kanade-agent.{}.log", now.format("%Y-%m-%d"))),
        format!(
            "{now:?}  INFO kanade_agent: listening for commands\n{now:?}  WARN kanade_agent: disk almost full\n"
        ),
    )
    .unwrap();
    let (code, out, err) = kanade(
        &system,
        &["logs", "cli-b", "--grep", "disk", "--since", "1h"],
    )
    .await;
    let out = String::from_utf8_lossy(&out);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "{out}");
    assert!(out.contains("disk almost full"));
    let (code, _, err) = kanade(&system, &["logs", "cli-b", "--lines", "0"]).await;
    assert_eq!(code, 2, "{err}");
}
