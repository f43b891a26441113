//! The durable outbox: every result, started event, timeline event and notification ack is
//! written to
//! `<data_dir>/outbox/`
//! (temp file, fsync, rename) before it is published, and deleted only after JetStream
//! acknowledged it. A drainer publishes oldest first, retries with backoff while the broker is
//! away, sets `Nats-Msg-Id` so the broker drops a re-send whose ack was lost, and moves an
//! undecodable file to `outbox/bad/` instead of letting it block the rest.
//!
//! Files hold the wire messages themselves (`<seq>-result.json` is an `ExecResult`,
//! `<seq>-started.json` an `EventStarted`, `<seq>-obs.json` a list of `ObsEvent`s,
//! `<seq>-ack.json` a `NotificationAck`); the subject and message id follow from them (for
//! events: `obs-<pc_id>-<seq>-<index>`). Events
//! of one file go out pipelined, in order; when the broker goes away halfway, the number
//! already acknowledged is kept in `<file>.acked` so a later retry resumes there.
//! Output above the inline cap waits in `<data_dir>/spill/` until the result that refers to it
//! is published: it is uploaded to `result_output` first and removed after the ack.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use async_nats::connection::State;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::{self, message::PublishMessage};
use bytes::Bytes;
use kanade_protocol::wire::{EventStarted, ExecResult, NotificationAck, ObsEvent, ResultLinks};
use kanade_protocol::{names, subject};
use tokio::sync::Notify;

const RESULT_SUFFIX: &str = "-result.json";
const STARTED_SUFFIX: &str = "-started.json";
const OBS_SUFFIX: &str = "-obs.json";
const ACK_SUFFIX: &str = "-ack.json";
/// Sidecar of an events file: how many of its events the broker acknowledged.
const ACKED_SUFFIX: &str = ".acked";
/// Events published before waiting for their acks.
const EVENTS_WINDOW: usize = 64;
const MIN_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Even without a wake-up the drainer looks at the folder this often.
const IDLE_POLL: Duration = Duration::from_secs(5);

/// One message waiting to be published.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Result(ExecResult),
    /// A result with the links `ExecResult` has no fields for (its bundle, its parent run),
    /// written into the same JSON object.
    Linked(ExecResult, ResultLinks),
    Started(EventStarted),
    /// Timeline events, published in this order.
    Events(Vec<ObsEvent>),
    /// A person at the machine confirmed a notification.
    Ack(NotificationAck),
}

pub struct Outbox {
    dir: PathBuf,
    bad_dir: PathBuf,
    spill_dir: PathBuf,
    next_seq: AtomicU64,
    wake: Notify,
}

