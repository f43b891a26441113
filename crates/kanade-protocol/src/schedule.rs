//! Schedules as operators write them (KV `schedules`): which job runs when, where and under
//! which constraints; the wave `Rollout` shared with ad-hoc exec; and the schedule API's
//! response bodies. `Schedule::parse` names the path of a bad key, `validate()` the field that
//! breaks a rule. The pieces the scheduler evaluates (`At`, `Day`, `Zone`, `Window`, `Moment`)
//! are parsed here too, so the CLI, the API and the scheduler read a schedule the same way.

use chrono::{DateTime, NaiveDate, NaiveDateTime, NaiveTime, Utc, Weekday};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod compat;
pub mod policy;

use crate::api::Target;
use crate::duration::HumanDuration;
use crate::manifest::{ManifestError, is_valid_id};
use crate::subject;

/// Most waves one rollout may have.
pub const MAX_WAVES: usize = 20;

/// A registered schedule (KV `schedules`, JSON; the text as written is in `schedules_yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Schedule {
    pub id: String,
    pub job_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    pub when: When,
    /// Where it runs; leave empty when `rollout` names the groups.
    #[serde(default, skip_serializing_if = "target_is_empty")]
    pub target: Target,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<HumanDuration>,
    /// Commands carry `deadline_at` = fire time + this; machines that cannot start by then skip.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_deadline: Option<HumanDuration>,
    /// `local` (default, as in the original: the backend's zone), `utc` or an IANA name such
    /// as `Europe/Berlin`.
    #[serde(default = "default_tz")]
    pub tz: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<Active>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraints: Option<Constraints>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<OnFailure>,
    /// `backend` (the default: the backend's scheduler fires it) or `agent` (every targeted
    /// agent fires it on its own clock from its cached copy, also while the broker is away).
    #[serde(default, skip_serializing_if = "RunsOn::is_backend")]
    pub runs_on: RunsOn,
}

/// Which scheduler fires a schedule.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum RunsOn {
    #[default]
    Backend,
    Agent,
}

impl RunsOn {
    pub fn is_backend(&self) -> bool {
        *self == RunsOn::Backend
    }
}

/// An event on the machine that fires an agent-side schedule (`when: {on: [...]}`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum OsEvent {
    /// Once per boot of the machine (an agent restart in the same boot does not count again).
    Startup,
    /// A user session becomes the machine's active local session (logind).
    Logon,
    /// The active user session's screen locks (logind's `LockedHint`, over D-Bus).
    Lock,
    /// The active user session's screen unlocks.
    Unlock,
}

impl OsEvent {
    pub fn as_str(&self) -> &'static str {
        match self {
            OsEvent::Startup => "startup",
            OsEvent::Logon => "logon",
            OsEvent::Lock => "lock",
            OsEvent::Unlock => "unlock",
        }
    }
}

/// When a schedule fires: exactly one of these keys.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum When {
    /// `{at: "HH:MM" | "YYYY-MM-DD HH:MM", days: [...]}`.
    Calendar(Calendar),
    /// A 5-field (minute first) or 6-field (second first) cron expression.
    Cron(String),
    /// Each machine of the target runs the job once, or again `every` after its last success.
    PerPc(Reconcile),
    /// The target as a whole runs it once, or again `every` after its newest success.
    PerTarget(Reconcile),
    /// Events on the machine (`runs_on: agent` only): `startup`, `logon`.
    On(Vec<OsEvent>),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Calendar {
    pub at: String,
    /// `mon`, `tue-fri`, `weekdays`, `weekends`, `daily`, `tue#2` (second Tuesday), `friL` (last
    /// Friday), `1`..`31` (day of the month), `last` (last day of the month). Empty = daily.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days: Vec<String>,
}

/// `once`, or `{every: 12h}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reconcile {
    Once,
    Every(HumanDuration),
}

/// Waves: each publishes to `commands.group.<group>` once `delay` has passed since the start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    pub waves: Vec<Wave>,
    /// Before a later wave goes out, halt when more than this percentage of the results so far
    /// failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub halt_on_failure_pct: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Wave {
    pub group: String,
    #[serde(default)]
    pub delay: HumanDuration,
}

/// The period outside which the schedule is dormant. Either end may be open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Active {
    /// `YYYY-MM-DD`, `YYYY-MM-DD HH:MM` (in the schedule's zone) or an RFC 3339 instant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Constraints {
    /// `HH:MM-HH:MM` in the schedule's zone; may wrap midnight (`22:00-04:00`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skip_dates: Vec<NaiveDate>,
    /// At most this many of the schedule's executions (per_pc: machines) unfinished at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_concurrent: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OnFailure {
    pub retry: Retry,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Retry {
    /// 1 to 10 more attempts on the machines that failed.
    pub max: u32,
    #[serde(default = "default_backoff")]
    pub backoff: HumanDuration,
}

