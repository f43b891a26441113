//! The one projection loop every stream projector shares: a durable pull consumer, messages
//! taken in batches (`gather`), each batch applied in one transaction while the next is
//! received and decoded, and the ack policy written once: ack after commit; a message that
//! does not decode is logged and acked (a poison pill must not block the stream); a database
//! error acks nothing, so the broker redelivers the batch after `ACK_WAIT`.

pub mod audit;
pub mod events;
pub mod heartbeat;
pub mod hints;
pub mod inventory_feed;
pub mod notifications;
pub mod obs;
pub mod perf;
pub mod results;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use kanade_protocol::api::LiveEvent;
use rusqlite::Transaction;

use crate::live::LiveHub;

use crate::store::{Store, StoreError};

/// Most messages applied in one transaction (see `gather`).
pub const BATCH: usize = 25_000;
const ACK_WAIT: Duration = Duration::from_secs(10);

/// Where a projector reads from.
#[derive(Debug, Clone, Copy)]
pub struct Durable {
    pub stream: &'static str,
    pub consumer: &'static str,
    pub filter: &'static str,
}

/// Where a message sat in its stream.
#[derive(Debug, Clone, Copy)]
pub struct Meta {
    /// The broker's publish time, so a replay writes identical rows.
    pub published: DateTime<Utc>,
    pub stream_seq: u64,
}

/// A stream projector: a pure `decode` and an `apply` that touches only the transaction (and
/// reads the projector's own in-memory state, such as the manifest cache).
pub trait Projection: Send + Sync + 'static {
    type Event: Send + Sync + 'static;
    /// What `apply` asks to be done once its batch is committed (alerts to send, …); `()`
    /// for projectors with no side effects.
    type Effect: Send + 'static;
    const DURABLE: Durable;

    fn decode(subject: &str, payload: &[u8]) -> Result<Self::Event, String>;

    fn apply(
        &self,
        tx: &Transaction<'_>,
        event: &Self::Event,
        meta: Meta,
        effects: &mut Vec<Self::Effect>,
    ) -> rusqlite::Result<()>;

    /// What to tell live dashboards once `event` is committed.
    fn live(_event: &Self::Event) -> Vec<LiveEvent> {
        Vec::new()
    }

    /// How long after its publication a message waits before it is applied (each batch waits
    /// until its newest message is that old, at most this long); zero: at once.
    const DELAY: Duration = Duration::ZERO;

    /// Runs at the start of every batch, before its first `apply` (reset per-batch state).
    fn begin_batch(&self) {}

    /// Runs after the batch's last `apply`, in its transaction, just before the commit
    /// (write what was aggregated over the batch).
    fn before_commit(&self, _tx: &Transaction<'_>) -> rusqlite::Result<()> {
        Ok(())
    }

    /// Runs after the batch whose `apply` calls asked for `effects` was committed; never
    /// for a batch that rolled back. Must not block.
    fn committed(&self, _effects: Vec<Self::Effect>) {}
}

/// Which backend replica this is. With several backends on one broker each replica keeps its
/// own durable consumers (suffix `_<replica>`), so each builds a complete read model; a single
/// backend keeps the plain names.
#[derive(Debug, Clone, Default)]
pub struct Replica(pub Option<Arc<str>>);

impl Replica {
    pub fn consumer(&self, base: &str) -> String {
        match &self.0 {
            Some(name) => format!("{base}_{name}"),
            None => base.to_owned(),
        }
    }
}

