//! `agent.toml`: the agent's only local configuration (identity, broker URL, data folder,
//! heartbeat interval, logging). Everything else arrives live from the broker's KV buckets
//! (see `config_supervisor`); a heartbeat interval set there overrides the local one.
//!
//! Lookup order: `--config <path>`, else `$KANADE_AGENT_CONFIG`, else
//! `<config dir>/kanade/agent.toml`. An explicitly named file must exist; when the default
//! file is missing the agent runs on the defaults below.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use kanade_protocol::duration::HumanDuration;
use kanade_protocol::subject::is_valid_pc_id;
use serde::Deserialize;

pub const CONFIG_ENV: &str = "KANADE_AGENT_CONFIG";
pub const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentConfig {
    pub agent: AgentSection,
    pub log: LogSection,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AgentSection {
    /// The machine's identity (`pc_id`); the short host name when unset.
    pub id: Option<String>,
    pub nats_url: String,
    /// The broker's CA certificate, pinned: with it the agent talks TLS only and trusts no
    /// other certificate authority.
    pub nats_ca: Option<PathBuf>,
    /// State, outbox and spilled output; `<data dir>/kanade/agent` when unset.
    pub data_dir: Option<PathBuf>,
    /// An enrollment token (`kanade enroll token create`): presented at every connect until
    /// the machine is approved, so it joins without waiting for an admin. Overridden by
    /// `$KANADE_ENROLLMENT_TOKEN`; never logged.
    pub enrollment_token: Option<Secret>,
    /// The heartbeat cadence as long as no KV `agent_config` scope sets `heartbeat_interval`.
    pub heartbeat_interval: HumanDuration,
    /// systemd-logind's session state files, read for `run_as: user` / `system_gui` and the
    /// `logon` trigger of agent-side schedules.
    pub sessions_dir: PathBuf,
    /// The D-Bus bus where systemd-logind tells screen locks, for the `lock` / `unlock`
    /// triggers of agent-side schedules: `system` (the default), a D-Bus address, or `off`.
    pub logind_bus: String,
    /// How often the agent looks for commands it missed while connected (a branch leaf node
    /// that lost its uplink keeps its agents connected, so no reconnect triggers the
    /// catch-up): one direct get per command subject, handled commands are not run again.
    /// `0s` turns the periodic look off (catch-up then only at start, reconnect and group
    /// change).
    pub catch_up_every: HumanDuration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogSection {
    /// Folder (relative: inside the data folder) for daily-rotated log files
    /// (`kanade-agent.<date>.log`); stdout only when unset. See `logging`.
    pub path: Option<PathBuf>,
    /// A `tracing` filter such as `info` or `kanade_agent=debug`; `$RUST_LOG` overrides it.
    pub level: String,
    /// How many daily files to keep; 0 writes no file.
    pub keep_days: u32,
}

impl Default for AgentSection {
    fn default() -> AgentSection {
        AgentSection {
            id: None,
            nats_url: DEFAULT_NATS_URL.to_owned(),
            nats_ca: None,
            data_dir: None,
            enrollment_token: None,
            heartbeat_interval: HumanDuration::from_secs(30),
            sessions_dir: PathBuf::from(crate::run_as::DEFAULT_SESSIONS_DIR),
            logind_bus: crate::screen_lock::SYSTEM_BUS.to_owned(),
            catch_up_every: HumanDuration::from_secs(60),
        }
    }
}

impl Default for LogSection {
    fn default() -> LogSection {
        LogSection {
            path: None,
            level: "info".to_owned(),
            keep_days: 14,
        }
    }
}

/// A string that `Debug` never shows.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

pub const ENROLLMENT_TOKEN_ENV: &str = "KANADE_ENROLLMENT_TOKEN";

/// Where the configuration comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// Named by `--config` or `$KANADE_AGENT_CONFIG`: must exist.
    Explicit(PathBuf),
    /// The platform default location: used when it exists.
    Default(PathBuf),
    /// No default location on this platform.
    Builtin,
}

impl AgentConfig {
    /// Loads the configuration following the lookup order in the module docs.
    pub fn load(path: Option<&Path>) -> anyhow::Result<AgentConfig> {
        let default_dir = dirs::config_dir();
        match locate(path, std::env::var_os(CONFIG_ENV), default_dir.as_deref()) {
            ConfigSource::Explicit(path) => AgentConfig::from_file(&path),
            ConfigSource::Default(path) if path.exists() => AgentConfig::from_file(&path),
            ConfigSource::Default(_) | ConfigSource::Builtin => Ok(AgentConfig::default()),
        }
    }

    pub fn from_file(path: &Path) -> anyhow::Result<AgentConfig> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading agent config {}", path.display()))?;
        AgentConfig::from_toml(&text)
            .with_context(|| format!("parsing agent config {}", path.display()))
    }

    pub fn from_toml(text: &str) -> anyhow::Result<AgentConfig> {
        let config: AgentConfig = toml::from_str(text)?;
        Ok(config)
    }

    /// The agent's identity: `[agent] id`, else the short host name. It becomes a subject
    /// token, so anything but letters, digits, `-` and `_` is refused.
    pub fn pc_id(&self) -> anyhow::Result<String> {
        let id = match &self.agent.id {
            Some(id) => id.clone(),
            None => {
                let host = sysinfo::System::host_name()
                    .context("reading the host name for the default agent id; set [agent] id")?;
                host.split('.').next().unwrap_or_default().to_owned()
            }
        };
        if !is_valid_pc_id(&id) {
            bail!(
                "agent id {id:?} is not usable: it must be 1 to 128 letters, digits, `-` or `_`, \
                 in at most 4 labels separated by `.` (set [agent] id in agent.toml)"
            );
        }
        Ok(id)
    }

    /// The enrollment token to present: `$KANADE_ENROLLMENT_TOKEN`, else `[agent]
    /// enrollment_token`.
    pub fn enrollment_token(&self) -> Option<String> {
        std::env::var(ENROLLMENT_TOKEN_ENV)
            .ok()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| self.agent.enrollment_token.as_ref().map(|t| t.0.clone()))
            .map(|t| t.trim().to_owned())
    }

    pub fn data_dir(&self) -> anyhow::Result<PathBuf> {
        if let Some(dir) = &self.agent.data_dir {
            return Ok(dir.clone());
        }
        match dirs::data_dir() {
            Some(dir) => Ok(dir.join("kanade").join("agent")),
            None => bail!("this platform has no data directory; set [agent] data_dir"),
        }
    }
}

