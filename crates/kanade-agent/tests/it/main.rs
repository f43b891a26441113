//! Integration tests of the agent: each test starts its own nats-server, creates kanade's
//! JetStream resources, runs agents in-process and drives them by publishing commands.

mod binary;
mod config;
mod durability;
mod events;
mod gates;
mod groups;
mod heartbeat;
mod kill;
mod live_config;
mod output;
mod perf;
mod run;
mod support;
