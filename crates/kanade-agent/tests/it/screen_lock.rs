//! `when.on: [lock]` / `[unlock]` agent-side schedules fire from systemd-logind's screen locks:
//! a private `dbus-daemon` stands in for the system bus, and a small
//! `org.freedesktop.login1` Session object on it (served by zbus) flips its `LockedHint`, as
//! logind does when the active session's screen locks and unlocks.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::local_scheduler::{register, results_of};
use crate::support::{Agent, Broker, WAIT, agent_config, eventually, pc_id};

const SESSION: &str = "/org/freedesktop/login1/session/_31";

/// A private message bus, stopped when dropped.
struct Bus {
    child: Child,
    address: String,
}

impl Bus {
    fn start() -> Bus {
        let found = Command::new("dbus-daemon").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "dbus-daemon not found: install it with `sudo apt-get install dbus-daemon` \
             (scripts/test does this)"
        );
        let mut child = Command::new("dbus-daemon")
            .args(["--session", "--print-address", "--nofork"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("start dbus-daemon");
        let mut address = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut address)
            .expect("read the bus address");
        let address = address.trim().to_owned();
        assert!(!address.is_empty(), "dbus-daemon printed no address");
        Bus { child, address }
    }
}

impl Drop for Bus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// logind's Session object, reduced to what the agent reads.
struct Session {
    locked: bool,
}

#[zbus::interface(name = "org.freedesktop.login1.Session")]
impl Session {
    #[zbus(property)]
    fn locked_hint(&self) -> bool {
        self.locked
    }

    #[zbus(property)]
    fn active(&self) -> bool {
        true
    }
}

/// Sets the session's `LockedHint` and sends `PropertiesChanged`, as logind does.
async fn set_locked(conn: &zbus::Connection, locked: bool) {
    let iface = conn
        .object_server()
        .interface::<_, Session>(SESSION)
        .await
        .unwrap();
    iface.get_mut().await.locked = locked;
    iface
        .get()
        .await
        .locked_hint_changed(iface.signal_emitter())
        .await
        .unwrap();
}

#[tokio::test]
async fn lock_and_unlock_schedules_fire_from_logind_over_d_bus() {
    let bus = Bus::start();
    let logind = zbus::connection::Builder::address(bus.address.as_str())
        .name("org.freedesktop.login1")
        .serve_at(SESSION, Session { locked: false })
        .build()
        .await
        .expect("serve the logind stand-in");
    let broker = Broker::start().await;
    let dir = tempfile::tempdir().unwrap();
    let pc = pc_id("lock");
    let on_lock = register(&broker, "when: {on: [lock]}\ntarget: {all: true}\n").await;
    let on_unlock = register(&broker, "when: {on: [unlock]}\ntarget: {all: true}\n").await;
    let mut config = agent_config(&broker, &pc, dir.path());
    config.agent.logind_bus = bus.address.clone();
    let agent = Agent::spawn_with(config);
    agent.wait_ready(&broker).await;
    let count = |job: String| {
        let (broker, pc) = (&broker, &pc);
        async move { results_of(broker, pc, &job).await.len() }
    };
    assert!(
        eventually(WAIT, || async {
            std::fs::read_to_string(dir.path().join("local_schedules.json"))
                .is_ok_and(|t| t.contains(&on_lock) && t.contains(&on_unlock))
        })
        .await,
        "the agent did not read the schedules"
    );

    // Lock until the agent has seen it (it may still be subscribing to the bus at first).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        set_locked(&logind, true).await;
        if eventually(Duration::from_secs(2), || async {
            count(on_lock.clone()).await == 1
        })
        .await
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "a screen lock did not fire the `lock` schedule"
        );
        set_locked(&logind, false).await;
    }
    let unlocks = count(on_unlock.clone()).await;
    // The same value again is no new lock.
    set_locked(&logind, true).await;
    assert!(
        !eventually(Duration::from_secs(2), || async {
            count(on_lock.clone()).await > 1
        })
        .await,
        "the lock fired more than once"
    );
    assert_eq!(
        count(on_unlock.clone()).await,
        unlocks,
        "a lock fired `unlock`"
    );

    set_locked(&logind, false).await;
    assert!(
        eventually(WAIT, || async {
            count(on_unlock.clone()).await == unlocks + 1
        })
        .await,
        "the unlock did not fire the `unlock` schedule"
    );
    assert!(
        !eventually(Duration::from_secs(2), || async {
            count(on_unlock.clone()).await > unlocks + 1 || count(on_lock.clone()).await > 1
        })
        .await,
        "the unlock fired more than once, or fired `lock`"
    );
    let fired = results_of(&broker, &pc, &on_unlock).await;
    assert_eq!(fired.last().unwrap().stdout, "fired\n");
    agent.stop().await;
}
