//! The GitOps verbs with the real `kanade` binary against the real backend and broker:
//! `job|schedule validate` (one line per document, exit 2 on any error, without a backend),
//! `create` of folders and multi-document files (all or nothing), and `export` (the files
//! come back byte for byte as they were written; existing files are kept without `--force`).

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use async_nats::jetstream;
use futures::TryStreamExt;
use kanade_protocol::names;
use kanade_testkit::NatsServer;

const ADMIN_PASSWORD: &str = "admin-password-for-gitops-tests";

struct Real {
    _nats: NatsServer,
    _dir: tempfile::TempDir,
    config_dir: tempfile::TempDir,
    base: String,
    js: jetstream::Context,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Drop for Real {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What one run of the binary produced.
struct Run {
    code: i32,
    out: String,
    err: String,
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.out, self.err
        )
    }
}

/// Runs the `kanade` binary with `args` (and `stdin`), off the async runtime.
async fn binary(args: Vec<String>, stdin: &str) -> Run {
    let stdin = stdin.to_owned();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_kanade"))
            .args(&args)
            .env_remove("KANADE_AUTH_TOKEN")
            .env_remove("KANADE_BACKEND_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start the kanade binary");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        Run {
            code: output.status.code().unwrap_or(-1),
            out: String::from_utf8_lossy(&output.stdout).into_owned(),
            err: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

impl Real {
    /// Broker, backend and a CLI session signed in as the bootstrap admin.
    async fn start() -> Real {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let nats = NatsServer::start();
        let dir = tempfile::tempdir().unwrap();
        let mut config = kanade_backend::BackendConfig::default();
        config.nats.url = nats.url();
        config.nats.ca_file = nats.ca_file();
        config.db.sqlite_path = dir.path().join("backend.db");
        config.secrets.bootstrap_admin_password = Some(ADMIN_PASSWORD.to_owned());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(kanade_backend::serve(
            config,
            listener,
            std::future::pending(),
        ));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let up = reqwest::get(format!("{base}/health"))
                .await
                .is_ok_and(|r| r.status().is_success());
            if up {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "backend health");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let access = kanade_bus::Access {
            ca_file: nats.ca_file(),
            ..Default::default()
        };
        let client = kanade_bus::connect_with(kanade_bus::Role::Cli, &nats.url(), &access)
            .await
            .unwrap();
        let real = Real {
            _nats: nats,
            _dir: dir,
            config_dir: tempfile::tempdir().unwrap(),
            base,
            js: jetstream::new(client),
            task,
        };
        let login = real
            .kanade_stdin(
                &["login", "--username", "admin", "--password-stdin"],
                &format!("{ADMIN_PASSWORD}\n"),
            )
            .await;
        assert_eq!(login.code, 0, "login: {login}");
        real
    }

    async fn kanade(&self, args: &[&str]) -> Run {
        self.kanade_stdin(args, "").await
    }

    async fn kanade_stdin(&self, args: &[&str], stdin: &str) -> Run {
        let mut argv = vec![
            "--backend-url".to_owned(),
            self.base.clone(),
            "--config-dir".to_owned(),
            self.config_dir.path().display().to_string(),
        ];
        argv.extend(args.iter().map(|s| (*s).to_owned()));
        binary(argv, stdin).await
    }

    async fn keys(&self, bucket: &str) -> Vec<String> {
        let kv = self.js.get_key_value(bucket).await.unwrap();
        let mut keys: Vec<String> = kv.keys().await.unwrap().try_collect().await.unwrap();
        keys.sort();
        keys
    }
}

/// `kanade <args>` with no backend anywhere (a port nothing listens on).
async fn offline(args: &[&str]) -> Run {
    let config = tempfile::tempdir().unwrap();
    let mut argv = vec![
        "--backend-url".to_owned(),
        "http://127.0.0.1:9".to_owned(),
        "--config-dir".to_owned(),
        config.path().display().to_string(),
    ];
    argv.extend(args.iter().map(|s| (*s).to_owned()));
    binary(argv, "").await
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

fn job(id: &str) -> String {
    format!(
        "# {id}: kept as written\nid: {id}\nversion: \"1.0\"\ndescription: the {id} job\nexecute:\n  shell: sh\n  script: |\n    echo {id}\n  timeout: 30s   # generous\ntags: [gitops]\n"
    )
}

fn schedule(id: &str, job: &str) -> String {
    format!(
        "# nightly {id}\nid: {id}\njob_id: {job}\nwhen: {{calendar: {{at: '03:00', days: [mon-fri]}}}}\ntarget: {{all: true}}\n"
    )
}

fn text(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn jobs_validate_offline_create_all_or_nothing_and_export_byte_for_byte() {
    let real = Real::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let repo = tmp.path().join("jobs");
    write(&repo, "alpha.yaml", &job("alpha"));
    write(&repo, "nested/beta.yml", &job("beta"));
    write(&repo, "README.md", "not a manifest");
    let bad = write(
        &repo,
        "zeta.yaml",
        &job("zeta").replace("timeout: 30s", "timeout: 0s"),
    );

    // validate needs no backend: one line per document, exit 2 naming the field.
    let run = offline(&["job", "validate", repo.to_str().unwrap()]).await;
    assert_eq!(run.code, 2, "{run}");
    let alpha = repo.join("alpha.yaml").display().to_string();
    let beta = repo.join("nested/beta.yml").display().to_string();
    assert_eq!(
        run.out.lines().collect::<Vec<_>>(),
        [
            format!("ok {alpha}#1 alpha"),
            format!("ok {beta}#1 beta"),
            format!("error {bad}#1: execute.timeout: must be between 1s and 7days"),
        ],
        "{run}"
    );

    // create refuses the whole folder: nothing registered.
    let run = real
        .kanade(&["job", "create", repo.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.err.contains("nothing was registered"), "{run}");
    assert!(real.keys(names::KV_JOBS).await.is_empty());

    // Without the bad one, the folder goes up; validate says ok and exits 0.
    std::fs::remove_file(&bad).unwrap();
    let run = offline(&["job", "validate", repo.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run}");
    let run = real
        .kanade(&["job", "create", repo.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.out.contains(&format!(
            "registered job alpha (version 1.0) from {alpha}#1"
        )),
        "{run}"
    );
    assert_eq!(real.keys(names::KV_JOBS).await, ["alpha", "beta"]);

    // A multi-document file, one document inlining its script_file (relative to the file).
    let more = tmp.path().join("more");
    write(&more, "scripts/gamma.sh", "#!/bin/sh\necho gamma\n");
    let bundle = write(
        &more,
        "bundle.yaml",
        &format!(
            "{}---\n{}",
            job("delta"),
            job("gamma").replace(
                "script: |\n    echo gamma\n",
                "script_file: scripts/gamma.sh\n"
            )
        ),
    );
    let run = offline(&["job", "validate", &bundle]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.out.contains(&format!("ok {bundle}#2 gamma")), "{run}");
    let run = real.kanade(&["job", "create", &bundle]).await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        real.keys(names::KV_JOBS).await,
        ["alpha", "beta", "delta", "gamma"]
    );
    let run = real.kanade(&["job", "get", "gamma"]).await;
    assert!(run.out.contains("echo gamma"), "{run}");
    assert!(!run.out.contains("script_file"), "{run}");

    // Duplicate ids across the set are an error.
    let run = offline(&["job", "validate", repo.to_str().unwrap(), &bundle, &alpha]).await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.out.contains(&format!(
            "error {alpha}#1: id: job `alpha` is also defined at {alpha}#1"
        )),
        "{run}"
    );

    // Export: every job as written; the folder's files come back byte for byte.
    let out = tmp.path().join("export");
    let run = real
        .kanade(&["job", "export", "--all", out.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        text(&out.join("alpha.yaml")),
        text(&repo.join("alpha.yaml"))
    );
    assert_eq!(
        text(&out.join("beta.yaml")),
        text(&repo.join("nested/beta.yml"))
    );
    // Documents of a multi-document file come back one per file, each as its own text.
    assert_eq!(text(&out.join("delta.yaml")), job("delta"));
    assert!(text(&out.join("gamma.yaml")).contains("echo gamma"));

    // Existing files are kept unless --force.
    std::fs::write(out.join("alpha.yaml"), "changed locally\n").unwrap();
    let run = real
        .kanade(&["job", "export", "--all", out.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 2, "{run}");
    assert!(run.err.contains("already exist"), "{run}");
    assert_eq!(text(&out.join("alpha.yaml")), "changed locally\n");
    let run = real
        .kanade(&["job", "export", "--all", out.to_str().unwrap(), "--force"])
        .await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(text(&out.join("alpha.yaml")), job("alpha"));

    let one = tmp.path().join("one.yaml");
    let run = real
        .kanade(&["job", "export", "beta", "--out", one.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(text(&one), job("beta"));
    let run = real.kanade(&["job", "export", "beta"]).await;
    assert_eq!(run.out, job("beta"), "{run}");
}

#[tokio::test]
async fn schedules_validate_create_all_or_nothing_and_export_byte_for_byte() {
    let real = Real::start().await;
    let tmp = tempfile::tempdir().unwrap();
    let jobs = tmp.path().join("jobs");
    write(&jobs, "hello.yaml", &job("hello"));
    let run = real
        .kanade(&["job", "create", jobs.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run}");

    let repo = tmp.path().join("schedules");
    let nightly = write(&repo, "nightly.yaml", &schedule("nightly", "hello"));
    let both = write(
        &repo,
        "more/both.yaml",
        &format!(
            "{}--- # the second\n{}",
            schedule("early", "hello").replace("03:00", "01:00"),
            schedule("orphan", "later")
        ),
    );

    // Offline: the job of `orphan` cannot be checked, and the note says so.
    let run = offline(&["schedule", "validate", repo.to_str().unwrap()]).await;
    assert_eq!(run.code, 0, "{run}");
    assert!(run.out.contains(&format!("ok {both}#2 orphan")), "{run}");
    assert!(run.err.contains("job ids not checked"), "{run}");
    // With the backend: a warning naming the job, still exit 0.
    let run = real
        .kanade(&["schedule", "validate", repo.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run}");
    assert!(
        run.out.contains(&format!(
            "warning {both}#2 orphan: job_id: no job `later` is registered"
        )),
        "{run}"
    );
    assert!(
        run.out.contains(&format!("ok {nightly}#1 nightly")),
        "{run}"
    );
    // A job given with --jobs counts as known.
    let later = write(&jobs, "later.yaml", &job("later"));
    let run = real
        .kanade(&[
            "schedule",
            "validate",
            repo.to_str().unwrap(),
            "--jobs",
            &later,
        ])
        .await;
    assert_eq!(run.code, 0, "{run}");
    assert!(!run.out.contains("warning"), "{run}");

    // The server refuses the set (no job `later`), naming the document: nothing written.
    let run = real
        .kanade(&["schedule", "create", repo.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.err
            .contains(&format!("{both}#2 (documents[1]) was refused")),
        "{run}"
    );
    assert!(run.err.contains("job_id"), "{run}");
    assert!(real.keys(names::KV_SCHEDULES).await.is_empty());

    // A bad document is refused locally, before anything is sent.
    let broken = write(
        &repo,
        "broken.yaml",
        &schedule("broken", "hello").replace("mon-fri", "someday"),
    );
    let run = real
        .kanade(&["schedule", "create", repo.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 2, "{run}");
    assert!(
        run.err.contains(&format!(
            "error {broken}#1: when.calendar.days[0]: `someday` is not a day"
        )),
        "{run}"
    );
    std::fs::remove_file(&broken).unwrap();

    let run = real.kanade(&["job", "create", &later]).await;
    assert_eq!(run.code, 0, "{run}");
    let run = real
        .kanade(&["schedule", "create", repo.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(
        real.keys(names::KV_SCHEDULES).await,
        ["early", "nightly", "orphan"]
    );

    let out = tmp.path().join("export");
    let run = real
        .kanade(&["schedule", "export", "--all", out.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 0, "{run}");
    assert_eq!(text(&out.join("nightly.yaml")), text(Path::new(&nightly)));
    assert_eq!(
        text(&out.join("early.yaml")),
        schedule("early", "hello").replace("03:00", "01:00")
    );
    assert_eq!(text(&out.join("orphan.yaml")), schedule("orphan", "later"));
    let run = real
        .kanade(&["schedule", "export", "--all", out.to_str().unwrap()])
        .await;
    assert_eq!(run.code, 2, "{run}");
}