/// Decides where the configuration comes from, without touching the file system.
pub fn locate(
    flag: Option<&Path>,
    env: Option<OsString>,
    default_config_dir: Option<&Path>,
) -> ConfigSource {
    if let Some(path) = flag {
        return ConfigSource::Explicit(path.to_path_buf());
    }
    if let Some(path) = env.filter(|value| !value.is_empty()) {
        return ConfigSource::Explicit(PathBuf::from(path));
    }
    match default_config_dir {
        Some(dir) => ConfigSource::Default(dir.join("kanade").join("agent.toml")),
        None => ConfigSource::Builtin,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flag_beats_env_beats_default() {
        let flag = Path::new("/etc/kanade/a.toml");
        let env = Some(OsString::from("/tmp/b.toml"));
        let dir = Path::new("/home/u/.config");
        assert_eq!(
            locate(Some(flag), env.clone(), Some(dir)),
            ConfigSource::Explicit(flag.to_path_buf())
        );
        assert_eq!(
            locate(None, env, Some(dir)),
            ConfigSource::Explicit(PathBuf::from("/tmp/b.toml"))
        );
        assert_eq!(
            locate(None, Some(OsString::new()), Some(dir)),
            ConfigSource::Default(dir.join("kanade/agent.toml"))
        );
        assert_eq!(locate(None, None, None), ConfigSource::Builtin);
    }
}
