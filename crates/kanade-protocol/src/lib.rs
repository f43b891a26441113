//! The contract between agent, backend and CLI: every message, subject, resource name and
//! document that crosses a process boundary lives here, so the three binaries (deployed at
//! different times) agree on one definition.
//!
//! Architecture invariant: no tokio, axum, sqlx or NATS client here. Readers tolerate unknown
//! fields (a fleet upgrades gradually); the edges that accept operator input (`manifest`,
//! `api` request types) reject unknown keys and name the offending path.

pub mod api;
pub mod approval;
pub mod collect;
pub mod config;
pub mod derived;
pub mod duration;
pub mod enrollment;
pub mod grants;
pub mod hints;
pub mod ids;
pub mod install;
pub mod logs;
pub mod manifest;
pub mod meta;
pub mod names;
#[cfg(feature = "openapi")]
mod openapi;
pub mod outcome;
pub mod reach;
pub mod saved;
pub mod schedule;
pub mod settings;
pub mod signing;
pub mod staleness;
pub mod subject;
pub mod terminal;
pub mod wire;

/// The version every kanade binary reports (agent heartbeats, `/api/version`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
