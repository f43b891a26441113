//! The original's schedule fields this kanade does not act on, refused with the reason (422
//! naming the field) instead of the bare "unknown field" a typo gets, and those whose value is
//! already the behaviour (`runs_on: backend`, `rollout.strategy: wave`), accepted and dropped.
//! `runs_on: agent` and `when.on` are real (validated in `Schedule::validate`).

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
        Some(Some("agent")) => {}
        Some(_) => {
            return Err(ManifestError::invalid(
                "runs_on",
                "must be `backend` or `agent`",
            ));
        }
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
            ("runs_on: elsewhere\n", "runs_on", "`backend` or `agent`"),
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
        let err = Schedule::parse("id: s\njob_id: j\nwhen: {on: [logon]}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("when.on"), "{err}");
    }

    #[test]
    fn agent_side_schedules_follow_the_original_s_rules() {
        // The reference's own example, as written.
        let s = Schedule::parse(
            "id: logon-compliance\njob_id: check-bitlocker\nwhen: { on: [logon, unlock] }\n\
             runs_on: agent\ntarget: { all: true }\n",
        )
        .unwrap();
        assert_eq!(s.when.describe(), "on logon,unlock");
        let s = Schedule::parse(
            "id: logon-compliance\njob_id: check-bitlocker\nwhen: { on: [startup, logon] }\n\
             runs_on: agent\ntarget: { all: true }\n",
        )
        .unwrap();
        assert_eq!(s.runs_on, crate::schedule::RunsOn::Agent);
        assert_eq!(s.when.describe(), "on startup,logon");
        // It round-trips through KV's JSON.
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), s);
        let agent = "id: s\njob_id: j\nruns_on: agent\ntarget: {all: true}\n";
        for (rest, field) in [
            ("when: {per_target: once}\n", "when.per_target"),
            (
                "when: {cron: '0 3 * * *'}\nconstraints: {max_concurrent: 2}\n",
                "constraints.max_concurrent",
            ),
            ("when: {on: []}\n", "when.on"),
        ] {
            let err = Schedule::parse(&format!("{agent}{rest}"))
                .unwrap_err()
                .to_string();
            assert!(err.contains(field), "{rest}: {err}");
        }
        for rest in [
            "when: {per_pc: {every: 12h}}\n",
            "when: {calendar: {at: '10:00', days: [tue#2]}}\n",
            "when: {cron: '0 3 * * *'}\nconstraints: {window: '22:00-04:00', skip_dates: [2026-12-24]}\n",
        ] {
            Schedule::parse(&format!("{agent}{rest}")).unwrap();
        }
    }
}