/// One row of `GET /api/schedules`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleSummary {
    pub id: String,
    pub job_id: String,
    pub enabled: bool,
    /// `cron */2 * * * * *`, `calendar 03:00 mon-fri`, `per_pc every 12h` ...
    pub when: String,
    /// The next time it fires; `None` for per_pc/per_target (they reconcile continuously),
    /// disabled schedules and schedules that will never fire again.
    #[serde(default)]
    pub next_fire: Option<DateTime<Utc>>,
    /// When it last fired (its newest execution, by the backend's scheduler or, for
    /// `runs_on: agent`, by an agent); `None` when it never did or that was cleaned up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fire: Option<DateTime<Utc>>,
}

/// `GET /api/schedules/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleDetail {
    pub schedule: Schedule,
    #[serde(default)]
    pub yaml: Option<String>,
    #[serde(default)]
    pub next_fire: Option<DateTime<Utc>>,
}

/// `POST /api/schedules:preview`: when a draft schedule would fire, without saving it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SchedulePreview {
    /// `calendar 03:00 mon-fri`, `cron 0 */2 * * *` ...
    pub when: String,
    /// Whether the draft is enabled (the fires are computed as if it were).
    pub enabled: bool,
    /// The next fires after now, constraints applied; empty for per_pc/per_target/on (they
    /// do not fire on a clock) and for a schedule that will never fire again.
    pub next_fires: Vec<DateTime<Utc>>,
}

/// One row of `GET /api/schedules/upcoming`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UpcomingFire {
    pub schedule_id: String,
    pub job_id: String,
    pub at: DateTime<Utc>,
}

/// Where a rollout stands, on `GET /api/executions/{id}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutProgress {
    /// `running`, `held` (the next wave came due while the fleet is frozen and waits for the
    /// thaw; `note` says which), `done` or `halted`.
    pub status: String,
    pub waves_total: u32,
    pub waves_published: u32,
    #[serde(default)]
    pub note: Option<String>,
}

/// A wave rollout in progress (KV `exec_rollouts`, key = exec id): the command every wave
/// publishes and how many waves are out. Whichever backend runs the scheduler drives it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RolloutPlan {
    pub exec_id: String,
    pub job_id: String,
    pub initiated_by: String,
    pub started_at: DateTime<Utc>,
    pub rollout: Rollout,
    pub command: crate::wire::Command,
    #[serde(default)]
    pub waves_published: u32,
    /// When the next wave came due while the fleet was frozen (it waits for the thaw).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_since: Option<DateTime<Utc>>,
    /// Seconds waves were held by freezes so far: added to every later wave's delay, so the
    /// waves after a thaw keep their spacing instead of going out at once.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub held_secs: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl RolloutPlan {
    /// When wave `index` is due: its delay after the start, plus the time freezes held
    /// earlier waves.
    pub fn due(&self, index: usize) -> Option<DateTime<Utc>> {
        let wave = self.rollout.waves.get(index)?;
        let delay = chrono::Duration::from_std(wave.delay.0).unwrap_or_default();
        let held = i64::try_from(self.held_secs)
            .ok()
            .and_then(chrono::Duration::try_seconds)
            .unwrap_or_default();
        self.started_at.checked_add_signed(delay + held)
    }
}

impl Schedule {
    /// Parses and validates a schedule from YAML or JSON text.
    pub fn parse(text: &str) -> Result<Schedule, ManifestError> {
        let mut value = crate::manifest::parse_value(text)?;
        compat::screen(&mut value)?;
        let schedule: Schedule = crate::manifest::from_value(value)?;
        schedule.validate()?;
        Ok(schedule)
    }

