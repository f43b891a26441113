//! Reading a job's stdout as its hints ask: the inventory JSON and the check result, each
//! either in its own fenced block (`#KANADE-INVENTORY-BEGIN` … `#KANADE-INVENTORY-END`,
//! `#KANADE-CHECK-BEGIN` … `#KANADE-CHECK-END`) or, for a job with only one hint, as bare
//! JSON on stdout. Pure functions: the backend's results projector and the agent (its local
//! health view) share them, so both read a run the same way.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::manifest::{CheckHint, Manifest};

/// The payload kinds a job can fence in its stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HintKind {
    Inventory,
    Check,
    /// The file list of a `collect` hint (read by the agent).
    Collect,
}

impl HintKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            HintKind::Inventory => "inventory",
            HintKind::Check => "check",
            HintKind::Collect => "collect",
        }
    }

    pub fn begin(&self) -> &'static str {
        match self {
            HintKind::Inventory => "#KANADE-INVENTORY-BEGIN",
            HintKind::Check => "#KANADE-CHECK-BEGIN",
            HintKind::Collect => "#KANADE-COLLECT-BEGIN",
        }
    }

    pub fn end(&self) -> &'static str {
        match self {
            HintKind::Inventory => "#KANADE-INVENTORY-END",
            HintKind::Check => "#KANADE-CHECK-END",
            HintKind::Collect => "#KANADE-COLLECT-END",
        }
    }
}

/// Why a hint's payload could not be read. `Display` is the text recorded on the result.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct HintError {
    pub kind: HintKind,
    pub message: String,
}

/// The status of a compliance check on one machine. Anything a script prints that is not one
/// of the first three reads as `Unknown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Ok,
    Warn,
    Fail,
    Unknown,
}

impl CheckStatus {
    pub const ALL: [CheckStatus; 4] = [
        CheckStatus::Ok,
        CheckStatus::Warn,
        CheckStatus::Fail,
        CheckStatus::Unknown,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            CheckStatus::Ok => "ok",
            CheckStatus::Warn => "warn",
            CheckStatus::Fail => "fail",
            CheckStatus::Unknown => "unknown",
        }
    }

    /// Case-insensitive; anything else is `Unknown`.
    pub fn parse_lenient(text: &str) -> CheckStatus {
        match text.trim().to_ascii_lowercase().as_str() {
            "ok" => CheckStatus::Ok,
            "warn" => CheckStatus::Warn,
            "fail" => CheckStatus::Fail,
            _ => CheckStatus::Unknown,
        }
    }

    /// Strict parse, for operator input (alert lists, filters).
    pub fn parse(text: &str) -> Option<CheckStatus> {
        CheckStatus::ALL.into_iter().find(|s| s.as_str() == text)
    }
}

/// One check evaluated on one run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckOutcome {
    pub status: CheckStatus,
    pub detail: Option<String>,
}

/// Everything the hints of `manifest` make of one run's stdout. `errors` lists what could not
/// be read; what could be read is still returned.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HintOutcome {
    /// The inventory object, when the job has an `inventory:` hint and its payload parsed.
    pub inventory: Option<serde_json::Map<String, Value>>,
    /// The check result, when the job has a `check:` hint. A run whose check payload is
    /// missing or broken reports `Unknown` with the reason as detail.
    pub check: Option<CheckOutcome>,
    pub errors: Vec<HintError>,
}

/// The text between the last complete `kind` fence pair, trimmed. `Ok(None)` when stdout
/// has no such fence; an opening fence without its end is an error.
pub fn fenced(stdout: &str, kind: HintKind) -> Result<Option<&str>, HintError> {
    let mut found = None;
    let mut open: Option<usize> = None;
    let mut offset = 0;
    for line in stdout.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        match line.trim() {
            marker if marker == kind.begin() => open = Some(offset),
            marker if marker == kind.end() => {
                if let Some(body_start) = open.take() {
                    found = Some(stdout[body_start..start].trim());
                }
            }
            _ => {}
        }
    }
    if open.is_some() {
        return Err(HintError {
            kind,
            message: format!("{} without a following {}", kind.begin(), kind.end()),
        });
    }
    Ok(found)
}

/// The JSON payload of `kind`: its fenced block, else (when `bare_allowed`, i.e. the job has
/// no other hint) the whole stdout. `Ok(None)` when there is none to read.
pub fn payload(
    stdout: &str,
    kind: HintKind,
    bare_allowed: bool,
) -> Result<Option<Value>, HintError> {
    let text = match fenced(stdout, kind)? {
        Some(block) => block,
        None if bare_allowed && !stdout.trim().is_empty() => stdout.trim(),
        None => return Ok(None),
    };
    serde_json::from_str(text)
        .map(Some)
        .map_err(|err| HintError {
            kind,
            message: format!("the payload is not valid JSON ({err})"),
        })
}

/// Reads `check`'s status and detail fields out of a check payload.
pub fn check_outcome(value: &Value, check: &CheckHint) -> CheckOutcome {
    let status = match lookup(value, &check.status_field) {
        Some(Value::String(text)) => CheckStatus::parse_lenient(text),
        _ => CheckStatus::Unknown,
    };
    let detail = match lookup(value, &check.detail_field) {
        None | Some(Value::Null) => None,
        Some(Value::String(text)) => Some(text.clone()),
        Some(other) => Some(other.to_string()),
    };
    CheckOutcome { status, detail }
}

/// A field of a JSON object by dotted path (`a.b`).
pub fn lookup<'v>(value: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('.').try_fold(value, |v, key| v.get(key))
}

