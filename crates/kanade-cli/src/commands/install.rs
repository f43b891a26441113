//! `kanade agent install-command`: asks the backend for the one-line agent installer of a new
//! machine and prints it (or, with --script, the script it runs).

use kanade_protocol::install::InstallCommandRequest;

use crate::EXIT_OK;
use crate::cli::{Global, InstallCommandArgs};
use crate::commands::{Io, api_client};

pub async fn run(
    args: InstallCommandArgs,
    global: &Global,
    io: &mut Io<'_>,
) -> anyhow::Result<i32> {
    let api = api_client(global)?;
    // By default the new machine downloads from the backend this command talks to.
    let backend_url = args
        .backend_url
        .unwrap_or_else(|| api.base_url().as_str().trim_end_matches('/').to_owned());
    let req = InstallCommandRequest {
        group: args.group,
        expires: args.expires,
        release: args.release,
        nats_url: args.broker_url,
        backend_url: Some(backend_url),
    };
    let made = api.install_command(&req).await?;
    if global.json {
        io.json(&made)?;
        return Ok(EXIT_OK);
    }
    if args.script {
        io.print(&made.script)?;
        return Ok(EXIT_OK);
    }
    io.print(&format!("{}\n", made.command))?;
    io.note(&format!(
        "run it as root on the new machine: it installs {} (SHA-256 {}), enrolls with token {} \
         (single use, expires {}) and starts kanade-agent",
        made.release,
        made.sha256,
        made.token.id,
        made.token.expires_at.to_rfc3339()
    ));
    Ok(EXIT_OK)
}
