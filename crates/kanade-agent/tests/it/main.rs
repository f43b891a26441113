//! Integration tests of the agent: each test starts its own nats-server, creates kanade's
//! JetStream resources, runs agents in-process and drives them by publishing commands.

mod binary;
mod config;
mod durability;
mod gates;
mod heartbeat;
mod kill;
mod output;
mod run;
mod support;
