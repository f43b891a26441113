//! File collection end to end through zero-trust agents: a `collect` job's files come back
//! byte for byte in a zip from `collections`, its `finalize` step runs with
//! `KANADE_COLLECT_RESULT` and points at the run it followed; traversal, a symbolic link and
//! the size cap are refused with nothing uploaded; a viewer gets 403 on every bundle route;
//! one machine's broker credentials cannot read or purge bundles.

use std::io::Read;
use std::path::Path;
use std::time::Duration;

use kanade_cli::client::ApiClient;
use kanade_protocol::api::{ExecutionDetail, LoginRequest, NewAccount, ResultSummary, Role};
use reqwest::StatusCode;

use crate::support::{System, pcs, wait_for};

fn job(id: &str, script: &str, collect: &str, finalize: &str) -> String {
    let indented: String = script.lines().map(|l| format!("    {l}\n")).collect();
    format!(
        "id: {id}\nversion: 1\nexecute:\n  shell: sh\n  timeout: 30s\n  script: |\n{indented}\
         collect:\n{collect}{finalize}"
    )
}

/// The main run of `job` in an execution (not its finalize step).
fn main_run<'a>(detail: &'a ExecutionDetail, job: &str) -> &'a ResultSummary {
    detail
        .results
        .iter()
        .find(|r| r.job_id == job)
        .unwrap_or_else(|| panic!("no result of {job}: {detail:#?}"))
}

async fn run(
    system: &System,
    pc: &str,
    yaml: &str,
    id: &str,
) -> kanade_protocol::api::ResultDetail {
    system.api.create_job_yaml(yaml).await.unwrap();
    let fired = system.exec(id, pcs(&[pc])).await;
    let done = system.wait_completed(&fired.exec_id).await;
    let result_id = main_run(&done, id).result_id.clone();
    system.api.get_result(&result_id).await.unwrap()
}

fn unzip(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("a zip");
    (0..archive.len())
        .map(|i| {
            let mut file = archive.by_index(i).unwrap();
            let mut data = Vec::new();
            file.read_to_end(&mut data).unwrap();
            (file.name().unwrap().into_owned(), data)
        })
        .collect()
}

/// Connects with the named machine's broker credentials, as an attacker holding its disk would.
async fn as_machine(
    system: &System,
    name: &str,
    seed_of: &str,
) -> Result<async_nats::Client, async_nats::ConnectError> {
    let seed = std::fs::read_to_string(system.agent_dir(seed_of).join("machine.seed")).unwrap();
    async_nats::ConnectOptions::with_nkey(seed.trim().to_owned())
        .name(format!("kanade-agent/{name}"))
        .custom_inbox_prefix(format!("_INBOX_{name}"))
        .add_root_certificates(system.nats.ca_file().unwrap())
        .require_tls(true)
        .connect(system.nats.url())
        .await
}

/// Waits until nats-server has logged a refusal naming `subject`.
async fn refused(system: &System, subject: &str) {
    let wanted = format!("\"{subject}\"");
    wait_for(
        &format!("the broker refusing {subject}"),
        Duration::from_secs(20),
        || async {
            system
                .broker_violations()
                .iter()
                .any(|v| v.contains(&wanted))
        },
    )
    .await;
}

fn entry(path: &Path) -> String {
    path.to_string_lossy().trim_start_matches('/').to_owned()
}

async fn viewer(system: &System) -> ApiClient {
    let (username, password) = ("bundle-viewer", "bundle-viewer-pw-1");
    system
        .api
        .create_account(&NewAccount {
            username: username.into(),
            password: password.into(),
            role: Role::Viewer,
            email: None,
        })
        .await
        .unwrap();
    let login = system
        .api
        .login(&LoginRequest {
            username: username.into(),
            password: password.into(),
            totp: None,
        })
        .await
        .unwrap();
    ApiClient::new(&system.base, Some(login.token)).unwrap()
}

