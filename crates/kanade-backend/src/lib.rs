//! kanade-backend: the HTTP API, the projections of the broker's streams into SQLite, and
//! (later) the scheduler. `serve` is the testable entry point; `main.rs` only parses the
//! command line, loads config, initialises logging and calls it.

pub mod access;
pub mod accounts;
pub mod agent_meta;
pub mod alerts;
pub mod api;
pub mod approval;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod batch;
pub mod boot;
pub mod catalog;
pub mod config;
pub mod derived_groups;
pub mod desired;
pub mod edge;
pub mod error;
pub mod exec;
pub mod housekeeping;
pub mod https;
pub mod install;
pub mod live;
pub mod mail;
pub mod manifests;
pub mod metrics;
pub mod notify;
pub mod private;
pub mod projector;
pub mod releases;
pub mod scheduler;
pub mod schedules;
pub mod settings;
pub mod signer;
pub mod startup;
pub mod state;
pub mod store;
pub mod telemetry;
pub mod terminal;
pub mod totals;
pub mod watchdog;
pub mod web;
pub mod wipe;

pub use config::BackendConfig;
pub use startup::serve;