    /// Rules that types alone cannot express. Returns the first broken rule.
    pub fn validate(&self) -> Result<(), ManifestError> {
        const ID_RULE: &str = "must be 1-64 characters of letters, digits, '-', '_' or '.', starting with a letter or digit, not ending with '.'";
        if !is_valid_id(&self.id) {
            return Err(invalid("id", ID_RULE));
        }
        if !is_valid_id(&self.job_id) {
            return Err(invalid("job_id", ID_RULE));
        }
        let zone = Zone::parse(&self.tz).map_err(|m| invalid("tz", m))?;
        match &self.when {
            When::Calendar(calendar) => calendar.validate(zone)?,
            When::Cron(text) => {
                cron(text).map_err(|m| invalid("when.cron", m))?;
            }
            When::PerPc(r) | When::PerTarget(r) => {
                let field = match self.when {
                    When::PerPc(_) => "when.per_pc.every",
                    _ => "when.per_target.every",
                };
                if let Reconcile::Every(every) = r
                    && !(60..=366 * 24 * 3600).contains(&every.as_secs())
                {
                    return Err(invalid(field, "must be between 1m and 366days"));
                }
            }
            When::On(events) => {
                if self.runs_on != RunsOn::Agent {
                    return Err(invalid(
                        "when.on",
                        "OS-event triggers fire on the machine: they need `runs_on: agent`",
                    ));
                }
                if events.is_empty() {
                    return Err(invalid("when.on", "must name at least one event"));
                }
            }
        }
        if self.runs_on == RunsOn::Agent {
            if matches!(self.when, When::PerTarget(_)) {
                return Err(invalid(
                    "when.per_target",
                    "is not available with `runs_on: agent`: each agent only knows its own runs",
                ));
            }
            if self.rollout.is_some() {
                return Err(invalid(
                    "rollout",
                    "is not available with `runs_on: agent`: each agent fires for itself",
                ));
            }
            if self
                .constraints
                .as_ref()
                .is_some_and(|c| c.max_concurrent.is_some())
            {
                return Err(invalid(
                    "constraints.max_concurrent",
                    "is a fleet-wide cap, which agent-side schedules cannot keep (backend only)",
                ));
            }
        }
        match (&self.rollout, target_is_empty(&self.target)) {
            (None, _) => self.target.validate()?,
            (Some(_), false) => {
                return Err(invalid(
                    "target",
                    "leave it out when `rollout` is set: the waves' groups are the target",
                ));
            }
            (Some(_), true) if matches!(self.when, When::PerPc(_)) => {
                return Err(invalid(
                    "rollout",
                    "is not available with per_pc, which targets machines one by one",
                ));
            }
            (Some(rollout), true) => rollout.validate("rollout")?,
        }
        if self.jitter.is_some_and(|j| j.as_secs() > 24 * 3600) {
            return Err(invalid("jitter", "must be at most 24h"));
        }
        if self.starting_deadline.is_some_and(|d| d.as_secs() == 0) {
            return Err(invalid("starting_deadline", "must be at least 1s"));
        }
        if let Some(active) = &self.active {
            let from = active.from.as_deref().map(Moment::parse).transpose();
            let from = from.map_err(|m| invalid("active.from", m))?;
            let until = active.until.as_deref().map(Moment::parse).transpose();
            let until = until.map_err(|m| invalid("active.until", m))?;
            if let (Some(from), Some(until)) = (from, until)
                && from.to_utc(zone) >= until.to_utc(zone)
            {
                return Err(invalid("active.until", "must be after active.from"));
            }
        }
        if let Some(constraints) = &self.constraints {
            if let Some(window) = &constraints.window {
                Window::parse(window).map_err(|m| invalid("constraints.window", m))?;
            }
            if constraints.max_concurrent == Some(0) {
                return Err(invalid("constraints.max_concurrent", "must be at least 1"));
            }
        }
        if let Some(on_failure) = &self.on_failure {
            if !(1..=10).contains(&on_failure.retry.max) {
                return Err(invalid("on_failure.retry.max", "must be between 1 and 10"));
            }
            if on_failure.retry.backoff.as_secs() == 0 {
                return Err(invalid("on_failure.retry.backoff", "must be at least 1s"));
            }
        }
        Ok(())
    }

    /// The zone the schedule's times are in (`validate` guarantees it parses).
    pub fn zone(&self) -> Zone {
        Zone::parse(&self.tz).unwrap_or(Zone::Utc)
    }

    pub fn summary(&self, next_fire: Option<DateTime<Utc>>) -> ScheduleSummary {
        ScheduleSummary {
            id: self.id.clone(),
            job_id: self.job_id.clone(),
            enabled: self.enabled,
            when: self.when.describe(),
            next_fire,
            last_fire: None,
        }
    }
}

impl When {
    /// One line for tables: `cron 0 3 * * *`, `calendar 03:00 mon-fri`, `per_pc every 12h`.
    pub fn describe(&self) -> String {
        let reconcile = |r: &Reconcile| match r {
            Reconcile::Once => "once".to_owned(),
            Reconcile::Every(every) => format!("every {every}"),
        };
        match self {
            When::Calendar(c) if c.days.is_empty() => format!("calendar {}", c.at),
            When::Calendar(c) => format!("calendar {} {}", c.at, c.days.join(",")),
            When::Cron(text) => format!("cron {}", text.trim()),
            When::PerPc(r) => format!("per_pc {}", reconcile(r)),
            When::PerTarget(r) => format!("per_target {}", reconcile(r)),
            When::On(events) => format!(
                "on {}",
                events
                    .iter()
                    .map(OsEvent::as_str)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        }
    }
}

impl Calendar {
    fn validate(&self, zone: Zone) -> Result<(), ManifestError> {
        let at = At::parse(&self.at).map_err(|m| invalid("when.calendar.at", m))?;
        for (i, day) in self.days.iter().enumerate() {
            Day::parse(day).map_err(|m| invalid(&format!("when.calendar.days[{i}]"), m))?;
        }
        match at {
            At::Once(_) if !self.days.is_empty() => Err(invalid(
                "when.calendar.days",
                "a date-time `at` fires once; leave `days` out",
            )),
            At::Once(local) if zone.resolve(local).is_none() => Err(invalid(
                "when.calendar.at",
                format!("{local} does not exist in {zone} (the clocks skip it)"),
            )),
            _ => Ok(()),
        }
    }

