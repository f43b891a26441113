//! `kanade mfa enable|disable`: sign-in with an authenticator app (TOTP). `enable` asks the
//! backend for a secret, shows it (and the otpauth URL for apps that import one), then asks for
//! a code to prove the app has it; only then is MFA on, and its one-time recovery codes are
//! printed (once; `recovery-codes` makes new ones). Codes are asked for at the terminal, or
//! read from the first line of stdin when stdin is not a terminal.

use anyhow::Context;
use kanade_protocol::api::MfaCode;

use crate::cli::{Global, MfaCommand};
use crate::commands::{Io, api_client};
use crate::{BadInput, EXIT_OK};

pub async fn run(command: MfaCommand, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let client = api_client(global)?;
    match command {
        MfaCommand::Enable => {
            let init = client.mfa_init().await?;
            io.print(&format!(
                "Add this account to your authenticator app:\n  secret:      {}\n  otpauth URL: {}\n",
                init.secret, init.otpauth_url
            ))?;
            let code = code(io, None)?;
            let codes = client
                .mfa_verify(&MfaCode { code })
                .await
                .context("checking the code")?;
            print_codes(io, &codes)?;
            io.print("MFA is on: sign-ins now ask for a code from the app\n")?;
        }
        MfaCommand::RecoveryCodes { code: given } => {
            let code = code(io, given)?;
            let codes = client.mfa_recovery_codes(&MfaCode { code }).await?;
            print_codes(io, &codes)?;
        }
        MfaCommand::Disable { code: given } => {
            let code = code(io, given)?;
            client.mfa_disable(&MfaCode { code }).await?;
            io.print("MFA is off\n")?;
        }
    }
    Ok(EXIT_OK)
}

/// The recovery codes, with what they are for; nothing when the backend sent none.
fn print_codes(io: &mut Io<'_>, codes: &[String]) -> anyhow::Result<()> {
    if codes.is_empty() {
        return Ok(());
    }
    io.print(
        "Recovery codes (each signs you in once instead of an app code; keep them somewhere \
         safe, they are not shown again):\n",
    )?;
    for code in codes {
        io.print(&format!("  {code}\n"))?;
    }
    Ok(())
}

/// `given`, else asked at the terminal, else the first line of stdin.
fn code(io: &mut Io<'_>, given: Option<String>) -> anyhow::Result<String> {
    let code = match given {
        Some(code) => code,
        None if io.interactive => io.ask("Authenticator code:")?,
        None => io.read_line()?.ok_or_else(|| {
            BadInput::err("no authenticator code: type one at a terminal or send it on stdin")
        })?,
    };
    let code = code.trim().to_owned();
    if code.is_empty() {
        return Err(BadInput::err("the authenticator code is empty"));
    }
    Ok(code)
}
