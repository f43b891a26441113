//! `kanade run <pc> -- <script>`: break-glass over NATS, no backend needed. Prints the script's
//! stdout and stderr and exits with its exit code.

use kanade_protocol::subject;

use crate::BadInput;
use crate::cli::{Global, RunArgs};
use crate::commands::{Io, nats};
use crate::run::{break_glass_run, process_exit_code};

pub async fn run(args: RunArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    // Checked before connecting, so a typo is exit 2 even when the broker is down.
    if !subject::is_valid_token(&args.pc) {
        return Err(BadInput::err(format!(
            "`{}` is not a valid machine id (letters, digits, '-' and '_' only)",
            args.pc
        )));
    }
    let script = args.script.join(" ");
    let client = nats(global).await?;
    let result = break_glass_run(
        &client,
        &args.pc,
        args.shell.into(),
        &script,
        args.timeout.0,
    )
    .await?;
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
