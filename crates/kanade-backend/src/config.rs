//! `BackendConfig`: where the backend listens, which broker and database it uses, how it
//! logs. The TOML file is a template (`{{ env("NAME", "default") }}`, `{{ is_windows() }}`,
//! `{{ vars.name }}` from the file's own `[vars]` table) rendered before parsing.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kanade_protocol::duration::HumanDuration;
use serde::Deserialize;

pub const DEFAULT_CONFIG: &str = include_str!("../backend.example.toml");

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendConfig {
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub nats: NatsConfig,
    #[serde(default)]
    pub db: DbConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub retention: RetentionConfig,
    /// SMTP for compliance alert e-mails; without it e-mail is off.
    #[serde(default)]
    pub mail: Option<MailConfig>,
    #[serde(default)]
    pub scheduler: SchedulerConfig,
    /// The two-person rule (`require_approval: true` jobs).
    #[serde(default)]
    pub approval: ApprovalConfig,
    /// Secrets from the environment (never from the file, never logged).
    #[serde(skip)]
    pub secrets: AuthSecrets,
    /// Values the template refers to as `vars.*`; not used after rendering.
    #[serde(default)]
    pub vars: toml::Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    #[serde(default = "default_bind")]
    pub bind: String,
    #[serde(default)]
    pub public_url: Option<String>,
    /// Name of this backend when several run against one broker (letters, digits, '-', '_'):
    /// each replica then keeps its own durable consumers and so a complete read model of its
    /// own. Leave unset with a single backend.
    #[serde(default)]
    pub replica: Option<String>,
    /// PEM certificate chain and private key: set both and the API and dashboard are served
    /// over HTTPS only.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsConfig {
    #[serde(default = "default_nats_url")]
    pub url: String,
    /// How long to wait for JetStream to acknowledge one command publish before retrying it
    /// (same message id, so the stream stores it once).
    #[serde(default = "default_ack_timeout")]
    pub ack_timeout: HumanDuration,
    /// The CA certificate the broker's TLS certificate must chain to (pinned: nothing else is
    /// trusted). Set, the connection is TLS or nothing.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Who the broker lets in. `none`: whatever nats-server's own config allows (one shared
    /// token at most). `callout`: nats-server asks this backend about every client (configure
    /// it with `kanade-backend broker-config`); each machine gets its own subjects only.
    #[serde(default)]
    pub auth: BrokerAuth,
    /// Copies of every stream, KV bucket and object store: 1, or 3 / 5 on a JetStream cluster
    /// of at least that many servers. Applied (migrating existing ones) at every start; unset
    /// keeps what each has (new ones get 1).
    #[serde(default)]
    pub replicas: Option<usize>,
}

/// How clients are authorized on the broker; see `NatsConfig::auth`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokerAuth {
    #[default]
    None,
    Callout,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DbConfig {
    #[serde(default = "default_sqlite_path")]
    pub sqlite_path: PathBuf,
    /// Largest size the database may grow to, in MiB (SQLite `max_page_count`); writes past
    /// it fail as on a full disk. Unset = no cap.
    #[serde(default)]
    pub max_size_mib: Option<u64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// Log folder (relative: inside the database's folder) of daily files
    /// `kanade-backend.<date>.log`; None = stdout only. See `telemetry`.
    #[serde(default)]
    pub path: Option<PathBuf>,
    #[serde(default = "default_level")]
    pub level: String,
    #[serde(default = "default_keep_days")]
    pub keep_days: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// How long a sign-in lasts.
    #[serde(default = "default_session_ttl")]
    pub session_ttl: HumanDuration,
}

impl Default for AuthConfig {
    fn default() -> AuthConfig {
        AuthConfig {
            session_ttl: default_session_ttl(),
        }
    }
}

