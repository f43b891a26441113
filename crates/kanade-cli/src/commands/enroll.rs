//! `kanade enroll token create|list|delete`: enrollment tokens. A machine whose agent presents
//! one is let onto the broker at once (one use spent); the text is printed once, at creation.

use kanade_protocol::enrollment::TokenRow;

use crate::cli::{EnrollCommand, Global, TokenCommand};
use crate::commands::{Io, api_client};
use crate::{EXIT_OK, render};

pub async fn run(command: EnrollCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    let EnrollCommand::Token(command) = command;
    match command {
        TokenCommand::Create {
            group,
            expires,
            uses,
        } => {
            let created = client.create_enrollment_token(group, expires, uses).await?;
            match global.json {
                true => io.json(&created)?,
                false => io.print(&format!(
                    "{text}\n\
                     Shown once. On each machine put `enrollment_token = \"{text}\"` under \
                     [agent] in agent.toml, or set $KANADE_ENROLLMENT_TOKEN; it enrolls {uses} \
                     machine(s) until {until}.\n",
                    text = created.text,
                    uses = created.token.uses_total,
                    until = render::time(created.token.expires_at),
                ))?,
            }
        }
        TokenCommand::List => {
            let tokens = client.enrollment_tokens().await?;
            match global.json {
                true => io.json(&tokens)?,
                false => io.print(&table(&tokens))?,
            }
        }
        TokenCommand::Delete { id } => {
            client.delete_enrollment_token(&id).await?;
            if !global.json {
                io.print(&format!(
                    "deleted {id}: it enrolls no more machines (those it enrolled stay)\n"
                ))?;
            }
        }
    }
    Ok(EXIT_OK)
}

fn table(tokens: &[TokenRow]) -> String {
    let rows: Vec<Vec<String>> = tokens
        .iter()
        .map(|t| {
            vec![
                t.id.clone(),
                t.group.clone().unwrap_or_default(),
                format!("{}/{}", t.uses_left, t.uses_total),
                render::time(t.expires_at),
                render::cell(&t.created_by),
                render::time(t.created_at),
            ]
        })
        .collect();
    render::table(
        &["ID", "GROUP", "USES LEFT", "EXPIRES", "BY", "CREATED"],
        &rows,
    )
}
