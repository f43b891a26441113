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
/// Every notification event on EVENTS (acks today).
pub const NOTIFICATION_EVENTS_FILTER: &str = "events.notifications.>";

pub fn notifications_group(group: &str) -> String {
    format!("notifications.group.{group}")
}

pub fn notifications_pc(pc_id: &str) -> String {
    format!("notifications.pc.{pc_id}")
}

/// Where an agent reports that `user` confirmed a notification. The user name is made a
/// legal token (every character outside letters, digits, '-' and '_' becomes '_'); the
/// message itself carries the name unchanged.
pub fn notification_acked(pc_id: &str, user: &str, notification_id: &str) -> String {
    let user: String = user
        .chars()
        .map(
            |c| match c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                true => c,
                false => '_',
            },
        )
        .collect();
    let user = if user.is_empty() {
        "_".to_owned()
    } else {
        user
    };
    format!("events.notifications.acked.{pc_id}.{user}.{notification_id}")
}

pub fn host_perf(pc_id: &str) -> String {
    format!("host_perf.{pc_id}")
}

pub fn process_perf(pc_id: &str) -> String {
    format!("process_perf.{pc_id}")
}

pub fn commands_group(group: &str) -> String {
    format!("commands.group.{group}")
}

pub fn commands_pc(pc_id: &str) -> String {
    format!("commands.pc.{pc_id}")
}

/// The original's result subject (older agents): names no machine, so a broker that checks
/// who publishes cannot tie it to one. Read, never written by our agents.
pub fn results(request_id: &str) -> String {
    format!("results.{request_id}")
}

/// Where machine `pc_id` publishes its result of `request_id`: the machine is in the subject,
/// so the broker's per-machine grant (`results.<pc_id>.>`) decides who may publish it.
pub fn results_of(pc_id: &str, request_id: &str) -> String {
    format!("results.{pc_id}.{request_id}")
}

pub fn events_started(exec_id: &str, pc_id: &str) -> String {
    format!("events.started.{exec_id}.{pc_id}")
}

pub fn heartbeat(pc_id: &str) -> String {
    format!("heartbeat.{pc_id}")
}

pub fn kill(exec_id: &str) -> String {
    format!("kill.{exec_id}")
}

pub fn ping(pc_id: &str) -> String {
    format!("agents.{pc_id}.ping")
}

pub fn audit(action: &str) -> String {
    format!("audit.{action}")
}

pub fn obs(pc_id: &str) -> String {
    format!("obs.{pc_id}")
}

/// The machine a report's subject names: `results.<pc>.<request>`,
/// `events.started.<exec>.<pc>`, `heartbeat.<pc>`, `obs.<pc>`, `host_perf.<pc>`,
/// `process_perf.<pc>`. `None` for subjects that name none (the original's `results.<request>`).
pub fn machine_of(subject: &str) -> Option<&str> {
    let tokens: Vec<&str> = subject.split('.').collect();
    match tokens.as_slice() {
        ["results", pc, _] => Some(pc),
        ["events", "started", _, pc] => Some(pc),
        ["heartbeat" | "obs" | "host_perf" | "process_perf", pc] => Some(pc),
        _ => None,
    }
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
    }

    #[test]
    fn subjects_have_the_documented_shape() {
        assert_eq!(commands_pc("pc1"), "commands.pc.pc1");
        assert_eq!(commands_group("lab"), "commands.group.lab");
        assert_eq!(events_started("e1", "pc1"), "events.started.e1.pc1");
        assert_eq!(results("r1"), "results.r1");
        assert_eq!(notifications_pc("pc1"), "notifications.pc.pc1");
        assert_eq!(notifications_group("lab"), "notifications.group.lab");
        assert_eq!(
            notification_acked("pc1", "CORP\\j.doe", "n1"),
            "events.notifications.acked.pc1.CORP_j_doe.n1"
        );
    }
}
