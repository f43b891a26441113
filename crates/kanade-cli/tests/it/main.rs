//! Integration tests of the CLI: real nats-server for `jetstream` and `run`, a small HTTP peer
//! speaking the backend's API for the client and `exec --wait`, and the example manifests.

mod backend;
mod break_glass;
mod examples;
mod http;
mod jetstream;
mod support;
