//! Integration tests of the agent: each test starts its own nats-server, creates kanade's
//! JetStream resources, runs agents in-process (or the real binary as a child process) and
//! drives them by publishing commands, config, releases and notifications.

mod binary;
mod config;
mod durability;
mod events;
mod file_modes;
mod gates;
mod groups;
mod heartbeat;
mod kill;
mod live_config;
mod local_scheduler;
mod notifications;
mod output;
mod perf;
mod run;
mod run_as;
mod screen_lock;
mod self_update;
mod signatures;
mod support;
