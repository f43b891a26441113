//! `agent.toml`: defaults, a full file, unknown keys and unusable ids are refused with a
//! message that names the problem.

use std::path::{Path, PathBuf};
use std::time::Duration;

use kanade_agent::AgentConfig;

#[test]
fn defaults() {
    let config = AgentConfig::default();
    assert_eq!(config.agent.id, None);
    assert_eq!(config.agent.nats_url, "nats://127.0.0.1:4222");
    assert_eq!(config.agent.data_dir, None);
    assert_eq!(config.agent.heartbeat_interval.0, Duration::from_secs(30));
    assert_eq!(config.log.path, None);
    assert_eq!(config.log.level, "info");
    assert_eq!(config.log.keep_days, 14);
    // An empty file means the defaults.
    assert_eq!(AgentConfig::from_toml("").unwrap(), config);
    let data_dir = config.data_dir().unwrap();
    assert!(
        data_dir.ends_with(Path::new("kanade/agent")),
        "{data_dir:?}"
    );
}

#[test]
fn a_full_file_parses() {
    let config = AgentConfig::from_toml(
        r#"
        [agent]
        id = "ws-042"
        nats_url = "nats://broker.example:4222"
        data_dir = "/var/lib/kanade/agent"
        heartbeat_interval = "1m"

        [log]
        path = "/var/log/kanade"
        level = "kanade_agent=debug,info"
        keep_days = 3
        "#,
    )
    .unwrap();
    assert_eq!(config.pc_id().unwrap(), "ws-042");
    assert_eq!(config.agent.nats_url, "nats://broker.example:4222");
    assert_eq!(
        config.data_dir().unwrap(),
        PathBuf::from("/var/lib/kanade/agent")
    );
    assert_eq!(config.agent.heartbeat_interval.as_secs(), 60);
    assert_eq!(config.log.path, Some(PathBuf::from("/var/log/kanade")));
    assert_eq!(config.log.level, "kanade_agent=debug,info");
    assert_eq!(config.log.keep_days, 3);
    // Sections may be partial; the rest keeps its defaults.
    let partial = AgentConfig::from_toml("[agent]\nheartbeat_interval = 10\n").unwrap();
    assert_eq!(partial.agent.heartbeat_interval.as_secs(), 10);
    assert_eq!(partial.log.level, "info");
}

#[test]
fn unknown_keys_are_rejected_by_name() {
    for (text, key) in [
        ("[agent]\ncolour = \"blue\"\n", "colour"),
        ("[log]\nrotate = true\n", "rotate"),
        ("[inventory]\nenabled = true\n", "inventory"),
    ] {
        let err = AgentConfig::from_toml(text).unwrap_err();
        let message = format!("{err:#}");
        assert!(message.contains(key), "{message}");
    }
    let err = AgentConfig::from_toml("[agent]\nheartbeat_interval = \"soon\"\n").unwrap_err();
    assert!(format!("{err:#}").contains("soon"), "{err:#}");
}

#[test]
fn unusable_ids_are_refused() {
    for bad in ["a.b.c.d.e", "", "a b", "pc*", &"x".repeat(129)] {
        let config = AgentConfig::from_toml(&format!("[agent]\nid = {bad:?}\n")).unwrap();
        let err = config.pc_id().unwrap_err().to_string();
        assert!(err.contains("agent id"), "{err}");
        assert!(err.contains(&format!("{bad:?}")), "{err}");
    }
}

#[test]
fn files_are_found_and_an_explicit_missing_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("agent.toml");
    std::fs::write(&path, "[agent]\nid = \"from-file\"\n").unwrap();
    let config = AgentConfig::load(Some(&path)).unwrap();
    assert_eq!(config.pc_id().unwrap(), "from-file");

    let missing = dir.path().join("nope.toml");
    let err = AgentConfig::load(Some(&missing)).unwrap_err();
    assert!(format!("{err:#}").contains("nope.toml"), "{err:#}");

    std::fs::write(&path, "[agent]\nidd = \"typo\"\n").unwrap();
    let err = AgentConfig::load(Some(&path)).unwrap_err();
    let message = format!("{err:#}");
    assert!(
        message.contains("agent.toml") && message.contains("idd"),
        "{message}"
    );
}
