//! Clap value parsers that apply the protocol's id rules (`kanade_protocol::ids`) to
//! arguments, so a malformed id is refused before anything is sent (exit 2, naming the
//! argument) instead of reaching the backend or the broker.

use std::ffi::OsStr;

use clap::builder::TypedValueParser;
use clap::error::ErrorKind;
use kanade_protocol::ids::IdKind;

/// Parses an argument that must obey the rule of one id kind.
#[derive(Debug, Clone, Copy)]
pub struct Id(pub IdKind);

impl TypedValueParser for Id {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<String, clap::Error> {
        let name = arg.map_or_else(|| "the argument".to_owned(), |a| a.to_string());
        let text = value.to_str().ok_or_else(|| {
            cmd.clone().error(
                ErrorKind::InvalidUtf8,
                format!("{name}: the {} is not UTF-8 text", self.0.noun()),
            )
        })?;
        match self.0.check(text) {
            Ok(()) => Ok(text.to_owned()),
            Err(err) => Err(cmd
                .clone()
                .error(ErrorKind::ValueValidation, format!("{err} (in {name})"))),
        }
    }
}

pub const JOB: Id = Id(IdKind::Job);
pub const SCHEDULE: Id = Id(IdKind::Schedule);
pub const CHECK: Id = Id(IdKind::Check);
pub const MACHINE: Id = Id(IdKind::Machine);
pub const GROUP: Id = Id(IdKind::Group);
pub const EXECUTION: Id = Id(IdKind::Execution);
pub const RESULT: Id = Id(IdKind::Result);
pub const USERNAME: Id = Id(IdKind::Username);
pub const ENROLLMENT_TOKEN: Id = Id(IdKind::EnrollmentToken);
pub const BUNDLE: Id = Id(IdKind::Bundle);
