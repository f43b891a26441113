//! The original's job-manifest fields this kanade does not act on, each refused with the
//! reason (422 naming the field) instead of the bare "unknown field" a typo gets, and the
//! few whose value this kanade already honours by default (`tier: endpoint`), which are
//! accepted and dropped; `check.fleet` is only type-checked here (see `CheckHint::fleet`). `require_approval` is acted on (the
//! two-person rule, see `approval`) and only type-checked here. Nothing is silently ignored:
//! what stays in the manifest is acted on.

use serde_json::Value;

use super::ManifestError;

const CLIENT_APP: &str =
    "belongs to the original's end-user client app, which this kanade does not have";
const MOVED: &str =
    "moved out of the job in the original's v0.18: put it in the schedule or the exec request";

/// Top-level fields refused outright, with why.
const REFUSED: &[(&str, &str)] = &[
    ("client", CLIENT_APP),
    ("user_invokable", CLIENT_APP),
    ("category", CLIENT_APP),
    ("display_name", CLIENT_APP),
    ("display_description", CLIENT_APP),
    ("icon", CLIENT_APP),
    (
        "aggregate",
        "Analytics widgets are not built: remove it (the emitted events are on the machine's timeline)",
    ),
    (
        "feed",
        "external feeds and the controller tier are not built",
    ),
    ("target", MOVED),
    ("rollout", MOVED),
    ("jitter", MOVED),
    (
        "on_failure",
        "retries belong to the schedule here (`on_failure: {retry: …}` in the schedule)",
    ),
];

/// Refuses what is not acted on and drops what is already the behaviour; `value` is the
/// parsed document.
pub fn screen(value: &mut Value) -> Result<(), ManifestError> {
    let Some(object) = value.as_object_mut() else {
        return Ok(());
    };
    for (field, why) in REFUSED {
        if object.contains_key(*field) {
            return Err(ManifestError::invalid(field, *why));
        }
    }
    match object.get("require_approval") {
        None | Some(Value::Bool(_)) => {}
        Some(_) => {
            return Err(ManifestError::invalid(
                "require_approval",
                "must be true or false",
            ));
        }
    }
    match object.get("tier").and_then(Value::as_str) {
        None if !object.contains_key("tier") => {}
        Some("endpoint") => {
            object.remove("tier");
        }
        Some("controller") => {
            return Err(ManifestError::invalid(
                "tier",
                "the controller tier (trusted runners) is not built; `endpoint` is the only tier",
            ));
        }
        _ => {
            return Err(ManifestError::invalid(
                "tier",
                "must be `endpoint` or `controller`",
            ));
        }
    }
    if let Some(Value::Object(execute)) = object.get("execute")
        && execute.contains_key("script_object")
    {
        return Err(ManifestError::invalid(
            "execute.script_object",
            "the scripts object store is not built: inline the script (`script`) or name a file (`script_file`)",
        ));
    }
    if let Some(Value::Object(check)) = object.get_mut("check") {
        match check.get("fleet") {
            // `CheckHint::fleet`: false keeps the check out of the fleet compliance views.
            None | Some(Value::Bool(_)) => {}
            Some(_) => {
                return Err(ManifestError::invalid(
                    "check.fleet",
                    "must be true or false",
                ));
            }
        }
        for field in ["health", "troubleshoot"] {
            if check.contains_key(field) {
                return Err(ManifestError::invalid(
                    &format!("check.{field}"),
                    CLIENT_APP,
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Manifest;

    const BASE: &str =
        "id: j\nversion: 1\nexecute:\n  shell: sh\n  script: echo hi\n  timeout: 10s\n";

    fn parse(extra: &str) -> Result<Manifest, String> {
        Manifest::parse(&format!("{BASE}{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_original_s_fields_are_refused_with_the_reason() {
        for (extra, field, why) in [
            (
                "client: {name: x, category: catalog}\n",
                "client",
                "client app",
            ),
            ("target: {all: true}\n", "target", "v0.18"),
            ("tier: controller\n", "tier", "controller tier"),
            (
                "check: {name: c, fleet: 0}\n",
                "check.fleet",
                "true or false",
            ),
            (
                "check: {name: c, troubleshoot: fix}\n",
                "check.troubleshoot",
                "client app",
            ),
        ] {
            let err = parse(extra).unwrap_err();
            assert!(err.contains(field) && err.contains(why), "{extra}: {err}");
        }
        let err = Manifest::parse(&BASE.replace("script: echo hi", "script_object: s/1"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("execute.script_object"), "{err}");
    }

    #[test]
    fn what_is_already_the_behaviour_is_accepted() {
        assert!(
            !parse("require_approval: false\ntier: endpoint\n")
                .unwrap()
                .require_approval
        );
        // The original's shape, acted on (the two-person rule).
        assert!(parse("require_approval: true\n").unwrap().require_approval);
        let err = parse("require_approval: yes please\n").unwrap_err();
        assert!(err.contains("require_approval"), "{err}");
        let with_check = parse("check: {name: c, fleet: true}\n").unwrap();
        assert_eq!(with_check.check.as_ref().unwrap().name, "c");
        assert!(with_check.check.unwrap().fleet);
        // A gate-only check (the original's `fleet: false`): stored, out of the fleet views.
        let gate = parse("check: {name: c, fleet: false}\n").unwrap();
        assert!(!gate.check.unwrap().fleet);
        assert!(parse("check: {name: c}\n").unwrap().check.unwrap().fleet);
        // A typo is still a typo.
        let err = parse("colect: {}\n").unwrap_err();
        assert!(err.contains("colect"), "{err}");
    }
}
