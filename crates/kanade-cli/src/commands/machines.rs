//! `kanade machines [--status S]`, `kanade machines pending` and
//! `kanade machines approve|reject|revoke <pc> [--reason]`: the machines that asked to join
//! the broker and an admin's decision about one.

use kanade_protocol::enrollment::{DecisionResponse, MachineIdentity};

use crate::cli::{Global, MachinesArgs, MachinesCommand};
use crate::client::{ApiClient, Verdict};
use crate::commands::{Io, api_client};
use crate::{EXIT_OK, render};

/// Characters of the nkey shown as its fingerprint.
const FINGERPRINT: usize = 12;

pub async fn run(args: MachinesArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let (pc, verdict, reason) = match args.command {
        None => return list(&client, args.status.as_deref(), global, io).await,
        Some(MachinesCommand::Pending) => return list(&client, Some("pending"), global, io).await,
        Some(MachinesCommand::Approve(d)) => (d.pc, Verdict::Approve, d.reason),
        Some(MachinesCommand::Reject(d)) => (d.pc, Verdict::Reject, d.reason),
        Some(MachinesCommand::Revoke(d)) => (d.pc, Verdict::Revoke, d.reason),
        Some(MachinesCommand::Meta(args)) => {
            return crate::commands::settings::meta(&client, args, global, io).await;
        }
    };
    let done = client.decide_machine(&pc, verdict, reason).await?;
    match global.json {
        true => io.json(&done)?,
        false => io.print(&decided(verdict, &done))?,
    }
    Ok(EXIT_OK)
}

async fn list(
    client: &ApiClient,
    status: Option<&str>,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let machines = client.machine_identities(status).await?;
    match global.json {
        true => io.json(&machines)?,
        false => io.print(&table(&machines))?,
    }
    Ok(EXIT_OK)
}

fn decided(verdict: Verdict, done: &DecisionResponse) -> String {
    let pc = &done.identity.pc_id;
    match verdict {
        Verdict::Approve => format!(
            "approved {pc}: the broker lets it in with key {}\n",
            fingerprint(&done.identity.nkey)
        ),
        Verdict::Reject => format!(
            "rejected {pc}: it stays {}\n",
            done.identity.status.as_str()
        ),
        Verdict::Revoke => format!(
            "revoked {pc}: {} connection(s) closed, reconnects refused\n",
            done.connections_closed.unwrap_or(0)
        ),
    }
}

fn fingerprint(nkey: &str) -> String {
    nkey.chars().take(FINGERPRINT).collect()
}

fn table(machines: &[MachineIdentity]) -> String {
    let rows: Vec<Vec<String>> = machines
        .iter()
        .map(|m| {
            vec![
                m.pc_id.clone(),
                m.status.as_str().to_owned(),
                fingerprint(&m.nkey),
                match &m.pending_nkey {
                    Some(key) => format!("new key {}", fingerprint(key)),
                    None => String::new(),
                },
                render::time(m.first_seen),
                render::time(m.last_seen),
                render::cell(&m.address),
                render::cell(m.decided_by.as_deref().unwrap_or("")),
            ]
        })
        .collect();
    render::table(
        &[
            "PC",
            "STATUS",
            "KEY",
            "PENDING",
            "FIRST SEEN",
            "LAST SEEN",
            "ADDRESS",
            "DECIDED BY",
        ],
        &rows,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use kanade_protocol::enrollment::IdentityStatus;

    #[test]
    fn the_table_shows_key_fingerprints_and_a_pending_key() {
        let now = Utc::now();
        let m = MachineIdentity {
            pc_id: "pc-1".into(),
            nkey: "UABCDEFGHIJKLMNOPQRSTUVWXYZ".into(),
            status: IdentityStatus::Approved,
            pending_nkey: Some("UZYXWVUTSRQPONM".into()),
            first_seen: now,
            last_seen: now,
            address: "10.0.0.1:5000".into(),
            token_id: None,
            decided_by: Some("admin".into()),
            decided_at: Some(now),
            reason: None,
        };
        let text = table(&[m]);
        assert!(text.contains("UABCDEFGHIJK "), "{text}");
        assert!(!text.contains("UABCDEFGHIJKL"), "{text}");
        assert!(text.contains("new key UZYXWVUTSRQP"), "{text}");
        assert!(text.contains("admin"), "{text}");
    }
}
