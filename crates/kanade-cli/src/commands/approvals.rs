//! The two-person rule from the command line: `kanade approvals [--state S]` lists requests of
//! jobs with `require_approval: true` (awaiting ones by default), `kanade approve <exec_id>`
//! sends one (another operator than its requester), `kanade reject <exec_id> [--reason]`
//! turns one down (nothing is ever sent).

use kanade_protocol::approval::Approval;

use crate::cli::{ApprovalsArgs, DecideArgs, Global};
use crate::commands::{Io, api_client};
use crate::{EXIT_OK, render};

pub async fn list(args: ApprovalsArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let found = client.approvals(args.state.as_deref(), args.limit).await?;
    if global.json {
        io.json(&found)?;
        return Ok(EXIT_OK);
    }
    if found.is_empty() {
        let what = args.state.as_deref().unwrap_or("awaiting");
        io.print(&format!("no approval requests ({what})\n"))?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = found.iter().map(row).collect();
    io.print(&render::table(
        &[
            "exec id",
            "job",
            "version",
            "requested by",
            "requested",
            "expires",
            "state",
            "decided by",
            "reason",
        ],
        &rows,
    ))?;
    Ok(EXIT_OK)
}

pub async fn decide(
    args: DecideArgs,
    approve: bool,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let decided = client.decide(&args.exec_id, approve, args.reason).await?;
    if global.json {
        io.json(&decided)?;
        return Ok(EXIT_OK);
    }
    io.print(&format!("{}\n", decision_line(&decided)))?;
    Ok(EXIT_OK)
}

/// What an approve or reject did, in one line.
pub fn decision_line(a: &Approval) -> String {
    let by = a.decided_by.as_deref().unwrap_or("?");
    match a.state.as_str() {
        "approved" => format!(
            "approved {} ({} v{}, requested by {}): the commands were sent; follow it with `kanade execution {}`",
            a.exec_id, a.job_id, a.version, a.requested_by, a.exec_id
        ),
        "rejected" => format!(
            "rejected {} ({} v{}, requested by {}) as {by}: nothing was sent",
            a.exec_id, a.job_id, a.version, a.requested_by
        ),
        state => format!("{} is {state}", a.exec_id),
    }
}

fn row(a: &Approval) -> Vec<String> {
    vec![
        render::cell(&a.exec_id),
        render::cell(&a.job_id),
        render::cell(&a.version),
        render::cell(&a.requested_by),
        render::time(a.requested_at),
        render::time(a.expires_at),
        a.state.as_str().to_owned(),
        render::cell(a.decided_by.as_deref().unwrap_or("")),
        render::cell(a.reason.as_deref().unwrap_or("")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanade_protocol::approval::ApprovalState;

    fn approval(state: ApprovalState) -> Approval {
        Approval {
            exec_id: "e1".into(),
            job_id: "patch".into(),
            version: "3".into(),
            requested_by: "alice".into(),
            requested_at: chrono::Utc::now(),
            expires_at: chrono::Utc::now(),
            state,
            decided_by: Some("bob".into()),
            decided_at: None,
            reason: None,
            request: Default::default(),
        }
    }

    #[test]
    fn a_decision_says_what_was_sent() {
        let approved = decision_line(&approval(ApprovalState::Approved));
        assert!(approved.contains("commands were sent"), "{approved}");
        let rejected = decision_line(&approval(ApprovalState::Rejected));
        assert!(
            rejected.contains("nothing was sent") && rejected.contains("bob"),
            "{rejected}"
        );
    }
}
