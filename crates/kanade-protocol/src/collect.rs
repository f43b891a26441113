//! File collection and the post-run step: a job's `collect` hint (zip the files its stdout
//! lists and upload them to object store `collections`), its `finalize` step, the byte sizes
//! operators write (`50MB`), bundle keys (`<pc_id>/<job_id>/<rfc3339>.zip`) and the
//! `KANADE_COLLECT_RESULT` a finalize step reads.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};

use crate::duration::HumanDuration;
use crate::manifest::{ManifestError, RunAs, Shell};

/// Uncompressed bytes a bundle may hold when the hint sets no `max_size`.
pub const DEFAULT_MAX_SIZE: u64 = 50 * 1000 * 1000;
/// The most a hint may ask for (and the agent ever zips).
pub const MAX_MAX_SIZE: u64 = 1024 * 1024 * 1024;
/// Files one bundle may hold.
pub const MAX_FILES: usize = 10_000;
/// How long a finalize step may run when it sets no `timeout`.
pub const DEFAULT_FINALIZE_TIMEOUT_SECS: u64 = 60;
/// The longest a finalize step may run.
pub const MAX_FINALIZE_TIMEOUT_SECS: u64 = 24 * 3600;
/// The environment variable holding [`CollectOutcome`] as JSON for the finalize step.
pub const ENV_COLLECT_RESULT: &str = "KANADE_COLLECT_RESULT";
/// The environment variable holding the bundle's key (absent when nothing was uploaded).
pub const ENV_COLLECT_KEY: &str = "KANADE_COLLECT_KEY";
/// Suffix of a finalize step's job id (`<job>__finalize`).
pub const FINALIZE_SUFFIX: &str = "__finalize";
pub use crate::ids::{MAX_BUNDLE_KEY_LEN, check_bundle_key};

/// A byte count written as a number or with a unit (`50MB`, `1.5 GiB`, `512KB`, `1024`).
/// SI units are powers of 1000, `KiB`/`MiB`/`GiB` powers of 1024. Serialises as a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[cfg_attr(feature = "openapi", schema(value_type = u64))]
pub struct ByteSize(pub u64);

impl std::str::FromStr for ByteSize {
    type Err = String;

    fn from_str(s: &str) -> Result<ByteSize, String> {
        let text = s.trim();
        let split = text
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(text.len());
        let (number, unit) = text.split_at(split);
        let bad = || {
            format!(
                "`{}` is not a size (write e.g. 50MB, 512KiB or 1GB)",
                s.chars().take(40).collect::<String>()
            )
        };
        let number: f64 = number.parse().map_err(|_| bad())?;
        let factor: f64 = match unit.trim().to_ascii_lowercase().as_str() {
            "" | "b" => 1.0,
            "k" | "kb" => 1e3,
            "m" | "mb" => 1e6,
            "g" | "gb" => 1e9,
            "kib" => 1024.0,
            "mib" => 1024.0 * 1024.0,
            "gib" => 1024.0 * 1024.0 * 1024.0,
            _ => return Err(bad()),
        };
        let bytes = number * factor;
        if !bytes.is_finite() || !(0.0..=1e15).contains(&bytes) {
            return Err(bad());
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} bytes", self.0)
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<ByteSize, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Number(u64),
            Text(String),
        }
        match Raw::deserialize(deserializer)
            .map_err(|_| de::Error::custom("expected a size: a number of bytes or e.g. 50MB"))?
        {
            Raw::Number(n) => Ok(ByteSize(n)),
            Raw::Text(text) => text.parse().map_err(de::Error::custom),
        }
    }
}

fn default_files_field() -> String {
    "files".to_owned()
}

/// `collect:` of a job: its stdout lists files (JSON array at `files_field`, in a
/// `#KANADE-COLLECT-BEGIN`/`-END` block or, for a job with no other JSON hint, as bare JSON);
/// after a clean exit the agent zips them and uploads the bundle to `collections`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CollectHint {
    /// What is collected (a label shown with the bundle).
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The key of the file list in the stdout JSON (dotted path allowed); default `files`.
    #[serde(default = "default_files_field")]
    pub files_field: String,
    /// The most uncompressed bytes the bundle may hold (default 50MB, at most 1GiB); a run
    /// listing more uploads nothing and says so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<ByteSize>,
    /// Absolute folders the listed files must lie in. Empty: any absolute path. Either way a
    /// path with `..`, a symbolic link, or anything but a regular file is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
}

