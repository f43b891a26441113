//! The scheduler (placeholder while it is written).

pub mod policy;
