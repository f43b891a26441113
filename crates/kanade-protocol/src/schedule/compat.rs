//! The original's schedule fields this kanade does not act on, refused with the reason (422
//! naming the field) instead of the bare "unknown field" a typo gets, and those whose value is
//! already the behaviour (`runs_on: backend`, `rollout.strategy: wave`), accepted and dropped.

use serde_json::Value;

use crate::manifest::ManifestError;

/// Refuses what is not acted on and drops what is already the behaviour.
pub fn screen(value: &mut Value) -> Result<(), ManifestError> {
    let Some(object) = value.as_object_mut() else {
        return Ok(());
    };
    match object.get("runs_on").map(|v| v.as_str()) {
        None => {}
        Some(Some("backend")) => {
            object.remove("runs_on");
        }
        Some(Some("agent")) => {
            return Err(ManifestError::invalid(
                "runs_on",
                "agent-side schedules (each agent ticking on its own clock) are not built yet; \
                 `backend` (the default) fires from the backend",
            ));
        }
        Some(_) => {
            return Err(ManifestError::invalid(
                "runs_on",
                "must be `backend` or `agent`",
            ));
        }
    }
    if let Some(Value::Object(when)) = object.get("when")
        && when.contains_key("on")
    {
        return Err(ManifestError::invalid(
            "when.on",
            "OS-event triggers (startup, logon, lock, unlock) need agent-side schedules \
             (`runs_on: agent`), which are not built yet",
        ));
    }
    if let Some(Value::Object(rollout)) = object.get_mut("rollout") {
        match rollout.get("strategy").map(|v| v.as_str()) {
            None => {}
            Some(Some("wave")) => {
                rollout.remove("strategy");
            }
            Some(_) => {
                return Err(ManifestError::invalid(
                    "rollout.strategy",
                    "`wave` is the only rollout strategy",
                ));
            }
        }
    }
    if let Some(Value::Object(constraints)) = object.get("constraints")
        && constraints.contains_key("require")
    {
        return Err(ManifestError::invalid(
            "constraints.require",
            "idle/AC/network gates are reserved in the original too and not built here",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::schedule::Schedule;

    const BASE: &str = "id: s\njob_id: j\nwhen: {cron: '0 3 * * *'}\n";

    fn parse(extra: &str) -> Result<Schedule, String> {
        Schedule::parse(&format!("{BASE}{extra}")).map_err(|e| e.to_string())
    }

    #[test]
    fn the_original_s_wave_rollout_and_runs_on_backend_are_taken_as_written() {
        let s = Schedule::parse(
            "id: s\njob_id: j\nwhen: {cron: '0 3 * * *'}\nruns_on: backend\n\
             rollout: {strategy: wave, waves: [{group: canary}, {group: office, delay: 30m}]}\n",
        )
        .unwrap();
        let rollout = s.rollout.unwrap();
        assert_eq!(rollout.waves.len(), 2);
        assert_eq!(rollout.waves[1].group, "office");
    }

    #[test]
    fn what_is_not_built_is_refused_with_the_reason() {
        for (extra, field, why) in [
            ("runs_on: agent\n", "runs_on", "not built yet"),
            (
                "rollout: {strategy: canary, waves: [{group: a}]}\n",
                "rollout.strategy",
                "only rollout strategy",
            ),
            (
                "constraints: {require: [idle]}\n",
                "constraints.require",
                "reserved",
            ),
        ] {
            let err = parse(extra).unwrap_err();
            assert!(err.contains(field) && err.contains(why), "{extra}: {err}");
        }
        let err = Schedule::parse("id: s\njob_id: j\nwhen: {on: [logon]}\nruns_on: agent\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("runs_on"), "{err}");
        let err = Schedule::parse("id: s\njob_id: j\nwhen: {on: [logon]}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("when.on"), "{err}");
    }
}
