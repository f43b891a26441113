//! `run_as` and `cwd` with a real unprivileged account the test creates (useradd; the tests run
//! as root) and a logind sessions folder the test writes: `user` runs as the logged-on user
//! with that user's uid, groups, HOME and XDG_RUNTIME_DIR; `system_gui` as the agent inside
//! the session; with nobody logged on both are skipped with 120; `cwd` expands variables and a
//! missing folder fails the run naming it.

use std::path::Path;
use std::process::Command as Shell;

use kanade_protocol::names::exit_code;
use kanade_protocol::subject;
use kanade_protocol::wire::{Command, ExecResult, RunAs};

use crate::support::{Agent, Broker, agent_config, command, pc_id, short_id};

/// A local account (and a group it is a member of), deleted again on drop.
struct TestUser {
    name: String,
    group: String,
}

impl TestUser {
    fn create() -> TestUser {
        let suffix = short_id();
        let name = format!("kt{suffix}");
        let group = format!("ktg{suffix}");
        run("groupadd", &[group.as_str()]);
        run(
            "useradd",
            &["-m", "-s", "/bin/sh", "-G", group.as_str(), name.as_str()],
        );
        TestUser { name, group }
    }

    fn id(&self, flag: &str) -> String {
        let out = Shell::new("id").args([flag, &self.name]).output().unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    }

    fn home(&self) -> String {
        let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        passwd
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f[0] == self.name).then(|| f[5].to_owned())
            })
            .expect("the new user is in /etc/passwd")
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Shell::new("userdel").args(["-r", &self.name]).output();
        let _ = Shell::new("groupdel").arg(&self.group).output();
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Shell::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|err| {
            panic!("these tests need {program} (package passwd) and root: cannot run it: {err}")
        });
    assert!(
        out.status.success(),
        "{program} {args:?} failed (these tests run as root): {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn write_session(dir: &Path, id: &str, uid: &str, user: &str) {
    std::fs::write(
        dir.join(id),
        format!(
            "# This is private data. Do not parse.\nUID={uid}\nUSER={user}\nACTIVE=1\nIS_DISPLAY=1\n\
             STATE=active\nREMOTE=0\nTYPE=x11\nCLASS=user\nSEAT=seat0\nDISPLAY=:7\n"
        ),
    )
    .unwrap();
}

async fn result_of(broker: &Broker, pc: &str, cmd: &Command) -> ExecResult {
    broker.send(&subject::commands_pc(pc), cmd).await;
    broker.wait_result(&cmd.request_id).await
}

