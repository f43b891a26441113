//! NATS plumbing shared by agent, backend and CLI: one way to connect (name, token,
//! reconnect policy) and one way to create or update the JetStream resources that
//! `kanade_protocol::names` declares.
//!
//! Architecture invariant: no business logic here, only broker mechanics.

pub mod connect;
pub mod kv;
pub mod kv_cache;
pub mod natsjwt;
pub mod resources;

pub use connect::{Access, Role, connect, connect_with};
pub use resources::{ensure_resources, stream_status};
