//! Integration tests of the CLI: real nats-server for `jetstream`, `run` and `kill`, a small HTTP
//! peer speaking the backend's API for the client, `exec --wait`, sign-in, accounts and audit, and
//! the example manifests.

mod auth;
mod backend;
mod break_glass;
mod examples;
mod http;
mod jetstream;
mod support;
