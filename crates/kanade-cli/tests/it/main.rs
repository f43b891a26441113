//! Integration tests of the CLI: real nats-server for `jetstream`, `run` and `kill`, a small HTTP
//! peer speaking the backend's API for the client, `exec --wait`, sign-in, accounts and audit, the
//! fleet commands (agents, ping, groups, config, freeze, revoke, releases, timeline, perf), the
//! example manifests, and machine access (enroll, machines) against the real backend.

mod auth;
mod backend;
mod break_glass;
mod examples;
mod fleet;
mod gitops;
mod http;
mod jetstream;
mod machines;
mod support;
mod tips;