    /// The calendar as a 6-field cron pattern (second first), or `None` for a one-shot `at`.
    pub fn cron_pattern(&self) -> Result<Option<String>, String> {
        let time = match At::parse(&self.at)? {
            At::Once(_) => return Ok(None),
            At::Daily(time) => time,
        };
        let mut month_days: Vec<String> = Vec::new();
        let mut week_days: Vec<String> = Vec::new();
        let mut every = self.days.is_empty();
        for text in &self.days {
            for day in Day::parse(text)? {
                match day {
                    Day::Every => every = true,
                    Day::Weekday(d) => week_days.push(d.num_days_from_sunday().to_string()),
                    Day::Nth(d, n) => week_days.push(format!("{}#{n}", d.num_days_from_sunday())),
                    Day::Last(d) => week_days.push(format!("{}L", d.num_days_from_sunday())),
                    Day::MonthDay(n) => month_days.push(n.to_string()),
                    Day::LastOfMonth => month_days.push("L".to_owned()),
                }
            }
        }
        let list = |items: &mut Vec<String>| {
            items.dedup();
            match items.is_empty() {
                true => "*".to_owned(),
                false => items.join(","),
            }
        };
        let (dom, dow) = match every {
            true => ("*".to_owned(), "*".to_owned()),
            false => (list(&mut month_days), list(&mut week_days)),
        };
        use chrono::Timelike;
        Ok(Some(format!(
            "{} {} {} {dom} * {dow}",
            time.second(),
            time.minute(),
            time.hour()
        )))
    }
}

impl Rollout {
    /// Checks the waves; `prefix` is where the rollout sits (`rollout`).
    pub fn validate(&self, prefix: &str) -> Result<(), ManifestError> {
        if self.waves.is_empty() || self.waves.len() > MAX_WAVES {
            return Err(invalid(
                &format!("{prefix}.waves"),
                format!("name 1 to {MAX_WAVES} waves"),
            ));
        }
        let mut previous = HumanDuration::default();
        for (i, wave) in self.waves.iter().enumerate() {
            if !subject::is_valid_token(&wave.group) {
                return Err(invalid(
                    &format!("{prefix}.waves[{i}].group"),
                    format!(
                        "`{}` is not a valid group name (letters, digits, '-' and '_' only)",
                        wave.group
                    ),
                ));
            }
            if wave.delay < previous {
                return Err(invalid(
                    &format!("{prefix}.waves[{i}].delay"),
                    "delays count from the start and must not decrease from wave to wave",
                ));
            }
            if wave.delay.as_secs() > 7 * 24 * 3600 {
                return Err(invalid(
                    &format!("{prefix}.waves[{i}].delay"),
                    "must be at most 7days",
                ));
            }
            previous = wave.delay;
        }
        if let Some(pct) = self.halt_on_failure_pct
            && !(pct.is_finite() && (0.0..=100.0).contains(&pct))
        {
            return Err(invalid(
                &format!("{prefix}.halt_on_failure_pct"),
                "must be a percentage between 0 and 100",
            ));
        }
        Ok(())
    }

    /// The groups of all waves, in wave order, without repeats.
    pub fn groups(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for wave in &self.waves {
            if !out.contains(&wave.group) {
                out.push(wave.group.clone());
            }
        }
        out
    }
}

/// The one cron parser: seconds optional, so both 5 fields (minute first) and 6 fields
/// (second first) work. Other lengths and `@nicknames` are refused.
pub fn cron(text: &str) -> Result<croner::Cron, String> {
    let fields = text.split_whitespace().count();
    if !(5..=6).contains(&fields) || text.contains('@') {
        return Err(format!(
            "`{text}` has {fields} fields; write 5 (minute hour day month weekday) or 6 (second first)"
        ));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Optional)
        .build()
        .parse(text)
        .map_err(|err| format!("`{text}` is not a cron expression: {err}"))
}

/// The time part of a calendar: every matching day at a time, or once at a date and time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum At {
    Daily(NaiveTime),
    Once(NaiveDateTime),
}

