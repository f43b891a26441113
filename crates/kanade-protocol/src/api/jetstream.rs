//! The broker's JetStream resources as `GET /api/jetstream` reports them, and the setup
//! request and report.

use serde::{Deserialize, Serialize};

/// `GET /api/jetstream` and `kanade jetstream status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StreamStatus {
    pub name: String,
    pub subjects: Vec<String>,
    pub messages: u64,
    pub bytes: u64,
    pub consumers: usize,
    /// Each durable consumer and how far behind it is (streams only; buckets and object
    /// stores carry agents' short-lived watch consumers, counted in `consumers`).
    #[serde(default)]
    pub consumer_list: Vec<ConsumerStatus>,
    /// How many servers keep a copy (1 without a cluster).
    #[serde(default = "one")]
    pub replicas: usize,
    /// The server leading it in a cluster.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leader: Option<String>,
    /// The other copies and how far behind the leader each is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerStatus>,
}

fn one() -> usize {
    1
}

/// `POST /api/jetstream/setup`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JetstreamSetup {
    /// Copies to keep (1, 3 or 5); absent keeps what each resource has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<usize>,
}

/// What `POST /api/jetstream/setup` put in place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct JetstreamSetupReport {
    pub streams: Vec<String>,
    pub buckets: Vec<String>,
    pub object_stores: Vec<String>,
    /// A caution, e.g. that backend.toml names another replica count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// One follower copy of a replicated stream, bucket or object store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PeerStatus {
    /// The server holding it.
    pub name: String,
    /// In step with the leader.
    pub current: bool,
    /// Considered offline by its group.
    #[serde(default)]
    pub offline: bool,
    /// Operations behind the leader.
    #[serde(default)]
    pub lag: u64,
    /// Milliseconds since the leader last heard from it.
    #[serde(default)]
    pub active_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConsumerStatus {
    pub name: String,
    /// Messages not yet delivered to it.
    pub pending: u64,
    /// Delivered but not yet acknowledged.
    pub ack_pending: u64,
    pub delivered: u64,
}
