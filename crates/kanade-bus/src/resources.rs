//! Create-or-update of every stream, KV bucket and object store kanade uses. Idempotent: a
//! second run, a partial setup and an older (narrower) config all converge to the spec.

use anyhow::Context;
use async_nats::jetstream::{self, kv, object_store, stream};
use futures::TryStreamExt;
use kanade_protocol::api::{ConsumerStatus, PeerStatus, StreamStatus};
use kanade_protocol::names::{self, BucketSpec, ObjectStoreSpec, StreamSpec};

/// What `ensure_resources` did, for logs and the CLI.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SetupReport {
    pub streams: Vec<String>,
    pub buckets: Vec<String>,
    pub object_stores: Vec<String>,
}

/// JetStream refused to reserve a resource's storage: the broker's file store has less room
/// left than kanade's streams and object stores reserve (`max_bytes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InsufficientStorage {
    /// The stream or object store that did not fit.
    pub resource: String,
    /// The bytes it reserves.
    pub wants: i64,
    /// The bytes every kanade stream and object store reserve together.
    pub total: i64,
    /// The bytes the account had reserved already.
    pub reserved: u64,
}

impl std::fmt::Display for InsufficientStorage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const MIB: i64 = 1 << 20;
        write!(
            f,
            "JetStream has too little file storage left: {} wants {} MiB ({} MiB already reserved; \
             kanade reserves {} MiB in all). Free disk space on the broker or raise its \
             jetstream max_file_store to at least {} MiB",
            self.resource,
            self.wants / MIB,
            self.reserved / MIB as u64,
            self.total / MIB,
            self.total / MIB
        )
    }
}

impl std::error::Error for InsufficientStorage {}

/// Every byte kanade's streams and object stores reserve.
pub fn reserved_bytes() -> i64 {
    names::STREAMS.iter().map(|s| s.max_bytes).sum::<i64>()
        + names::OBJECT_STORES
            .iter()
            .map(|s| s.max_bytes)
            .sum::<i64>()
}

/// JetStream's answer when a reservation does not fit (10047, or 10023 for memory).
fn is_storage_refusal(text: &str) -> bool {
    text.contains("error code 10047")
        || text.contains("error code 10023")
        || text.contains("insufficient storage resources")
}

async fn refusal(
    js: &jetstream::Context,
    err: anyhow::Error,
    resource: String,
    wants: i64,
) -> anyhow::Error {
    if !is_storage_refusal(&format!("{err:#}")) {
        return err;
    }
    let reserved = js
        .query_account()
        .await
        .map(|a| a.reserved_storage)
        .unwrap_or(0);
    anyhow::Error::new(InsufficientStorage {
        resource,
        wants,
        total: reserved_bytes(),
        reserved,
    })
}

/// Creates or updates everything, keeping each existing resource's replica count (new ones get
/// one replica). See [`ensure_resources_replicated`] to set or migrate it.
pub async fn ensure_resources(js: &jetstream::Context) -> anyhow::Result<SetupReport> {
    ensure_resources_replicated(js, None).await
}

/// Like [`ensure_resources`], and with `Some(n)` every stream, KV bucket and object store gets
/// (or is migrated to) `n` replicas: 1, or 3 / 5 on a JetStream cluster of at least that many
/// servers. Migrating is the server's job (it copies the data to the new peers or drops them).
pub async fn ensure_resources_replicated(
    js: &jetstream::Context,
    replicas: Option<usize>,
) -> anyhow::Result<SetupReport> {
    if let Some(n) = replicas {
        anyhow::ensure!(
            matches!(n, 1 | 3 | 5),
            "replicas must be 1, 3 or 5 (JetStream needs a majority of an odd-sized group), not {n}"
        );
    }
    let mut report = SetupReport::default();
    for spec in names::STREAMS {
        let mut config = stream_config(spec);
        config.num_replicas = replicas_for(js, spec.name, replicas).await;
        if let Err(err) = js.create_or_update_stream(config).await {
            let err = anyhow::Error::new(err)
                .context(format!("creating or updating stream {}", spec.name));
            return Err(refusal(js, err, format!("stream {}", spec.name), spec.max_bytes).await);
        }
        report.streams.push(spec.name.to_owned());
    }
    for spec in names::KV_BUCKETS {
        let mut config = bucket_config(spec);
        config.num_replicas = replicas_for(js, &format!("KV_{}", spec.name), replicas).await;
        js.create_or_update_key_value(config)
            .await
            .with_context(|| format!("creating or updating KV bucket {}", spec.name))?;
        report.buckets.push(spec.name.to_owned());
    }
    for spec in names::OBJECT_STORES {
        let n = replicas_for(js, &format!("OBJ_{}", spec.name), replicas).await;
        if let Err(err) = ensure_object_store(js, spec, n).await {
            let err = err.context(format!("creating or updating object store {}", spec.name));
            let name = format!("object store {}", spec.name);
            return Err(refusal(js, err, name, spec.max_bytes).await);
        }
        report.object_stores.push(spec.name.to_owned());
    }
    Ok(report)
}