impl At {
    /// `HH:MM`, `HH:MM:SS`, or a date before it: `YYYY-MM-DD HH:MM` (also `T` or `/`).
    pub fn parse(text: &str) -> Result<At, String> {
        let t = text.trim();
        for format in ["%H:%M", "%H:%M:%S"] {
            if let Ok(time) = NaiveTime::parse_from_str(t, format) {
                return Ok(At::Daily(time));
            }
        }
        let normal = t.replace('/', "-").replacen('T', " ", 1);
        for format in ["%Y-%m-%d %H:%M", "%Y-%m-%d %H:%M:%S"] {
            if let Ok(at) = NaiveDateTime::parse_from_str(&normal, format) {
                return Ok(At::Once(at));
            }
        }
        Err(format!(
            "`{text}` is neither HH:MM nor YYYY-MM-DD HH:MM (24-hour clock)"
        ))
    }
}

/// One entry of `calendar.days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Day {
    Every,
    Weekday(Weekday),
    /// The n-th (1-5) such weekday of the month.
    Nth(Weekday, u8),
    /// The last such weekday of the month.
    Last(Weekday),
    MonthDay(u8),
    LastOfMonth,
}

impl Day {
    /// One entry; ranges (`mon-fri`, also wrapping `fri-mon`) and `weekends` give several days.
    pub fn parse(text: &str) -> Result<Vec<Day>, String> {
        let t = text.trim().to_ascii_lowercase();
        let weekday = |s: &str| -> Option<Weekday> {
            let w = match s.get(..3)? {
                "mon" => Weekday::Mon,
                "tue" => Weekday::Tue,
                "wed" => Weekday::Wed,
                "thu" => Weekday::Thu,
                "fri" => Weekday::Fri,
                "sat" => Weekday::Sat,
                "sun" => Weekday::Sun,
                _ => return None,
            };
            let full = ["mon", "tues", "wednes", "thurs", "fri", "satur", "sun"]
                [w.num_days_from_monday() as usize];
            (s.len() == 3 || s == format!("{full}day")).then_some(w)
        };
        let bad = || {
            format!(
                "`{text}` is not a day: write mon..sun, a range (mon-fri), weekdays, weekends, daily, tue#2, friL, 1-31 or last"
            )
        };
        match t.as_str() {
            "daily" | "everyday" | "*" => Ok(vec![Day::Every]),
            "weekdays" => weekday_range(Weekday::Mon, Weekday::Fri),
            "weekends" => Ok(vec![Day::Weekday(Weekday::Sat), Day::Weekday(Weekday::Sun)]),
            "last" => Ok(vec![Day::LastOfMonth]),
            _ => {
                if let Ok(n) = t.parse::<u8>() {
                    return match (1..=31).contains(&n) {
                        true => Ok(vec![Day::MonthDay(n)]),
                        false => Err(format!("`{text}`: a day of the month is 1 to 31")),
                    };
                }
                if let Some((day, n)) = t.split_once('#') {
                    let day = weekday(day).ok_or_else(bad)?;
                    return match n.parse::<u8>() {
                        Ok(n @ 1..=5) => Ok(vec![Day::Nth(day, n)]),
                        _ => Err(format!("`{text}`: the week number after # is 1 to 5")),
                    };
                }
                if let Some(day) = t.strip_suffix('l').and_then(weekday) {
                    return Ok(vec![Day::Last(day)]);
                }
                if let Some((a, b)) = t.split_once('-') {
                    let (a, b) = (weekday(a).ok_or_else(bad)?, weekday(b).ok_or_else(bad)?);
                    return weekday_range(a, b);
                }
                weekday(&t).map(|d| vec![Day::Weekday(d)]).ok_or_else(bad)
            }
        }
    }
}

fn weekday_range(from: Weekday, to: Weekday) -> Result<Vec<Day>, String> {
    let mut out = vec![Day::Weekday(from)];
    let mut day = from;
    while day != to {
        day = day.succ();
        out.push(Day::Weekday(day));
    }
    Ok(out)
}

/// The zone a schedule's wall-clock times are in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Utc,
    /// The backend's own zone.
    Local,
    Named(chrono_tz::Tz),
}

impl Zone {
    pub fn parse(text: &str) -> Result<Zone, String> {
        match text.trim() {
            t if t.eq_ignore_ascii_case("utc") => Ok(Zone::Utc),
            t if t.eq_ignore_ascii_case("local") => Ok(Zone::Local),
            t => t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
                format!("`{text}` is not a time zone: write utc, local or an IANA name such as Europe/Berlin")
            }),
        }
    }

    /// The instant a wall-clock time stands for: the earlier one when the clocks repeat it,
    /// `None` when they skip it.
    pub fn resolve(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        use chrono::TimeZone;
        let earliest = |r: chrono::LocalResult<DateTime<Utc>>| r.earliest();
        match self {
            Zone::Utc => Some(local.and_utc()),
            Zone::Local => earliest(
                chrono::Local
                    .from_local_datetime(&local)
                    .map(|t| t.to_utc()),
            ),
            Zone::Named(tz) => earliest(tz.from_local_datetime(&local).map(|t| t.to_utc())),
        }
    }

    /// The wall-clock time of `at` in this zone.
    pub fn local(&self, at: DateTime<Utc>) -> NaiveDateTime {
        match self {
            Zone::Utc => at.naive_utc(),
            Zone::Local => at.with_timezone(&chrono::Local).naive_local(),
            Zone::Named(tz) => at.with_timezone(tz).naive_local(),
        }
    }
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Utc => f.write_str("UTC"),
            Zone::Local => f.write_str("the backend's local zone"),
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

