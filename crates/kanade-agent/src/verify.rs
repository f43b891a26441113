//! The signature gate, first of all gates: every command must carry a valid signature by a key
//! of `command_keys`, made for the subject it arrived on, not too old and not from the future.
//! In mode `enforce` anything else is refused with exit 123 (a `skipped` result whose stderr
//! names why); in mode `report` it is logged and runs. A request id already seen is never run
//! again (the command intake's dedup), in either mode.

use std::collections::{HashSet, VecDeque};

use chrono::{DateTime, Utc};
use kanade_protocol::config::SignatureMode;
use kanade_protocol::names::exit_code;
use kanade_protocol::signing::{self, Rejection};
use kanade_protocol::wire::Command;

use crate::keyring::Keyring;

/// Why a command is not run, by this gate or the ones after it (`commands::check_gates`): the
/// reserved exit code and the text for stderr.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub exit_code: i32,
    pub reason: String,
}

/// Refused request ids remembered, so a refused command delivered twice reports once.
const REFUSED_MEMORY: usize = 1024;

/// What the intake does with a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    Run,
    Refuse(Refusal),
    /// Signed by a key this agent has not seen: read it from KV, then decide again.
    Recheck(String),
}

/// Decides on `cmd`, received on `subject`. `rechecked` is true on the second look after an
/// unknown key was fetched.
pub fn admit(
    cmd: &Command,
    subject: &str,
    keyring: &Keyring,
    mode: SignatureMode,
    rechecked: bool,
    now: DateTime<Utc>,
) -> Admission {
    let rejection = match signing::verify(
        cmd,
        subject,
        &keyring.snapshot(),
        now,
        signing::DEFAULT_MAX_AGE,
    ) {
        Ok(_) => return Admission::Run,
        Err(Rejection::UnknownKey(id)) if !rechecked => return Admission::Recheck(id),
        Err(rejection) => rejection,
    };
    match mode {
        SignatureMode::Report => {
            tracing::warn!(
                request_id = cmd.request_id,
                subject,
                reason = %rejection,
                "mode report: running a command whose signature would be refused"
            );
            Admission::Run
        }
        SignatureMode::Enforce => Admission::Refuse(Refusal {
            exit_code: exit_code::SIGNATURE_REFUSED,
            reason: format!("kanade: {rejection} — not running"),
        }),
    }
}

/// A bounded memory of refused request ids.
#[derive(Default)]
pub struct Refused {
    order: VecDeque<String>,
    ids: HashSet<String>,
}

impl Refused {
    /// True the first time `request_id` is refused.
    pub fn first(&mut self, request_id: &str) -> bool {
        if !self.ids.insert(request_id.to_owned()) {
            return false;
        }
        self.order.push_back(request_id.to_owned());
        if self.order.len() > REFUSED_MEMORY
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_are_remembered_within_a_bound() {
        let mut refused = Refused::default();
        assert!(refused.first("a"));
        assert!(!refused.first("a"));
        for i in 0..REFUSED_MEMORY {
            refused.first(&i.to_string());
        }
        assert!(refused.first("a"), "forgotten after the bound");
        assert!(refused.ids.len() <= REFUSED_MEMORY);
    }
}
