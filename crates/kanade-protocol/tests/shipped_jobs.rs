//! The jobs shipped in `jobs/`: each parses and validates, and each runs here with `sh`, its
//! stdout read by the same hint extraction the backend uses, with the expected JSON shape.

use std::path::PathBuf;
use std::process::Command;

use kanade_protocol::hints::{self, CheckStatus, HintOutcome};
use kanade_protocol::manifest::Manifest;
use serde_json::Value;

fn jobs_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../jobs")
}

fn shipped() -> Vec<Manifest> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(jobs_dir())
        .expect("jobs/ at the repository root")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .iter()
        .map(|path| {
            let text = std::fs::read_to_string(path).unwrap();
            let manifest =
                Manifest::parse(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                path.file_stem().unwrap().to_str().unwrap(),
                manifest.id,
                "file named after the job id"
            );
            manifest
        })
        .collect()
}

/// Runs the job's script with `sh` on this machine and reads its hints.
fn run(manifest: &Manifest) -> HintOutcome {
    let output = Command::new("sh")
        .arg("-c")
        .arg(manifest.script().expect("an inline script"))
        .output()
        .expect("sh runs");
    let stdout = String::from_utf8(output.stdout).expect("UTF-8 stdout");
    let code = output.status.code().unwrap_or(-1);
    assert_eq!(
        code,
        0,
        "{} exited {code}: {}",
        manifest.id,
        String::from_utf8_lossy(&output.stderr)
    );
    let outcome = hints::evaluate(manifest, &stdout, code);
    assert!(
        outcome.errors.is_empty(),
        "{}: {:?}\n{stdout}",
        manifest.id,
        outcome.errors
    );
    outcome
}

/// Every item of each explode array is an object carrying its primary key.
fn check_explode(manifest: &Manifest, facts: &serde_json::Map<String, Value>) {
    for (_, spec) in manifest.explode_specs() {
        let items = facts[&spec.field]
            .as_array()
            .unwrap_or_else(|| panic!("{}: `{}` is an array", manifest.id, spec.field));
        for item in items {
            for key in &spec.primary_key {
                assert!(!item[key].is_null(), "{}: {item} lacks {key}", manifest.id);
            }
        }
    }
}

#[test]
fn every_shipped_job_parses_and_runs_here_with_the_expected_shape() {
    let manifests = shipped();
    let ids: Vec<&str> = manifests.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "disk-usage",
            "installed-packages",
            "listening-ports",
            "os-hardware",
            "security-updates",
            "ssh-password-auth",
            "ssh-root-login"
        ]
    );
    for manifest in &manifests {
        let outcome = run(manifest);
        if let Some(facts) = &outcome.inventory {
            check_explode(manifest, facts);
        }
        assert_eq!(
            manifest.inventory.is_some(),
            outcome.inventory.is_some(),
            "{}",
            manifest.id
        );
        assert_eq!(
            manifest.check.is_some(),
            outcome.check.is_some(),
            "{}",
            manifest.id
        );
        let status = outcome.check.as_ref().map(|c| c.status);
        let facts = outcome.inventory.unwrap_or_default();
        match manifest.id.as_str() {
            "os-hardware" => {
                for key in ["hostname", "os_name", "kernel", "arch"] {
                    assert!(
                        facts[key].as_str().is_some_and(|s| !s.is_empty()),
                        "{key}: {facts:?}"
                    );
                }
                assert!(facts["cpu_cores"].as_u64().is_some_and(|n| n >= 1));
                assert!(facts["mem_total_bytes"].as_u64().is_some_and(|n| n > 0));
            }
            "installed-packages" => {
                assert!(matches!(facts["manager"].as_str(), Some("dpkg" | "rpm")));
                let packages = facts["packages"].as_array().unwrap();
                assert_eq!(facts["count"].as_u64(), Some(packages.len() as u64));
                assert!(!packages.is_empty());
                assert!(
                    packages
                        .iter()
                        .all(|p| p["version"].is_string() && p["arch"].is_string())
                );
            }
            "listening-ports" => {
                let ports = facts["ports"].as_array().unwrap();
                assert!(
                    ports
                        .iter()
                        .all(|p| p["port"].as_u64().is_some_and(|n| n > 0 && n < 65536)
                            && matches!(p["proto"].as_str(), Some("tcp" | "udp")))
                );
            }
            "disk-usage" => {
                let filesystems = facts["filesystems"].as_array().unwrap();
                assert!(!filesystems.is_empty(), "at least the root file system");
                let worst = filesystems
                    .iter()
                    .filter_map(|f| f["used_pct"].as_u64())
                    .max()
                    .unwrap();
                let want = match worst {
                    90.. => CheckStatus::Fail,
                    80.. => CheckStatus::Warn,
                    _ => CheckStatus::Ok,
                };
                assert_eq!(status, Some(want), "worst {worst}%");
            }
            "security-updates" => {
                let updates = facts["updates"].as_array().unwrap();
                assert_eq!(facts["pending"].as_u64(), Some(updates.len() as u64));
                let security = updates.iter().filter(|u| u["security"] == true).count() as u64;
                assert_eq!(facts["security"].as_u64(), Some(security));
                let want = match (facts["manager"].as_str(), security) {
                    (Some("none"), _) => CheckStatus::Unknown,
                    (_, 0) => CheckStatus::Ok,
                    _ => CheckStatus::Warn,
                };
                assert_eq!(status, Some(want));
            }
            "ssh-root-login" | "ssh-password-auth" => {
                assert!(
                    status.is_some_and(|s| s != CheckStatus::Unknown),
                    "{status:?}"
                );
                assert!(outcome.check.unwrap().detail.is_some());
            }
            other => panic!("no shape test for {other}"),
        }
    }
}

#[test]
fn check_scripts_map_sshd_values_to_statuses() {
    // The decision part of the SSH checks, fed a fake `sshd` on PATH.
    let dir = std::env::temp_dir().join(format!("kanade-sshd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("sshd");
    let cases = [
        ("ssh-root-login", "permitrootlogin yes", CheckStatus::Fail),
        (
            "ssh-root-login",
            "permitrootlogin prohibit-password",
            CheckStatus::Warn,
        ),
        ("ssh-root-login", "permitrootlogin no", CheckStatus::Ok),
        (
            "ssh-password-auth",
            "passwordauthentication yes",
            CheckStatus::Fail,
        ),
        (
            "ssh-password-auth",
            "passwordauthentication no",
            CheckStatus::Ok,
        ),
    ];
    let manifests = shipped();
    for (job, line, want) in cases {
        std::fs::write(&fake, format!("#!/bin/sh\necho '{line}'\n")).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let manifest = manifests.iter().find(|m| m.id == job).unwrap();
        let path = format!(
            "{}:{}",
            dir.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let output = Command::new("sh")
            .arg("-c")
            .arg(manifest.script().unwrap())
            .env("PATH", path)
            .output()
            .unwrap();
        let stdout = String::from_utf8(output.stdout).unwrap();
        let check = hints::evaluate(manifest, &stdout, 0).check.unwrap();
        assert_eq!(check.status, want, "{job} with `{line}`: {stdout}");
    }
    std::fs::remove_dir_all(&dir).ok();
}
