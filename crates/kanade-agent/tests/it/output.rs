//! Output above 256 KiB: inline text is cut at the cap (on a character boundary) and the full
//! bytes are in the `result_output` object store.

use kanade_protocol::{names, subject};
use tokio::io::AsyncReadExt;

use crate::support::{Agent, Broker, WAIT, command, eventually, pc_id};

const CAP: usize = 256 * 1024;

#[tokio::test]
async fn large_output_is_truncated_inline_and_kept_whole_in_the_object_store() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("big");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    // stdout: 400,000 bytes of 'a'. stderr: a 2-byte character repeated past the cap at an
    // odd offset, so the cap falls inside a character.
    let chunk = "é".repeat(100);
    let cmd = command(&format!(
        "head -c 400000 /dev/zero | tr '\\0' 'a'; printf x >&2; i=0; \
         while [ $i -lt 1400 ]; do printf '{chunk}' >&2; i=$((i+1)); done"
    ));
    broker.send(&subject::commands_pc(&pc), &cmd).await;
    let result = broker.wait_result(&cmd.request_id).await;
    assert_eq!(
        result.exit_code,
        0,
        "{}",
        result.stderr.chars().take(200).collect::<String>()
    );
    assert_eq!(result.stdout.len(), CAP);
    assert!(result.stdout.bytes().all(|b| b == b'a'));
    // 1 + 1400 * 100 * 2 bytes; the cap (even) splits an é after the leading x: drop it.
    assert_eq!(result.stderr.len(), CAP - 1);
    assert!(result.stderr.starts_with("xé"));
    assert!(!result.stderr.contains('\u{fffd}'));

    let store = broker
        .js
        .get_object_store(names::OBJ_RESULT_OUTPUT)
        .await
        .unwrap();
    let stdout_key = result.stdout_object.clone().expect("stdout spilled");
    assert_eq!(
        stdout_key,
        names::output_object_key(&result.result_id, "stdout")
    );
    let mut object = store.get(&stdout_key).await.unwrap();
    let mut full = Vec::new();
    object.read_to_end(&mut full).await.unwrap();
    assert_eq!(full.len(), 400_000);
    assert!(full.iter().all(|b| *b == b'a'));

    let stderr_key = result.stderr_object.clone().expect("stderr spilled");
    let mut object = store.get(&stderr_key).await.unwrap();
    let mut full = Vec::new();
    object.read_to_end(&mut full).await.unwrap();
    assert_eq!(full.len(), 1 + 1400 * 100 * 2);
    assert!(String::from_utf8(full).is_ok());

    // The spill files are gone once the result is published.
    let cleaned = eventually(WAIT, || async {
        std::fs::read_dir(dir.path().join("spill"))
            .map(|d| d.count() == 0)
            .unwrap_or(false)
    })
    .await;
    assert!(cleaned, "spill files left behind");
    agent.stop().await;
}
