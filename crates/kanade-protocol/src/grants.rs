//! What each identity may do on the broker, as the subject lists the backend's auth callout
//! grants (nats-server enforces them). One definition, so the agent's use of the broker and
//! the grant that permits it cannot drift apart: an agent may publish only its own reports and
//! subscribe only to its own commands; it reads a fixed set of KV buckets and writes only its
//! own keys of `notifications_read` (read marks of notifications).
//!
//! Subjects of the JetStream API used here: `$JS.API.STREAM.INFO.<stream>` (opening a bucket
//! or stream), `$JS.API.DIRECT.GET.<stream>.<subject>` (the newest message on one subject:
//! KV reads and command catch-up), `$JS.API.CONSUMER.CREATE.<stream>` (the ordered consumers
//! behind KV watches and object reads), and a durable consumer's own INFO/CREATE/MSG.NEXT and
//! `$JS.ACK.<stream>.<consumer>.>` for notifications.

use crate::{names, subject};

/// Subjects one connection may publish and subscribe to; `responses` lets it answer requests
/// it received (the ping responder) without a publish grant on the requester's inbox.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
    pub responses: bool,
}

/// The inbox prefix an agent uses, so its replies can be granted to it alone.
/// A dotted machine id is made one token here ([`subject::pc_single_token`]): the grant is
/// `<prefix>.>`, which must not cover another machine's prefix.
pub fn agent_inbox_prefix(pc_id: &str) -> String {
    format!("_INBOX_{}", subject::pc_single_token(pc_id))
}

/// Buckets an agent reads every key of: job pins and revocations (any job may be sent to
/// it), the fleet freeze and the command signing keys (all public by nature), and the
/// schedules and jobs its local scheduler fires (`runs_on: agent`, as the original's agents
/// watch them).
const READ_WHOLE_BUCKETS: &[&str] = &[
    names::KV_SCRIPT_CURRENT,
    names::KV_SCRIPT_STATUS,
    names::KV_FLEET_CONFIG,
    names::KV_COMMAND_KEYS,
    names::KV_SCHEDULES,
    names::KV_JOBS,
];

/// Buckets an agent watches whole (the command signing keys: public by nature; the
/// schedules, jobs and freeze its local scheduler follows). The client's watch puts its
/// filter in the request body, which nats-server cannot check.
const WATCHED_BUCKETS: &[&str] = &[
    names::KV_COMMAND_KEYS,
    names::KV_SCHEDULES,
    names::KV_JOBS,
    names::KV_FLEET_CONFIG,
];

