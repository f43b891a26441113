//! How one machine's run ended (ok, failed, skipped with its reason, timed out, killed, not
//! reported) and the counts of an execution by outcome, so the API, the CLI and the dashboard
//! say the same thing and colour an execution by its worst outcome, never green with failures.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::names::exit_code;

/// The line the agent appends to stderr when a script ran out of time.
pub const TIMED_OUT_MARK: &str = "kanade: timed out after ";
/// The line the agent appends to stderr when an operator killed the run.
pub const KILLED_MARK: &str = "kanade: killed by operator";

/// One run's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exit 0.
    Ok,
    /// Still running (no result yet).
    Running,
    /// Ran fine, but a check it reports warned (or could not tell): not "all pass".
    Warn,
    /// The agent did not run it (the exit code says why: 119–127).
    Skipped,
    /// An operator killed it (exit -1, `kanade kill`).
    Killed,
    /// The backend gave up waiting: no result came before the deadline.
    NotReported,
    /// The script ran out of time (exit -1).
    TimedOut,
    /// Any other exit code.
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Running => "running",
            Outcome::Warn => "warn",
            Outcome::Skipped => "skipped",
            Outcome::Killed => "killed",
            Outcome::NotReported => "not_reported",
            Outcome::TimedOut => "timed_out",
            Outcome::Failed => "failed",
        }
    }
}

/// Why the agent skipped a run, from its reserved exit code (the README's table).
pub fn skip_reason(code: i32) -> &'static str {
    match code {
        exit_code::NOT_BUILT => "unsupported command part",
        exit_code::NO_USER => "no user logged on",
        121 | exit_code::UNSUPPORTED => "unsupported here",
        exit_code::SIGNATURE_REFUSED => "signature refused",
        exit_code::VERSION_MISMATCH => "version pin mismatch",
        exit_code::DEADLINE_PASSED => "start deadline passed",
        exit_code::REVOKED => "revoked",
        exit_code::STALE => "desired state too old",
        _ => "refused by the agent",
    }
}

/// A run's outcome and the words that explain it ("timed out after 2s", "skipped: revoked",
/// "exit 3"), from its exit code, flags and the end of its stderr (where the agent writes why
/// it stopped a script).
pub fn classify(
    exit: Option<i32>,
    skipped: bool,
    reaped: bool,
    stderr_tail: &str,
) -> (Outcome, String) {
    if reaped {
        return (Outcome::NotReported, "not reported".to_owned());
    }
    let Some(code) = exit else {
        return (Outcome::Running, "running".to_owned());
    };
    if skipped {
        return (Outcome::Skipped, format!("skipped: {}", skip_reason(code)));
    }
    if code == 0 {
        return (Outcome::Ok, "ok".to_owned());
    }
    if code == exit_code::KILLED {
        if let Some(at) = stderr_tail.rfind(TIMED_OUT_MARK) {
            let rest = &stderr_tail[at + TIMED_OUT_MARK.len()..];
            let after = rest.split([';', '\n']).next().unwrap_or("").trim();
            return (Outcome::TimedOut, format!("timed out after {after}"));
        }
        if stderr_tail.contains(KILLED_MARK) {
            return (Outcome::Killed, "killed by an operator".to_owned());
        }
        return (Outcome::Failed, "exit -1 (stopped)".to_owned());
    }
    (Outcome::Failed, format!("exit {code}"))
}

/// An execution's runs counted by outcome. `waiting` is the targeted machines with no
/// result yet (neither running nor finished).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OutcomeCounts {
    pub ok: i64,
    pub failed: i64,
    pub timed_out: i64,
    pub killed: i64,
    pub skipped: i64,
    /// The backend gave up on them (reaped), plus machines never heard from once the
    /// execution is over.
    pub not_reported: i64,
    pub running: i64,
    pub waiting: i64,
    /// Skipped runs by reason ("revoked": 2).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub skip_reasons: BTreeMap<String, i64>,
    /// For a check job: its runs' check statuses (`ok`, `warn`, `fail`, `unknown`) counted.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub checks: BTreeMap<String, i64>,
}