#[tokio::test]
async fn run_as_user_runs_as_the_logged_on_user_and_skips_when_nobody_is() {
    let user = TestUser::create();
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let sessions = dir.path().join("sessions");
    std::fs::create_dir(&sessions).unwrap();
    let pc = pc_id("runas");
    let mut config = agent_config(&broker, &pc, &dir.path().join("data"));
    config.agent.sessions_dir = sessions.clone();
    let agent = Agent::spawn_with(config);
    agent.wait_ready(&broker).await;

    // Nobody logged on: skipped with the reason, and the script never runs.
    let marker = dir.path().join("ran");
    for run_as in ["user", "system_gui"] {
        // The original's Command shape with run_as, as its backend would publish it.
        let mut cmd = command(&format!("touch '{}'", marker.display()));
        cmd.run_as = Some(serde_json::from_value(serde_json::json!(run_as)).unwrap());
        let result = result_of(&broker, &pc, &cmd).await;
        assert!(result.skipped, "{result:#?}");
        assert_eq!(result.exit_code, exit_code::NO_USER);
        assert!(
            result.stderr.contains("no user is logged on"),
            "{}",
            result.stderr
        );
    }
    assert!(!marker.exists(), "the script ran");

    // The user logs on: the job runs with their uid, groups, HOME and runtime dir.
    let uid = user.id("-u");
    write_session(&sessions, "c3", &uid, &user.name);
    let mut cmd =
        command("id -u; echo $HOME; id -G; echo $USER $LOGNAME $SHELL; echo $XDG_RUNTIME_DIR; pwd");
    cmd.run_as = Some(RunAs::User);
    let result = result_of(&broker, &pc, &cmd).await;
    assert!(!result.skipped, "{result:#?}");
    assert_eq!(result.exit_code, 0, "{result:#?}");
    let home = user.home();
    let groups = user.id("-G");
    let lines: Vec<&str> = result.stdout.lines().collect();
    assert_eq!(
        lines,
        [
            uid.as_str(),
            home.as_str(),
            groups.as_str(),
            &format!("{0} {0} /bin/sh", user.name),
            &format!("/run/user/{uid}"),
            home.as_str(),
        ],
        "{result:#?}"
    );
    assert!(
        groups.split(' ').count() >= 2,
        "the test user has a supplementary group: {groups}"
    );

    // cwd with a variable, expanded in the user's environment.
    std::fs::create_dir(Path::new(&home).join("work")).unwrap();
    run("chown", &[&user.name, &format!("{home}/work")]);
    let mut in_home = command("pwd; touch made-here");
    in_home.run_as = Some(RunAs::User);
    in_home.cwd = Some("$HOME/work".into());
    let result = result_of(&broker, &pc, &in_home).await;
    assert_eq!(result.stdout, format!("{home}/work\n"), "{result:#?}");
    let made = Path::new(&home).join("work/made-here");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&made).unwrap().uid().to_string(),
        uid,
        "files the job makes belong to the user"
    );

    // A folder the user may not enter fails the start, it is not entered as root.
    let closed = dir.path().join("root-only");
    std::fs::create_dir(&closed).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut forbidden = command("pwd");
    forbidden.run_as = Some(RunAs::User);
    forbidden.cwd = Some(closed.display().to_string());
    let result = result_of(&broker, &pc, &forbidden).await;
    assert_eq!(result.exit_code, 1, "{result:#?}");
    assert!(
        result.stderr.contains("Permission denied"),
        "{}",
        result.stderr
    );

    // system_gui: the agent's own account inside the user's session.
    let mut gui = command("id -u; echo $XDG_RUNTIME_DIR $DISPLAY");
    gui.run_as = Some(RunAs::SystemGui);
    let result = result_of(&broker, &pc, &gui).await;
    assert_eq!(
        result.stdout,
        format!("0\n/run/user/{uid} :7\n"),
        "{result:#?}"
    );

    // system (and no run_as) is the agent itself.
    let mut system = command("id -u");
    system.run_as = Some(RunAs::System);
    assert_eq!(result_of(&broker, &pc, &system).await.stdout, "0\n");

    // The user logs off again.
    std::fs::remove_file(sessions.join("c3")).unwrap();
    let mut cmd = command("id -u");
    cmd.run_as = Some(RunAs::User);
    let result = result_of(&broker, &pc, &cmd).await;
    assert!(result.skipped, "{result:#?}");
    assert_eq!(result.exit_code, exit_code::NO_USER);
    agent.stop().await;
}

#[tokio::test]
async fn cwd_expands_variables_and_a_missing_folder_fails_naming_it() {
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("cwd");
    let agent = Agent::start(&broker, &pc, dir.path()).await;

    let work = dir.path().join("work");
    std::fs::create_dir(&work).unwrap();
    // HOME of the agent (root here) is set; the folder under it is made for the test.
    let mut cmd = command("pwd");
    cmd.cwd = Some(work.display().to_string());
    assert_eq!(
        result_of(&broker, &pc, &cmd).await.stdout,
        format!("{}\n", work.display())
    );
    let mut expanded = command("pwd");
    expanded.cwd = Some("${PATH_THAT_IS_NOT_SET_kanade}/x".into());
    let result = result_of(&broker, &pc, &expanded).await;
    assert_eq!(result.exit_code, 1);
    assert!(!result.skipped);
    assert!(
        result
            .stderr
            .contains("${PATH_THAT_IS_NOT_SET_kanade}, which is not set"),
        "{}",
        result.stderr
    );

    let mut missing = command("echo should not run");
    missing.cwd = Some("$HOME/kanade-no-such-folder".into());
    let result = result_of(&broker, &pc, &missing).await;
    assert_eq!(result.exit_code, 1, "{result:#?}");
    assert!(!result.skipped);
    assert_eq!(result.stdout, "");
    let home = std::env::var("HOME").unwrap();
    assert!(
        result.stderr.contains(&format!(
            "the working directory {home}/kanade-no-such-folder (cwd $HOME/kanade-no-such-folder) does not exist"
        )),
        "{}",
        result.stderr
    );
    agent.stop().await;
}
