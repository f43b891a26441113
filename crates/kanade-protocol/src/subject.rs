//! Subject builders and filters: one function per subject, so no call site formats a subject
//! by hand.

pub const COMMANDS_ALL: &str = "commands.all";
pub const RESULTS_FILTER: &str = "results.>";
pub const EVENTS_STARTED_FILTER: &str = "events.started.>";
pub const HEARTBEAT_FILTER: &str = "heartbeat.>";
pub const AUDIT_FILTER: &str = "audit.>";
pub const OBS_FILTER: &str = "obs.>";
pub const HOST_PERF_FILTER: &str = "host_perf.>";
pub const PROCESS_PERF_FILTER: &str = "process_perf.>";
pub const NOTIFICATIONS_ALL: &str = "notifications.all";
pub const NOTIFICATIONS_FILTER: &str = "notifications.>";
/// The legacy inventory feed: `inventory.<pc>.<kind>`.
pub const INVENTORY_FILTER: &str = "inventory.>";
/// Every notification event on EVENTS (acks today).
pub const NOTIFICATION_EVENTS_FILTER: &str = "events.notifications.>";

pub use crate::ids::MAX_MACHINE_LABELS;

/// How a machine id goes into a subject, the original's mapping: as it is, one subject token
/// per dot-separated label, so `web01.corp.example` makes `heartbeat.web01.corp.example`.
/// Every subject that names a machine is built through this, and [`machine_of`] reads it back
/// with the tokens around it fixed, so each subject has exactly one owner; the grants
/// ([`crate::grants`]) never put `>` after a machine id, so `web01` cannot publish as
/// `web01.corp`.
pub fn pc_tokens(pc_id: &str) -> &str {
    pc_id
}

/// Whether `pc_id` is a valid machine id (the rule of [`crate::ids::IdKind::Machine`]): 1-4
/// dot-separated labels of letters, digits, '-' and '_', 128 bytes at most.
pub fn is_valid_pc_id(pc_id: &str) -> bool {
    crate::ids::IdKind::Machine.is_valid(pc_id)
}

/// A machine id as one subject token, where it must not span several (an inbox prefix, which
/// is followed by `.>`): each '.' becomes '~', which no machine id contains, so two machines
/// never share one.
pub fn pc_single_token(pc_id: &str) -> String {
    pc_tokens(pc_id).replace('.', "~")
}

pub fn notifications_group(group: &str) -> String {
    format!("notifications.group.{group}")
}

pub fn notifications_pc(pc_id: &str) -> String {
    format!("notifications.pc.{}", pc_tokens(pc_id))
}

/// A user name made one subject token (and one KV key label): every character outside
/// letters, digits, '-' and '_' becomes '_'; an empty name is `_`.
pub fn user_token(user: &str) -> String {
    let token: String = user
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect();
    if token.is_empty() {
        "_".to_owned()
    } else {
        token
    }
}

/// Where an agent reports that `user` confirmed a notification. The user name is made a
/// legal token (every character outside letters, digits, '-' and '_' becomes '_'); the
/// message itself carries the name unchanged.
pub fn notification_acked(pc_id: &str, user: &str, notification_id: &str) -> String {
    let user = user_token(user);
    format!(
        "events.notifications.acked.{}.{user}.{notification_id}",
        pc_tokens(pc_id)
    )
}

/// Every ack machine `pc_id` may publish (one user token, one notification id after it).
pub fn notification_acked_filter(pc_id: &str) -> String {
    format!("events.notifications.acked.{}.*.*", pc_tokens(pc_id))
}

/// Where the original's older agents published a legacy inventory snapshot (`kind`: `hw`,
/// `sw`, `net`).
pub fn inventory(pc_id: &str, kind: &str) -> String {
    format!("inventory.{}.{kind}", pc_tokens(pc_id))
}

/// The machine and kind of a legacy inventory subject (a dotted machine id spans the tokens
/// between the first and the last).
pub fn inventory_parts(subject: &str) -> Option<(&str, &str)> {
    let rest = subject.strip_prefix("inventory.")?;
    let (pc, kind) = rest.rsplit_once('.')?;
    (!pc.is_empty() && is_valid_token(kind)).then_some((pc, kind))
}

pub fn host_perf(pc_id: &str) -> String {
    format!("host_perf.{}", pc_tokens(pc_id))
}

pub fn process_perf(pc_id: &str) -> String {
    format!("process_perf.{}", pc_tokens(pc_id))
}

pub fn commands_group(group: &str) -> String {
    format!("commands.group.{group}")
}

pub fn commands_pc(pc_id: &str) -> String {
    format!("commands.pc.{}", pc_tokens(pc_id))
}

/// The original's result subject (older agents): names no machine, so a broker that checks
/// who publishes cannot tie it to one. Read, never written by our agents.
pub fn results(request_id: &str) -> String {
    format!("results.{request_id}")
}