fn default_session_ttl() -> HumanDuration {
    HumanDuration::from_secs(12 * 3600)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// A machine is offline once its last heartbeat is older than this.
    pub offline_after: HumanDuration,
    /// How often the watchdog compares heartbeats with recorded liveness.
    pub watchdog_interval: HumanDuration,
    /// How often housekeeping (reaping, expiry, retention) runs.
    pub housekeeping_interval: HumanDuration,
    /// Executions that no machine started within this become `expired`.
    pub pending_expiry: HumanDuration,
}

impl Default for TelemetryConfig {
    fn default() -> TelemetryConfig {
        TelemetryConfig {
            offline_after: HumanDuration::from_secs(120),
            watchdog_interval: HumanDuration::from_secs(15),
            housekeeping_interval: HumanDuration::from_secs(300),
            pending_expiry: HumanDuration::from_secs(3600),
        }
    }
}

/// How long rows are kept, per kind.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub results: HumanDuration,
    pub executions: HumanDuration,
    pub host_perf: HumanDuration,
    pub process_perf: HumanDuration,
    pub timeline: HumanDuration,
    pub audit: HumanDuration,
    pub inventory_history: HumanDuration,
    /// How long remote terminal transcripts are kept (object store `terminal_transcripts`).
    pub terminal_transcripts: HumanDuration,
}

impl Default for RetentionConfig {
    fn default() -> RetentionConfig {
        let days = |n: u64| HumanDuration::from_secs(n * 24 * 3600);
        RetentionConfig {
            results: days(90),
            executions: days(90),
            host_perf: days(30),
            process_perf: days(7),
            timeline: days(90),
            audit: days(365),
            inventory_history: days(90),
            terminal_transcripts: days(30),
        }
    }
}

/// `[mail]`: the SMTP server alert e-mails go through. The password is never in the file: it
/// comes from `$KANADE_MAIL_PASSWORD` when `username` is set.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MailConfig {
    pub host: String,
    /// Default: 587 for starttls, 465 for tls, 25 for none.
    #[serde(default)]
    pub port: Option<u16>,
    #[serde(default)]
    pub tls: MailTls,
    /// The sender, e.g. `kanade <kanade@example.org>`.
    pub from: String,
    #[serde(default)]
    pub username: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTls {
    /// Plain connection upgraded with STARTTLS (required).
    #[default]
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
    /// No encryption: only for a relay on the same host or a test sink.
    None,
}

/// The scheduler. It runs on one backend at a time: the holder of a lease in the broker.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SchedulerConfig {
    /// Take part in the scheduler lease at all.
    pub enabled: bool,
    /// A standby takes over this long after the leading backend went silent.
    pub lease_ttl: HumanDuration,
    /// How often per_pc / per_target schedules compare the fleet with the job's successes.
    pub reconcile_every: HumanDuration,
}

impl Default for SchedulerConfig {
    fn default() -> SchedulerConfig {
        SchedulerConfig {
            enabled: true,
            lease_ttl: HumanDuration::from_secs(15),
            reconcile_every: HumanDuration::from_secs(60),
        }
    }
}

/// Requests of jobs with `require_approval: true`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalConfig {
    /// A request nobody approved or rejected within this expires; nothing is ever sent.
    pub expires_after: HumanDuration,
    /// How often expired requests are looked for.
    pub check_every: HumanDuration,
}

impl Default for ApprovalConfig {
    fn default() -> ApprovalConfig {
        ApprovalConfig {
            expires_after: HumanDuration::from_secs(24 * 3600),
            check_every: HumanDuration::from_secs(30),
        }
    }
}

impl ApprovalConfig {
    pub fn expires_after(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.expires_after.0).unwrap_or(chrono::Duration::days(1))
    }
}

/// Authentication switches and secrets, read from `KANADE_*` environment variables.
#[derive(Clone, Default)]
pub struct AuthSecrets {
    /// `KANADE_AUTH_DISABLE=1`.
    pub auth_disable: bool,
    /// `KANADE_AUTH_STATIC_TOKEN`.
    pub static_token: Option<String>,
    /// `KANADE_JWT_SECRET`.
    pub jwt_secret: Option<String>,
    /// `KANADE_BOOTSTRAP_ADMIN_PASSWORD`.
    pub bootstrap_admin_password: Option<String>,
}

