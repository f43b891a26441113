//! Backend integration tests: the real HTTP API, projectors and SQLite against a real
//! nats-server started per test.

mod agent_meta;
mod api_exec;
mod api_jobs;
mod approval;
mod auth;
mod auth_attacks;
mod backup;
mod batch;
mod compliance;
mod desired;
mod dotted_ids;
mod edge;
mod enrollment;
mod exec_faults;
mod exec_targets;
mod file_modes;
mod freeze;
mod group_defs;
mod https;
mod inventory;
mod keys;
mod legacy_inventory;
mod notifications;
mod openapi;
mod projection;
mod scheduler;
mod sentinel;
mod settings;
mod startup;
mod support;
mod telemetry;
mod upgrade;
mod web;
mod wipe;
mod wire_compat;
