//! The stored sign-in: `kanade login` keeps `{backend_url, token, username, expires_at}` in
//! `<config dir>/kanade/session.json` (file 0600, folder 0700 when we create it), and every HTTP
//! command picks its bearer token here.
//!
//! Which token a request carries: `$KANADE_AUTH_TOKEN` when set (automation, a service token),
//! else the stored session when it was made for the backend URL in use, else none. The folder is
//! `--config-dir` / `$KANADE_CONFIG_DIR` when given (tests point it at a temp folder).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The environment variable holding the bearer token every request carries.
pub use crate::client::AUTH_TOKEN_ENV;

/// The file inside the config folder.
pub const SESSION_FILE: &str = "session.json";

/// One signed-in session. `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub backend_url: String,
    pub token: String,
    pub username: String,
    pub expires_at: DateTime<Utc>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("backend_url", &self.backend_url)
            .field("username", &self.username)
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now
    }
}

/// Where a request's token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// `$KANADE_AUTH_TOKEN`.
    Env,
    /// The stored session, signed in as this user until then.
    Session {
        username: String,
        expires_at: DateTime<Utc>,
    },
}

/// A bearer token and where it came from.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub token: String,
    pub source: TokenSource,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// The folder holding `session.json`: `explicit` (from `--config-dir` / `$KANADE_CONFIG_DIR`)
/// when given and not empty, else `<dirs::config_dir()>/kanade`.
pub fn folder(explicit: Option<&Path>) -> anyhow::Result<PathBuf> {
    if let Some(dir) = explicit.filter(|d| !d.as_os_str().is_empty()) {
        return Ok(dir.to_path_buf());
    }
    let base = dirs::config_dir().context(
        "this system has no configuration folder; set $KANADE_CONFIG_DIR to where the session may be kept",
    )?;
    Ok(base.join("kanade"))
}

/// `<folder>/session.json`.
pub fn path_in(folder: &Path) -> PathBuf {
    folder.join(SESSION_FILE)
}

/// The stored session, `None` when there is none.
pub fn load(folder: &Path) -> anyhow::Result<Option<Session>> {
    let path = path_in(folder);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(err) => {
            return Err(err).with_context(|| format!("reading the session {}", path.display()));
        }
    };
    let session = serde_json::from_str(&text).with_context(|| {
        format!(
            "{} is not a kanade session; delete it and run `kanade login`",
            path.display()
        )
    })?;
    Ok(Some(session))
}

/// Writes `session` to `<folder>/session.json`, readable by the owner only. The folder is
/// created 0700 when missing (an existing folder keeps its mode: it may be shared). The file is
/// written next to its final name and renamed over it, so a reader never sees half a session.
pub fn save(folder: &Path, session: &Session) -> anyhow::Result<PathBuf> {
    create_private_dir(folder)
        .with_context(|| format!("creating the folder {}", folder.display()))?;
    let path = path_in(folder);
    let temp = folder.join(format!(".{SESSION_FILE}.{}.tmp", uuid::Uuid::new_v4()));
    let text = serde_json::to_string_pretty(session).context("encoding the session")?;
    let written =
        write_private(&temp, text.as_bytes()).and_then(|()| std::fs::rename(&temp, &path));
    if let Err(err) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(err).with_context(|| format!("writing the session {}", path.display()));
    }
    Ok(path)
}

/// Deletes the stored session; false when there was none.
pub fn remove(folder: &Path) -> anyhow::Result<bool> {
    let path = path_in(folder);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(err) => Err(err).with_context(|| format!("deleting the session {}", path.display())),
    }
}

/// Whether two backend URLs name the same backend: compared after URL normalisation (scheme and
/// host case, default ports, a trailing slash), so `http://Host:80/` matches `http://host`.
pub fn same_backend(a: &str, b: &str) -> bool {
    normalize_url(a) == normalize_url(b)
}

/// The form a backend URL is stored in.
pub fn normalize_url(url: &str) -> String {
    let url = url.trim();
    match reqwest::Url::parse(url) {
        Ok(parsed) => parsed.as_str().trim_end_matches('/').to_owned(),
        Err(_) => url.trim_end_matches('/').to_owned(),
    }
}

/// The token for a request to `backend_url`: `env_token` (from `$KANADE_AUTH_TOKEN`) when it is
/// set and not empty, else `session`'s token when the session was made for that backend.
pub fn choose_token(
    env_token: Option<&str>,
    session: Option<&Session>,
    backend_url: &str,
) -> Option<Credentials> {
    if let Some(token) = env_token.filter(|t| !t.is_empty()) {
        return Some(Credentials {
            token: token.to_owned(),
            source: TokenSource::Env,
        });
    }
    let session = session.filter(|s| same_backend(&s.backend_url, backend_url))?;
    Some(Credentials {
        token: session.token.clone(),
        source: TokenSource::Session {
            username: session.username.clone(),
            expires_at: session.expires_at,
        },
    })
}

/// `$KANADE_AUTH_TOKEN`, when set.
pub fn env_token() -> Option<String> {
    std::env::var(AUTH_TOKEN_ENV).ok().filter(|t| !t.is_empty())
}

