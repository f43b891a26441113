//! `kanade run <pc> -- <script>`: break-glass over NATS, no backend needed. Prints the script's
//! stdout and stderr and exits with its exit code. Once the broker has the command, an audit
//! event `run` goes to stream `AUDIT` (see `crate::audit`); when that fails the operator is
//! warned and the run is still reported.

use chrono::Utc;
use kanade_protocol::subject;

use crate::BadInput;
use crate::cli::{Global, RunArgs};
use crate::commands::{Io, nats, session_folder};
use crate::run::{adhoc_command, process_exit_code, start};
use crate::{audit, session};

pub async fn run(args: RunArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    // Checked before connecting, so a typo is exit 2 even when the broker is down.
    if !subject::is_valid_token(&args.pc) {
        return Err(BadInput::err(format!(
            "`{}` is not a valid machine id (letters, digits, '-' and '_' only)",
            args.pc
        )));
    }
    let script = args.script.join(" ");
    let command = adhoc_command(
        &args.pc,
        args.shell.into(),
        &script,
        args.timeout.0,
        Utc::now(),
    )?;
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

/// Who a break-glass action is recorded as: the stored session's user, else `cli:<os_user>`.
pub fn local_actor(global: &Global, os_user: &str) -> String {
    let stored = session_folder(global)
        .ok()
        .and_then(|folder| session::load(&folder).ok().flatten());
    audit::actor(stored.as_ref(), os_user, Utc::now())
}