/// The grant of machine `pc_id` in `groups`.
pub fn agent(pc_id: &str, groups: &[String]) -> Permissions {
    let inbox = agent_inbox_prefix(pc_id);
    let mut subscribe = vec![
        subject::COMMANDS_ALL.to_owned(),
        subject::commands_pc(pc_id),
        "kill.*".to_owned(),
        subject::ping(pc_id),
        subject::logs_fetch(pc_id),
        subject::terminal_open(pc_id),
        subject::terminal_in(pc_id, "*"),
        subject::NOTIFICATIONS_ALL.to_owned(),
        subject::notifications_pc(pc_id),
        format!("{inbox}.>"),
        // Puts of the pins and revocations, which keep the gates' cache current
        // (`kanade_bus::kv_cache`); the agent may read every key of them anyway.
        format!("$KV.{}.>", names::KV_SCRIPT_CURRENT),
        format!("$KV.{}.>", names::KV_SCRIPT_STATUS),
    ];
    for group in groups {
        subscribe.push(subject::commands_group(group));
        subscribe.push(subject::notifications_group(group));
    }

    let mut publish = vec![
        subject::heartbeat(pc_id),
        subject::host_perf(pc_id),
        subject::process_perf(pc_id),
        subject::obs(pc_id),
        // Never `>` after the machine id: a dotted id spans several tokens, and `web01.>`
        // would let `web01` publish as `web01.corp` (see `subject::pc_tokens`).
        subject::results_of(pc_id, "*"),
        subject::events_started("*", pc_id),
        subject::notification_acked_filter(pc_id),
        // Live output of its runs, one subject per execution.
        subject::job_tail(pc_id, "*"),
        // Remote terminal output, one subject per session.
        subject::terminal_out(pc_id, "*"),
        // Flow-control answers of the ordered consumers behind KV watches.
        "$JS.FC.>".to_owned(),
    ];
    let info = |stream: &str| format!("$JS.API.STREAM.INFO.{stream}");
    let kv = |bucket: &str| format!("KV_{bucket}");
    for bucket in READ_WHOLE_BUCKETS {
        publish.push(info(&kv(bucket)));
        publish.push(format!("$JS.API.DIRECT.GET.{}.>", kv(bucket)));
    }
    for bucket in WATCHED_BUCKETS {
        publish.push(info(&kv(bucket)));
        publish.push(format!("$JS.API.CONSUMER.CREATE.{}", kv(bucket)));
        // Re-made after a gap or reconnect with a name and the filter in the subject.
        publish.push(format!("$JS.API.CONSUMER.CREATE.{}.>", kv(bucket)));
        // A watch deletes its ordered consumer when it is re-made (after a reconnect).
        publish.push(format!("$JS.API.CONSUMER.DELETE.{}.*", kv(bucket)));
    }
    // Its own group membership and config scopes, key by key: read by direct get, watched by
    // named consumers whose create names the key in the subject (the agent's `key_watch`).
    let mut own_keys = vec![(names::KV_AGENT_GROUPS, pc_id.to_owned())];
    own_keys.push((names::KV_AGENT_GROUPS_DERIVED, pc_id.to_owned()));
    own_keys.push((names::KV_AGENT_CONFIG, crate::config::GLOBAL_KEY.to_owned()));
    own_keys.push((names::KV_AGENT_CONFIG, format!("pcs.{pc_id}")));
    for group in groups {
        own_keys.push((names::KV_AGENT_CONFIG, format!("groups.{group}")));
    }
    for bucket in [
        names::KV_AGENT_GROUPS,
        names::KV_AGENT_GROUPS_DERIVED,
        names::KV_AGENT_CONFIG,
    ] {
        publish.push(info(&kv(bucket)));
        // A watch deletes its consumer when it is re-made.
        publish.push(format!("$JS.API.CONSUMER.DELETE.{}.*", kv(bucket)));
    }
    for (bucket, key) in &own_keys {
        publish.push(format!(
            "$JS.API.DIRECT.GET.{}.$KV.{bucket}.{key}",
            kv(bucket)
        ));
        publish.push(format!(
            "$JS.API.CONSUMER.CREATE.{}.*.$KV.{bucket}.{key}",
            kv(bucket)
        ));
    }

    // Read marks of notifications, its own keys only (`<pc>.<user>.<id>`): the one KV bucket
    // an agent writes, and reads back when it lists notifications.
    let read = names::KV_NOTIFICATIONS_READ;
    let own_marks = names::notification_read_filter(pc_id);
    publish.push(info(&kv(read)));
    publish.push(format!("$KV.{read}.{own_marks}"));
    publish.push(format!(
        "$JS.API.DIRECT.GET.{}.$KV.{read}.{own_marks}",
        kv(read)
    ));

    // Catch-up: the newest command on each of its subjects (EXEC keeps one per subject).
    publish.push(info(names::STREAM_EXEC));
    let newest = |subject: &str| format!("$JS.API.DIRECT.GET.{}.{subject}", names::STREAM_EXEC);
    publish.push(newest(subject::COMMANDS_ALL));
    publish.push(newest(&subject::commands_pc(pc_id)));
    for group in groups {
        publish.push(newest(&subject::commands_group(group)));
    }

    // Notifications: a named short-lived consumer per subject, each create naming its subject.
    let stream = names::STREAM_NOTIFICATIONS;
    publish.push(info(stream));
    let mut notification_subjects = vec![
        subject::NOTIFICATIONS_ALL.to_owned(),
        subject::notifications_pc(pc_id),
    ];
    notification_subjects.extend(groups.iter().map(|g| subject::notifications_group(g)));
    for filter in &notification_subjects {
        publish.push(format!("$JS.API.CONSUMER.CREATE.{stream}.*.{filter}"));
    }
    publish.push(format!("$JS.API.CONSUMER.DELETE.{stream}.*"));

    // Object stores: agent releases to read, spilled output to write.
    let releases = format!("OBJ_{}", names::OBJ_AGENT_RELEASES);
    publish.push(info(&releases));
    publish.push(format!("$JS.API.DIRECT.GET.{releases}.>"));
    publish.push(format!("$JS.API.CONSUMER.CREATE.{releases}"));
    publish.push(format!("$JS.API.CONSUMER.CREATE.{releases}.>"));
    publish.push(format!("$JS.API.CONSUMER.DELETE.{releases}.*"));
    let output = format!("OBJ_{}", names::OBJ_RESULT_OUTPUT);
    publish.push(info(&output));
    publish.push(format!(
        "$JS.API.DIRECT.GET.{output}.$O.{}.M.>",
        names::OBJ_RESULT_OUTPUT
    ));
    publish.push(format!("$O.{}.C.>", names::OBJ_RESULT_OUTPUT));
    publish.push(format!("$O.{}.M.>", names::OBJ_RESULT_OUTPUT));
    // Collected bundles: the same write-only shape (no consumer on the store, so no reading
    // of chunks, and no purge). The store's metadata subject is the base64 of the whole key,
    // one token, so the grant cannot be narrowed to the machine's own `<pc_id>/` prefix
    // (docs/dev/zero-trust.md).
    let bundles = format!("OBJ_{}", names::OBJ_COLLECTIONS);
    publish.push(info(&bundles));
    publish.push(format!(
        "$JS.API.DIRECT.GET.{bundles}.$O.{}.M.>",
        names::OBJ_COLLECTIONS
    ));
    publish.push(format!("$O.{}.C.>", names::OBJ_COLLECTIONS));
    publish.push(format!("$O.{}.M.>", names::OBJ_COLLECTIONS));

    // The same JetStream calls through a leaf node: a branch's leaf runs no JetStream and
    // maps `$JS.API.>` to the hub's domain (`$JS.<domain>.API.>`), and nats-server checks
    // the grant on the mapped subject. `*` is the domain: the hub's is the only JetStream.
    let via_domain: Vec<String> = publish
        .iter()
        .filter_map(|s| s.strip_prefix("$JS.API."))
        .map(|rest| format!("$JS.*.API.{rest}"))
        .collect();
    publish.extend(via_domain);

    Permissions {
        publish,
        subscribe,
        responses: true,
    }
}

