//! The boot sentinel, shared by agent and backend: a new version that fails to stay up is
//! rolled back to the last good executable and quarantined, so a bad release cannot crash-loop
//! a machine forever.
//!
//! Its state sits next to the executable it guards (the file being swapped is what it is
//! about): `<exe>.boot-sentinel.json` (`{version, attempts}` of a pending swap),
//! `<exe>.quarantine.json` (`{versions}`), `<exe>.last-good` and `<exe>.rollback-bak`.
//! Every write is atomic (temp file + rename).
//!
//! Life of an update: `arm_for_swap` (copy the running exe to last-good, record the new
//! version) → swap the file and restart → the new binary calls `check_on_boot` first thing,
//! which counts the attempt before anything can crash → after `HEALTHY_AFTER` of uptime it
//! calls `confirm_healthy`. More than `max_attempts` unconfirmed boots restore last-good,
//! quarantine the version and ask the caller to exit so the service manager restarts the
//! restored binary.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Boots of one version that may fail before it is rolled back.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;
/// Uptime after which a boot counts as healthy.
pub const HEALTHY_AFTER: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BootDecision {
    /// Carry on booting.
    Proceed,
    /// `from` crash-looped; the last-good executable is back in place. Exit so it restarts.
    RolledBack { from: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Pending {
    version: String,
    attempts: u32,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Quarantine {
    versions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct BootSentinel {
    exe: PathBuf,
    version: String,
}

fn beside(exe: &Path, suffix: &str) -> PathBuf {
    let mut name = exe
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(suffix);
    exe.with_file_name(name)
}

fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = beside(path, ".tmp");
    std::fs::write(&tmp, bytes)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Option<T> {
    let bytes = std::fs::read(path).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Copies `from` over `to` atomically, keeping the permission bits.
fn copy_atomic(from: &Path, to: &Path) -> io::Result<()> {
    let tmp = beside(to, ".tmp");
    std::fs::copy(from, &tmp)?;
    std::fs::File::open(&tmp)?.sync_all()?;
    std::fs::rename(&tmp, to)
}

impl BootSentinel {
    /// Guards `exe` (the installed executable), which is running `version`.
    pub fn new(exe: impl Into<PathBuf>, version: impl Into<String>) -> BootSentinel {
        BootSentinel {
            exe: exe.into(),
            version: version.into(),
        }
    }

    fn pending_path(&self) -> PathBuf {
        beside(&self.exe, ".boot-sentinel.json")
    }

    fn quarantine_path(&self) -> PathBuf {
        beside(&self.exe, ".quarantine.json")
    }

    pub fn last_good_path(&self) -> PathBuf {
        beside(&self.exe, ".last-good")
    }

    /// Before swapping in `new_version`: keep the current executable as last-good and record
    /// that `new_version` has not proved itself yet.
    pub fn arm_for_swap(&self, new_version: &str) -> io::Result<()> {
        if self.exe.is_file() {
            copy_atomic(&self.exe, &self.last_good_path())?;
        }
        let pending = Pending {
            version: new_version.to_owned(),
            attempts: 0,
        };
        write_atomic(&self.pending_path(), &serde_json::to_vec(&pending)?)
    }

    /// The first thing a guarded binary does. Counts this boot of a pending version and rolls
    /// back when it has failed too often.
    pub fn check_on_boot(&self, max_attempts: u32) -> io::Result<BootDecision> {
        let Some(mut pending) = read_json::<Pending>(&self.pending_path()) else {
            return Ok(BootDecision::Proceed);
        };
        if pending.version != self.version {
            // The swap never happened (or an older binary was restored by hand).
            std::fs::remove_file(self.pending_path())?;
            return Ok(BootDecision::Proceed);
        }
        pending.attempts += 1;
        write_atomic(&self.pending_path(), &serde_json::to_vec(&pending)?)?;
        if pending.attempts <= max_attempts {
            return Ok(BootDecision::Proceed);
        }
        let last_good = self.last_good_path();
        if !last_good.is_file() {
            // Nothing to roll back to: quarantine anyway so no one retries it.
            self.quarantine(&pending.version)?;
            std::fs::remove_file(self.pending_path())?;
            return Ok(BootDecision::Proceed);
        }
        let backup = beside(&self.exe, ".rollback-bak");
        std::fs::rename(&self.exe, &backup)?;
        copy_atomic(&last_good, &self.exe)?;
        self.quarantine(&pending.version)?;
        std::fs::remove_file(self.pending_path())?;
        Ok(BootDecision::RolledBack {
            from: pending.version,
        })
    }

    /// After `HEALTHY_AFTER` of uptime: this executable becomes last-good and the pending
    /// record is cleared.
    pub fn confirm_healthy(&self) -> io::Result<()> {
        if self.exe.is_file() {
            copy_atomic(&self.exe, &self.last_good_path())?;
        }
        match std::fs::remove_file(self.pending_path()) {
            Err(err) if err.kind() != io::ErrorKind::NotFound => Err(err),
            _ => Ok(()),
        }
    }

    pub fn quarantined(&self) -> Vec<String> {
        read_json::<Quarantine>(&self.quarantine_path())
            .map(|q| q.versions)
            .unwrap_or_default()
    }

    pub fn is_quarantined(&self, version: &str) -> bool {
        self.quarantined().iter().any(|v| v == version)
    }

    fn quarantine(&self, version: &str) -> io::Result<()> {
        let mut q = read_json::<Quarantine>(&self.quarantine_path()).unwrap_or_default();
        if !q.versions.iter().any(|v| v == version) {
            q.versions.push(version.to_owned());
        }
        write_atomic(&self.quarantine_path(), &serde_json::to_vec(&q)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn install(dir: &Path, content: &str) -> PathBuf {
        let exe = dir.join("kanade-agent");
        std::fs::write(&exe, content).unwrap();
        exe
    }

    #[test]
    fn a_version_that_keeps_failing_is_rolled_back_and_quarantined() {
        let dir = tempfile::tempdir().unwrap();
        let exe = install(dir.path(), "binary 1.0");
        BootSentinel::new(&exe, "1.0").arm_for_swap("2.0").unwrap();
        std::fs::write(&exe, "binary 2.0").unwrap();
        let new = BootSentinel::new(&exe, "2.0");
        for _ in 0..3 {
            assert_eq!(new.check_on_boot(3).unwrap(), BootDecision::Proceed);
        }
        assert_eq!(
            new.check_on_boot(3).unwrap(),
            BootDecision::RolledBack { from: "2.0".into() }
        );
        assert_eq!(std::fs::read_to_string(&exe).unwrap(), "binary 1.0");
        assert_eq!(
            std::fs::read_to_string(beside(&exe, ".rollback-bak")).unwrap(),
            "binary 2.0"
        );
        let old = BootSentinel::new(&exe, "1.0");
        assert!(old.is_quarantined("2.0"));
        assert_eq!(
            old.check_on_boot(3).unwrap(),
            BootDecision::Proceed,
            "the restored binary boots"
        );
    }

    #[test]
    fn a_healthy_version_is_confirmed_and_becomes_last_good() {
        let dir = tempfile::tempdir().unwrap();
        let exe = install(dir.path(), "binary 1.0");
        BootSentinel::new(&exe, "1.0").arm_for_swap("2.0").unwrap();
        std::fs::write(&exe, "binary 2.0").unwrap();
        let new = BootSentinel::new(&exe, "2.0");
        assert_eq!(new.check_on_boot(3).unwrap(), BootDecision::Proceed);
        new.confirm_healthy().unwrap();
        assert_eq!(
            std::fs::read_to_string(new.last_good_path()).unwrap(),
            "binary 2.0"
        );
        for _ in 0..10 {
            assert_eq!(
                new.check_on_boot(3).unwrap(),
                BootDecision::Proceed,
                "nothing pending any more"
            );
        }
        assert!(new.quarantined().is_empty());
    }

    #[test]
    fn a_swap_that_never_happened_clears_itself() {
        let dir = tempfile::tempdir().unwrap();
        let exe = install(dir.path(), "binary 1.0");
        let old = BootSentinel::new(&exe, "1.0");
        old.arm_for_swap("2.0").unwrap();
        for _ in 0..5 {
            assert_eq!(old.check_on_boot(3).unwrap(), BootDecision::Proceed);
        }
        assert!(!old.is_quarantined("2.0"));
        assert!(!old.is_quarantined("1.0"));
    }
}
