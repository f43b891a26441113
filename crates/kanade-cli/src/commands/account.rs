//! `kanade account list|create|set|delete` (admin only at the backend) and `kanade account
//! passwd` (your own password). Passwords are typed twice without echo, or read from stdin with
//! `--password-stdin`; they are checked against the policy before anything is sent.

use kanade_protocol::api::{Account, AccountPatch, ChangePasswordRequest, NewAccount};

use crate::cli::{AccountCommand, Global};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK, render};

pub async fn run(command: AccountCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    match command {
        AccountCommand::List => list(global, io).await,
        AccountCommand::Create {
            username,
            role,
            email,
            password_stdin,
        } => {
            check_username(&username)?;
            let password = io
                .new_password(&format!("Password for {username}:"), password_stdin)
                .await?;
            let account = NewAccount {
                username,
                password,
                role: role.into(),
                email,
            };
            let created = api_client(global)?.create_account(&account).await?;
            print_account(global, io, "created", &created)
        }
        AccountCommand::Set {
            username,
            role,
            disable,
            enable,
            email,
            reset_password,
            password_stdin,
        } => {
            check_username(&username)?;
            let password = match reset_password {
                true => Some(
                    io.new_password(&format!("New password for {username}:"), password_stdin)
                        .await?,
                ),
                false => None,
            };
            let patch = AccountPatch {
                role: role.map(Into::into),
                disabled: match (disable, enable) {
                    (true, _) => Some(true),
                    (_, true) => Some(false),
                    _ => None,
                },
                email,
                password,
            };
            let updated = api_client(global)?
                .update_account(&username, &patch)
                .await?;
            print_account(global, io, "updated", &updated)
        }
        AccountCommand::Delete { username } => {
            check_username(&username)?;
            api_client(global)?.delete_account(&username).await?;
            if !global.json {
                io.print(&format!("deleted account {username}\n"))?;
            }
            Ok(EXIT_OK)
        }
        AccountCommand::Passwd { password_stdin } => {
            let current_password = io.secret("Current password:", password_stdin).await?;
            let new_password = io.new_password("New password:", password_stdin).await?;
            api_client(global)?
                .change_password(&ChangePasswordRequest {
                    current_password,
                    new_password,
                })
                .await?;
            if !global.json {
                io.print("password changed\n")?;
            }
            Ok(EXIT_OK)
        }
    }
}

async fn list(global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let accounts = api_client(global)?.list_accounts().await?;
    if global.json {
        io.json(&accounts)?;
        return Ok(EXIT_OK);
    }
    let rows: Vec<Vec<String>> = accounts
        .iter()
        .map(|a| {
            vec![
                render::cell(&a.username),
                a.role.as_str().to_owned(),
                render::yes(a.disabled),
                render::yes(a.must_change_pw),
                render::yes(a.mfa_enabled),
                render::cell(a.email.as_deref().unwrap_or("")),
                render::time(a.updated_at),
            ]
        })
        .collect();
    io.print(&render::table(
        &[
            "username",
            "role",
            "disabled",
            "must_change_pw",
            "mfa",
            "email",
            "updated",
        ],
        &rows,
    ))?;
    Ok(EXIT_OK)
}

/// `created account bob (role operator; must change its password at next sign-in)`.
pub fn describe(verb: &str, account: &Account) -> String {
    let mut notes = vec![format!("role {}", account.role.as_str())];
    if account.disabled {
        notes.push("disabled".to_owned());
    }
    if let Some(email) = account.email.as_deref().filter(|e| !e.is_empty()) {
        notes.push(format!("email {}", render::cell(email)));
    }
    if account.must_change_pw {
        notes.push("must change its password at next sign-in".to_owned());
    }
    format!("{verb} account {} ({})", account.username, notes.join("; "))
}

fn print_account(
    global: &Global,
    io: &mut Io<'_>,
    verb: &str,
    account: &Account,
) -> anyhow::Result<i32> {
    match global.json {
        true => io.json(account)?,
        false => io.print(&format!("{}\n", describe(verb, account)))?,
    }
    Ok(EXIT_OK)
}

fn check_username(username: &str) -> anyhow::Result<()> {
    if kanade_protocol::api::is_valid_username(username) {
        return Ok(());
    }
    Err(BadInput::err(format!(
        "`{username}` is not a valid user name (1-64 letters, digits, '.', '-', '_' or '@')"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanade_protocol::api::Role;

    #[test]
    fn an_account_is_described_in_one_line() {
        let now = chrono::Utc::now();
        let mut account = Account {
            username: "bob".into(),
            role: Role::Operator,
            disabled: false,
            must_change_pw: true,
            email: None,
            mfa_enabled: false,
            created_at: now,
            updated_at: now,
        };
        assert_eq!(
            describe("created", &account),
            "created account bob (role operator; must change its password at next sign-in)"
        );
        account.disabled = true;
        account.must_change_pw = false;
        account.email = Some("bob@example.org".into());
        assert_eq!(
            describe("updated", &account),
            "updated account bob (role operator; disabled; email bob@example.org)"
        );
    }
}
