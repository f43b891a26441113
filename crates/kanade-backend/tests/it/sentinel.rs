//! The boot sentinel on the real backend binary: a version that keeps failing to start after
//! `arm-for-swap` is rolled back to last-good and quarantined; `check-quarantine` says so.

use std::path::Path;
use std::process::Command;

fn backend(exe: &Path, args: &[&str]) -> std::process::Output {
    Command::new(exe)
        .args(args)
        .env_remove("KANADE_BACKEND_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn a_crash_looping_version_is_rolled_back_and_quarantined() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("kanade-backend");
    std::fs::copy(env!("CARGO_BIN_EXE_kanade-backend"), &exe).unwrap();
    let version = kanade_protocol::VERSION;

    let out = backend(&exe, &["check-quarantine", version]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A deploy arms the sentinel for "this" version, as if it had just been swapped in.
    let out = backend(&exe, &["arm-for-swap", version, exe.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(dir.path().join("kanade-backend.last-good").is_file());

    // The new version cannot start (its config is broken): three failed boots are allowed,
    // the fourth rolls back.
    let bad = dir.path().join("backend.toml");
    std::fs::write(&bad, "[server]\nbind = 42\n").unwrap();
    for attempt in 1..=3 {
        let out = backend(&exe, &["--config", bad.to_str().unwrap(), "serve"]);
        assert!(!out.status.success(), "attempt {attempt} should fail");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("invalid config"),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let out = backend(&exe, &["--config", bad.to_str().unwrap(), "serve"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("rolled back"), "{stderr}");
    assert!(dir.path().join("kanade-backend.rollback-bak").is_file());

    let out = backend(&exe, &["check-quarantine", version]);
    assert_eq!(out.status.code(), Some(3), "quarantined versions exit 3");
    let out = backend(&exe, &["check-quarantine", "0.0.0-other"]);
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn resolve_db_path_prints_the_rendered_path_only() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("backend.toml");
    std::fs::write(
        &config,
        "[vars]\nroot = \"/srv/k\"\n[db]\nsqlite_path = \"{{ vars.root }}/kanade.db\"\n",
    )
    .unwrap();
    let out = backend(
        Path::new(env!("CARGO_BIN_EXE_kanade-backend")),
        &["--config", config.to_str().unwrap(), "resolve-db-path"],
    );
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/srv/k/kanade.db\n");
    let out = backend(
        Path::new(env!("CARGO_BIN_EXE_kanade-backend")),
        &["print-default-config"],
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("[server]"));
}
