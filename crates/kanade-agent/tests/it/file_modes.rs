//! The agent's data folder is 0711 (only the local socket is reachable by others), every
//! folder in it 0700 and every file 0600, including what an older install left looser.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kanade_protocol::subject;

use crate::support::{Agent, Broker, command, pc_id};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o7777
}

fn assert_private_below(dir: &Path, seen: &mut usize) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let kind = entry.file_type().unwrap();
        let path = entry.path();
        if kind.is_dir() {
            assert_eq!(mode(&path), 0o700, "{}", path.display());
            assert_private_below(&path, seen);
        } else if kind.is_file() {
            assert_eq!(mode(&path), 0o600, "{}", path.display());
            *seen += 1;
        }
    }
}

#[tokio::test]
async fn data_folder_and_files_are_private_and_loose_ones_are_tightened() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("agent");
    let loose = |path: &Path, m: u32| {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).unwrap()
    };
    std::fs::create_dir_all(data.join("outbox")).unwrap();
    loose(&data, 0o755);
    loose(&data.join("outbox"), 0o755);
    std::fs::write(data.join("seen_requests.json"), "{}").unwrap();
    loose(&data.join("seen_requests.json"), 0o644);

    let pc = pc_id("modes");
    let _agent = Agent::start(&broker, &pc, &data).await;
    let cmd = command("echo private");
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    assert_eq!(
        broker.wait_result(&cmd.request_id).await.stdout,
        "private\n"
    );

    assert_eq!(mode(&data), 0o711);
    let mut files = 0;
    assert_private_below(&data, &mut files);
    assert!(files >= 1, "seen_requests.json at least");
}

#[tokio::test]
async fn the_machine_key_is_made_once_and_an_exposed_one_stops_the_agent() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("agent");
    let pc = pc_id("identity");
    let agent = Agent::start(&broker, &pc, &data).await;
    let seed = data.join(kanade_agent::identity::SEED_FILE);
    assert_eq!(mode(&seed), 0o600);
    let first = std::fs::read_to_string(&seed).unwrap();
    assert!(first.starts_with("SU"), "an nkey user seed");
    agent.stop().await;

    // Restarted, it keeps its key.
    let agent = Agent::start(&broker, &pc, &data).await;
    assert_eq!(std::fs::read_to_string(&seed).unwrap(), first);
    agent.stop().await;

    // Readable by others: the agent refuses to start and leaves the file as it found it.
    std::fs::set_permissions(&seed, std::fs::Permissions::from_mode(0o644)).unwrap();
    let config = crate::support::agent_config(&broker, &pc, &data);
    let err = kanade_agent::run(config, std::future::pending())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("mode 644") && err.contains("machine.seed"),
        "{err}"
    );
    assert_eq!(mode(&seed), 0o644);
    assert_eq!(std::fs::read_to_string(&seed).unwrap(), first);
}
