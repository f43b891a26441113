//! `kanade group list|get|set|add|remove`: which groups machines are in. Names are checked
//! before anything is sent; the backend edits a machine's list compare-and-set and agents pick
//! the change up live. A machine the backend never saw is refused (exit 1) unless
//! `--allow-unknown` pre-stages it.

use kanade_protocol::api::{GroupList, check_group_names};
use kanade_protocol::subject;

use crate::cli::{Global, GroupCommand};
use crate::client::ClientError;
use crate::commands::{Io, api_client, check_pc};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(command: GroupCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let (pc, list) = match command {
        GroupCommand::Derive { group, condition } => {
            return crate::commands::settings::derive(&client, &group, &condition, global, io)
                .await;
        }
        GroupCommand::Derived => {
            return crate::commands::settings::derived(&client, global, io).await;
        }
        GroupCommand::Underive { group } => {
            client.delete_derived_group(&group).await?;
            if !global.json {
                io.print(&format!(
                    "derived group {group} deleted; its members leave it within seconds\n"
                ))?;
            }
            return Ok(EXIT_OK);
        }
        GroupCommand::List => {
            let groups = client.list_groups().await?;
            if global.json {
                io.json(&groups)?;
                return Ok(EXIT_OK);
            }
            if groups.is_empty() {
                io.print(
                    "no groups yet: put a machine in one with `kanade group add <pc> <group>`\n",
                )?;
                return Ok(EXIT_OK);
            }
            let rows: Vec<Vec<String>> = groups
                .iter()
                .map(|g| vec![render::cell(&g.name), g.members.to_string()])
                .collect();
            io.print(&render::table(&["group", "machines"], &rows))?;
            return Ok(EXIT_OK);
        }
        GroupCommand::Get { pc } => {
            check_pc(&pc)?;
            let list = client.agent_groups(&pc).await?;
            if global.json {
                io.json(&list)?;
                return Ok(EXIT_OK);
            }
            if list.groups.is_empty() {
                io.note(&format!("{pc} is in no group"));
            }
            for group in &list.groups {
                io.print(&format!("{group}\n"))?;
            }
            return Ok(EXIT_OK);
        }
        GroupCommand::Set {
            pc,
            groups,
            allow_unknown,
        } => {
            check_pc(&pc)?;
            let wanted = GroupList {
                groups: split_groups(&groups)?,
            };
            let list = client
                .set_agent_groups(&pc, &wanted, allow_unknown)
                .await
                .map_err(|err| never_seen(err, &pc, "give it groups"))?;
            (pc, list)
        }
        GroupCommand::Add {
            pc,
            group,
            allow_unknown,
        } => {
            check_pc(&pc)?;
            check_group(&group)?;
            let list = client
                .add_agent_group_staged(&pc, &group, allow_unknown)
                .await
                .map_err(|err| never_seen(err, &pc, "put it in the group"))?;
            (pc, list)
        }
        GroupCommand::Remove { pc, group } => {
            check_pc(&pc)?;
            check_group(&group)?;
            let list = client.remove_agent_group(&pc, &group).await?;
            (pc, list)
        }
    };
    match global.json {
        true => io.json(&list)?,
        false => io.print(&format!("{pc}: {}\n", describe(&list.groups)))?,
    }
    Ok(EXIT_OK)
}

/// The backend's 404 for a machine it never saw, said with the flag that overrides it (exit 1
/// like every other "not found"); any other error unchanged.
fn never_seen(err: ClientError, pc: &str, what: &str) -> anyhow::Error {
    if err.status() != Some(reqwest::StatusCode::NOT_FOUND) {
        return err.into();
    }
    anyhow::anyhow!(
        "machine {pc} was never seen (no heartbeat, not enrolled); check the name with \
         `kanade agents`, or pass --allow-unknown to {what} before it enrolls"
    )
}

fn check_group(group: &str) -> anyhow::Result<()> {
    if subject::is_valid_token(group) {
        return Ok(());
    }
    Err(BadInput::err(format!(
        "`{group}` is not a valid group name (letters, digits, '-' and '_' only)"
    )))
}

/// `g1,g2` as group names (blanks around commas ignored, duplicates dropped); `""` is none.
pub fn split_groups(text: &str) -> anyhow::Result<Vec<String>> {
    let mut groups: Vec<String> = Vec::new();
    for name in text.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        if !groups.iter().any(|g| g == name) {
            groups.push(name.to_owned());
        }
    }
    check_group_names(&groups).map_err(|err| BadInput::err(err.to_string()))?;
    Ok(groups)
}

/// `canary, lab`, or `no groups`.
pub fn describe(groups: &[String]) -> String {
    match groups.is_empty() {
        true => "no groups".to_owned(),
        false => groups.join(", "),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_lists_are_comma_separated_and_checked() {
        assert_eq!(
            split_groups("canary, lab,canary").unwrap(),
            ["canary", "lab"]
        );
        assert!(split_groups("").unwrap().is_empty());
        let err = split_groups("lab,a.b").unwrap_err();
        assert!(err.is::<BadInput>());
        assert_eq!(
            err.to_string(),
            "groups[1]: `a.b` is not a valid group name (letters, digits, '-' and '_')"
        );
        assert_eq!(describe(&[]), "no groups");
    }
}
