//! Human-friendly durations (`30s`, `5m`, `1h 30m`, or a bare number of seconds) as they appear
//! in manifests and API requests.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

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
        if let Ok(secs) = trimmed.parse::<u64>() {
            return Ok(HumanDuration::from_secs(secs));
        }
        humantime::parse_duration(trimmed)
            .map(HumanDuration)
            .map_err(|err| format!("`{s}` is not a duration ({err}); write e.g. 30s, 5m or 1h"))
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
                Ok(HumanDuration::from_secs(v))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<HumanDuration, E> {
                u64::try_from(v)
                    .map(HumanDuration::from_secs)
                    .map_err(|_| E::custom("a duration cannot be negative"))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<HumanDuration, E> {
                if v.is_finite() && v >= 0.0 {
                    Ok(HumanDuration(Duration::from_secs_f64(v)))
                } else {
                    Err(E::custom("a duration must be a non-negative number"))
                }
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
}