/// The grant of an operator's break-glass CLI (`kanade run|kill`): send commands and kills,
/// read results, record its audit events; nothing of KV, no management.
pub fn operator() -> Permissions {
    Permissions {
        publish: vec![
            "commands.>".to_owned(),
            "kill.*".to_owned(),
            "audit.run".to_owned(),
            "audit.kill".to_owned(),
            format!("$JS.API.STREAM.INFO.{}", names::STREAM_EXEC),
        ],
        subscribe: vec![subject::RESULTS_FILTER.to_owned(), "_INBOX.>".to_owned()],
        responses: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allows(patterns: &[String], subject: &str) -> bool {
        patterns.iter().any(|p| matches(p, subject))
    }

    /// NATS subject matching: `*` one token, `>` the rest.
    fn matches(pattern: &str, subject: &str) -> bool {
        let (mut p, mut s) = (pattern.split('.'), subject.split('.'));
        loop {
            match (p.next(), s.next()) {
                (Some(">"), Some(_)) => return true,
                (Some("*"), Some(_)) => {}
                (Some(a), Some(b)) if a == b => {}
                (None, None) => return true,
                _ => return false,
            }
        }
    }

    #[test]
    fn a_dotted_machine_cannot_speak_for_a_longer_or_shorter_one() {
        let short = agent("web01", &[]);
        let long = agent("web01.corp", &[]);
        for (grant, own, foreign) in [
            (&short, "web01", "web01.corp"),
            (&long, "web01.corp", "web01"),
            (&long, "web01.corp", "web01.corp.example"),
        ] {
            for (subject_of, label) in [
                (subject::heartbeat as fn(&str) -> String, "heartbeat"),
                (subject::obs, "obs"),
                (|pc: &str| subject::results_of(pc, "r1"), "results"),
                (|pc: &str| subject::events_started("e1", pc), "started"),
                (
                    |pc: &str| subject::notification_acked(pc, "u", "n1"),
                    "acked",
                ),
            ] {
                assert!(allows(&grant.publish, &subject_of(own)), "{label} {own}");
                assert!(
                    !allows(&grant.publish, &subject_of(foreign)),
                    "{label}: {own} as {foreign}"
                );
            }
            assert!(allows(&grant.subscribe, &subject::commands_pc(own)));
            assert!(!allows(&grant.subscribe, &subject::commands_pc(foreign)));
            let inbox = format!("{}.x", agent_inbox_prefix(foreign));
            assert!(!allows(&grant.subscribe, &inbox), "{own} reads {inbox}");
        }
    }

    #[test]
    fn an_agent_writes_and_reads_its_own_read_marks_only() {
        let mark = |pc: &str| {
            format!(
                "$KV.notifications_read.{}",
                names::notification_read_key(pc, "j.doe", "n1")
            )
        };
        let get = |pc: &str| {
            format!(
                "$JS.API.DIRECT.GET.KV_notifications_read.$KV.notifications_read.{}",
                names::notification_read_key(pc, "ann", "n1")
            )
        };
        for (own, foreign) in [
            ("web01", "web01.corp"),
            ("web01.corp", "web01"),
            ("pc1", "pc2"),
        ] {
            let grant = agent(own, &[]);
            for subject in [mark(own), get(own)] {
                assert!(allows(&grant.publish, &subject), "{own}: {subject}");
            }
            for subject in [mark(foreign), get(foreign)] {
                assert!(
                    !allows(&grant.publish, &subject),
                    "{own} as {foreign}: {subject}"
                );
            }
        }
    }

    #[test]
    fn through_a_leaf_node_an_agent_reaches_the_same_and_no_more() {
        let grant = agent("pc1", &["lab".to_owned()]);
        for subject in [
            "$JS.hub.API.DIRECT.GET.EXEC.commands.pc.pc1",
            "$JS.hub.API.STREAM.INFO.EXEC",
            "$JS.hub.API.CONSUMER.CREATE.KV_agent_groups.w1.$KV.agent_groups.pc1",
        ] {
            assert!(allows(&grant.publish, subject), "{subject}");
        }
        for subject in [
            "$JS.hub.API.DIRECT.GET.EXEC.commands.pc.pc2",
            "$JS.hub.API.STREAM.DELETE.EXEC",
            "$JS.hub.API.CONSUMER.CREATE.EXEC",
            "$JS.a.b.API.STREAM.INFO.EXEC",
        ] {
            assert!(!allows(&grant.publish, subject), "{subject}");
        }
    }

    #[test]
    fn an_agent_reaches_its_own_subjects_only() {
        let grant = agent("pc1", &["lab".to_owned()]);
        for own in [
            "heartbeat.pc1",
            "results.pc1.r1",
            "events.started.e1.pc1",
            "obs.pc1",
            "job.tail.pc1.e1",
            "terminal.out.pc1.s1",
            "$JS.API.DIRECT.GET.EXEC.commands.pc.pc1",
            "$JS.API.DIRECT.GET.EXEC.commands.group.lab",
            "$JS.API.DIRECT.GET.KV_agent_groups.$KV.agent_groups.pc1",
            "$JS.API.CONSUMER.CREATE.KV_agent_config.w1.$KV.agent_config.pcs.pc1",
            "$JS.API.CONSUMER.CREATE.KV_agent_config.w1_1.$KV.agent_config.groups.lab",
            "$JS.API.CONSUMER.CREATE.KV_agent_groups.w1.$KV.agent_groups.pc1",
            "$JS.API.CONSUMER.CREATE.NOTIFICATIONS.n1.notifications.pc.pc1",
            "$JS.API.CONSUMER.CREATE.NOTIFICATIONS.n1_1.notifications.group.lab",
        ] {
            assert!(allows(&grant.publish, own), "{own}");
        }
        for foreign in [
            "heartbeat.pc2",
            "results.pc2.r1",
            "results.r1",
            "events.started.e1.pc2",
            "job.tail.pc2.e1",
            "job.tail.pc1.e1.x",
            "logs.fetch.pc1",
            "terminal.out.pc2.s1",
            "terminal.in.pc1.s1",
            "terminal.open.pc1",
            "commands.all",
            "commands.pc.pc2",
            "kill.e1",
            "$KV.script_status.job",
            "$JS.API.STREAM.PURGE.KV_jobs",
            "$JS.API.STREAM.DELETE.EXEC",
            "$JS.API.DIRECT.GET.EXEC.commands.pc.pc2",
            "$JS.API.DIRECT.GET.EXEC.commands.group.other",
            "$JS.API.DIRECT.GET.EXEC",
            "$JS.API.CONSUMER.CREATE.EXEC",
            "$JS.API.CONSUMER.CREATE.EXEC.agent_replay_pc2",
            "$JS.API.CONSUMER.MSG.NEXT.NOTIFICATIONS.agent_notify_pc2",
            "$JS.API.CONSUMER.CREATE.NOTIFICATIONS",
            "$JS.API.CONSUMER.CREATE.NOTIFICATIONS.n1.notifications.pc.pc2",
            "$JS.API.CONSUMER.CREATE.NOTIFICATIONS.n1.notifications.>",
            "$JS.API.DIRECT.GET.KV_agent_groups.$KV.agent_groups.pc2",
            "$JS.API.DIRECT.GET.KV_jobs_yaml.$KV.jobs_yaml.x",
            "$JS.API.CONSUMER.CREATE.KV_agent_config",
            "$JS.API.CONSUMER.CREATE.KV_agent_config.w1.$KV.agent_config.pcs.pc2",
            "$JS.API.CONSUMER.CREATE.KV_agent_config.w1.$KV.agent_config.>",
            "$JS.API.CONSUMER.CREATE.KV_agent_groups.w1.$KV.agent_groups.pc2",
            "audit.run",
        ] {
            assert!(!allows(&grant.publish, foreign), "{foreign}");
        }
        for own in [
            "commands.all",
            "commands.pc.pc1",
            "commands.group.lab",
            "kill.e1",
            "logs.fetch.pc1",
            "terminal.open.pc1",
            "terminal.in.pc1.s1",
        ] {
            assert!(allows(&grant.subscribe, own), "{own}");
        }
        for foreign in [
            "commands.pc.pc2",
            "commands.group.other",
            "commands.>",
            "results.>",
            "logs.fetch.pc2",
            "logs.fetch.*",
            "job.tail.pc2.e1",
            "terminal.open.pc2",
            "terminal.open.*",
            "terminal.in.pc2.s1",
            "terminal.out.pc1.s1",
        ] {
            assert!(!allows(&grant.subscribe, foreign), "{foreign}");
        }
    }
}