impl std::fmt::Debug for AuthSecrets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthSecrets")
            .field("auth_disable", &self.auth_disable)
            .field(
                "static_token",
                &self.static_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "jwt_secret",
                &self.jwt_secret.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "bootstrap_admin_password",
                &self.bootstrap_admin_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AuthSecrets {
    pub fn from_env() -> AuthSecrets {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        AuthSecrets {
            auth_disable: var("KANADE_AUTH_DISABLE")
                .is_some_and(|v| v == "1" || v.eq_ignore_ascii_case("true")),
            static_token: var("KANADE_AUTH_STATIC_TOKEN"),
            jwt_secret: var("KANADE_JWT_SECRET"),
            bootstrap_admin_password: var("KANADE_BOOTSTRAP_ADMIN_PASSWORD"),
        }
    }
}

fn default_bind() -> String {
    "127.0.0.1:8080".to_owned()
}

fn default_nats_url() -> String {
    "nats://127.0.0.1:4222".to_owned()
}

fn default_ack_timeout() -> HumanDuration {
    HumanDuration::from_secs(5)
}

fn default_sqlite_path() -> PathBuf {
    data_dir().join("backend.db")
}

fn default_level() -> String {
    "info".to_owned()
}

fn default_keep_days() -> usize {
    14
}

/// `<data dir>/kanade` (`/root/.local/share/kanade` for root on Linux).
pub fn data_dir() -> PathBuf {
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("kanade")
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            bind: default_bind(),
            public_url: None,
            replica: None,
            tls_cert: None,
            tls_key: None,
        }
    }
}

impl Default for NatsConfig {
    fn default() -> NatsConfig {
        NatsConfig {
            url: default_nats_url(),
            ack_timeout: default_ack_timeout(),
            ca_file: None,
            auth: BrokerAuth::None,
            replicas: None,
        }
    }
}

impl Default for DbConfig {
    fn default() -> DbConfig {
        DbConfig {
            sqlite_path: default_sqlite_path(),
            max_size_mib: None,
        }
    }
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            path: None,
            level: default_level(),
            keep_days: default_keep_days(),
        }
    }
}

impl Default for BackendConfig {
    fn default() -> BackendConfig {
        BackendConfig {
            server: ServerConfig::default(),
            nats: NatsConfig::default(),
            db: DbConfig::default(),
            log: LogConfig::default(),
            auth: AuthConfig::default(),
            telemetry: TelemetryConfig::default(),
            retention: RetentionConfig::default(),
            mail: None,
            scheduler: SchedulerConfig::default(),
            approval: ApprovalConfig::default(),
            secrets: AuthSecrets::default(),
            vars: toml::Table::new(),
        }
    }
}

impl BackendConfig {
    /// `--config`, else `$KANADE_BACKEND_CONFIG`, else `<config dir>/kanade/backend.toml`;
    /// defaults when none of them names an existing file. A file named explicitly must exist.
    pub fn load(explicit: Option<&Path>) -> anyhow::Result<BackendConfig> {
        let from_env = std::env::var_os("KANADE_BACKEND_CONFIG").map(PathBuf::from);
        let path = match explicit.map(Path::to_path_buf).or(from_env) {
            Some(path) => {
                if !path.is_file() {
                    bail!("config file {} does not exist", path.display());
                }
                path
            }
            None => {
                let default = dirs::config_dir()
                    .unwrap_or_else(|| PathBuf::from("."))
                    .join("kanade/backend.toml");
                if !default.is_file() {
                    return Ok(BackendConfig {
                        secrets: AuthSecrets::from_env(),
                        ..BackendConfig::default()
                    });
                }
                default
            }
        };
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let mut config =
            BackendConfig::parse(&text).with_context(|| format!("in {}", path.display()))?;
        config.secrets = AuthSecrets::from_env();
        Ok(config)
    }

