//! kanade-sim: a fleet simulator and the benchmark harness built on it.
//!
//! `fleet` runs N simulated agents on a few NATS connections against a real broker and
//! backend (heartbeats, host perf, commands answered with real started events and results,
//! churn); `spec` and `schedule` are its pure parts (parsing, even spreading, churn timing);
//! `machines` gives each simulated machine a real connection of its own (the `broker`
//! benchmark); `bench` holds the scenarios that `kanade-bench` (and `scripts/bench`) run.

pub mod bench;
pub mod fleet;
pub mod machines;
pub mod output;
pub mod schedule;
pub mod spec;

pub use fleet::{Fleet, FleetConfig, StatsSnapshot};