impl OutcomeCounts {
    /// The worst outcome with a count: failed (a failed check too), timed out, not reported,
    /// killed, skipped, warn (a check that warned or could not tell), then running/waiting,
    /// then ok; `None` when nothing was counted yet.
    pub fn worst(&self) -> Option<Outcome> {
        let check = |s: &str| self.checks.get(s).copied().unwrap_or(0);
        [
            (Outcome::Failed, self.failed + check("fail")),
            (Outcome::TimedOut, self.timed_out),
            (Outcome::NotReported, self.not_reported),
            (Outcome::Killed, self.killed),
            (Outcome::Skipped, self.skipped),
            (Outcome::Warn, check("warn") + check("unknown")),
            (Outcome::Running, self.running + self.waiting),
            (Outcome::Ok, self.ok),
        ]
        .into_iter()
        .find(|(_, n)| *n > 0)
        .map(|(o, _)| o)
    }

    /// "2 ok, 1 failed, 1 timed out, 1 skipped (revoked), 3 waiting": the non-zero counts.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        let mut push = |n: i64, what: String| {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        };
        push(self.ok, "ok".into());
        push(self.failed, "failed".into());
        push(self.timed_out, "timed out".into());
        push(self.killed, "killed".into());
        let reasons = self
            .skip_reasons
            .iter()
            .map(|(r, n)| {
                if *n == self.skipped {
                    r.clone()
                } else {
                    format!("{n} {r}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        push(
            self.skipped,
            if reasons.is_empty() {
                "skipped".into()
            } else {
                format!("skipped ({reasons})")
            },
        );
        push(self.not_reported, "not reported".into());
        push(self.running, "running".into());
        push(self.waiting, "waiting".into());
        if parts.is_empty() {
            return "no results".to_owned();
        }
        let mut text = parts.join(", ");
        if !self.checks.is_empty() {
            let checks: Vec<String> = ["ok", "warn", "fail", "unknown"]
                .iter()
                .filter_map(|s| self.checks.get(*s).map(|n| format!("{n} {s}")))
                .collect();
            text.push_str(&format!("; checks: {}", checks.join(", ")));
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_names_its_limit_and_a_kill_is_not_a_failure() {
        let (o, note) = classify(
            Some(-1),
            false,
            false,
            "partial\nkanade: timed out after 2s; process tree killed\n",
        );
        assert_eq!(
            (o, note.as_str()),
            (Outcome::TimedOut, "timed out after 2s")
        );
        let (o, _) = classify(Some(-1), false, false, "kanade: killed by operator\n");
        assert_eq!(o, Outcome::Killed);
        // A script that prints the mark itself but exits 3 is a plain failure.
        let (o, note) = classify(Some(3), false, false, "kanade: timed out after 2s");
        assert_eq!((o, note.as_str()), (Outcome::Failed, "exit 3"));
    }

    #[test]
    fn a_skip_says_why_from_the_code_and_reaped_is_not_reported() {
        assert_eq!(classify(Some(126), true, false, "").1, "skipped: revoked");
        // 126 from a script (not skipped) is a failure.
        assert_eq!(classify(Some(126), false, false, "").0, Outcome::Failed);
        assert_eq!(classify(Some(-1), false, true, "").0, Outcome::NotReported);
        assert_eq!(classify(None, false, false, "").0, Outcome::Running);
        assert_eq!(classify(Some(0), false, false, "").0, Outcome::Ok);
    }

    #[test]
    fn the_worst_outcome_wins_and_ok_only_when_all_ok() {
        let mut c = OutcomeCounts {
            ok: 5,
            ..Default::default()
        };
        assert_eq!(c.worst(), Some(Outcome::Ok));
        c.skipped = 1;
        c.skip_reasons.insert("revoked".into(), 1);
        assert_eq!(c.worst(), Some(Outcome::Skipped));
        c.timed_out = 1;
        assert_eq!(c.worst(), Some(Outcome::TimedOut));
        c.failed = 1;
        assert_eq!(c.worst(), Some(Outcome::Failed));
        assert_eq!(
            c.describe(),
            "5 ok, 1 failed, 1 timed out, 1 skipped (revoked)"
        );
        assert_eq!(OutcomeCounts::default().worst(), None);
        // Every run ok but a check warned: not "all pass".
        let mut warned = OutcomeCounts {
            ok: 2,
            ..Default::default()
        };
        warned.checks.insert("ok".into(), 1);
        warned.checks.insert("warn".into(), 1);
        assert_eq!(warned.worst(), Some(Outcome::Warn));
        assert_eq!(warned.describe(), "2 ok; checks: 1 ok, 1 warn");
        warned.checks.insert("fail".into(), 1);
        assert_eq!(warned.worst(), Some(Outcome::Failed));
        assert_eq!(OutcomeCounts::default().describe(), "no results");
    }
}
