//! Installing the agent on a new machine with the one command `kanade agent install-command`
//! prints: run in a fresh root folder (KANADE_INSTALL_ROOT, no systemd), it downloads the
//! published binary from the backend without an account, checks its SHA-256, writes agent.toml
//! (broker URL, CA, a single-use token) and the unit; the agent it installed then enrolls
//! through the auth callout and shows up in the fleet. A download that does not match the
//! SHA-256 in the script is refused before anything is written. Only an admin may make such a
//! command. As root, the line also runs unchanged at the real paths inside a mount namespace
//! whose /usr/bin, /etc and /var are fresh overlays, and the agent it installed enrolls.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use crate::support::{System, wait_for};
use kanade_protocol::install::InstallCommand;

/// The agent binary `cargo test --workspace` built beside this test (target/<profile>/).
fn built_agent() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("kanade-agent");
    assert!(
        bin.is_file(),
        "{} is missing: build it first (`cargo build -p kanade-agent`; `cargo test --workspace` does)",
        bin.display()
    );
    bin
}

#[tokio::test]
async fn the_printed_command_installs_an_agent_that_enrolls() {
    let system = System::start_zero_trust(&[]).await;
    let binary = std::fs::read(built_agent()).unwrap();
    let release = system
        .api
        .publish_release(
            "9.9.9-e2e",
            Some(&format!("linux-{}", std::env::consts::ARCH)),
            binary.clone(),
        )
        .await
        .unwrap();

    // Only an admin makes one (it makes an enrollment token).
    let http = reqwest::Client::new();
    let created = http
        .post(format!("{}/api/accounts", system.base))
        .bearer_auth(&system.token)
        .json(
            &serde_json::json!({"username": "vic", "password": "vic-password-1", "role": "viewer"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), reqwest::StatusCode::CREATED);
    let login: kanade_protocol::api::LoginResponse = http
        .post(format!("{}/api/auth/login", system.base))
        .json(&serde_json::json!({"username": "vic", "password": "vic-password-1"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let refused = http
        .post(format!("{}/api/enrollment/install-command", system.base))
        .bearer_auth(&login.token)
        .json(&serde_json::json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), reqwest::StatusCode::FORBIDDEN);

    // The admin asks the CLI for the command (its session kept in a folder of its own).
    let config_dir = system.dir.path().join("cli-config");
    kanade_cli::session::save(
        &config_dir,
        &kanade_cli::session::Session {
            backend_url: system.base.clone(),
            token: system.token.clone(),
            username: "admin".to_owned(),
            expires_at: chrono::Utc::now() + chrono::Duration::hours(1),
        },
    )
    .unwrap();
    let argv: Vec<String> = [
        "kanade",
        "--backend-url",
        &system.base,
        "--config-dir",
        config_dir.to_str().unwrap(),
        "--json",
        "agent",
        "install-command",
        "--group",
        "lab",
        "--expires",
        "10m",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(argv, &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let made: InstallCommand = serde_json::from_slice(&out).unwrap();
    assert_eq!(made.release, release.key);
    assert_eq!(made.sha256, kanade_backend::releases::sha256_hex(&binary));
    assert_eq!(made.token.uses_total, 1);
    assert!(!made.command.contains('\n'), "one line: {}", made.command);

    // The download needs no account.
    let anon = reqwest::Client::new();
    let got = anon.get(&made.download_url).send().await.unwrap();
    assert_eq!(got.status(), reqwest::StatusCode::OK);
    assert_eq!(got.bytes().await.unwrap().len(), binary.len());

    // A download that is not the file the command names (swapped or tampered on the way: here
    // another release's binary behind the same script) is refused before anything is written.
    let mut tampered = binary.clone();
    tampered.extend_from_slice(b"tampered");
    let other = system
        .api
        .publish_release(
            "9.9.8-tampered",
            Some(&format!("linux-{}", std::env::consts::ARCH)),
            tampered,
        )
        .await
        .unwrap();
    let swapped = made.script.replace(
        &made.download_url,
        &made.download_url.replace(&made.release, &other.key),
    );
    assert_ne!(swapped, made.script);
    let victim = system.dir.path().join("tampered-machine");
    std::fs::create_dir_all(&victim).unwrap();
    let refused = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&swapped)
        .env("KANADE_INSTALL_ROOT", &victim)
        .env("KANADE_INSTALL_START", "0")
        .output()
        .await
        .unwrap();
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "a tampered download installed");
    assert!(
        said.contains("SHA-256") && said.contains(&made.sha256),
        "{said}"
    );
    assert_eq!(
        std::fs::read_dir(&victim).unwrap().count(),
        0,
        "nothing written under the root after a refused download"
    );

    let root = system.dir.path().join("new-machine");
    std::fs::create_dir_all(&root).unwrap();
    let out = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(&made.command)
        .env("KANADE_INSTALL_ROOT", &root)
        .env("KANADE_INSTALL_START", "0")
        .env("KANADE_AGENT_ID", "fresh-pc")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let installed = root.join("usr/bin/kanade-agent");
    assert_eq!(std::fs::read(&installed).unwrap(), binary);
    let mode_of = |rel: &str| {
        std::fs::metadata(root.join(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode_of("usr/bin/kanade-agent"), 0o755);
    assert_eq!(mode_of("var/lib/kanade"), 0o700, "agent data is private");
    assert_eq!(mode_of("var/lib/kanade/agent"), 0o700);
    assert_eq!(mode_of("var/log/kanade"), 0o750);
    assert_eq!(mode_of("etc/kanade/ca.pem"), 0o644);
    assert_eq!(
        std::fs::read_to_string(root.join("etc/kanade/ca.pem"))
            .unwrap()
            .trim_end(),
        std::fs::read_to_string(system.nats.ca_file().unwrap())
            .unwrap()
            .trim_end(),
        "the broker's CA is the one pinned"
    );
    let toml_path = root.join("etc/kanade/agent.toml");
    let mode = std::fs::metadata(&toml_path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "agent.toml holds the token");
    let toml = std::fs::read_to_string(&toml_path).unwrap();
    assert!(toml.contains(&system.nats.url()), "{toml}");
    assert!(toml.contains("enrollment_token = \"kanade"), "{toml}");
    let ca_line = format!("nats_ca = \"{}\"", root.join("etc/kanade/ca.pem").display());
    assert!(toml.contains(&ca_line), "{toml}");
    let unit =
        std::fs::read_to_string(root.join("etc/systemd/system/kanade-agent.service")).unwrap();
    assert!(
        unit.contains(&format!("ExecStart={}", installed.display())),
        "{unit}"
    );
    if which("systemd-analyze") {
        let verify = std::process::Command::new("systemd-analyze")
            .arg("verify")
            .arg(root.join("etc/systemd/system/kanade-agent.service"))
            .output()
            .unwrap();
        assert!(
            verify.status.success(),
            "{}",
            String::from_utf8_lossy(&verify.stderr)
        );
    }

    // The machine starts the agent it installed: it enrolls with the token and heartbeats.
    let mut agent = tokio::process::Command::new(&installed)
        .env("KANADE_AGENT_CONFIG", &toml_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    system.wait_online(1).await;
    let api = &system.api;
    wait_for(
        "fresh-pc in group lab",
        Duration::from_secs(30),
        || async move {
            api.agent_groups("fresh-pc")
                .await
                .is_ok_and(|g| g.groups.iter().any(|g| g == "lab"))
        },
    )
    .await;
    let _ = agent.kill().await;

    // The token was single use: the same command cannot enroll a second machine.
    let tokens = system.api.enrollment_tokens().await.unwrap();
    let used = tokens.iter().find(|t| t.id == made.token.id).unwrap();
    assert_eq!(used.uses_left, 0, "{used:?}");
}

/// `sh -c script` in a private mount namespace where /usr/bin, /etc and /var are overlays whose
/// writes land in `upper/{usr-bin,etc,var}`: the real paths, a fresh root, the host untouched.
fn in_fresh_root(upper: &std::path::Path, script: &str) -> tokio::process::Command {
    let mut mounts = String::new();
    for (dir, name) in [("/usr/bin", "usr-bin"), ("/etc", "etc"), ("/var", "var")] {
        let (u, w) = (upper.join(name), upper.join(format!("{name}.work")));
        std::fs::create_dir_all(&u).unwrap();
        std::fs::create_dir_all(&w).unwrap();
        mounts.push_str(&format!(
            "mount -t overlay overlay -o lowerdir={dir},upperdir={},workdir={} {dir} || exit 97\n",
            u.display(),
            w.display()
        ));
    }
    let mut cmd = tokio::process::Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!("{mounts}{script}"));
    cmd
}

/// Root, `unshare` and overlay mounts: what `in_fresh_root` needs (CI runs as root).
fn can_overlay(dir: &std::path::Path) -> bool {
    if !which("unshare")
        || !std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| o.stdout == b"0\n")
    {
        return false;
    }
    let probe = dir.join("probe");
    std::fs::create_dir_all(probe.join("u")).unwrap();
    std::fs::create_dir_all(probe.join("w")).unwrap();
    std::process::Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "mount",
            "-t",
            "overlay",
            "overlay",
            "-o",
        ])
        .arg(format!(
            "lowerdir=/etc,upperdir={},workdir={}",
            probe.join("u").display(),
            probe.join("w").display()
        ))
        .arg("/etc")
        .status()
        .is_ok_and(|s| s.success())
}

/// The printed line itself, run as root without KANADE_INSTALL_ROOT: in a mount namespace whose
/// /usr/bin, /etc and /var start as the host's and whose writes stay in the test's folder. The
/// files land at the real paths with the right modes, and the agent started from them (in the
/// same kind of namespace) enrolls and shows up in the fleet.
#[tokio::test]
async fn the_command_installs_at_the_real_paths_in_a_fresh_root() {
    let system = System::start_zero_trust(&[]).await;
    if !can_overlay(system.dir.path()) {
        eprintln!("skipped: needs root, unshare and overlay mounts (CI has them)");
        return;
    }
    let binary = std::fs::read(built_agent()).unwrap();
    system
        .api
        .publish_release(
            "9.9.9-e2e",
            Some(&format!("linux-{}", std::env::consts::ARCH)),
            binary.clone(),
        )
        .await
        .unwrap();
    let made = system
        .api
        .install_command(
            &serde_json::from_value(serde_json::json!({
                "group": "lab",
                "expires": "10m",
                "backend_url": system.base,
                "nats_url": system.nats.url(),
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let upper = system.dir.path().join("fresh-root");
    let out = in_fresh_root(&upper, &made.command)
        .env("KANADE_INSTALL_START", "0")
        .env("KANADE_AGENT_ID", "ns-pc")
        .env_remove("KANADE_INSTALL_ROOT")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !std::path::Path::new("/usr/bin/kanade-agent").exists()
            || std::fs::read("/usr/bin/kanade-agent").unwrap() != binary,
        "the host's /usr/bin was not written"
    );
    let mode_of = |rel: &str| {
        std::fs::metadata(upper.join(rel))
            .unwrap_or_else(|e| panic!("{rel}: {e}"))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(
        std::fs::read(upper.join("usr-bin/kanade-agent")).unwrap(),
        binary
    );
    assert_eq!(mode_of("usr-bin/kanade-agent"), 0o755);
    assert_eq!(mode_of("etc/kanade/agent.toml"), 0o600);
    assert_eq!(mode_of("etc/kanade/ca.pem"), 0o644);
    assert_eq!(mode_of("var/lib/kanade"), 0o700);
    assert_eq!(mode_of("var/log/kanade"), 0o750);
    let toml = std::fs::read_to_string(upper.join("etc/kanade/agent.toml")).unwrap();
    for want in [
        format!("nats_url = \"{}\"", system.nats.url()),
        "nats_ca = \"/etc/kanade/ca.pem\"".to_owned(),
        "data_dir = \"/var/lib/kanade/agent\"".to_owned(),
        "enrollment_token = \"kanade".to_owned(),
    ] {
        assert!(toml.contains(&want), "{want} in:\n{toml}");
    }
    let unit =
        std::fs::read_to_string(upper.join("etc/systemd/system/kanade-agent.service")).unwrap();
    assert!(unit.contains("ExecStart=/usr/bin/kanade-agent"), "{unit}");

    // The machine runs what was installed, from the real paths.
    let mut agent = in_fresh_root(&upper, "exec /usr/bin/kanade-agent")
        .env("KANADE_AGENT_CONFIG", "/etc/kanade/agent.toml")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    system.wait_online(1).await;
    let api = &system.api;
    wait_for(
        "ns-pc in group lab",
        Duration::from_secs(30),
        || async move {
            api.agent_groups("ns-pc")
                .await
                .is_ok_and(|g| g.groups.iter().any(|g| g == "lab"))
        },
    )
    .await;
    let _ = agent.kill().await;
}

fn which(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(name).is_file()))
}