/// A bound of `active`: a wall-clock time in the schedule's zone, or an absolute instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Moment {
    Local(NaiveDateTime),
    Instant(DateTime<Utc>),
}

impl Moment {
    pub fn parse(text: &str) -> Result<Moment, String> {
        let t = text.trim();
        if let Ok(at) = DateTime::parse_from_rfc3339(t) {
            return Ok(Moment::Instant(at.to_utc()));
        }
        if let Ok(day) = NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            return Ok(Moment::Local(day.and_time(NaiveTime::MIN)));
        }
        match At::parse(t) {
            Ok(At::Once(at)) => Ok(Moment::Local(at)),
            _ => Err(format!(
                "`{text}` is not YYYY-MM-DD, YYYY-MM-DD HH:MM or an RFC 3339 time"
            )),
        }
    }

    /// The instant; a wall-clock time the clocks skip counts from just after the gap.
    pub fn to_utc(&self, zone: Zone) -> DateTime<Utc> {
        match self {
            Moment::Instant(at) => *at,
            Moment::Local(local) => (0..=180)
                .find_map(|minutes| zone.resolve(*local + chrono::Duration::minutes(minutes)))
                .unwrap_or_else(|| local.and_utc()),
        }
    }
}

/// `constraints.window`: a daily span of wall-clock time; the end is exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub start: NaiveTime,
    pub end: NaiveTime,
}

impl Window {
    pub fn parse(text: &str) -> Result<Window, String> {
        let bad = || format!("`{text}` is not HH:MM-HH:MM (e.g. 22:00-04:00)");
        let (a, b) = text.split_once('-').ok_or_else(bad)?;
        let time = |s: &str| NaiveTime::parse_from_str(s.trim(), "%H:%M").map_err(|_| bad());
        let window = Window {
            start: time(a)?,
            end: time(b)?,
        };
        if window.start == window.end {
            return Err(format!("`{text}` is empty: start and end are the same"));
        }
        Ok(window)
    }

    /// Whether a wall-clock time lies inside; a window with end before start wraps midnight.
    pub fn contains(&self, time: NaiveTime) -> bool {
        match self.start < self.end {
            true => self.start <= time && time < self.end,
            false => time >= self.start || time < self.end,
        }
    }
}

impl Serialize for Reconcile {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Reconcile::Once => serializer.serialize_str("once"),
            Reconcile::Every(every) => {
                use serde::ser::SerializeMap;
                let mut map = serializer.serialize_map(Some(1))?;
                map.serialize_entry("every", every)?;
                map.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Reconcile {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Reconcile, D::Error> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Every {
            every: HumanDuration,
        }
        use serde::de::Error;
        let value = serde_json::Value::deserialize(deserializer)?;
        match value {
            serde_json::Value::String(s) if s == "once" => Ok(Reconcile::Once),
            serde_json::Value::Object(_) => serde_json::from_value::<Every>(value)
                .map(|e| Reconcile::Every(e.every))
                .map_err(D::Error::custom),
            _ => Err(D::Error::custom(
                "expected `once` or `{every: <duration>}` (e.g. {every: 12h})",
            )),
        }
    }
}

fn invalid(field: &str, message: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        field: field.to_owned(),
        message: message.into(),
    }
}

fn target_is_empty(target: &Target) -> bool {
    !target.all && target.groups.is_empty() && target.pcs.is_empty()
}

fn enabled_by_default() -> bool {
    true
}

fn default_tz() -> String {
    "local".to_owned()
}