/// Where machine `pc_id` publishes its result of `request_id`: the machine is in the subject,
/// so the broker's per-machine grant (`results.<pc_id>.>`) decides who may publish it.
pub fn results_of(pc_id: &str, request_id: &str) -> String {
    format!("results.{}.{request_id}", pc_tokens(pc_id))
}

pub fn events_started(exec_id: &str, pc_id: &str) -> String {
    format!("events.started.{exec_id}.{}", pc_tokens(pc_id))
}

pub fn heartbeat(pc_id: &str) -> String {
    format!("heartbeat.{}", pc_tokens(pc_id))
}

pub fn kill(exec_id: &str) -> String {
    format!("kill.{exec_id}")
}

pub fn ping(pc_id: &str) -> String {
    format!("agents.{}.ping", pc_tokens(pc_id))
}

pub fn audit(action: &str) -> String {
    format!("audit.{action}")
}

pub fn obs(pc_id: &str) -> String {
    format!("obs.{}", pc_tokens(pc_id))
}

/// Live output of machine `pc_id` running execution `exec_id` (core NATS, lossy).
pub fn job_tail(pc_id: &str, exec_id: &str) -> String {
    format!("job.tail.{}.{exec_id}", pc_tokens(pc_id))
}

/// The subscriptions that receive the live output of `exec_id` on one machine, or on every
/// machine running it: one per possible label count of a machine id (1-4), since a dotted id
/// spans several tokens and `>` cannot stand before the execution id.
pub fn job_tail_filters(exec_id: &str, pc_id: Option<&str>) -> Vec<String> {
    match pc_id {
        Some(pc) => vec![job_tail(pc, exec_id)],
        None => (1..=4)
            .map(|labels| job_tail(&vec!["*"; labels].join("."), exec_id))
            .collect(),
    }
}

/// Where the backend asks machine `pc_id` for its own log lines (request/reply).
pub fn logs_fetch(pc_id: &str) -> String {
    format!("logs.fetch.{}", pc_tokens(pc_id))
}

/// Where the backend asks machine `pc_id` to open a remote terminal (request/reply; only the
/// backend may publish it).
pub fn terminal_open(pc_id: &str) -> String {
    format!("terminal.open.{}", pc_tokens(pc_id))
}

/// Input, resizes, keepalives and the close of terminal session `session_id` on `pc_id`
/// (backend → agent).
pub fn terminal_in(pc_id: &str, session_id: &str) -> String {
    format!("terminal.in.{}.{session_id}", pc_tokens(pc_id))
}

/// Output of terminal session `session_id` on `pc_id` (agent → backend).
pub fn terminal_out(pc_id: &str, session_id: &str) -> String {
    format!("terminal.out.{}.{session_id}", pc_tokens(pc_id))
}

/// The machine a report's subject names: `results.<pc>.<request>`,
/// `events.started.<exec>.<pc>`, `heartbeat.<pc>`, `obs.<pc>`, `host_perf.<pc>`,
/// `process_perf.<pc>`, `events.notifications.acked.<pc>.<user>.<id>`,
/// `job.tail.<pc>.<exec>`, where `<pc>` is 1-4
/// tokens ([`pc_tokens`]): the tokens around it have a fixed count. `None` for subjects that
/// name none (the original's `results.<request>`).
pub fn machine_of(subject: &str) -> Option<&str> {
    let first = subject.split('.').next()?;
    let (front, back) = match first {
        "results" => (1, 1),
        "heartbeat" | "obs" | "host_perf" | "process_perf" => (1, 0),
        "job" if subject.split('.').nth(1)? == "tail" => (2, 1),
        "terminal" if subject.split('.').nth(1)? == "out" => (2, 1),
        "events" => match subject.split('.').nth(1)? {
            "started" => (3, 0),
            "notifications" => (3, 2),
            _ => return None,
        },
        _ => return None,
    };
    let pc = between_tokens(subject, front, back)?;
    is_valid_pc_id(pc).then_some(pc)
}

/// `subject` without its first `front` and last `back` tokens, if anything is left.
fn between_tokens(subject: &str, front: usize, back: usize) -> Option<&str> {
    let mut rest = subject;
    for _ in 0..front {
        rest = rest.split_once('.')?.1;
    }
    for _ in 0..back {
        rest = rest.rsplit_once('.')?.0;
    }
    (!rest.is_empty()).then_some(rest)
}

/// A report is taken only when the machine it is about is the one its subject names: the
/// broker lets each machine publish on its own subjects only, so this is what stops one
/// machine from reporting as another.
pub fn check_sender(subject: &str, pc_id: &str) -> Result<(), String> {
    match machine_of(subject) {
        Some(named) if named != pc_id => Err(format!(
            "a report about machine {pc_id} arrived on {subject}, which belongs to {named}; dropped"
        )),
        _ => Ok(()),
    }
}

