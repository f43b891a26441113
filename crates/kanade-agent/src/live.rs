//! Live output of a running script on `job.tail.<pc>.<exec_id>` (core NATS, lossy by design).
//! The pipe readers in `process` only `offer` what they read: a full queue drops the bytes and
//! counts them, so a slow or absent broker never slows the script. One task per run turns the
//! queue into chunks of whole lines (a partial line goes out after a short wait), at most
//! `TAIL_BYTES_PER_SEC` per run (a token bucket; the excess is dropped and counted), and ends
//! with a `done` chunk carrying the final count. The result stays the source of truth.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::Client;
use kanade_protocol::reach::{OutputStream, TAIL_BYTES_PER_SEC, TAIL_CHUNK_MAX, TailChunk};
use kanade_protocol::subject;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Reads waiting for the publisher; beyond this the readers drop (64 KiB each at most).
const QUEUE: usize = 16;
/// A partial line waits at most this long before it is sent as it is.
const FLUSH_EVERY: Duration = Duration::from_millis(200);
/// How long the end of a run waits for its last chunk to go out.
pub const FINISH_GRACE: Duration = Duration::from_secs(1);

/// The readers' side: hand over what was read, never wait.
#[derive(Debug, Clone)]
pub struct LiveTx {
    tx: mpsc::Sender<(OutputStream, Vec<u8>)>,
    dropped: Arc<AtomicU64>,
}

impl LiveTx {
    /// Queues a copy of `bytes`; when the queue is full they are dropped and counted.
    pub fn offer(&self, stream: OutputStream, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        // A full queue is known before copying anything.
        if self.tx.capacity() == 0 || self.tx.try_send((stream, bytes.to_vec())).is_err() {
            self.dropped
                .fetch_add(bytes.len() as u64, Ordering::Relaxed);
        }
    }
}

/// Who is running what: names the subject and every chunk.
#[derive(Debug, Clone)]
pub struct Run {
    pub pc_id: String,
    pub exec_id: String,
    pub result_id: String,
}

/// Starts the publisher of one run. Drop every `LiveTx` clone to end it; the handle finishes
/// after the `done` chunk is handed to the client.
pub fn start(client: Client, run: Run) -> (LiveTx, JoinHandle<()>) {
    let (tx, rx) = mpsc::channel(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let live = LiveTx {
        tx,
        dropped: dropped.clone(),
    };
    let task = tokio::spawn(publish(client, run, rx, dropped));
    (live, task)
}

/// A token bucket of bytes: `rate` per second, at most one second's worth saved up.
#[derive(Debug)]
pub struct Bucket {
    rate: f64,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(rate: u64, now: Instant) -> Bucket {
        Bucket {
            rate: rate as f64,
            tokens: rate as f64,
            at: now,
        }
    }

    /// Whether `n` bytes may go now (taking them from the bucket if so).
    pub fn take(&mut self, n: usize, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.rate);
        if self.tokens < n as f64 {
            return false;
        }
        self.tokens -= n as f64;
        true
    }
}

struct Publisher {
    client: Client,
    subject: String,
    run: Run,
    seq: u64,
    dropped: Arc<AtomicU64>,
}

impl Publisher {
    async fn send(&mut self, stream: OutputStream, text: String, done: bool) {
        let chunk = TailChunk {
            exec_id: self.run.exec_id.clone(),
            pc_id: self.run.pc_id.clone(),
            result_id: self.run.result_id.clone(),
            seq: self.seq,
            stream,
            text,
            dropped_bytes: self.dropped.load(Ordering::Relaxed),
            done,
        };
        self.seq += 1;
        let Ok(payload) = serde_json::to_vec(&chunk) else {
            return;
        };
        if let Err(err) = self
            .client
            .publish(self.subject.clone(), payload.into())
            .await
        {
            tracing::debug!(error = %err, "a live output chunk was not sent");
        }
    }