    /// The folder beside the database that holds secrets (JWT key, bootstrap password).
    pub fn data_dir(&self) -> PathBuf {
        match self.db.sqlite_path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    /// Renders the template and parses the result.
    pub fn parse(text: &str) -> anyhow::Result<BackendConfig> {
        // First pass without vars to find the `[vars]` table, second pass with it.
        let first = render(text, &toml::Table::new())?;
        let vars = toml::from_str::<toml::Table>(&first)
            .ok()
            .and_then(|t| t.get("vars").and_then(|v| v.as_table()).cloned())
            .unwrap_or_default();
        let rendered = render(text, &vars)?;
        toml::from_str(&rendered).map_err(|err| anyhow::anyhow!("invalid config: {err}"))
    }
}

fn render(text: &str, vars: &toml::Table) -> anyhow::Result<String> {
    let mut env = minijinja::Environment::new();
    env.set_keep_trailing_newline(true);
    env.add_function(
        "env",
        |name: String, default: Option<String>| -> Result<String, minijinja::Error> {
            match std::env::var(&name) {
                Ok(value) => Ok(value),
                Err(_) => default.ok_or_else(|| {
                    minijinja::Error::new(
                        minijinja::ErrorKind::InvalidOperation,
                        format!("environment variable {name} is not set and has no default"),
                    )
                }),
            }
        },
    );
    env.add_function("is_windows", || cfg!(windows));
    let vars = minijinja::Value::from_serialize(vars);
    env.render_str(text, minijinja::context! { vars => vars })
        .map_err(|err| {
            let line = err
                .line()
                .map(|l| format!(" at line {l}"))
                .unwrap_or_default();
            anyhow::anyhow!(
                "config template error{line}: {}",
                err.detail().unwrap_or(&err.to_string())
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_example_config_parses() {
        let config = BackendConfig::parse(DEFAULT_CONFIG).unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:8080");
    }

    #[test]
    fn mail_is_off_by_default_and_parses_when_set() {
        assert!(BackendConfig::parse("").unwrap().mail.is_none());
        let config = BackendConfig::parse(
            "[mail]\nhost = \"smtp.example.org\"\ntls = \"tls\"\nfrom = \"kanade@example.org\"\n",
        )
        .unwrap();
        let mail = config.mail.unwrap();
        assert_eq!((mail.tls, mail.port), (MailTls::Tls, None));
        let err = BackendConfig::parse("[mail]\nhost = \"h\"\nfrom = \"f\"\npassword = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `password`"), "{err}");
    }

    #[test]
    fn empty_text_gives_defaults() {
        let config = BackendConfig::parse("").unwrap();
        assert_eq!(config.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(config.log.keep_days, 14);
    }

    #[test]
    fn templates_see_env_defaults_and_vars() {
        let text = r#"
[vars]
root = "/srv/kanade"

[db]
sqlite_path = "{{ vars.root }}/db/{{ env("KANADE_TEST_UNSET_VAR_XYZ", "backend.db") }}"

[log]
level = "{% if is_windows() %}warn{% else %}debug{% endif %}"
"#;
        let config = BackendConfig::parse(text).unwrap();
        assert_eq!(
            config.db.sqlite_path,
            PathBuf::from("/srv/kanade/db/backend.db")
        );
        assert_eq!(
            config.log.level,
            if cfg!(windows) { "warn" } else { "debug" }
        );
    }

    #[test]
    fn errors_name_the_line_or_the_key() {
        let err = BackendConfig::parse(
            "[server]\nbind = \"x\"\n\nport = {{ env(\"KANADE_TEST_UNSET_VAR_XYZ\") }}\n",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("line 4") && err.contains("KANADE_TEST_UNSET_VAR_XYZ"),
            "{err}"
        );
        let err = BackendConfig::parse("[server]\nbnd = \"x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("unknown field `bnd`") && err.contains("line 2"),
            "{err}"
        );
    }
}
