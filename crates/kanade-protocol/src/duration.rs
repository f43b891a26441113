//! Human-friendly durations (`30s`, `5m`, `1h 30m`, or a bare number of seconds) as they appear
//! in manifests and API requests. Every duration is at most [`MAX`] (3650 days): larger values
//! (`1e20`) would overflow the clock arithmetic that uses them, so they are refused while
//! parsing, with a message that starts with [`OUT_OF_RANGE`].

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

/// The longest duration any field accepts: ten years (long enough for audit retention).
pub const MAX: Duration = Duration::from_secs(3650 * 24 * 3600);

/// How every out-of-range error begins, so callers can tell "too large" (422) from "not a
/// duration" (400).
pub const OUT_OF_RANGE: &str = "duration out of range";

fn out_of_range(shown: impl fmt::Display) -> String {
    format!("{OUT_OF_RANGE}: {shown} is more than the maximum of 3650 days")
}

/// Whether a parse error means the value was a duration, just too large.
pub fn is_out_of_range(message: &str) -> bool {
    message.contains(OUT_OF_RANGE)
}

fn capped(d: Duration, shown: impl fmt::Display) -> Result<HumanDuration, String> {
    match d <= MAX {
        true => Ok(HumanDuration(d)),
        false => Err(out_of_range(shown)),
    }
}

/// A duration written the way operators write it. Serialises as a humantime string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct HumanDuration(pub Duration);

impl HumanDuration {
    pub fn from_secs(secs: u64) -> HumanDuration {
        HumanDuration(Duration::from_secs(secs))
    }

    pub fn as_secs(&self) -> u64 {
        self.0.as_secs()
    }
}

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<HumanDuration, String> {
        let trimmed = s.trim();
        let shown = || format!("`{}`", s.chars().take(40).collect::<String>());
        if let Ok(secs) = trimmed.parse::<u64>() {
            return capped(Duration::from_secs(secs), shown());
        }
        match humantime::parse_duration(trimmed) {
            Ok(d) => capped(d, shown()),
            Err(humantime::DurationError::NumberOverflow) => Err(out_of_range(shown())),
            Err(err) => Err(format!(
                "{} is not a duration ({err}); write e.g. 30s, 5m or 1h",
                shown()
            )),
        }
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<HumanDuration, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = HumanDuration;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 30s, 5m or 1h, or a number of seconds")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<HumanDuration, E> {
                capped(Duration::from_secs(v), format_args!("{v} seconds")).map_err(E::custom)
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                let v = u64::try_from(v).map_err(|_| E::custom("a duration cannot be negative"))?;
                self.visit_u64(v)
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                if !(v.is_finite() && v >= 0.0) {
                    return Err(E::custom("a duration must be a non-negative number"));
                }
                // Compared before converting: `from_secs_f64` panics on overflow.
                if v > MAX.as_secs_f64() {
                    return Err(E::custom(out_of_range(format_args!("{v} seconds"))));
                }
                Ok(HumanDuration(Duration::from_secs_f64(v)))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<HumanDuration, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_forms_operators_write() {
        let cases = [("30s", 30), ("5m", 300), ("1h 30m", 5400), ("45", 45)];
        for (text, secs) in cases {
            let d: HumanDuration = text.parse().unwrap();
            assert_eq!(d.as_secs(), secs, "{text}");
        }
        let err = "soon".parse::<HumanDuration>().unwrap_err();
        assert!(err.contains("`soon` is not a duration"), "{err}");
    }

    #[test]
    fn round_trips_through_json() {
        let d: HumanDuration = serde_json::from_str("\"2m\"").unwrap();
        assert_eq!(serde_json::to_string(&d).unwrap(), "\"2m\"");
        let n: HumanDuration = serde_json::from_str("90").unwrap();
        assert_eq!(n.as_secs(), 90);
        assert!(serde_json::from_str::<HumanDuration>("-3").is_err());
    }

    #[test]
    fn values_past_the_maximum_are_out_of_range_not_a_panic() {
        for text in [
            "1e20",
            "18446744073709551615",
            "\"4000days\"",
            "\"99999999999999999999999s\"",
        ] {
            let err = serde_json::from_str::<HumanDuration>(text).unwrap_err();
            assert!(is_out_of_range(&err.to_string()), "{text}: {err}");
        }
        let max: HumanDuration = serde_json::from_str("\"3650days\"").unwrap();
        assert_eq!(max.0, MAX);
        let err = "soon".parse::<HumanDuration>().unwrap_err();
        assert!(!is_out_of_range(&err), "{err}");
    }
}
