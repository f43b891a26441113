//! End-to-end scenarios: the backend, real agents and the CLI's client against a real
//! nats-server, each test with its own broker, database and agent data folders.

mod approval;
mod cli;
mod cli_operator;
mod collect;
mod derived_groups;
mod fleet;
mod https;
mod install;
mod inventory;
mod liveness;
mod reach;
mod read_marks;
mod signing;
mod statuses;
mod support;
mod terminal;
mod terminal_consent;
mod terminal_idle;
mod zero_trust;