    /// Sends what `pending` holds: up to its last newline, or everything (but an incomplete
    /// character) when `all`.
    async fn flush(&mut self, stream: OutputStream, pending: &mut Vec<u8>, all: bool) {
        let end = match all {
            true => utf8_prefix_len(pending),
            false => match pending.iter().rposition(|b| *b == b'\n') {
                Some(i) => i + 1,
                None => return,
            },
        };
        let mut rest = pending.split_off(end);
        std::mem::swap(pending, &mut rest);
        let mut ready: &[u8] = &rest;
        while !ready.is_empty() {
            let mut cut = ready.len().min(TAIL_CHUNK_MAX);
            if cut < ready.len() {
                cut = utf8_prefix_len(&ready[..cut]).max(1);
            }
            let text = String::from_utf8_lossy(&ready[..cut]).into_owned();
            self.send(stream, text, false).await;
            ready = &ready[cut..];
        }
    }
}

async fn publish(
    client: Client,
    run: Run,
    mut rx: mpsc::Receiver<(OutputStream, Vec<u8>)>,
    dropped: Arc<AtomicU64>,
) {
    let mut publisher = Publisher {
        client,
        subject: subject::job_tail(&run.pc_id, &run.exec_id),
        run,
        seq: 0,
        dropped,
    };
    let mut bucket = Bucket::new(TAIL_BYTES_PER_SEC, Instant::now());
    let mut out: Vec<u8> = Vec::new();
    let mut err: Vec<u8> = Vec::new();
    let mut ticks = tokio::time::interval(FLUSH_EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            piece = rx.recv() => {
                let Some((stream, bytes)) = piece else { break };
                if !bucket.take(bytes.len(), Instant::now()) {
                    publisher.dropped.fetch_add(bytes.len() as u64, Ordering::Relaxed);
                    continue;
                }
                let pending = match stream {
                    OutputStream::Stdout => &mut out,
                    OutputStream::Stderr => &mut err,
                };
                pending.extend_from_slice(&bytes);
                let all = pending.len() >= TAIL_CHUNK_MAX;
                publisher.flush(stream, pending, all).await;
            }
            _ = ticks.tick() => {
                publisher.flush(OutputStream::Stdout, &mut out, true).await;
                publisher.flush(OutputStream::Stderr, &mut err, true).await;
            }
        }
    }
    publisher.flush(OutputStream::Stdout, &mut out, true).await;
    publisher.flush(OutputStream::Stderr, &mut err, true).await;
    // An incomplete character left at the very end goes out replaced.
    let tail = String::from_utf8_lossy(&out).into_owned() + &String::from_utf8_lossy(&err);
    publisher.send(OutputStream::Stdout, tail, true).await;
    let _ = publisher.client.flush().await;
}

/// The length of `bytes` without an incomplete UTF-8 character at its very end.
fn utf8_prefix_len(bytes: &[u8]) -> usize {
    for back in 1..=bytes.len().min(4) {
        let i = bytes.len() - back;
        let b = bytes[i];
        if b & 0b1100_0000 == 0b1000_0000 {
            continue;
        }
        let width = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        return if back < width { i } else { bytes.len() };
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_lets_through_its_rate_and_no_more() {
        let start = Instant::now();
        let mut bucket = Bucket::new(1000, start);
        assert!(bucket.take(600, start));
        assert!(!bucket.take(600, start), "only 400 left");
        assert!(bucket.take(400, start));
        let later = start + Duration::from_millis(500);
        assert!(bucket.take(500, later), "half a second refills half");
        assert!(!bucket.take(1, later));
        let much_later = start + Duration::from_secs(60);
        assert!(bucket.take(1000, much_later));
        assert!(
            !bucket.take(1, much_later),
            "never more than one second saved up"
        );
    }

    #[test]
    fn an_incomplete_character_at_the_end_waits() {
        assert_eq!(utf8_prefix_len(b"ab"), 2);
        let e = "é".as_bytes();
        assert_eq!(utf8_prefix_len(&[b'a', e[0]]), 1);
        assert_eq!(utf8_prefix_len(&[b'a', e[0], e[1]]), 3);
        assert_eq!(utf8_prefix_len(b""), 0);
    }

    #[tokio::test]
    async fn a_full_queue_drops_and_counts_instead_of_waiting() {
        let (tx, _rx) = mpsc::channel(1);
        let live = LiveTx {
            tx,
            dropped: Arc::default(),
        };
        live.offer(OutputStream::Stdout, b"first");
        live.offer(OutputStream::Stdout, b"second");
        live.offer(OutputStream::Stderr, b"third");
        assert_eq!(live.dropped.load(Ordering::Relaxed), 11);
    }
}