fn default_backoff() -> HumanDuration {
    HumanDuration::from_secs(60)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "
id: nightly-inventory
job_id: inventory
when:
  calendar: {at: '03:00', days: [mon-fri]}
target: {groups: [lab]}
jitter: 5m
starting_deadline: 1h
tz: Europe/Berlin
active: {from: 2026-01-01, until: '2027-01-01 00:00'}
constraints: {window: '22:00-04:00', skip_dates: [2026-12-24], max_concurrent: 2}
on_failure: {retry: {max: 3, backoff: 10m}}
";

    fn check(text: &str) -> String {
        match Schedule::parse(text) {
            Ok(s) => format!("ok {} {}", s.id, s.when.describe()),
            Err(err) => format!("{} | {err}", err.field().unwrap_or("-")),
        }
    }

    #[test]
    fn accepts_every_field() {
        assert_eq!(check(GOOD), "ok nightly-inventory calendar 03:00 mon-fri");
        let s = Schedule::parse(GOOD).unwrap();
        assert!(s.enabled);
        assert_eq!(s.zone(), Zone::Named(chrono_tz::Europe::Berlin));
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(Schedule::parse(&json).unwrap(), s);
    }

    #[test]
    fn each_when_form_parses() {
        let base = "id: s\njob_id: j\ntarget: {all: true}\n";
        let cases = [
            ("when: {cron: '*/2 * * * * *'}", "ok s cron */2 * * * * *"),
            ("when: {cron: '0 3 * * 1-5'}", "ok s cron 0 3 * * 1-5"),
            ("when: {per_pc: once}", "ok s per_pc once"),
            ("when: {per_pc: {every: 12h}}", "ok s per_pc every 12h"),
            (
                "when: {per_target: {every: 1day}}",
                "ok s per_target every 1day",
            ),
            (
                "when: {calendar: {at: '2026-05-01 09:30'}}",
                "ok s calendar 2026-05-01 09:30",
            ),
        ];
        for (when, want) in cases {
            assert_eq!(check(&format!("{base}{when}\n")), want, "{when}");
        }
        let s = Schedule::parse(&format!("{base}when: {{per_pc: {{every: 12h}}}}\n")).unwrap();
        let json = serde_json::to_value(&s).unwrap();
        assert_eq!(
            json["when"],
            serde_json::json!({"per_pc": {"every": "12h"}})
        );
    }

    #[test]
    fn refusals_name_the_field() {
        let base = "id: s\njob_id: j\ntarget: {all: true}\nwhen: {cron: '0 3 * * *'}\n";
        let cases = [
            (base.replace("id: s", "id: 's s'"), "id | id: must be"),
            (
                base.replace("job_id: j", "job_id: ''"),
                "job_id | job_id: must be",
            ),
            (
                format!("{base}colour: red\n"),
                "colour | colour: unknown field",
            ),
            (
                base.replace("'0 3 * * *'", "'0 3 * *'"),
                "when.cron | when.cron: `0 3 * *` has 4 fields",
            ),
            (
                base.replace("'0 3 * * *'", "'0 3 * * * * *'"),
                "when.cron | when.cron: `0 3 * * * * *` has 7 fields",
            ),
            (
                base.replace("'0 3 * * *'", "'0 99 * * *'"),
                "when.cron | when.cron: `0 99 * * *` is not a cron expression",
            ),
            (
                base.replace("{cron: '0 3 * * *'}", "{cron: '0 3 * * *', per_pc: once}"),
                "when | when: invalid value: map, expected map with a single key",
            ),
            (
                base.replace("{cron: '0 3 * * *'}", "{hourly: yes}"),
                "when | when: unknown variant `hourly`",
            ),
            (
                base.replace("{cron: '0 3 * * *'}", "{per_pc: twice}"),
                "when.per_pc | when.per_pc: expected `once`",
            ),
            (
                base.replace("{cron: '0 3 * * *'}", "{per_pc: {every: 10s}}"),
                "when.per_pc.every | when.per_pc.every: must be between 1m",
            ),
            (
                base.replace("{cron: '0 3 * * *'}", "{calendar: {at: '25:00'}}"),
                "when.calendar.at | when.calendar.at: `25:00` is neither",
            ),
            (
                base.replace(
                    "{cron: '0 3 * * *'}",
                    "{calendar: {at: '03:00', days: [mon, funday]}}",
                ),
                "when.calendar.days[1] | when.calendar.days[1]: `funday` is not a day",
            ),
            (
                base.replace(
                    "{cron: '0 3 * * *'}",
                    "{calendar: {at: '03:00', days: [tue#6]}}",
                ),
                "when.calendar.days[0] | when.calendar.days[0]: `tue#6`: the week number",
            ),
            (
                base.replace(
                    "{cron: '0 3 * * *'}",
                    "{calendar: {at: '2026-05-01 03:00', days: [mon]}}",
                ),
                "when.calendar.days | when.calendar.days: a date-time `at` fires once",
            ),
            (
                format!("{base}tz: Europe/Berlin\n").replace(
                    "{cron: '0 3 * * *'}",
                    "{calendar: {at: '2026-03-29 02:30'}}",
                ),
                "when.calendar.at | when.calendar.at: 2026-03-29 02:30:00 does not exist in Europe/Berlin",
            ),
            (
                format!("{base}tz: Mars/Olympus\n"),
                "tz | tz: `Mars/Olympus` is not a time zone",
            ),
            (
                base.replace("target: {all: true}", "target: {}"),
                "target | target: name at least one",
            ),
            (
                format!("{base}rollout: {{waves: [{{group: a}}]}}\n"),
                "target | target: leave it out when `rollout` is set",
            ),
            (
                base.replace("target: {all: true}\n", "")
                    + "rollout: {waves: [{group: a, delay: 10m}, {group: 'b.c', delay: 20m}]}\n",
                "rollout.waves[1].group | rollout.waves[1].group: `b.c` is not a valid group",
            ),
            (
                base.replace("target: {all: true}\n", "")
                    + "rollout: {waves: [{group: a, delay: 10m}, {group: b, delay: 5m}]}\n",
                "rollout.waves[1].delay | rollout.waves[1].delay: delays count from the start",
            ),
            (
                base.replace("target: {all: true}\n", "")
                    + "rollout: {waves: [{group: a}], halt_on_failure_pct: 150}\n",
                "rollout.halt_on_failure_pct | rollout.halt_on_failure_pct: must be a percentage",
            ),
            (
                base.replace("target: {all: true}\n", "")
                    .replace("{cron: '0 3 * * *'}", "{per_pc: once}")
                    + "rollout: {waves: [{group: a}]}\n",
                "rollout | rollout: is not available with per_pc",
            ),
            (
                format!("{base}jitter: 2days\n"),
                "jitter | jitter: must be at most 24h",
            ),
            (
                format!("{base}active: {{from: 2026-02-01, until: 2026-01-01}}\n"),
                "active.until | active.until: must be after active.from",
            ),
            (
                format!("{base}active: {{from: soon}}\n"),
                "active.from | active.from: `soon` is not",
            ),
            (
                format!("{base}constraints: {{window: '22:00'}}\n"),
                "constraints.window | constraints.window: `22:00` is not HH:MM-HH:MM",
            ),
            (
                format!("{base}constraints: {{skip_dates: [2026-02-30]}}\n"),
                "constraints.skip_dates[0] | constraints.skip_dates[0]: input is out of range",
            ),
            (
                format!("{base}constraints: {{max_concurrent: 0}}\n"),
                "constraints.max_concurrent | constraints.max_concurrent: must be at least 1",
            ),
            (
                format!("{base}on_failure: {{retry: {{max: 11}}}}\n"),
                "on_failure.retry.max | on_failure.retry.max: must be between 1 and 10",
            ),
        ];
        for (text, want) in cases {
            let got = check(&text);
            assert!(got.starts_with(want), "want {want:?}\n got {got:?}");
        }
    }

    #[test]
    fn calendars_lower_to_cron_patterns() {
        let cases = [
            ("03:00", vec![], "0 0 3 * * *"),
            ("03:00", vec!["daily"], "0 0 3 * * *"),
            ("22:15", vec!["mon-fri"], "0 15 22 * * 1,2,3,4,5"),
            ("22:15", vec!["fri-mon"], "0 15 22 * * 5,6,0,1"),
            ("09:00", vec!["weekends"], "0 0 9 * * 6,0"),
            ("09:00", vec!["tue#2"], "0 0 9 * * 2#2"),
            ("09:00", vec!["friL"], "0 0 9 * * 5L"),
            ("09:00", vec!["Friday"], "0 0 9 * * 5"),
            ("09:00", vec!["31"], "0 0 9 31 * *"),
            ("09:00", vec!["last"], "0 0 9 L * *"),
            ("09:00", vec!["1", "mon"], "0 0 9 1 * 1"),
            ("09:00:30", vec!["mon", "daily"], "30 0 9 * * *"),
        ];
        for (at, days, want) in cases {
            let calendar = Calendar {
                at: at.to_owned(),
                days: days.iter().map(|d| (*d).to_owned()).collect(),
            };
            let got = calendar.cron_pattern().unwrap().unwrap();
            assert_eq!(got, want, "{at} {days:?}");
            cron(&got).unwrap();
        }
    }

    #[test]
    fn windows_may_wrap_midnight() {
        let t = |s: &str| NaiveTime::parse_from_str(s, "%H:%M").unwrap();
        let night = Window::parse("22:00-04:00").unwrap();
        assert!(
            night.contains(t("23:59")) && night.contains(t("00:00")) && night.contains(t("03:59"))
        );
        assert!(
            !night.contains(t("04:00"))
                && !night.contains(t("12:00"))
                && !night.contains(t("21:59"))
        );
        let day = Window::parse("09:00-17:00").unwrap();
        assert!(day.contains(t("09:00")) && !day.contains(t("17:00")) && !day.contains(t("08:59")));
        assert!(Window::parse("10:00-10:00").is_err());
    }
}
