//! The `kanade-agent` binary: reads `--config`, logs to stdout and a colour-free daily file,
//! heartbeats, and exits cleanly on SIGTERM.

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use kanade_protocol::subject;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::support::{Broker, WAIT, eventually, pc_id};

#[tokio::test]
async fn the_binary_runs_logs_to_a_file_and_stops_on_sigterm() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("bin");
    let logs = dir.path().join("logs");
    let config = dir.path().join("agent.toml");
    std::fs::write(
        &config,
        format!(
            "[agent]\nid = {pc:?}\nnats_url = {url:?}\nnats_ca = {ca:?}\ndata_dir = {data:?}\nheartbeat_interval = \"1s\"\n\
             [log]\npath = {logs:?}\nlevel = \"info\"\nkeep_days = 2\n",
            url = broker.url(),
            ca = broker.ca_file(),
            data = dir.path().join("data"),
        ),
    )
    .unwrap();
    let mut beats = broker
        .client
        .subscribe(subject::heartbeat(&pc))
        .await
        .unwrap();
    broker.client.flush().await.unwrap();

    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_kanade-agent"))
        .arg("--config")
        .arg(&config)
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let beat = tokio::time::timeout(WAIT, beats.next())
        .await
        .expect("a heartbeat from the binary");
    assert!(beat.is_some());

    let pid = Pid::from_raw(child.id().unwrap() as i32);
    kill(pid, Signal::SIGTERM).unwrap();
    let status = tokio::time::timeout(WAIT, child.wait())
        .await
        .expect("exits after SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");

    let written = eventually(Duration::from_secs(5), || async {
        log_text(&logs).contains("kanade agent starting")
    })
    .await;
    let text = log_text(&logs);
    assert!(written, "log file content: {text}");
    assert!(text.contains("shutting down"), "{text}");
    assert!(!text.contains('\u{1b}'), "ANSI codes in the log file");
}

fn log_text(dir: &std::path::Path) -> String {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return String::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("kanade-agent"))
        .map(|e| std::fs::read_to_string(e.path()).unwrap_or_default())
        .collect()
}

#[tokio::test]
async fn the_binary_refuses_a_bad_config_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("agent.toml");
    std::fs::write(&config, "[agent]\nid = \"no*stars\"\n").unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_kanade-agent"))
        .arg("--config")
        .arg(&config)
        .output()
        .await
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("agent id \"no*stars\""), "{stderr}");
}
