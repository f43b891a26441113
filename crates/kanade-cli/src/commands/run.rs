//! `kanade run <pc> -- <script>`: break-glass over NATS. Prints the script's stdout and stderr
//! and exits with its exit code. The command is signed with `--signing-key` (a break-glass
//! seed; no backend needed) or else by the backend (`POST /api/commands/sign`, operator); when
//! neither works it goes out unsigned with a warning, and agents enforcing signatures refuse it
//! (exit 123). Once the broker has the command, an audit event `run` goes to stream `AUDIT`
//! (see `crate::audit`); when that fails the operator is warned and the run is still reported.
//! When the backend says the fleet is frozen, it says so before sending: the run goes out
//! anyway (the freeze holds only scheduled fires).

use chrono::Utc;
use kanade_protocol::manifest::Shell;
use kanade_protocol::subject;

use crate::BadInput;
use crate::cli::{Global, RunArgs};
use crate::commands::{Io, api_client, nats, session_folder};
use crate::run::{adhoc_command, process_exit_code, start};
use crate::{audit, session};

pub async fn run(args: RunArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    // Checked before connecting, so a typo is exit 2 even when the broker is down.
    if !subject::is_valid_pc_id(&args.pc) {
        return Err(BadInput::err(format!(
            "`{}` is not a valid machine id (letters, digits, '-' and '_', in at most 4 labels separated by '.')",
            args.pc
        )));
    }
    if !args.allow_unknown && never_seen(global, &args.pc).await {
        anyhow::bail!(
            "machine {} was never seen by the backend: check the name with `kanade agents` \
             (or pass --allow-unknown to send anyway)",
            args.pc
        );
    }
    let key = args
        .signing_key
        .as_deref()
        .map(crate::commands::keys::read_seed)
        .transpose()?;
    let shell: Shell = args.shell.into();
    let script = script_of(&args.script, shell);
    let command = adhoc_command(&args.pc, shell, &script, args.timeout.0, Utc::now())?;
    let target = subject::commands_pc(&args.pc);
    let command = match key {
        Some(key) => key.signed(&command, &target, Utc::now()),
        None => match backend_signed(global, &command, &target).await {
            Ok(signed) => signed,
            Err(err) => {
                io.note(&format!(
                    "warning: sending the command unsigned (no --signing-key, and the backend \
                     did not sign it: {err:#}); agents that enforce signatures refuse it"
                ));
                command
            }
        },
    };
    if let Some(note) = freeze_note(global).await {
        io.note(&format!("warning: {note}"));
    }
    let client = nats(global).await?;
    let pending = start(&client, &args.pc, &command).await?;
    let os_user = audit::os_user();
    let event = audit::run_event(&local_actor(global, &os_user), &os_user, &command, &args.pc);
    if let Err(err) = audit::publish(&client, &event).await {
        io.note(&format!(
            "warning: the run was sent but not recorded in the audit log: {err:#}"
        ));
    }
    let result = pending.result().await?;
    let (code, why) = process_exit_code(&result);
    if global.json {
        io.json(&result)?;
    } else {
        io.print(&result.stdout)?;
        let _ = io.err.write_all(result.stderr.as_bytes());
    }
    if let Some(why) = why {
        io.note(&format!("error: {why}"));
    }
    Ok(code)
}

/// True only when the backend answered 404 for the machine within a few seconds; a backend
/// that cannot be asked (break-glass without it) lets the run go out.
async fn never_seen(global: &Global, pc: &str) -> bool {
    let Ok(client) = api_client(global) else {
        return false;
    };
    match tokio::time::timeout(std::time::Duration::from_secs(3), client.get_agent(pc)).await {
        Ok(Err(err)) => err.status() == Some(reqwest::StatusCode::NOT_FOUND),
        _ => false,
    }
}

/// The words after `--` as one script line. One word is the script itself
/// (`-- 'echo a; exit 3'`); several are a command and its arguments, each quoted for `shell`
/// when it needs it, so `-- sh -c 'echo hi; exit 7'` reaches the machine intact.
pub fn script_of(words: &[String], shell: Shell) -> String {
    if let [only] = words {
        return only.clone();
    }
    words
        .iter()
        .map(|word| quote(word, shell))
        .collect::<Vec<_>>()
        .join(" ")
}

fn quote(word: &str, shell: Shell) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        return word.to_owned();
    }
    match shell {
        Shell::Sh | Shell::Bash => format!("'{}'", word.replace('\'', r"'\''")),
        Shell::Pwsh | Shell::Powershell => format!("'{}'", word.replace('\'', "''")),
        Shell::Cmd => format!("\"{}\"", word.replace('"', "\"\"")),
    }
}

/// The freeze warning, when the backend answers within a few seconds (break-glass must not
/// wait on a backend that is down).
async fn freeze_note(global: &Global) -> Option<String> {
    let client = api_client(global).ok()?;
    let check = crate::commands::exec::freeze_note(&client, false);
    tokio::time::timeout(std::time::Duration::from_secs(3), check)
        .await
        .ok()
        .flatten()
}

async fn backend_signed(
    global: &Global,
    command: &kanade_protocol::wire::Command,
    target: &str,
) -> anyhow::Result<kanade_protocol::wire::Command> {
    Ok(api_client(global)?.sign_command(command, target).await?)
}

/// Who a break-glass action is recorded as: the stored session's user, else `cli:<os_user>`.
pub fn local_actor(global: &Global, os_user: &str) -> String {
    let stored = session_folder(global)
        .ok()
        .and_then(|folder| session::load(&folder).ok().flatten());
    audit::actor(stored.as_ref(), os_user, Utc::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn arguments_are_quoted_for_the_shell_and_one_word_is_the_script() {
        assert_eq!(
            script_of(&words(&["sh", "-c", "echo hi; exit 7"]), Shell::Sh),
            "sh -c 'echo hi; exit 7'"
        );
        assert_eq!(
            script_of(&words(&["echo", "it's", ""]), Shell::Bash),
            r"echo 'it'\''s' ''"
        );
        assert_eq!(
            script_of(&words(&["Write-Output", "it's here"]), Shell::Pwsh),
            "Write-Output 'it''s here'"
        );
        assert_eq!(
            script_of(&words(&["echo", "a b"]), Shell::Cmd),
            "echo \"a b\""
        );
        assert_eq!(
            script_of(&words(&["echo hi; exit 3"]), Shell::Sh),
            "echo hi; exit 3"
        );
        assert_eq!(script_of(&words(&["uname", "-a"]), Shell::Sh), "uname -a");
    }
}