/// Creates the durable consumer `name` when missing (a fresh one starts at the stream's
/// beginning).
pub async fn ensure_consumer(
    js: &jetstream::Context,
    durable: Durable,
    name: &str,
) -> anyhow::Result<consumer::PullConsumer> {
    let stream = js
        .get_stream(durable.stream)
        .await
        .with_context(|| format!("opening stream {}", durable.stream))?;
    stream
        .get_or_create_consumer(
            name,
            consumer::pull::Config {
                durable_name: Some(name.to_owned()),
                filter_subject: durable.filter.to_owned(),
                ack_policy: consumer::AckPolicy::Explicit,
                ack_wait: ACK_WAIT,
                // The batch committing and the one being gathered (`run`).
                max_ack_pending: i64::try_from(2 * BATCH).unwrap_or(i64::MAX),
                deliver_policy: consumer::DeliverPolicy::All,
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("creating consumer {name}"))
}

/// Runs one projector until its message stream ends or the database fails.
pub async fn run<P: Projection>(
    projection: Arc<P>,
    js: jetstream::Context,
    store: Store,
    metrics: crate::metrics::Metrics,
    live: LiveHub,
    replica: Replica,
) -> anyhow::Result<()> {
    let durable = P::DURABLE;
    let name = replica.consumer(durable.consumer);
    let consumer = ensure_consumer(&js, durable, &name).await?;
    let mut incoming = consumer
        .stream()
        .max_messages_per_batch(BATCH)
        .heartbeat(Duration::from_secs(5))
        .expires(Duration::from_secs(30))
        .messages()
        .await
        .with_context(|| format!("subscribing {name}"))?;
    tracing::info!(consumer = %name, "projector running");
    let name: Arc<str> = name.into();
    // The batch before the one being gathered: it commits and is acked on its own task while
    // the next one is received and decoded, and the next commit waits for it (batches are
    // applied in stream order, and one that fails stops the loop before a later one commits).
    let mut previous: Option<tokio::task::JoinHandle<anyhow::Result<()>>> = None;
    let committing = |previous: &Option<tokio::task::JoinHandle<_>>| {
        previous.as_ref().is_some_and(|task| !task.is_finished())
    };
    while let Some(chunk) = gather(&mut incoming, || committing(&previous)).await {
        let mut messages = Vec::with_capacity(chunk.len());
        for item in chunk {
            match item {
                Ok(message) => messages.push(message),
                Err(err) => tracing::warn!(consumer = %name, %err, "pull error"),
            }
        }
        if !P::DELAY.is_zero()
            && let Some(newest) = messages.last()
        {
            let age = (Utc::now() - meta(newest).published)
                .to_std()
                .unwrap_or_default();
            let wait = P::DELAY.saturating_sub(age);
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let mut events = Vec::with_capacity(messages.len());
        for message in &messages {
            match P::decode(&message.subject, &message.payload) {
                Ok(event) => events.push((event, meta(message))),
                Err(err) => {
                    metrics.error(&name);
                    tracing::warn!(
                        consumer = %name,
                        subject = %message.subject,
                        error = %err,
                        "dropping a message that does not decode"
                    )
                }
            }
        }
        let announcements = match live.listening() {
            true => announcements::<P>(&events),
            false => Vec::new(),
        };
        if let Some(task) = previous.take() {
            task.await
                .with_context(|| format!("a batch task of {name}"))??;
        }
        let batch = Batch {
            messages,
            events,
            announcements,
        };
        let sink = Sink {
            store: store.clone(),
            metrics: metrics.clone(),
            live: live.clone(),
            name: name.clone(),
        };
        previous = Some(tokio::spawn(commit(projection.clone(), sink, batch)));
    }
    if let Some(task) = previous.take() {
        task.await
            .with_context(|| format!("a batch task of {name}"))??;
    }
    Ok(())
}

/// A gathered batch: its messages (acked once it is committed), what decoded, and what to tell
/// live dashboards after the commit.
struct Batch<E> {
    messages: Vec<jetstream::Message>,
    events: Vec<(E, Meta)>,
    announcements: Vec<LiveEvent>,
}

/// Where a batch goes once it is decoded.
struct Sink {
    store: Store,
    metrics: crate::metrics::Metrics,
    live: LiveHub,
    name: Arc<str>,
}

/// Applies a batch in one transaction, then hands its effects on, announces it and acks its
/// messages. A database error acks nothing: the broker redelivers the batch after `ACK_WAIT`.
async fn commit<P: Projection>(
    projection: Arc<P>,
    sink: Sink,
    batch: Batch<P::Event>,
) -> anyhow::Result<()> {
    let Sink {
        store,
        metrics,
        live,
        name,
    } = sink;
    let Batch {
        messages,
        events,
        announcements,
    } = batch;
    let applied = events.len();
    if !events.is_empty() {
        let applier = projection.clone();
        let effects = store
            .write(move |conn| {
                let tx = conn.transaction()?;
                let mut effects = Vec::new();
                applier.begin_batch();
                for (event, at) in &events {
                    applier.apply(&tx, event, *at, &mut effects)?;
                }
                applier.before_commit(&tx)?;
                tx.commit()?;
                Ok(effects)
            })
            .await
            .map_err(|err: StoreError| {
                metrics.error(&name);
                anyhow::anyhow!(err)
            })
            .with_context(|| format!("applying a batch of {name}"))?;
        if !effects.is_empty() {
            projection.committed(effects);
        }
        metrics.applied(&name, applied);
    }
    for event in announcements {
        live.send(event);
    }
    for message in &messages {
        if let Err(err) = message.ack().await {
            tracing::warn!(consumer = %name, %err, "ack failed; the message will be redelivered");
        }
    }
    Ok(())
}

/// How long a batch waits for the next message before it is applied.
const GATHER: Duration = Duration::from_millis(10);
/// How long a batch goes on gathering while messages keep coming.
const GATHER_MAX: Duration = Duration::from_millis(500);

/// The next batch: the first message, then each further one that arrives within `GATHER` of
/// the one before, for at most `GATHER_MAX` and `BATCH` messages; while `busy` (the batch
/// before is still committing, so this one could not start sooner) a pause does not end it.
/// A lone message is applied after `GATHER`; a steady flow (a fan-out's results) is applied
/// in few large batches, and a batch's commit costs about as many page writes as it dirties
/// index pages, which grows far more slowly than its rows (BENCHMARKS.md, fan-out). Taking
/// only the messages ready at once (`ready_chunks`) made batches of ~70 under load, because
/// the subscription's channel empties between two socket reads (BENCHMARKS.md, projector
/// ingest).
async fn gather<S: futures::Stream + Unpin>(
    stream: &mut S,
    busy: impl Fn() -> bool,
) -> Option<Vec<S::Item>> {
    let first = stream.next().await?;
    let mut chunk = Vec::with_capacity(BATCH);
    chunk.push(first);
    let cap = tokio::time::Instant::now() + GATHER_MAX;
    while chunk.len() < BATCH {
        let now = tokio::time::Instant::now();
        if now >= cap {
            break;
        }
        match tokio::time::timeout_at((now + GATHER).min(cap), stream.next()).await {
            Ok(Some(item)) => chunk.push(item),
            Err(_) if busy() => continue,
            Ok(None) | Err(_) => break,
        }
    }
    Some(chunk)
}

/// What a committed batch tells live dashboards: each event's announcements, with an
/// execution's "counters moved" said once per batch rather than once per result.
fn announcements<P: Projection>(events: &[(P::Event, Meta)]) -> Vec<LiveEvent> {
    let mut out = Vec::new();
    let mut executions: Vec<String> = Vec::new();
    for (event, _) in events {
        for said in P::live(event) {
            if let LiveEvent::Execution { exec_id, .. } = &said {
                if executions.contains(exec_id) {
                    continue;
                }
                executions.push(exec_id.clone());
            }
            out.push(said);
        }
    }
    out
}

fn meta(message: &jetstream::Message) -> Meta {
    match message.info() {
        Ok(info) => Meta {
            published: i64::try_from(info.published.unix_timestamp_nanos())
                .map(DateTime::from_timestamp_nanos)
                .unwrap_or_else(|_| Utc::now()),
            stream_seq: info.stream_sequence,
        },
        Err(_) => Meta {
            published: Utc::now(),
            stream_seq: 0,
        },
    }
}

/// Keeps a task running: restarts it after an error or an end, with a backoff that starts at
/// 1 s, doubles to 60 s, and resets once the task stayed up for a minute.
pub async fn supervise<F, Fut>(name: &'static str, mut task: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<()>>,
{
    let mut backoff = Duration::from_secs(1);
    loop {
        let started = Instant::now();
        match task().await {
            Ok(()) => tracing::warn!(task = name, "ended; restarting"),
            Err(err) => tracing::error!(
                task = name,
                error = format!("{err:#}"),
                "failed; restarting"
            ),
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}
