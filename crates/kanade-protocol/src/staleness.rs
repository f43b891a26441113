//! The staleness policy of a job (`staleness:` in its manifest, forwarded in each command):
//! what an agent does when it cannot read the version pin and revocation live.
//!
//! - `cached` (default): the values it last read, with no age limit; a job it never read is
//!   active and unpinned.
//! - `strict` + `max_cache_age`: the last values only while the broker was connected within
//!   `max_cache_age` (the age counts from the disconnect; never connected = too old), else the
//!   run is skipped with exit 127.
//! - `unchecked`: the pin and revocation are not consulted at all.
//!
//! Written as the original writes it, `{mode: strict, max_cache_age: 10m}`; a bare mode
//! (`staleness: cached`) is accepted too.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};

use crate::duration::HumanDuration;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Staleness {
    Cached,
    Strict,
    Unchecked,
}

/// `{mode, max_cache_age?}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StalenessPolicy {
    pub mode: Staleness,
    /// Only with `strict`: how long after a disconnect the last values still count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub max_cache_age: Option<HumanDuration>,
}

impl Default for StalenessPolicy {
    fn default() -> StalenessPolicy {
        StalenessPolicy {
            mode: Staleness::Cached,
            max_cache_age: None,
        }
    }
}

impl StalenessPolicy {
    /// The rule of the combination: `strict` needs `max_cache_age`, the others take none.
    /// Err names the offending key relative to `staleness`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        match (self.mode, self.max_cache_age) {
            (Staleness::Strict, None) => Err((
                "max_cache_age",
                "is required with mode `strict` (e.g. `max_cache_age: 10m`)".to_owned(),
            )),
            (Staleness::Strict, Some(age)) if age.0.is_zero() => {
                Err(("max_cache_age", "must be longer than 0s".to_owned()))
            }
            (Staleness::Cached | Staleness::Unchecked, Some(_)) => {
                Err(("max_cache_age", "applies only to mode `strict`".to_owned()))
            }
            _ => Ok(()),
        }
    }
}

impl<'de> Deserialize<'de> for StalenessPolicy {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PolicyVisitor;

        impl<'de> Visitor<'de> for PolicyVisitor {
            type Value = StalenessPolicy;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "`{mode: cached|strict|unchecked, max_cache_age?: <duration>}` or a bare mode",
                )
            }

            fn visit_str<E: de::Error>(self, mode: &str) -> Result<StalenessPolicy, E> {
                let mode = Staleness::deserialize(de::value::StrDeserializer::<E>::new(mode))?;
                Ok(StalenessPolicy {
                    mode,
                    max_cache_age: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StalenessPolicy, A::Error> {
                let (mut mode, mut age) = (None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "mode" => mode = Some(map.next_value::<Staleness>()?),
                        "max_cache_age" => age = Some(map.next_value::<HumanDuration>()?),
                        other => {
                            return Err(de::Error::unknown_field(
                                other,
                                &["mode", "max_cache_age"],
                            ));
                        }
                    }
                }
                Ok(StalenessPolicy {
                    mode: mode.ok_or_else(|| de::Error::missing_field("mode"))?,
                    max_cache_age: age,
                })
            }
        }

        deserializer.deserialize_any(PolicyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<StalenessPolicy, String> {
        serde_json::from_str(json).map_err(|e| e.to_string())
    }

    #[test]
    fn the_original_map_form_and_a_bare_mode_parse() {
        assert_eq!(
            parse(r#"{"mode":"cached"}"#).unwrap(),
            StalenessPolicy::default()
        );
        assert_eq!(
            parse(r#"{"mode":"strict","max_cache_age":"10m"}"#).unwrap(),
            StalenessPolicy {
                mode: Staleness::Strict,
                max_cache_age: Some(HumanDuration::from_secs(600)),
            }
        );
        assert_eq!(parse(r#""unchecked""#).unwrap().mode, Staleness::Unchecked);
        // It round-trips in the map form.
        let strict = parse(r#"{"mode":"strict","max_cache_age":"10m"}"#).unwrap();
        assert_eq!(
            parse(&serde_json::to_string(&strict).unwrap()).unwrap(),
            strict
        );
    }

    fn manifest(staleness: &str) -> Result<crate::manifest::Manifest, String> {
        let text = format!(
            "id: j\nversion: 1\nexecute:\n  shell: sh\n  script: echo hi\n  timeout: 10s\nstaleness: {staleness}\n"
        );
        let manifest = crate::manifest::Manifest::parse(&text).map_err(|e| e.to_string())?;
        manifest.validate().map_err(|e| e.to_string())?;
        Ok(manifest)
    }

    #[test]
    fn a_job_takes_the_original_s_staleness_forms() {
        let strict = manifest("{mode: strict, max_cache_age: 10m}").unwrap();
        assert_eq!(strict.staleness.unwrap().mode, Staleness::Strict);
        assert_eq!(
            manifest("{mode: unchecked}")
                .unwrap()
                .staleness
                .unwrap()
                .mode,
            Staleness::Unchecked
        );
        assert_eq!(
            manifest("cached").unwrap().staleness,
            Some(StalenessPolicy::default())
        );
        let err = manifest("{mode: strict}").unwrap_err();
        assert!(err.contains("staleness.max_cache_age"), "{err}");
        let err = manifest("{mode: sometimes}").unwrap_err();
        assert!(err.contains("sometimes"), "{err}");
    }

    #[test]
    fn bad_policies_are_refused_naming_what_is_wrong() {
        assert!(
            parse(r#"{"mode":"lenient"}"#)
                .unwrap_err()
                .contains("lenient")
        );
        assert!(parse(r#"{"mod":"cached"}"#).unwrap_err().contains("mod"));
        assert!(
            parse(r#"{"max_cache_age":"1m"}"#)
                .unwrap_err()
                .contains("mode")
        );
        assert!(parse("3").is_err());
        let strict_without_age = parse(r#"{"mode":"strict"}"#).unwrap();
        assert_eq!(strict_without_age.check().unwrap_err().0, "max_cache_age");
        let cached_with_age = parse(r#"{"mode":"cached","max_cache_age":"1m"}"#).unwrap();
        assert!(
            cached_with_age
                .check()
                .unwrap_err()
                .1
                .contains("only to mode `strict`")
        );
    }
}