impl CollectHint {
    /// The cap in force.
    pub fn max_bytes(&self) -> u64 {
        self.max_size.map_or(DEFAULT_MAX_SIZE, |s| s.0)
    }

    /// Rules types cannot express; `field` is where the hint sits (`collect`).
    pub fn validate(&self, field: &str) -> Result<(), ManifestError> {
        let name = self.name.trim();
        if name.is_empty() || name.len() > 64 {
            return Err(ManifestError::invalid(
                &format!("{field}.name"),
                "must be 1-64 characters",
            ));
        }
        if self.files_field.trim().is_empty() {
            return Err(ManifestError::invalid(
                &format!("{field}.files_field"),
                "must not be empty",
            ));
        }
        if let Some(size) = self.max_size
            && (size.0 == 0 || size.0 > MAX_MAX_SIZE)
        {
            return Err(ManifestError::invalid(
                &format!("{field}.max_size"),
                format!("must be between 1 byte and 1GiB ({MAX_MAX_SIZE} bytes)"),
            ));
        }
        for (i, dir) in self.allow.iter().enumerate() {
            if let Err(why) = check_allow_root(dir) {
                return Err(ManifestError::invalid(&format!("{field}.allow[{i}]"), why));
            }
        }
        Ok(())
    }
}

/// Whether `dir` can be an `allow` root: absolute, without `.`/`..` components.
pub fn check_allow_root(dir: &str) -> Result<(), String> {
    if !is_absolute(dir) {
        return Err(format!("`{dir}` must be an absolute folder"));
    }
    if has_dot_segments(dir) {
        return Err(format!("`{dir}` must not contain `.` or `..` segments"));
    }
    Ok(())
}

/// An absolute path on Unix (`/…`) or Windows (`C:\…`, `C:/…`, `\\server\…`).
pub fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with('/')
        || path.starts_with("\\\\")
        || (bytes.len() >= 3
            && bytes[0].is_ascii_alphabetic()
            && bytes[1] == b':'
            && (bytes[2] == b'\\' || bytes[2] == b'/'))
}

/// Whether any segment (split at `/` or `\`) is `.` or `..`.
pub fn has_dot_segments(path: &str) -> bool {
    path.split(['/', '\\']).any(|seg| seg == "." || seg == "..")
}

/// `finalize:` of a job: a step run after a clean exit (exit 0) of the main script, with the
/// collection's outcome in `KANADE_COLLECT_RESULT`. Its own result is job `<job>__finalize`,
/// linked to the main run by `parent_result_id`; its failure never fails the main run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct FinalizeSpec {
    pub shell: Shell,
    /// Inline only.
    pub script: String,
    /// Default 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_as: Option<RunAs>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// The original runs the step once per bundle; a run makes at most one bundle here, so
    /// the step runs once either way.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub on_each_bundle: bool,
}

impl FinalizeSpec {
    pub fn timeout_secs(&self) -> u64 {
        self.timeout
            .map_or(DEFAULT_FINALIZE_TIMEOUT_SECS, |t| t.as_secs())
            .clamp(1, MAX_FINALIZE_TIMEOUT_SECS)
    }

    pub fn validate(&self, field: &str) -> Result<(), ManifestError> {
        if self.script.trim().is_empty() {
            return Err(ManifestError::invalid(
                &format!("{field}.script"),
                "is required (inline; a finalize step has no script_file)",
            ));
        }
        if let Some(timeout) = self.timeout
            && (timeout.as_secs() == 0 || timeout.as_secs() > MAX_FINALIZE_TIMEOUT_SECS)
        {
            return Err(ManifestError::invalid(
                &format!("{field}.timeout"),
                "must be between 1s and 24h",
            ));
        }
        Ok(())
    }
}

/// Reads an optional value leniently: a shape that does not parse is `None` (the agent then
/// refuses the command through `CommandExtras::unsupported` instead of dropping it unread).
pub fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    let value = Option::<serde_json::Value>::deserialize(deserializer)?;
    Ok(value.and_then(|v| serde_json::from_value(v).ok()))
}