#[tokio::test]
async fn a_bundle_holds_the_files_byte_for_byte_and_finalize_follows_it() {
    let system = System::start_zero_trust(&["pc-col"]).await;
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let text = root.join("app.log");
    std::fs::write(&text, "line one\nline two\n").unwrap();
    let binary = root.join("dump.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&binary, &data).unwrap();
    let script = format!(
        "echo 'progress goes to stderr' >&2\n\
         echo '{{\"files\": [\"{}\", \"{}\"]}}'",
        text.display(),
        binary.display()
    );
    let collect = format!(
        "  name: logs\n  max_size: 1MB\n  allow: [\"{}\"]\n",
        root.display()
    );
    let finalize = "finalize:\n  shell: sh\n  script: |\n    echo \"$KANADE_COLLECT_RESULT\"\n    echo \"key=$KANADE_COLLECT_KEY parent=$KANADE_PARENT_RESULT_ID\"\n";
    let yaml = job("grab-logs", &script, &collect, finalize);
    let main = run(&system, "pc-col", &yaml, "grab-logs").await;
    assert_eq!(main.summary.exit_code, Some(0), "{main:#?}");
    let key = main
        .collect_object
        .clone()
        .expect("the result names its bundle");
    assert!(
        key.starts_with("pc-col/grab-logs/") && key.ends_with(".zip"),
        "{key}"
    );
    assert!(
        main.stderr.contains("collected 2 file(s)"),
        "{}",
        main.stderr
    );
    let violations: Vec<String> = system
        .broker_violations()
        .into_iter()
        .filter(|v| v.contains("collections"))
        .collect();
    assert!(
        violations.is_empty(),
        "the grant covers the upload: {violations:#?}"
    );

    // Listed (filters too), downloaded whole, byte for byte.
    let listed = system
        .api
        .list_bundles(Some("pc-col"), Some("grab-logs"))
        .await
        .unwrap();
    assert_eq!(listed.len(), 1, "{listed:#?}");
    assert_eq!(listed[0].key, key);
    assert!(
        system
            .api
            .list_bundles(Some("pc-other"), None)
            .await
            .unwrap()
            .is_empty()
    );
    let mut response = system.api.download_bundle(&key).await.unwrap();
    let mut zipped = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        zipped.extend_from_slice(&chunk);
    }
    assert_eq!(zipped.len() as u64, listed[0].size);
    let mut files = unzip(&zipped);
    files.sort();
    assert_eq!(
        files,
        vec![
            (entry(&text), b"line one\nline two\n".to_vec()),
            (entry(&binary), data.clone()),
        ]
    );

    // The finalize step: its own result, pointing at the run, with the outcome in its env.
    let api = &system.api;
    let exec_id = main.summary.exec_id.clone();
    wait_for("the finalize result", Duration::from_secs(30), || async {
        api.get_execution(&exec_id).await.is_ok_and(|d| {
            d.results
                .iter()
                .any(|r| r.job_id == "grab-logs__finalize" && r.exit_code.is_some())
        })
    })
    .await;
    let detail = api.get_execution(&exec_id).await.unwrap();
    assert_eq!(
        detail.execution.success_count, 1,
        "finalize is not counted: {detail:#?}"
    );
    let step_id = main_run(&detail, "grab-logs__finalize").result_id.clone();
    let step = api.get_result(&step_id).await.unwrap();
    assert_eq!(step.summary.exit_code, Some(0), "{step:#?}");
    assert_eq!(
        step.parent_result_id.as_deref(),
        Some(main.summary.result_id.as_str())
    );
    let outcome: serde_json::Value =
        serde_json::from_str(step.stdout.lines().next().unwrap()).unwrap();
    assert_eq!(outcome["ok"], true, "{}", step.stdout);
    assert_eq!(outcome["bundles"][0]["key"], key.as_str());
    assert_eq!(outcome["bundles"][0]["uploaded"], true);
    assert!(
        step.stdout
            .contains(&format!("key={key} parent={}", main.summary.result_id)),
        "{}",
        step.stdout
    );

    // A viewer reaches no bundle route; bad keys are refused before any lookup.
    let looker = viewer(&system).await;
    let status = |r: Result<_, kanade_cli::client::ClientError>| r.err().and_then(|e| e.status());
    assert_eq!(
        status(looker.list_bundles(None, None).await.map(|_| ())),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        status(looker.download_bundle(&key).await.map(|_| ())),
        Some(StatusCode::FORBIDDEN)
    );
    assert_eq!(
        status(looker.delete_bundle(&key).await),
        Some(StatusCode::FORBIDDEN)
    );
    let raw = reqwest::Client::new();
    for bad in ["pc-col/../x/y.zip", "pc-col/grab-logs/a.txt", "a/b"] {
        let url = format!("{}/api/collect/bundles/{bad}", system.base);
        let got = raw
            .get(&url)
            .bearer_auth(&system.token)
            .send()
            .await
            .unwrap();
        assert!(
            got.status() == 400 || got.status() == 404,
            "{bad}: {}",
            got.status()
        );
        assert_ne!(got.status(), 200);
    }

    // The CLI: list, get (written whole), delete.
    let config_dir = tempfile::tempdir().unwrap();
    let cli = |args: Vec<String>| {
        let mut argv: Vec<String> = ["kanade", "--backend-url", system.base.as_str()]
            .into_iter()
            .map(str::to_owned)
            .collect();
        argv.push("--config-dir".into());
        argv.push(config_dir.path().display().to_string());
        argv.extend(args);
        argv
    };
    let words = |list: &[&str]| list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let mut stdin =
        std::io::Cursor::new(format!("{}\n", crate::support::ADMIN_PASSWORD).into_bytes());
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let login = cli(words(&["login", "--username", "admin", "--password-stdin"]));
    let code = kanade_cli::main_with_io_stdin(login, &mut stdin, &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let code = kanade_cli::main_with_io(
        cli(words(&["collect", "list", "--pc", "pc-col"])),
        &mut out,
        &mut err,
    )
    .await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert!(String::from_utf8_lossy(&out).contains(&key));
    let saved = dir.path().join("saved.zip");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let get = words(&["collect", "get", &key, "-o", saved.to_str().unwrap()]);
    let code = kanade_cli::main_with_io(cli(get), &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    assert_eq!(std::fs::read(&saved).unwrap(), zipped);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let bad = words(&["collect", "get", "pc-col/../x.zip"]);
    let code = kanade_cli::main_with_io(cli(bad), &mut out, &mut err).await;
    assert_eq!(code, 2, "a bad key is refused before anything is sent");
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let delete = words(&["collect", "delete", &key]);
    let code = kanade_cli::main_with_io(cli(delete), &mut out, &mut err).await;
    assert_eq!(code, 0, "{}", String::from_utf8_lossy(&err));
    // Deleted (audited): it is gone from the list and the store.
    let audit = kanade_cli::client::AuditQuery {
        action: Some("collect.delete".into()),
        ..Default::default()
    };
    wait_for("the delete audited", Duration::from_secs(20), || async {
        api.list_audit(&audit).await.is_ok_and(|page| {
            page.items
                .iter()
                .any(|e| e.target.as_deref() == Some(key.as_str()) && e.actor == "admin")
        })
    })
    .await;
    assert!(
        system
            .api
            .list_bundles(None, None)
            .await
            .unwrap()
            .is_empty()
    );
    let gone = system
        .api
        .download_bundle(&key)
        .await
        .err()
        .and_then(|e| e.status());
    assert_eq!(gone, Some(StatusCode::NOT_FOUND));
    assert_eq!(
        system
            .api
            .delete_bundle(&key)
            .await
            .err()
            .and_then(|e| e.status()),
        Some(StatusCode::NOT_FOUND)
    );
}

#[tokio::test]
async fn refused_paths_upload_nothing_and_the_result_says_why() {
    let system = System::start_zero_trust(&["pc-ref", "pc-spy"]).await;
    let dir = tempfile::tempdir().unwrap();
    let root = std::fs::canonicalize(dir.path()).unwrap();
    let inside = root.join("inside");
    std::fs::create_dir(&inside).unwrap();
    std::fs::write(inside.join("ok.txt"), "fine").unwrap();
    let secret = root.join("secret.txt");
    std::fs::write(&secret, "not yours").unwrap();
    std::os::unix::fs::symlink(&secret, inside.join("link.txt")).unwrap();
    std::fs::write(inside.join("big.bin"), vec![b'x'; 5000]).unwrap();
    let allow = format!("  allow: [\"{}\"]\n", inside.display());
    let cases = [
        (
            "traversal",
            format!("{}/../secret.txt", inside.display()),
            "traversal",
        ),
        (
            "outside",
            secret.display().to_string(),
            "outside the folders",
        ),
        (
            "symlink",
            inside.join("link.txt").display().to_string(),
            "symbolic link",
        ),
        (
            "too-big",
            inside.join("big.bin").display().to_string(),
            "max_size",
        ),
    ];
    for (id, path, why) in cases {
        let script = format!(
            "echo '{{\"files\": [\"{}\", \"{path}\"]}}'",
            inside.join("ok.txt").display()
        );
        let collect = format!("  name: {id}\n  max_size: 1KB\n{allow}");
        let finalize = "finalize:\n  shell: sh\n  script: echo \"$KANADE_COLLECT_RESULT\"\n";
        let result = run(&system, "pc-ref", &job(id, &script, &collect, finalize), id).await;
        assert_eq!(result.summary.exit_code, Some(1), "{id}: {result:#?}");
        assert!(result.collect_object.is_none(), "{id}");
        assert!(
            result.stderr.contains("collect failed, nothing uploaded")
                && result.stderr.contains(why),
            "{id}: {}",
            result.stderr
        );
    }
    assert!(
        system
            .api
            .list_bundles(None, None)
            .await
            .unwrap()
            .is_empty(),
        "nothing was uploaded"
    );

    // One real bundle of pc-ref, then pc-spy's stolen credentials try to read and purge it.
    let script = format!(
        "echo '{{\"files\": [\"{}\"]}}'",
        inside.join("ok.txt").display()
    );
    let collect = format!("  name: ok\n{allow}");
    let ok = run(&system, "pc-ref", &job("ok", &script, &collect, ""), "ok").await;
    let key = ok.collect_object.expect("uploaded");
    let stolen = as_machine(&system, "pc-spy", "pc-spy").await.unwrap();
    let js = async_nats::jetstream::new(stolen.clone());
    let read = async {
        let store = js.get_object_store("collections").await?;
        let mut object = store.get(&key).await?;
        let mut bytes = Vec::new();
        tokio::io::AsyncReadExt::read_to_end(&mut object, &mut bytes).await?;
        Ok::<_, Box<dyn std::error::Error + Send + Sync>>(bytes)
    };
    let read = tokio::time::timeout(Duration::from_secs(15), read).await;
    assert!(
        !matches!(read, Ok(Ok(_))),
        "another machine's credentials read the bundle"
    );
    for subject in [
        "$JS.API.STREAM.PURGE.OBJ_collections",
        "$JS.API.CONSUMER.CREATE.OBJ_collections",
        "$JS.API.STREAM.MSG.GET.OBJ_collections",
        "$JS.API.STREAM.MSG.DELETE.OBJ_collections",
    ] {
        stolen.publish(subject, "{}".into()).await.unwrap();
    }
    stolen.flush().await.unwrap();
    for subject in [
        "$JS.API.STREAM.PURGE.OBJ_collections",
        "$JS.API.STREAM.MSG.DELETE.OBJ_collections",
    ] {
        refused(&system, subject).await;
    }
    let mut response = system.api.download_bundle(&key).await.unwrap();
    let mut zipped = Vec::new();
    while let Some(chunk) = response.chunk().await.unwrap() {
        zipped.extend_from_slice(&chunk);
    }
    assert_eq!(
        unzip(&zipped)[0].1,
        b"fine".to_vec(),
        "the bundle is intact"
    );
}