/// The credentials for `backend_url` from the environment and the session in `folder`. A
/// session file that cannot be read counts as no session (the 401 then says to sign in, and
/// `kanade login` rewrites it).
pub fn credentials(folder: Option<&Path>, backend_url: &str) -> Option<Credentials> {
    let env = env_token();
    let session = match (&env, folder) {
        (None, Some(folder)) => load(folder).ok().flatten(),
        _ => None,
    };
    choose_token(env.as_deref(), session.as_ref(), backend_url)
}

#[cfg(unix)]
fn create_private_dir(folder: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if folder.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(folder)
}

#[cfg(not(unix))]
fn create_private_dir(folder: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(folder)
}

/// Creates `path` (which must not exist) readable and writable by the owner only.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(url: &str) -> Session {
        Session {
            backend_url: url.to_owned(),
            token: "tok-session".to_owned(),
            username: "alice".to_owned(),
            expires_at: "2030-01-01T00:00:00Z".parse().unwrap(),
        }
    }

    #[test]
    fn save_load_remove_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("nested/kanade");
        assert_eq!(load(&folder).unwrap(), None);
        let stored = session("http://127.0.0.1:8080");
        let path = save(&folder, &stored).unwrap();
        assert_eq!(path, folder.join("session.json"));
        assert_eq!(load(&folder).unwrap(), Some(stored.clone()));
        // Overwriting leaves no temporary files behind.
        save(&folder, &stored).unwrap();
        let names: Vec<_> = std::fs::read_dir(&folder)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["session.json"]);
        assert!(remove(&folder).unwrap());
        assert!(!remove(&folder).unwrap());
        assert_eq!(load(&folder).unwrap(), None);
    }

    #[cfg(unix)]
    #[test]
    fn the_file_is_0600_and_a_new_folder_0700() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("kanade");
        let path = save(&folder, &session("http://b")).unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(&folder), 0o700);
        // An existing folder keeps its mode; the file is private all the same.
        let shared = dir.path().join("shared");
        std::fs::create_dir(&shared).unwrap();
        std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o755)).unwrap();
        let path = save(&shared, &session("http://b")).unwrap();
        assert_eq!(mode(&shared), 0o755);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_corrupt_file_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("session.json"), "{not json").unwrap();
        let err = load(dir.path()).unwrap_err().to_string();
        assert!(
            err.contains("session.json is not a kanade session"),
            "{err}"
        );
        // For requests it simply counts as no session.
        assert_eq!(credentials(Some(dir.path()), "http://b"), None);
    }

    #[test]
    fn the_token_is_not_in_debug_output() {
        let s = session("http://b");
        assert!(!format!("{s:?}").contains("tok-session"));
        let c = choose_token(None, Some(&s), "http://b").unwrap();
        assert!(!format!("{c:?}").contains("tok-session"));
    }

    #[test]
    fn urls_match_after_normalisation() {
        let same = [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080/"),
            ("http://Example.COM:80", "http://example.com"),
            ("https://b.example/prefix/", "https://b.example/prefix"),
        ];
        for (a, b) in same {
            assert!(same_backend(a, b), "{a} {b}");
        }
        let different = [
            ("http://127.0.0.1:8080", "http://127.0.0.1:8081"),
            ("http://127.0.0.1:8080", "https://127.0.0.1:8080"),
            ("http://localhost:8080", "http://127.0.0.1:8080"),
            ("https://b.example/prefix", "https://b.example/other"),
        ];
        for (a, b) in different {
            assert!(!same_backend(a, b), "{a} {b}");
        }
    }

    #[test]
    fn the_environment_wins_then_a_session_for_the_same_backend() {
        let stored = session("http://127.0.0.1:8080/");
        let env = choose_token(Some("tok-env"), Some(&stored), "http://127.0.0.1:8080").unwrap();
        assert_eq!(
            (env.token.as_str(), env.source),
            ("tok-env", TokenSource::Env)
        );

        let from_session = choose_token(None, Some(&stored), "http://127.0.0.1:8080").unwrap();
        assert_eq!(from_session.token, "tok-session");
        assert_eq!(
            from_session.source,
            TokenSource::Session {
                username: "alice".into(),
                expires_at: stored.expires_at
            }
        );
        // An empty variable counts as unset.
        let empty_env = choose_token(Some(""), Some(&stored), "http://127.0.0.1:8080").unwrap();
        assert_eq!(empty_env.token, "tok-session");

        // A session for another backend is never sent.
        assert_eq!(
            choose_token(None, Some(&stored), "http://10.0.0.5:8080"),
            None
        );
        assert_eq!(choose_token(None, None, "http://127.0.0.1:8080"), None);
    }

    #[test]
    fn the_folder_is_explicit_or_under_the_config_dir() {
        assert_eq!(
            folder(Some(Path::new("/tmp/k"))).unwrap(),
            PathBuf::from("/tmp/k")
        );
        if let Some(base) = dirs::config_dir() {
            assert_eq!(folder(Some(Path::new(""))).unwrap(), base.join("kanade"));
            assert_eq!(folder(None).unwrap(), base.join("kanade"));
        }
    }

    #[test]
    fn expiry_is_inclusive() {
        let s = session("http://b");
        assert!(!s.expired("2029-12-31T23:59:59Z".parse().unwrap()));
        assert!(s.expired(s.expires_at));
    }
}
