//! The simulator's command-line values, parsed by pure functions: the group split
//! (`g1:30%,g2:70%`), the run-time distribution (`50ms..2s`), the churn rate (`1%/min`), the
//! failure rate (`0.05` or `5%`) and durations (`30s`, `5m`).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use kanade_protocol::subject::is_valid_token;

/// Parses a human duration (`30s`, `1m30s`, `250ms`, `0s`).
pub fn duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| format!("`{text}`: {e}"))
}

/// A fraction in [0, 1], written `0.05` or `5%`.
pub fn fraction(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let value = match t.strip_suffix('%') {
        Some(pct) => pct
            .trim()
            .parse::<f64>()
            .map(|v| v / 100.0)
            .map_err(|_| format!("`{text}` is not a percentage"))?,
        None => t
            .parse::<f64>()
            .map_err(|_| format!("`{text}` is not a number"))?,
    };
    if !(0.0..=1.0).contains(&value) || value.is_nan() {
        return Err(format!("`{text}` must be between 0 and 1 (or 0% and 100%)"));
    }
    Ok(value)
}

/// Machines split into groups by share: `g1:30%,g2:70%`. Shares may add up to less than
/// 100 % (the rest is in no group), never more; a machine is in at most one group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GroupSplit {
    pub groups: Vec<(String, f64)>,
}

impl FromStr for GroupSplit {
    type Err = String;

    fn from_str(text: &str) -> Result<GroupSplit, String> {
        let mut groups = Vec::new();
        let mut total = 0.0;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (name, share) = part
                .split_once(':')
                .ok_or_else(|| format!("`{part}`: write a group as name:share, e.g. lab:30%"))?;
            let name = name.trim();
            if !is_valid_token(name) {
                return Err(format!(
                    "`{name}` is not a valid group name (letters, digits, '-' and '_')"
                ));
            }
            if groups.iter().any(|(g, _): &(String, f64)| g == name) {
                return Err(format!("group `{name}` is named twice"));
            }
            let share = fraction(share)?;
            total += share;
            groups.push((name.to_owned(), share));
        }
        if total > 1.0 + 1e-9 {
            return Err(format!(
                "the group shares add up to {:.1} %, more than 100 %",
                total * 100.0
            ));
        }
        Ok(GroupSplit { groups })
    }
}

impl GroupSplit {
    /// The group (index into `groups`) of machine `index` of `total`: contiguous ranges in
    /// the order written, each `share × total` machines long (rounded down at the edges).
    pub fn group_of(&self, index: usize, total: usize) -> Option<usize> {
        let mut cumulative = 0.0;
        for (g, (_, share)) in self.groups.iter().enumerate() {
            cumulative += share;
            let end = (cumulative * total as f64 + 1e-9).floor() as usize;
            if index < end {
                return Some(g);
            }
        }
        None
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.groups.iter().map(|(g, _)| g.as_str())
    }
}

/// How long a simulated script runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RunTime {
    /// Always this long: `100ms`.
    Fixed(Duration),
    /// Uniform between the bounds: `50ms..2s`.
    Uniform(Duration, Duration),
    /// Log-uniform between the bounds (most runs short, a long tail): `log:50ms..2s`.
    LogUniform(Duration, Duration),
}

impl FromStr for RunTime {
    type Err = String;

    fn from_str(text: &str) -> Result<RunTime, String> {
        let t = text.trim();
        let (log, range) = match t.strip_prefix("log:") {
            Some(rest) => (true, rest),
            None => (false, t),
        };
        match range.split_once("..") {
            None if log => Err(format!("`{text}`: log: needs a range, e.g. log:50ms..2s")),
            None => Ok(RunTime::Fixed(duration(range)?)),
            Some((lo, hi)) => {
                let (lo, hi) = (duration(lo)?, duration(hi)?);
                if lo > hi {
                    return Err(format!("`{text}`: the lower bound is above the upper one"));
                }
                if log && lo.is_zero() {
                    return Err(format!("`{text}`: a log-uniform range must start above 0"));
                }
                Ok(if log {
                    RunTime::LogUniform(lo, hi)
                } else {
                    RunTime::Uniform(lo, hi)
                })
            }
        }
    }
}

impl fmt::Display for RunTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = |d: &Duration| humantime::format_duration(*d).to_string();
        match self {
            RunTime::Fixed(d) => write!(f, "{}", h(d)),
            RunTime::Uniform(a, b) => write!(f, "{}..{}", h(a), h(b)),
            RunTime::LogUniform(a, b) => write!(f, "log:{}..{}", h(a), h(b)),
        }
    }
}

impl RunTime {
    /// A run time for `u` drawn uniformly from [0, 1).
    pub fn at(&self, u: f64) -> Duration {
        let u = u.clamp(0.0, 1.0);
        match *self {
            RunTime::Fixed(d) => d,
            RunTime::Uniform(lo, hi) => lo + (hi - lo).mul_f64(u),
            RunTime::LogUniform(lo, hi) => {
                let (a, b) = (lo.as_secs_f64().ln(), hi.as_secs_f64().ln());
                Duration::from_secs_f64((a + (b - a) * u).exp()).clamp(lo, hi)
            }
        }
    }

    pub fn sample(&self) -> Duration {
        self.at(fastrand::f64())
    }
}

/// Machines leaving (and later returning) per unit of time: `1%/min` (a share of the fleet),
/// `20/min` (a number of machines); units `s`, `min`, `h`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ChurnRate {
    Share { fraction: f64, per: Duration },
    Count { machines: f64, per: Duration },
}

impl FromStr for ChurnRate {
    type Err = String;