pub fn stream_config(spec: &StreamSpec) -> stream::Config {
    stream::Config {
        name: spec.name.to_owned(),
        description: Some(spec.description.to_owned()),
        subjects: spec.subjects.iter().map(|s| (*s).to_owned()).collect(),
        max_age: spec.max_age,
        max_bytes: spec.max_bytes,
        max_messages_per_subject: spec.max_msgs_per_subject.unwrap_or(-1),
        discard: stream::DiscardPolicy::Old,
        storage: stream::StorageType::File,
        duplicate_window: std::time::Duration::from_secs(120),
        // Agents catch up with the newest command per subject by direct get (and their grant
        // names those subjects one by one).
        allow_direct: true,
        ..Default::default()
    }
}

fn bucket_config(spec: &BucketSpec) -> kv::Config {
    kv::Config {
        bucket: spec.name.to_owned(),
        description: spec.description.to_owned(),
        history: spec.history,
        max_age: names::bucket_max_age(spec.name),
        storage: stream::StorageType::File,
        ..Default::default()
    }
}

/// The client has no create-or-update for object stores: create when missing, otherwise
/// bring the backing stream's caps up to the spec.
async fn ensure_object_store(
    js: &jetstream::Context,
    spec: &ObjectStoreSpec,
    replicas: usize,
) -> anyhow::Result<()> {
    let stream_name = format!("OBJ_{}", spec.name);
    match js.get_stream(&stream_name).await {
        Ok(mut existing) => {
            let info = existing.info().await?;
            let mut config = info.config.clone();
            if config.max_age != spec.max_age
                || config.max_bytes != spec.max_bytes
                || config.num_replicas != replicas
            {
                config.max_age = spec.max_age;
                config.max_bytes = spec.max_bytes;
                config.num_replicas = replicas;
                js.update_stream(config).await?;
            }
        }
        Err(_) => {
            js.create_object_store(object_store::Config {
                bucket: spec.name.to_owned(),
                description: Some(spec.description.to_owned()),
                max_age: spec.max_age,
                max_bytes: spec.max_bytes,
                storage: stream::StorageType::File,
                num_replicas: replicas,
                ..Default::default()
            })
            .await?;
        }
    }
    Ok(())
}

/// The replica count to give stream `name`: the one asked for, else the one it has, else 1.
async fn replicas_for(js: &jetstream::Context, name: &str, wanted: Option<usize>) -> usize {
    if let Some(n) = wanted {
        return n;
    }
    match js.get_stream(name).await {
        Ok(stream) => stream.cached_info().config.num_replicas.max(1),
        Err(_) => 1,
    }
}

/// Messages, bytes, consumers and copies of every stream, KV bucket (`KV_<name>`) and object
/// store (`OBJ_<name>`) kanade declares (missing ones are left out).
pub async fn stream_status(js: &jetstream::Context) -> anyhow::Result<Vec<StreamStatus>> {
    let mut names_and_listing: Vec<(String, bool)> = names::STREAMS
        .iter()
        .map(|s| (s.name.to_owned(), true))
        .collect();
    names_and_listing.extend(
        names::KV_BUCKETS
            .iter()
            .map(|b| (format!("KV_{}", b.name), false)),
    );
    names_and_listing.extend(
        names::OBJECT_STORES
            .iter()
            .map(|o| (format!("OBJ_{}", o.name), false)),
    );
    let mut out = Vec::new();
    for (name, list_consumers) in names_and_listing {
        let mut stream = match js.get_stream(&name).await {
            Ok(stream) => stream,
            Err(_) => continue,
        };
        let info = stream
            .info()
            .await
            .with_context(|| format!("reading stream {name}"))?
            .clone();
        let mut consumer_list: Vec<ConsumerStatus> = Vec::new();
        if list_consumers {
            let consumers: Vec<_> = stream
                .consumers()
                .try_collect()
                .await
                .with_context(|| format!("listing consumers of {name}"))?;
            consumer_list = consumers
                .into_iter()
                .map(|c| ConsumerStatus {
                    name: c.name,
                    pending: c.num_pending,
                    ack_pending: c.num_ack_pending as u64,
                    delivered: c.delivered.stream_sequence,
                })
                .collect();
            consumer_list.sort_by(|a, b| a.name.cmp(&b.name));
        }
        let (leader, peers) = match &info.cluster {
            Some(cluster) => (
                cluster.leader.clone(),
                cluster
                    .replicas
                    .iter()
                    .map(|p| PeerStatus {
                        name: p.name.clone(),
                        current: p.current,
                        offline: p.offline,
                        lag: p.lag.unwrap_or(0),
                        active_ms: p.active.as_millis() as u64,
                    })
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        out.push(StreamStatus {
            name,
            subjects: info.config.subjects.clone(),
            messages: info.state.messages,
            bytes: info.state.bytes,
            consumers: info.state.consumer_count,
            consumer_list,
            replicas: info.config.num_replicas.max(1),
            leader,
            peers,
        });
    }
    Ok(out)
}

/// Names of all streams on the server, for diagnostics.
pub async fn stream_names(js: &jetstream::Context) -> anyhow::Result<Vec<String>> {
    Ok(js.stream_names().try_collect().await?)
}
