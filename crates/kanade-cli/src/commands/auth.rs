//! `kanade login`, `logout` and `whoami`: signing in keeps the session (see `crate::session`) for
//! the next commands; signing out revokes it at the backend and deletes it.

use anyhow::Context;
use chrono::Utc;
use kanade_protocol::api::{ChangePasswordRequest, LoginRequest, is_valid_username};
use reqwest::StatusCode;
use serde_json::json;

use crate::cli::{Global, LoginArgs};
use crate::client::ApiClient;
use crate::commands::{Io, session_folder};
use crate::session::{self, Session, TokenSource};
use crate::{BadInput, EXIT_OK, render};

pub async fn login(args: LoginArgs, global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let username = match args.username {
        Some(name) => name,
        None if io.interactive => io.ask("Username:")?,
        None => {
            return Err(BadInput::err(
                "--username is needed when stdin is not a terminal",
            ));
        }
    };
    if !is_valid_username(&username) {
        return Err(BadInput::err(format!(
            "`{username}` is not a valid user name (1-64 letters, digits, '.', '-', '_' or '@')"
        )));
    }
    // Before the password is typed: a folder that cannot be found fails early.
    let folder = session_folder(global)?;
    let anonymous =
        ApiClient::new(&global.backend_url, None)?.pinning(global.backend_ca.as_deref())?;
    let password = io
        .secret(&format!("Password for {username}:"), args.password_stdin)
        .await?;
    if password.is_empty() {
        return Err(BadInput::err("the password is empty"));
    }
    let mut request = LoginRequest {
        username: username.clone(),
        password,
        // Sent with the first attempt: an account without MFA ignores it, and a code is only
        // valid for a few seconds.
        totp: args.totp.map(|code| code.trim().to_owned()),
    };
    let signing_in = || format!("signing in as {username} at {}", global.backend_url);
    let response = match anonymous.login(&request).await {
        Ok(response) => response,
        Err(err) if err.code() == Some("totp_required") && request.totp.is_none() => {
            if !io.interactive {
                return Err(BadInput::err(format!(
                    "`{username}` signs in with an authenticator app: pass --totp CODE"
                )));
            }
            request.totp = Some(io.ask("Authenticator code:")?);
            anonymous.login(&request).await.with_context(signing_in)?
        }
        Err(err) => return Err(anyhow::Error::new(err).context(signing_in())),
    };

    let stored = Session {
        backend_url: session::normalize_url(&global.backend_url),
        token: response.token.clone(),
        username: response.username.clone(),
        expires_at: response.expires_at,
    };
    let path = session::save(&folder, &stored)?;
    if global.json {
        io.json(&json!({
            "username": response.username,
            "role": response.role,
            "expires_at": response.expires_at,
            "must_change_pw": response.must_change_pw,
            "session_file": path,
        }))?;
    } else {
        io.print(&format!(
            "signed in as {} (role {}) until {}\n",
            response.username,
            response.role.as_str(),
            render::time(response.expires_at)
        ))?;
    }
    if session::env_token().is_some() {
        io.note(&format!(
            "note: ${} is set and is sent instead of this session; unset it to use the session",
            session::AUTH_TOKEN_ENV
        ));
    }
    if !response.must_change_pw {
        return Ok(EXIT_OK);
    }
    if !io.interactive || args.password_stdin {
        io.note(
            "this account must change its password before anything else: run `kanade account passwd`",
        );
        return Ok(EXIT_OK);
    }
    io.note("this account must change its password before anything else");
    let new_password = io.new_password("New password:", false).await?;
    let signed_in = ApiClient::new(&global.backend_url, Some(response.token))?
        .pinning(global.backend_ca.as_deref())?;
    signed_in
        .change_password(&ChangePasswordRequest {
            current_password: request.password,
            new_password,
        })
        .await
        .context("changing the password")?;
    io.print("password changed\n")?;
    Ok(EXIT_OK)
}

pub async fn logout(global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let folder = session_folder(global)?;
    let path = session::path_in(&folder);
    let stored = match session::load(&folder) {
        Ok(Some(stored)) => stored,
        Ok(None) => {
            io.print(&format!("not signed in (no {})\n", path.display()))?;
            return Ok(EXIT_OK);
        }
        Err(err) => {
            session::remove(&folder)?;
            io.note(&format!("{err:#}"));
            io.print(&format!("deleted the unreadable {}\n", path.display()))?;
            return Ok(EXIT_OK);
        }
    };
    // An expired session is worthless to anyone: no need to reach the backend for it.
    if !stored.expired(Utc::now()) {
        let client = ApiClient::new(&stored.backend_url, Some(stored.token.clone()))?
            .pinning(global.backend_ca.as_deref())?;
        match client.logout().await {
            Ok(()) => {}
            // Already revoked or expired at the backend.
            Err(err) if err.status() == Some(StatusCode::UNAUTHORIZED) => {}
            Err(err) => {
                return Err(anyhow::Error::new(err).context(format!(
                    "revoking the session at {}; {} is kept so you can try again (or delete it)",
                    stored.backend_url,
                    path.display()
                )));
            }
        }
    }
    session::remove(&folder)?;
    io.print(&format!(
        "signed out {} from {}\n",
        stored.username, stored.backend_url
    ))?;
    Ok(EXIT_OK)
}

pub async fn whoami(global: &Global, io: &mut Io<'_>) -> anyhow::Result<i32> {
    let folder = session_folder(global).ok();
    let credentials = session::credentials(folder.as_deref(), &global.backend_url);
    let client = ApiClient::new(
        &global.backend_url,
        credentials.as_ref().map(|c| c.token.clone()),
    )?
    .pinning(global.backend_ca.as_deref())?;
    let me = client.me().await?;
    if global.json {
        io.json(&me)?;
        return Ok(EXIT_OK);
    }
    let token = match credentials.map(|c| c.source) {
        Some(TokenSource::Env) => format!("${}", session::AUTH_TOKEN_ENV),
        Some(TokenSource::Session { expires_at, .. }) => {
            format!("stored session, until {}", render::time(expires_at))
        }
        None => "none (the backend does not ask for one)".to_owned(),
    };
    let mut lines = vec![
        ("user", me.username.clone()),
        ("role", me.role.as_str().to_owned()),
        ("mfa", if me.mfa_enabled { "on" } else { "off" }.to_owned()),
        ("email", me.email.clone().unwrap_or_else(|| "-".to_owned())),
        ("token", token),
    ];
    if me.must_change_pw {
        lines.push((
            "password",
            "must be changed: run `kanade account passwd`".to_owned(),
        ));
    }
    io.print(&render::pairs(&lines))?;
    Ok(EXIT_OK)
}
