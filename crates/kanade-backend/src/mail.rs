//! Outgoing e-mail over SMTP (`[mail]`), used for compliance alerts. Built once at start; the
//! password comes only from `$KANADE_MAIL_PASSWORD` and is never logged. Sending is async and
//! its failures are returned for the caller to log: mail never blocks anything else.

use std::time::Duration;

use anyhow::Context;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::{MailConfig, MailTls};

/// The environment variable holding the SMTP password.
pub const PASSWORD_ENV: &str = "KANADE_MAIL_PASSWORD";

#[derive(Clone)]
pub struct Mailer {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("from", &self.from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// A mailer for `config`, authenticating with `password` when `username` is set.
    pub fn new(config: &MailConfig, password: Option<String>) -> anyhow::Result<Mailer> {
        let from: Mailbox = config
            .from
            .parse()
            .with_context(|| format!("[mail] from `{}` is not an address", config.from))?;
        let mut builder = match config.tls {
            MailTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&config.host)
                .with_context(|| format!("[mail] host `{}`", config.host))?,
            MailTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&config.host)
                .with_context(|| format!("[mail] host `{}`", config.host))?,
            MailTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&config.host),
        };
        let port = config.port.unwrap_or(match config.tls {
            MailTls::Starttls => 587,
            MailTls::Tls => 465,
            MailTls::None => 25,
        });
        builder = builder.port(port).timeout(Some(Duration::from_secs(20)));
        if let Some(username) = &config.username {
            let password = password
                .with_context(|| format!("[mail] username is set but ${PASSWORD_ENV} is empty"))?;
            builder = builder.credentials(Credentials::new(username.clone(), password));
        }
        Ok(Mailer {
            transport: builder.build(),
            from,
        })
    }

    /// Builds the mailer of `config` with the password from the environment, or `None`
    /// (logged) when there is no `[mail]` or it is unusable.
    pub fn from_config(config: Option<&MailConfig>) -> Option<Mailer> {
        let config = config?;
        let password = std::env::var(PASSWORD_ENV).ok().filter(|p| !p.is_empty());
        match Mailer::new(config, password) {
            Ok(mailer) => {
                tracing::info!(host = %config.host, tls = ?config.tls, "e-mail on");
                Some(mailer)
            }
            Err(err) => {
                tracing::error!(error = format!("{err:#}"), "e-mail off: [mail] is unusable");
                None
            }
        }
    }

    /// Sends one plain-text message to every address in `to` (one message per address).
    pub async fn send(&self, to: &[String], subject: &str, body: &str) -> anyhow::Result<()> {
        for address in to {
            let mailbox: Mailbox = address
                .parse()
                .with_context(|| format!("`{address}` is not an address"))?;
            let message = Message::builder()
                .from(self.from.clone())
                .to(mailbox)
                .subject(subject)
                .header(ContentType::TEXT_PLAIN)
                .body(body.to_owned())
                .context("building the message")?;
            self.transport
                .send(message)
                .await
                .with_context(|| format!("sending to {address}"))?;
        }
        Ok(())
    }
}