/// Whether `token` can stand as one subject token (a machine id, group name or request id):
/// non-empty, at most 128 bytes, only letters, digits, `-` and `_`. Dots, wildcards and
/// whitespace would change which subscribers a message reaches. See [`crate::ids`].
pub fn is_valid_token(token: &str) -> bool {
    crate::ids::is_token(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_that_would_change_routing_are_refused() {
        for good in ["pc-01", "WS_22", "a"] {
            assert!(is_valid_token(good), "{good}");
        }
        for bad in ["", "a.b", "*", ">", "a b", "pc\n", &"x".repeat(129)] {
            assert!(!is_valid_token(bad), "{bad:?}");
        }
    }

    #[test]
    fn a_report_must_come_from_the_machine_it_names() {
        assert_eq!(machine_of(&results_of("pc1", "r1")), Some("pc1"));
        assert_eq!(machine_of(&results("r1")), None);
        assert_eq!(machine_of(&events_started("e1", "pc1")), Some("pc1"));
        assert_eq!(machine_of(&heartbeat("pc1")), Some("pc1"));
        assert_eq!(machine_of(&host_perf("pc1")), Some("pc1"));
        assert!(check_sender(&results_of("pc1", "r1"), "pc1").is_ok());
        assert!(check_sender(&results_of("pc1", "r1"), "pc2").is_err());
        assert!(check_sender(&results("r1"), "pc2").is_ok());
        assert!(check_sender(&obs("pc1"), "pc2").is_err());
        assert!(check_sender(&events_started("e1", "pc1"), "pc2").is_err());
        assert_eq!(machine_of(&job_tail("pc1", "e1")), Some("pc1"));
        assert!(check_sender(&job_tail("pc1", "e1"), "pc2").is_err());
    }

    #[test]
    fn dotted_machine_ids_map_as_in_the_original() {
        let pc = "web01.corp.example";
        assert!(is_valid_pc_id(pc));
        assert!(is_valid_pc_id("a.b.c.d"));
        assert!(!is_valid_pc_id("a.b.c.d.e"), "at most four labels");
        for bad in ["a..b", ".a", "a.", "a.*", "a.>"] {
            assert!(!is_valid_pc_id(bad), "{bad}");
        }
        assert_eq!(heartbeat(pc), "heartbeat.web01.corp.example");
        assert_eq!(commands_pc(pc), "commands.pc.web01.corp.example");
        assert_eq!(ping(pc), "agents.web01.corp.example.ping");
        assert_eq!(results_of(pc, "r1"), "results.web01.corp.example.r1");
        assert_eq!(pc_single_token(pc), "web01~corp~example");
        for subject in [
            heartbeat(pc),
            obs(pc),
            host_perf(pc),
            process_perf(pc),
            results_of(pc, "r1"),
            events_started("e1", pc),
            notification_acked(pc, "j.doe", "n1"),
        ] {
            assert_eq!(machine_of(&subject), Some(pc), "{subject}");
            assert!(check_sender(&subject, pc).is_ok(), "{subject}");
            // A machine whose id is a prefix or suffix of this one is another machine.
            for other in ["web01", "web01.corp", "corp.example", "example"] {
                assert!(check_sender(&subject, other).is_err(), "{subject} {other}");
            }
        }
        assert!(check_sender(&notification_acked("pc1", "u", "n1"), "pc2").is_err());
        // Each subject has one reading: `results.web01.corp.r1` is web01.corp's result r1.
        assert_eq!(machine_of("results.web01.corp.r1"), Some("web01.corp"));
    }

    #[test]
    fn subjects_have_the_documented_shape() {
        assert_eq!(commands_pc("pc1"), "commands.pc.pc1");
        assert_eq!(commands_group("lab"), "commands.group.lab");
        assert_eq!(events_started("e1", "pc1"), "events.started.e1.pc1");
        assert_eq!(results("r1"), "results.r1");
        assert_eq!(job_tail("pc1", "e1"), "job.tail.pc1.e1");
        assert_eq!(
            job_tail_filters("e1", None),
            [
                "job.tail.*.e1",
                "job.tail.*.*.e1",
                "job.tail.*.*.*.e1",
                "job.tail.*.*.*.*.e1"
            ]
        );
        assert_eq!(
            job_tail_filters("e1", Some("web01.corp")),
            ["job.tail.web01.corp.e1"]
        );
        assert_eq!(machine_of("job.tail.web01.corp.e1"), Some("web01.corp"));
        assert_eq!(logs_fetch("pc1"), "logs.fetch.pc1");
        assert_eq!(notifications_pc("pc1"), "notifications.pc.pc1");
        assert_eq!(notifications_group("lab"), "notifications.group.lab");
        assert_eq!(
            notification_acked("pc1", "CORP\\j.doe", "n1"),
            "events.notifications.acked.pc1.CORP_j_doe.n1"
        );
    }
}