/// How many hints of `manifest` read JSON from stdout (inventory, check, collect): with exactly
/// one, its payload may be bare JSON instead of a fenced block.
pub fn json_hints(manifest: &Manifest) -> usize {
    [
        manifest.inventory.is_some(),
        manifest.check.is_some(),
        manifest.collect.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count()
}

/// Applies every hint of `manifest` to one finished run. A check is evaluated for any run
/// (a crash is evidence too: it reads `Unknown`); inventory only for `exit_code == 0`.
pub fn evaluate(manifest: &Manifest, stdout: &str, exit_code: i32) -> HintOutcome {
    let bare_allowed = json_hints(manifest) == 1;
    let mut outcome = HintOutcome::default();
    if manifest.inventory.is_some() && exit_code == 0 {
        match payload(stdout, HintKind::Inventory, bare_allowed) {
            Ok(Some(Value::Object(map))) => outcome.inventory = Some(map),
            Ok(Some(_)) => outcome.errors.push(HintError {
                kind: HintKind::Inventory,
                message: "the payload must be a JSON object".to_owned(),
            }),
            Ok(None) => outcome.errors.push(HintError {
                kind: HintKind::Inventory,
                message: "no inventory payload on stdout".to_owned(),
            }),
            Err(err) => outcome.errors.push(err),
        }
    }
    if let Some(check) = &manifest.check {
        let unknown = |detail: String| CheckOutcome {
            status: CheckStatus::Unknown,
            detail: Some(detail),
        };
        let result = match payload(stdout, HintKind::Check, bare_allowed) {
            Ok(Some(value)) => check_outcome(&value, check),
            Ok(None) if exit_code != 0 => {
                unknown(format!("the job exited {exit_code} without a check result"))
            }
            Ok(None) => {
                let message = "no check payload on stdout".to_owned();
                outcome.errors.push(HintError {
                    kind: HintKind::Check,
                    message: message.clone(),
                });
                unknown(message)
            }
            Err(err) => {
                let detail = err.message.clone();
                outcome.errors.push(err);
                unknown(detail)
            }
        };
        outcome.check = Some(result);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(hints: &str) -> Manifest {
        Manifest::parse(&format!(
            "id: j\nversion: 1\nexecute: {{shell: sh, script: x, timeout: 5s}}\n{hints}"
        ))
        .unwrap()
    }

    const BOTH: &str = "inventory: {}\ncheck: {name: c}\n";

    #[test]
    fn fences_take_the_last_complete_block_and_tolerate_noise() {
        let out = "noise\n#KANADE-CHECK-BEGIN\n{\"status\":\"warn\"}\n#KANADE-CHECK-END\r\n\
                   #KANADE-CHECK-BEGIN\r\n{\"status\":\"fail\"}\r\n  #KANADE-CHECK-END  \nbye";
        assert_eq!(
            fenced(out, HintKind::Check).unwrap(),
            Some("{\"status\":\"fail\"}")
        );
        assert_eq!(fenced(out, HintKind::Inventory).unwrap(), None);
        let err = fenced("#KANADE-CHECK-BEGIN\n{}", HintKind::Check).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("check: #KANADE-CHECK-BEGIN without")
        );
    }

    #[test]
    fn bare_json_only_for_a_single_hint_job() {
        let only = manifest("inventory: {}\n");
        let got = evaluate(&only, "{\"os\": \"linux\"}\n", 0);
        assert_eq!(got.inventory.unwrap()["os"], "linux");
        let both = manifest(BOTH);
        let got = evaluate(&both, "{\"os\": \"linux\"}\n", 0);
        assert!(got.inventory.is_none());
        assert_eq!(
            got.errors
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "inventory: no inventory payload on stdout",
                "check: no check payload on stdout"
            ]
        );
    }

    #[test]
    fn a_broken_block_is_an_error_and_the_other_still_applies() {
        let out = "#KANADE-INVENTORY-BEGIN\n{\"a\": 1,,}\n#KANADE-INVENTORY-END\n\
                   #KANADE-CHECK-BEGIN\n{\"status\": \"OK\", \"detail\": {\"n\": 2}}\n#KANADE-CHECK-END\n";
        let got = evaluate(&manifest(BOTH), out, 0);
        assert!(got.inventory.is_none());
        assert_eq!(got.errors.len(), 1);
        assert!(
            got.errors[0]
                .to_string()
                .starts_with("inventory: the payload is not valid JSON")
        );
        assert_eq!(
            got.check,
            Some(CheckOutcome {
                status: CheckStatus::Ok,
                detail: Some("{\"n\":2}".into())
            })
        );
    }

    #[test]
    fn statuses_read_leniently_and_crashes_are_unknown() {
        let m = manifest("check: {name: c, status_field: r.state, detail_field: why}\n");
        let cases = [
            (
                "{\"r\": {\"state\": \"Fail\"}, \"why\": \"x\"}",
                0,
                "fail Some(\"x\")",
            ),
            ("{\"r\": {\"state\": \"great\"}}", 0, "unknown None"),
            ("{\"r\": {\"state\": 3}}", 0, "unknown None"),
            (
                "",
                2,
                "unknown Some(\"the job exited 2 without a check result\")",
            ),
            ("", 0, "unknown Some(\"no check payload on stdout\")"),
        ];
        for (out, code, want) in cases {
            let c = evaluate(&m, out, code).check.unwrap();
            assert_eq!(
                format!("{} {:?}", c.status.as_str(), c.detail),
                want,
                "{out}"
            );
        }
        let inv = manifest("inventory: {}\n");
        assert_eq!(
            evaluate(&inv, "{}", 1),
            HintOutcome::default(),
            "no inventory from a failed run"
        );
    }
}