/// What a finalize step finds in `KANADE_COLLECT_RESULT` (the original's shape).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CollectOutcome {
    pub ok: bool,
    #[serde(default)]
    pub bundles: Vec<BundleOutcome>,
    /// Why nothing was uploaded, when `ok` is false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One uploaded bundle in [`CollectOutcome`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleOutcome {
    pub key: String,
    /// Whether it reached the object store.
    pub uploaded: bool,
    /// The files in it, as listed by the script.
    pub files: Vec<String>,
}

/// The key of a bundle in `collections`: `<pc_id>/<job_id>/<rfc3339>.zip` (UTC, milliseconds).
pub fn bundle_key(pc_id: &str, job_id: &str, at: DateTime<Utc>) -> String {
    format!(
        "{pc_id}/{job_id}/{}.zip",
        at.to_rfc3339_opts(SecondsFormat::Millis, true)
    )
}

/// One bundle in `collections`, as `GET /api/collect/bundles` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BundleInfo {
    /// `<pc_id>/<job_id>/<rfc3339>.zip`.
    pub key: String,
    pub pc_id: String,
    pub job_id: String,
    /// Bytes of the zip.
    pub size: u64,
    /// When the upload finished.
    pub created_at: DateTime<Utc>,
    /// The object store's digest of the zip (`SHA-256=…`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl BundleInfo {
    /// The machine and job of a bundle key (`None` when it is not one).
    pub fn parts(key: &str) -> Option<(&str, &str)> {
        check_bundle_key(key).is_none().then_some(())?;
        let mut parts = key.splitn(3, '/');
        Some((parts.next()?, parts.next()?))
    }
}

/// The machine a bundle key belongs to (its first part).
pub fn bundle_pc(key: &str) -> Option<&str> {
    key.split_once('/').map(|(pc, _)| pc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_operators_write_them() {
        assert_eq!("50MB".parse::<ByteSize>().unwrap().0, 50_000_000);
        assert_eq!("1 GiB".parse::<ByteSize>().unwrap().0, 1 << 30);
        assert_eq!("512kib".parse::<ByteSize>().unwrap().0, 512 * 1024);
        assert_eq!("1024".parse::<ByteSize>().unwrap().0, 1024);
        assert_eq!("1.5KB".parse::<ByteSize>().unwrap().0, 1500);
        for bad in ["", "MB", "12 parsecs", "-1MB", "1e400"] {
            assert!(bad.parse::<ByteSize>().is_err(), "{bad}");
        }
        let size: ByteSize = serde_json::from_str("\"2MB\"").unwrap();
        assert_eq!(serde_json::to_string(&size).unwrap(), "2000000");
    }

    #[test]
    fn bundle_keys_are_three_parts_without_traversal() {
        let at = DateTime::parse_from_rfc3339("2026-01-02T03:04:05.678Z")
            .unwrap()
            .with_timezone(&Utc);
        let key = bundle_key("pc1", "logs", at);
        assert_eq!(key, "pc1/logs/2026-01-02T03:04:05.678Z.zip");
        assert_eq!(check_bundle_key(&key), None);
        assert_eq!(bundle_pc(&key), Some("pc1"));
        for bad in [
            "",
            "a/b.zip",
            "a/b/c/d.zip",
            "../b/c.zip",
            "a/../c.zip",
            "a//c.zip",
            "a/b/c.txt",
            "a\\b/c/d.zip",
            "a/b/\n.zip",
        ] {
            assert!(check_bundle_key(bad).is_some(), "{bad:?}");
        }
    }

    #[test]
    fn allow_roots_are_absolute_and_plain() {
        assert!(check_allow_root("/var/log").is_ok());
        assert!(check_allow_root("C:\\Windows\\Logs").is_ok());
        assert!(check_allow_root("logs").is_err());
        assert!(check_allow_root("/var/../etc").is_err());
    }

    #[test]
    fn hints_validate_with_the_field_named() {
        let hint: CollectHint =
            serde_json::from_str(r#"{"name":"logs","max_size":"2GB"}"#).expect("parses");
        assert_eq!(hint.files_field, "files");
        let err = hint.validate("collect").unwrap_err();
        assert_eq!(err.field(), Some("collect.max_size"));
        let spec: FinalizeSpec = serde_json::from_str(r#"{"shell":"sh","script":" "}"#).unwrap();
        assert_eq!(
            spec.validate("finalize").unwrap_err().field(),
            Some("finalize.script")
        );
        assert_eq!(spec.timeout_secs(), DEFAULT_FINALIZE_TIMEOUT_SECS);
    }
}
