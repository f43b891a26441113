//! The scheduler's pure core lives in `kanade_protocol::schedule::policy`, shared with the
//! agent's local scheduler (`runs_on: agent`), so both decide a fire by the same rules.

pub use kanade_protocol::schedule::policy::*;
