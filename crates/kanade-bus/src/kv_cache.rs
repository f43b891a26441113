//! A read-through cache of a few KV buckets, kept current by a plain subscription to their
//! put subjects (`$KV.<bucket>.>`), so reading the same keys again costs no broker request.
//!
//! Ordering: nats-server hands a put to core subscribers in the same pass as to the bucket's
//! stream, before the writer gets its ack; so whatever the writer publishes after its put
//! (a command) reaches this connection after the put. Every lookup first applies what the
//! subscription already received, so a put acknowledged before a message arrived here is
//! seen by a lookup made for that message.
//!
//! A key is first read by the caller (`Lookup::Miss`) and handed back (`learn`); it is kept
//! only when no put of it arrived since the miss. Everything cached is forgotten after a
//! reconnect (puts made while disconnected were not received) and the cache stops answering
//! when a subscription ends or the server refused one (a grant without it: an older
//! backend's), as reported to `connect`'s event callback (`note_server_error`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};

use async_nats::{Client, HeaderMap, Message, Subscriber};
use futures::{FutureExt, StreamExt};
use tokio::sync::{mpsc, oneshot};

/// Set once the server refused a `$KV` subscription of this process.
static REFUSED: AtomicBool = AtomicBool::new(false);

/// Called with every server error: a refused `$KV.` subscription disables every cache.
pub fn note_server_error(text: &str) {
    let text = text.to_ascii_lowercase();
    if text.contains("permissions violation for subscription") && text.contains("$kv.") {
        REFUSED.store(true, Ordering::Relaxed);
    }
}

/// One value per bucket (in the order given to `start`); `None` when missing or deleted.
pub type Values = Vec<Option<Vec<u8>>>;

/// What a lookup found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Hit(Values),
    /// Read the key yourself and hand the values to `learn` with this mark.
    Miss(u64),
}

enum Request {
    Lookup(String, oneshot::Sender<Lookup>),
    Learn(String, Values, u64),
}

/// The handle; cheap to clone. The cache ends when every handle is dropped.
#[derive(Clone)]
pub struct KvCache {
    requests: mpsc::Sender<Request>,
}

impl KvCache {
    /// Subscribes to the put subjects of `buckets` on `client` and starts the cache.
    pub async fn start(client: &Client, buckets: &[&str]) -> anyhow::Result<KvCache> {
        let mut subs = Vec::with_capacity(buckets.len());
        for bucket in buckets {
            subs.push(client.subscribe(format!("$KV.{bucket}.>")).await?);
        }
        let (requests, rx) = mpsc::channel(1024);
        let state = State {
            client: client.clone(),
            prefixes: buckets.iter().map(|b| format!("$KV.{b}.")).collect(),
            values: HashMap::new(),
            touched: HashMap::new(),
            seq: 0,
            epoch: 0,
            connects: connects(client),
            broken: false,
        };
        tokio::spawn(serve(state, subs, rx));
        Ok(KvCache { requests })
    }

    /// The cached values of `key`, or a miss (also whenever the cache cannot answer).
    pub async fn lookup(&self, key: &str) -> Lookup {
        let (tx, rx) = oneshot::channel();
        if self
            .requests
            .send(Request::Lookup(key.to_owned(), tx))
            .await
            .is_err()
        {
            return Lookup::Miss(0);
        }
        rx.await.unwrap_or(Lookup::Miss(0))
    }

    /// Keeps `values` of `key`, read after the lookup that returned `Lookup::Miss(mark)`.
    pub async fn learn(&self, key: &str, values: Values, mark: u64) {
        let _ = self
            .requests
            .send(Request::Learn(key.to_owned(), values, mark))
            .await;
    }
}

struct State {
    client: Client,
    prefixes: Vec<String>,
    values: HashMap<String, Values>,
    /// The `seq` of the last put per key, cached or not.
    touched: HashMap<String, u64>,
    seq: u64,
    /// The `seq` at the last reconnect: values read before it are not kept.
    epoch: u64,
    connects: u64,
    /// A subscription ended: puts may be missed, so nothing is answered from the cache.
    broken: bool,
}

fn connects(client: &Client) -> u64 {
    client.statistics().connects.load(Ordering::Relaxed)
}

fn deleted(headers: Option<&HeaderMap>) -> bool {
    headers
        .and_then(|h| h.get("KV-Operation"))
        .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"))
}

impl State {
    fn apply(&mut self, bucket: usize, msg: Message) {
        let Some(key) = msg.subject.as_str().strip_prefix(&self.prefixes[bucket]) else {
            return;
        };
        self.seq += 1;
        self.touched.insert(key.to_owned(), self.seq);
        let value = (!deleted(msg.headers.as_ref())).then(|| msg.payload.to_vec());
        if let Some(cached) = self.values.get_mut(key) {
            cached[bucket] = value;
        }
    }

    /// Applies every put already received; forgets everything after a reconnect.
    fn catch_up(&mut self, subs: &mut [Subscriber]) {
        let now = connects(&self.client);
        if now != self.connects {
            self.connects = now;
            self.values.clear();
            self.seq += 1;
            self.epoch = self.seq;
        }
        for (bucket, sub) in subs.iter_mut().enumerate() {
            loop {
                match sub.next().now_or_never() {
                    Some(Some(msg)) => self.apply(bucket, msg),
                    Some(None) => {
                        self.broken = true;
                        break;
                    }
                    None => break,
                }
            }
        }
    }

    fn answer(&mut self, request: Request, subs: &mut [Subscriber]) {
        self.catch_up(subs);
        match request {
            Request::Lookup(key, reply) => {
                if REFUSED.load(Ordering::Relaxed) {
                    self.broken = true;
                }
                let found = match self.values.get(&key) {
                    Some(values) if !self.broken => Lookup::Hit(values.clone()),
                    _ => Lookup::Miss(self.seq),
                };
                let _ = reply.send(found);
            }
            Request::Learn(key, values, mark) => {
                let fresh =
                    mark >= self.epoch && self.touched.get(&key).is_none_or(|&at| at <= mark);
                if fresh && !self.broken && values.len() == self.prefixes.len() {
                    self.values.insert(key, values);
                }
            }
        }
    }
}

async fn serve(mut state: State, mut subs: Vec<Subscriber>, mut requests: mpsc::Receiver<Request>) {
    loop {
        // Requests first: each applies every put already received before answering.
        let next = {
            let mut puts = futures::stream::select_all(
                subs.iter_mut()
                    .enumerate()
                    .map(|(bucket, sub)| sub.map(move |m| (bucket, m))),
            );
            tokio::select! {
                biased;
                request = requests.recv() => Err(request),
                put = puts.next(), if !state.broken => Ok(put),
            }
        };
        match next {
            Err(None) => return,
            Err(Some(request)) => state.answer(request, &mut subs),
            Ok(Some((bucket, msg))) => state.apply(bucket, msg),
            Ok(None) => state.broken = true,
        }
    }
}
