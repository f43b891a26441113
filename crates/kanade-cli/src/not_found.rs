//! What to type after the backend answered 404: the command that lists what the operator may
//! have mistyped (an execution, a job, a machine...), appended to the error so nobody is left
//! guessing which verb shows the valid ids.

use crate::cli::{AgentCommand, Command, GroupCommand, InventoryCommand, ShellCommand};
use crate::client::ClientError;

/// The listing command for what `command` names, when a 404 there means a wrong id.
pub fn hint(command: &Command) -> Option<&'static str> {
    let machines = "`kanade agents` lists the machines";
    let jobs = "`kanade job list` lists the jobs";
    let executions = "`kanade executions` lists the executions";
    Some(match command {
        Command::Execution(_)
        | Command::Results(_)
        | Command::Result(_)
        | Command::Tail(_)
        | Command::Kill(_) => executions,
        Command::Approve(_) | Command::Reject(_) => "`kanade approvals --state all` lists them",
        Command::Job(_) | Command::Exec(_) | Command::Revoke(_) | Command::Unrevoke(_) => jobs,
        Command::Inventory(InventoryCommand::Show { .. }) => jobs,
        Command::Schedule(_) => "`kanade schedule list` lists the schedules",
        Command::Account(_) => "`kanade account list` lists the accounts",
        Command::Collect(_) => "`kanade collect list` lists the bundles",
        Command::Compliance(_) => "`kanade compliance` lists the checks",
        Command::Keys(_) => "`kanade keys list` lists the keys",
        Command::Machines(_) => "`kanade machines` lists the machines that asked to join",
        Command::Settings(_) => "`kanade settings list` lists the settings",
        Command::Enroll(_) => "`kanade enroll token list` lists the tokens",
        Command::Shell(args) => match args.command {
            Some(ShellCommand::Transcript { .. }) => "`kanade shell sessions` lists the sessions",
            _ => machines,
        },
        Command::Agent(AgentCommand::Show { .. }) => machines,
        Command::Agent(AgentCommand::Rollout(_) | AgentCommand::InstallCommand(_)) => {
            "`kanade agent releases` lists the published releases"
        }
        Command::Group(GroupCommand::Underive { .. }) => {
            "`kanade group derived` lists the derived groups"
        }
        Command::Perf(_) | Command::Ping(_) | Command::Logs(_) | Command::Config(_) => machines,
        _ => return None,
    })
}

/// True when the backend answered 404 somewhere in the error's chain.
pub fn is_not_found(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        cause
            .downcast_ref::<ClientError>()
            .and_then(ClientError::status)
            == Some(reqwest::StatusCode::NOT_FOUND)
    })
}