impl Outbox {
    /// Opens (creating) `<data_dir>/outbox`, `outbox/bad` and `spill`, and removes temp files
    /// a crash left half-written.
    pub fn open(data_dir: &Path) -> anyhow::Result<Arc<Outbox>> {
        let dir = data_dir.join("outbox");
        let bad_dir = dir.join("bad");
        let spill_dir = data_dir.join("spill");
        for d in [&dir, &bad_dir, &spill_dir] {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, crate::private::DIR_MODE);
            builder
                .create(d)
                .with_context(|| format!("creating {}", d.display()))?;
        }
        let mut last_seq = 0;
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))?
        {
            let path = entry?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            if name.starts_with('.') && name.ends_with(".tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            // Progress of an events file that was published completely.
            if let Some(events_file) = name.strip_suffix(ACKED_SUFFIX)
                && !dir.join(events_file).exists()
            {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if let Some(seq) = name.split('-').next().and_then(|s| s.parse::<u64>().ok()) {
                last_seq = last_seq.max(seq);
            }
        }
        // Continue after what is on disk; start from the clock so names stay sortable across
        // restarts with an empty folder too.
        let now_micros = chrono::Utc::now().timestamp_micros().max(0) as u64;
        Ok(Arc::new(Outbox {
            dir,
            bad_dir,
            spill_dir,
            next_seq: AtomicU64::new(now_micros.max(last_seq + 1)),
            wake: Notify::new(),
        }))
    }

    /// Where the full bytes of an oversized output stream wait for upload.
    pub fn spill_path(&self, result_id: &str, stream: &str) -> PathBuf {
        self.spill_dir.join(format!("{result_id}.{stream}"))
    }

    /// Writes `entry` durably and wakes the drainer.
    pub async fn push(&self, entry: &Entry) -> anyhow::Result<()> {
        let (suffix, bytes) = match entry {
            Entry::Result(result) => (RESULT_SUFFIX, serde_json::to_vec(result)?),
            Entry::Linked(result, links) => (RESULT_SUFFIX, linked_json(result, links)?),
            Entry::Started(event) => (STARTED_SUFFIX, serde_json::to_vec(event)?),
            Entry::Events(events) => (OBS_SUFFIX, serde_json::to_vec(events)?),
            Entry::Ack(ack) => (ACK_SUFFIX, serde_json::to_vec(ack)?),
        };
        let seq = self.next_seq.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.join(format!("{seq:020}{suffix}"));
        let target = path.clone();
        tokio::task::spawn_blocking(move || write_atomic(&target, &bytes))
            .await
            .context("outbox writer task failed")?
            .with_context(|| format!("writing {}", path.display()))?;
        self.wake.notify_one();
        Ok(())
    }

    /// Files waiting to be published, oldest first.
    pub fn pending(&self) -> std::io::Result<Vec<PathBuf>> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(&self.dir)? {
            let path = entry?.path();
            let is_entry = path
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| !n.starts_with('.') && n.ends_with(".json"));
            if is_entry && path.is_file() {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }

    /// Waits until every entry is published or `max` passed; true when the outbox is empty.
    pub async fn wait_empty(&self, max: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + max;
        loop {
            if self
                .pending()
                .map(|files| files.is_empty())
                .unwrap_or(false)
            {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn load(&self, path: &Path) -> anyhow::Result<Entry> {
        let bytes = std::fs::read(path)?;
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.ends_with(RESULT_SUFFIX) {
            let result = serde_json::from_slice(&bytes)?;
            let links: ResultLinks = serde_json::from_slice(&bytes)?;
            return Ok(match links == ResultLinks::default() {
                true => Entry::Result(result),
                false => Entry::Linked(result, links),
            });
        }
        if name.ends_with(STARTED_SUFFIX) {
            return Ok(Entry::Started(serde_json::from_slice(&bytes)?));
        }
        if name.ends_with(OBS_SUFFIX) {
            return Ok(Entry::Events(serde_json::from_slice(&bytes)?));
        }
        if name.ends_with(ACK_SUFFIX) {
            return Ok(Entry::Ack(serde_json::from_slice(&bytes)?));
        }
        anyhow::bail!("unknown outbox entry kind")
    }

    fn set_aside(&self, path: &Path, why: &anyhow::Error) {
        tracing::warn!(file = %path.display(), error = format!("{why:#}"),
            "moving an outbox entry that cannot be published to outbox/bad");
        let target = match path.file_name() {
            Some(name) => self.bad_dir.join(name),
            None => return,
        };
        if let Err(err) = std::fs::rename(path, &target) {
            tracing::error!(file = %path.display(), error = %err, "cannot move outbox entry aside");
            let _ = std::fs::remove_file(path);
        }
    }

    fn spill_files(&self, entry: &Entry) -> Vec<(PathBuf, String)> {
        let (Entry::Result(result) | Entry::Linked(result, _)) = entry else {
            return Vec::new();
        };
        [
            ("stdout", &result.stdout_object),
            ("stderr", &result.stderr_object),
        ]
        .into_iter()
        .filter_map(|(stream, key)| {
            key.as_ref()
                .map(|key| (self.spill_path(&result.result_id, stream), key.clone()))
        })
        .collect()
    }
}

/// Publishes the outbox forever, oldest first. Runs until aborted.
pub async fn drain(outbox: Arc<Outbox>, client: async_nats::Client) {
    let js = jetstream::new(client.clone());
    let mut backoff = MIN_BACKOFF;
    let mut failing = false;
    loop {
        let files = match outbox.pending() {
            Ok(files) => files,
            Err(err) => {
                tracing::error!(error = %err, "cannot list the outbox");
                Vec::new()
            }
        };
        if files.is_empty() {
            tokio::select! {
                _ = outbox.wake.notified() => {}
                _ = tokio::time::sleep(IDLE_POLL) => {}
            }
            continue;
        }
        for path in files {
            let entry = match outbox.load(&path) {
                Ok(entry) => entry,
                Err(err) => {
                    outbox.set_aside(&path, &err);
                    continue;
                }
            };
            while client.connection_state() != State::Connected {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            let published = match &entry {
                Entry::Events(events) => publish_events(&js, &path, events).await,
                _ => publish(&outbox, &js, &entry).await,
            };
            match published {
                Ok(()) => {
                    if failing {
                        tracing::info!("outbox publishing works again");
                    }
                    failing = false;
                    backoff = MIN_BACKOFF;
                    if let Err(err) = std::fs::remove_file(&path) {
                        tracing::error!(file = %path.display(), error = %err,
                            "cannot delete a published outbox entry");
                    }
                    for (spill, _) in outbox.spill_files(&entry) {
                        let _ = std::fs::remove_file(spill);
                    }
                    let _ = std::fs::remove_file(acked_path(&path));
                }
                Err(Failure::Poison(err)) => outbox.set_aside(&path, &err),
                Err(Failure::Retry(err)) => {
                    if failing {
                        tracing::debug!(error = format!("{err:#}"), "outbox publish failed again");
                    } else {
                        tracing::warn!(
                            error = format!("{err:#}"),
                            "outbox publish failed; retrying with backoff"
                        );
                    }
                    failing = true;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    // Start again from the oldest entry to keep the order.
                    break;
                }
            }
        }
    }
}

enum Failure {
    /// Worth trying again later (broker away, timeout).
    Retry(anyhow::Error),
    /// Will never succeed (message too large for the broker).
    Poison(anyhow::Error),
}

async fn publish(outbox: &Outbox, js: &jetstream::Context, entry: &Entry) -> Result<(), Failure> {
    let spills = outbox.spill_files(entry);
    if !spills.is_empty() {
        let store = js
            .get_object_store(names::OBJ_RESULT_OUTPUT)
            .await
            .context("opening object store result_output")
            .map_err(Failure::Retry)?;
        for (path, key) in spills {
            let mut file = match tokio::fs::File::open(&path).await {
                Ok(file) => file,
                Err(err) => {
                    tracing::warn!(file = %path.display(), error = %err,
                        "spilled output is gone; publishing the result without uploading it");
                    continue;
                }
            };
            store
                .put(key.as_str(), &mut file)
                .await
                .with_context(|| format!("uploading {key} to result_output"))
                .map_err(Failure::Retry)?;
        }
    }
    let (subject, msg_id, payload) = match entry {
        Entry::Result(result) => (
            subject::results_of(&result.pc_id, &result.request_id),
            result.result_id.clone(),
            serde_json::to_vec(result),
        ),
        Entry::Linked(result, links) => (
            subject::results_of(&result.pc_id, &result.request_id),
            result.result_id.clone(),
            linked_json(result, links),
        ),
        Entry::Started(event) => (
            subject::events_started(&event.exec_id, &event.pc_id),
            format!("started-{}", event.result_id),
            serde_json::to_vec(event),
        ),
        Entry::Ack(ack) => (
            subject::notification_acked(&ack.pc_id, &ack.user, &ack.notification_id),
            format!(
                "ack-{}-{}-{}",
                ack.pc_id,
                ack.notification_id,
                ack.acked_at.timestamp_millis()
            ),
            serde_json::to_vec(ack),
        ),
        Entry::Events(events) => {
            // `drain` hands these to `publish_events`; an empty list has nothing to send.
            debug_assert!(events.is_empty(), "events go through publish_events");
            return Ok(());
        }
    };
    let payload = payload
        .context("encoding outbox entry")
        .map_err(Failure::Poison)?;
    let ack = send(js, subject.clone(), msg_id, payload).await?;
    ack.await
        .with_context(|| format!("waiting for the ack of {subject}"))
        .map_err(Failure::Retry)?;
    Ok(())
}

/// A result and its links as one JSON object (the shape the results projector reads).
fn linked_json(result: &ExecResult, links: &ResultLinks) -> serde_json::Result<Vec<u8>> {
    let mut value = serde_json::to_value(result)?;
    if let (Some(object), serde_json::Value::Object(extra)) =
        (value.as_object_mut(), serde_json::to_value(links)?)
    {
        object.extend(extra);
    }
    serde_json::to_vec(&value)
}

/// Hands one message with its `Nats-Msg-Id` to JetStream; the ack is awaited by the caller.
async fn send(
    js: &jetstream::Context,
    subject: String,
    msg_id: String,
    payload: Vec<u8>,
) -> Result<PublishAckFuture, Failure> {
    let message = PublishMessage::build()
        .payload(Bytes::from(payload))
        .message_id(msg_id);
    match js.send_publish(subject.clone(), message).await {
        Ok(ack) => Ok(ack),
        Err(err) if err.kind() == PublishErrorKind::MaxPayloadExceeded => Err(Failure::Poison(
            anyhow::Error::new(err).context("publishing"),
        )),
        Err(err) => Err(Failure::Retry(
            anyhow::Error::new(err).context(format!("publishing to {subject}")),
        )),
    }
}

/// Publishes the events of one file in order, resuming after those acknowledged before.
/// An event the broker can never take is logged and skipped.
async fn publish_events(
    js: &jetstream::Context,
    path: &Path,
    events: &[ObsEvent],
) -> Result<(), Failure> {
    let progress = acked_path(path);
    let start = std::fs::read_to_string(&progress)
        .ok()
        .and_then(|text| text.trim().parse::<usize>().ok())
        .unwrap_or(0);
    let seq = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('-').next())
        .unwrap_or_default();
    let mut in_flight = std::collections::VecDeque::new();
    let mut outcome = Ok(());
    for (index, event) in events.iter().enumerate().skip(start) {
        if in_flight.len() >= EVENTS_WINDOW {
            outcome = settle_one(&mut in_flight).await;
            if outcome.is_err() {
                break;
            }
        }
        let payload = serde_json::to_vec(event)
            .context("encoding an event")
            .map_err(Failure::Poison);
        let msg_id = format!("obs-{}-{seq}-{index}", event.pc_id);
        let sent = match payload {
            Ok(payload) => send(js, subject::obs(&event.pc_id), msg_id, payload).await,
            Err(err) => Err(err),
        };
        match sent {
            Ok(ack) => in_flight.push_back((index, ack)),
            Err(Failure::Poison(err)) => {
                tracing::error!(
                    error = format!("{err:#}"),
                    kind = event.kind,
                    "dropping a timeline event the broker cannot take"
                );
            }
            Err(retry) => {
                outcome = Err((index, retry));
                break;
            }
        }
    }
    while outcome.is_ok() && !in_flight.is_empty() {
        outcome = settle_one(&mut in_flight).await;
    }
    let Err((unacked, failure)) = outcome else {
        return Ok(());
    };
    // Everything before the first unacknowledged event is in the stream; the rest is sent
    // again later (with the same message ids, so the broker drops what it already has).
    let resume = in_flight
        .front()
        .map(|(index, _)| *index)
        .unwrap_or(unacked)
        .min(unacked);
    if resume > start
        && let Err(err) = write_atomic(&progress, resume.to_string().as_bytes())
    {
        tracing::warn!(file = %progress.display(), error = %err,
            "cannot record publishing progress; events may be sent again");
    }
    Err(failure)
}

/// Awaits the oldest ack in flight; on failure returns the index it belonged to.
async fn settle_one(
    in_flight: &mut std::collections::VecDeque<(usize, PublishAckFuture)>,
) -> Result<(), (usize, Failure)> {
    let Some((index, ack)) = in_flight.pop_front() else {
        return Ok(());
    };
    ack.await
        .context("waiting for the ack of a timeline event")
        .map(|_| ())
        .map_err(|err| (index, Failure::Retry(err)))
}

fn acked_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(ACKED_SUFFIX);
    path.with_file_name(name)
}

/// Replaces `path` with `bytes` so that a reader sees either the old or the new content:
/// write a hidden temp file (0600) next to it, fsync, rename, fsync the folder.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("entry");
    let tmp = dir.join(format!(".{name}.tmp"));
    {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, crate::private::FILE_MODE);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    #[cfg(unix)]
    std::fs::File::open(dir)?.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started(result_id: &str) -> Entry {
        Entry::Started(EventStarted {
            result_id: result_id.to_owned(),
            request_id: "q".into(),
            exec_id: "e".into(),
            pc_id: "p".into(),
            job_id: "j".into(),
            version: "1".into(),
            started_at: chrono::Utc::now(),
            timeout_secs: Some(5),
        })
    }

    #[tokio::test]
    async fn entries_come_back_in_creation_order_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        for id in ["a", "b", "c"] {
            outbox.push(&started(id)).await.unwrap();
        }
        // A crash left a temp file behind: reopening removes it.
        std::fs::write(dir.path().join("outbox/.x-started.json.tmp"), b"half").unwrap();
        let reopened = Outbox::open(dir.path()).unwrap();
        reopened.push(&started("d")).await.unwrap();
        let ids: Vec<String> = reopened
            .pending()
            .unwrap()
            .iter()
            .map(|p| match reopened.load(p).unwrap() {
                Entry::Started(e) => e.result_id,
                Entry::Result(r) | Entry::Linked(r, _) => r.result_id,
                Entry::Events(e) => e[0].kind.clone(),
                Entry::Ack(a) => a.notification_id,
            })
            .collect();
        assert_eq!(ids, ["a", "b", "c", "d"]);
    }

    #[tokio::test]
    async fn events_files_round_trip_and_stale_progress_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let outbox = Outbox::open(dir.path()).unwrap();
        let event = ObsEvent {
            pc_id: "p".into(),
            at: chrono::Utc::now(),
            kind: "boot".into(),
            source: "agent".into(),
            event_record_id: Some("r".into()),
            payload: serde_json::json!({"n": 1}),
        };
        let entry = Entry::Events(vec![event.clone(), event]);
        outbox.push(&entry).await.unwrap();
        let files = outbox.pending().unwrap();
        assert_eq!(files.len(), 1);
        assert!(files[0].to_string_lossy().ends_with("-obs.json"));
        assert_eq!(outbox.load(&files[0]).unwrap(), entry);
        // Progress of a file still waiting stays; progress of a file that is gone goes.
        let kept = acked_path(&files[0]);
        std::fs::write(&kept, b"1").unwrap();
        let stale = dir
            .path()
            .join("outbox/00000000000000000001-obs.json.acked");
        std::fs::write(&stale, b"3").unwrap();
        let reopened = Outbox::open(dir.path()).unwrap();
        assert!(kept.exists());
        assert!(!stale.exists());
        assert_eq!(reopened.pending().unwrap(), files);
    }
}