    fn from_str(text: &str) -> Result<ChurnRate, String> {
        let (amount, unit) = text
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("`{text}`: write a rate such as 1%/min or 20/min"))?;
        let per = match unit.trim() {
            "s" | "sec" => Duration::from_secs(1),
            "m" | "min" => Duration::from_secs(60),
            "h" | "hour" => Duration::from_secs(3600),
            other => return Err(format!("`{other}`: the unit is s, min or h")),
        };
        let amount = amount.trim();
        if amount.ends_with('%') {
            Ok(ChurnRate::Share {
                fraction: fraction(amount)?,
                per,
            })
        } else {
            let machines: f64 = amount
                .parse()
                .map_err(|_| format!("`{amount}` is not a number of machines"))?;
            if !(machines >= 0.0 && machines.is_finite()) {
                return Err(format!("`{amount}` must be zero or more"));
            }
            Ok(ChurnRate::Count { machines, per })
        }
    }
}

impl ChurnRate {
    /// Departures per second for a fleet of `total` machines.
    pub fn per_second(&self, total: usize) -> f64 {
        match *self {
            ChurnRate::Share { fraction, per } => fraction * total as f64 / per.as_secs_f64(),
            ChurnRate::Count { machines, per } => machines / per.as_secs_f64(),
        }
    }
}

/// What a simulated script prints besides filler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Payload {
    /// Filler text only.
    #[default]
    None,
    /// A JSON inventory document in `#KANADE-INVENTORY-BEGIN/END` fences.
    Inventory,
    /// A compliance check result in `#KANADE-CHECK-BEGIN/END` fences.
    Check,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_split_parses_and_assigns_contiguous_ranges() {
        let split: GroupSplit = "g1:30%,g2:70%".parse().unwrap();
        assert_eq!(split.groups.len(), 2);
        let counts = (0..1000).fold([0usize; 3], |mut c, i| {
            match split.group_of(i, 1000) {
                Some(g) => c[g] += 1,
                None => c[2] += 1,
            }
            c
        });
        assert_eq!(counts, [300, 700, 0]);
        assert_eq!(split.group_of(0, 1000), Some(0));
        assert_eq!(split.group_of(299, 1000), Some(0));
        assert_eq!(split.group_of(300, 1000), Some(1));
    }

    #[test]
    fn group_split_may_leave_machines_ungrouped_and_accepts_fractions() {
        let split: GroupSplit = "lab:0.1, office : 25%".parse().unwrap();
        assert_eq!(split.names().collect::<Vec<_>>(), ["lab", "office"]);
        assert_eq!(split.group_of(9, 100), Some(0));
        assert_eq!(split.group_of(10, 100), Some(1));
        assert_eq!(split.group_of(35, 100), None);
        assert_eq!("".parse::<GroupSplit>().unwrap().group_of(0, 10), None);
    }

    #[test]
    fn group_split_rejects_bad_input_with_the_reason() {
        for (bad, why) in [
            ("g1:60%,g2:50%", "more than 100"),
            ("g1", "name:share"),
            ("g.1:10%", "not a valid group name"),
            ("g1:10%,g1:20%", "twice"),
            ("g1:150%", "between 0 and 1"),
            ("g1:abc", "not a number"),
        ] {
            let err = bad.parse::<GroupSplit>().unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn run_time_parses_fixed_uniform_and_log_ranges() {
        let ms = Duration::from_millis;
        assert_eq!("100ms".parse::<RunTime>(), Ok(RunTime::Fixed(ms(100))));
        assert_eq!(
            "50ms..2s".parse::<RunTime>(),
            Ok(RunTime::Uniform(ms(50), ms(2000)))
        );
        assert_eq!(
            "log:10ms..10s".parse::<RunTime>(),
            Ok(RunTime::LogUniform(ms(10), ms(10_000)))
        );
        assert!("2s..50ms".parse::<RunTime>().is_err());
        assert!("log:0s..1s".parse::<RunTime>().is_err());
        assert!("log:1s".parse::<RunTime>().is_err());
        assert!("fast".parse::<RunTime>().is_err());
    }

    #[test]
    fn run_time_samples_stay_in_range_and_follow_the_shape() {
        let ms = Duration::from_millis;
        let uniform = RunTime::Uniform(ms(50), ms(2000));
        assert_eq!(uniform.at(0.0), ms(50));
        assert_eq!(uniform.at(1.0), ms(2000));
        assert_eq!(uniform.at(0.5), ms(1025));
        let log = RunTime::LogUniform(ms(10), ms(1000));
        // The geometric middle: half the runs are shorter than 100 ms.
        let mid = log.at(0.5).as_secs_f64();
        assert!((mid - 0.1).abs() < 1e-6, "{mid}");
        for _ in 0..1000 {
            let d = log.sample();
            assert!(d >= ms(10) && d <= ms(1000));
        }
        assert_eq!(
            "log:50ms..2s".parse::<RunTime>().unwrap().to_string(),
            "log:50ms..2s"
        );
    }

    #[test]
    fn churn_rates_convert_to_departures_per_second() {
        let share: ChurnRate = "1%/min".parse().unwrap();
        assert!((share.per_second(6000) - 1.0).abs() < 1e-9);
        let count: ChurnRate = "30/h".parse().unwrap();
        assert!((count.per_second(123) - 30.0 / 3600.0).abs() < 1e-12);
        for bad in ["1%", "1%/day", "x/min", "-3/min", "200%/min"] {
            assert!(bad.parse::<ChurnRate>().is_err(), "{bad}");
        }
    }

    #[test]
    fn fractions_take_decimals_or_percentages() {
        assert_eq!(fraction("0.05"), Ok(0.05));
        assert_eq!(fraction("5%"), Ok(0.05));
        assert!(fraction("1.5").is_err());
        assert!(fraction("-1%").is_err());
    }
}
