//! Which backend runs the scheduler: a lease in KV `scheduler_lease`, renewed by revision.
//! The holder rewrites the key every third of the TTL, each time expecting the revision it
//! wrote last; a standby that sees the same revision for a whole TTL (by its own clock) takes
//! it over with the same compare-and-set. No clocks are compared across machines: the holder
//! stops leading a TTL after it last *sent* a renewal, which is before any standby, counting
//! from when it *saw* that renewal, may take over. A backend that restarts with the same
//! identity (its data folder) takes its own lease back at once.

use std::time::Duration;

use anyhow::Context;
use async_nats::jetstream::{self, kv};
use bytes::Bytes;
use kanade_protocol::names;
use tokio::time::Instant;

pub const LEASE_KEY: &str = "scheduler";

pub struct Lease {
    kv: kv::Store,
    holder: String,
    revision: u64,
    ttl: Duration,
    valid_until: Instant,
    renew_at: Instant,
}

impl Lease {
    /// Waits, standing by, until this backend (`holder`) holds the lease.
    pub async fn acquire(
        js: &jetstream::Context,
        holder: &str,
        ttl: Duration,
    ) -> anyhow::Result<Lease> {
        let kv = js
            .get_key_value(names::KV_SCHEDULER_LEASE)
            .await
            .context("opening KV scheduler_lease")?;
        let mut seen: Option<(u64, Instant)> = None;
        let mut announced = false;
        loop {
            let sent = Instant::now();
            let entry = kv.entry(LEASE_KEY).await.context("reading the lease")?;
            let took = match entry {
                None => kv.create(LEASE_KEY, value(holder)).await.ok(),
                Some(e) if e.operation != kv::Operation::Put || e.value == holder.as_bytes() => {
                    kv.update(LEASE_KEY, value(holder), e.revision).await.ok()
                }
                Some(e) => match seen {
                    Some((revision, since)) if revision == e.revision => {
                        match since.elapsed() >= ttl {
                            true => kv.update(LEASE_KEY, value(holder), e.revision).await.ok(),
                            false => None,
                        }
                    }
                    _ => {
                        if !announced {
                            tracing::info!(
                                holder = %String::from_utf8_lossy(&e.value),
                                "another backend runs the scheduler; standing by"
                            );
                            announced = true;
                        }
                        seen = Some((e.revision, Instant::now()));
                        None
                    }
                },
            };
            if let Some(revision) = took {
                return Ok(Lease {
                    kv,
                    holder: holder.to_owned(),
                    revision,
                    ttl,
                    valid_until: sent + ttl,
                    renew_at: sent + ttl / 3,
                });
            }
            tokio::time::sleep((ttl / 5).max(Duration::from_millis(100))).await;
        }
    }

    /// Whether this backend may still act as the scheduler.
    pub fn held(&self) -> bool {
        Instant::now() < self.valid_until
    }

    /// When `renew` should run next.
    pub fn renew_at(&self) -> Instant {
        self.renew_at.min(self.valid_until)
    }

    /// Extends the lease. False once another backend took it over or it ran out.
    pub async fn renew(&mut self) -> bool {
        let sent = Instant::now();
        match self
            .kv
            .update(LEASE_KEY, value(&self.holder), self.revision)
            .await
        {
            Ok(revision) => {
                self.revision = revision;
                self.valid_until = sent + self.ttl;
                self.renew_at = sent + self.ttl / 3;
                true
            }
            Err(err) if err.kind() == kv::UpdateErrorKind::WrongLastRevision => {
                self.valid_until = sent;
                false
            }
            Err(err) => {
                tracing::warn!(error = %err, "could not renew the scheduler lease; retrying");
                self.renew_at = sent + Duration::from_millis(500);
                self.held()
            }
        }
    }

    /// Gives the lease up, so a standby takes over at once.
    pub async fn release(self) {
        let _ = self
            .kv
            .delete_expect_revision(LEASE_KEY, Some(self.revision))
            .await;
    }
}

fn value(holder: &str) -> Bytes {
    Bytes::from(holder.to_owned())
}

/// This backend's identity for the lease: kept in `scheduler-id` in the data folder, so a
/// restarted backend recognises its own lease.
pub fn identity(data_dir: &std::path::Path) -> anyhow::Result<String> {
    let path = data_dir.join("scheduler-id");
    if let Ok(text) = std::fs::read_to_string(&path)
        && !text.trim().is_empty()
    {
        return Ok(text.trim().to_owned());
    }
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let id = format!("backend-{}", uuid::Uuid::new_v4());
    std::fs::write(&path, &id).with_context(|| format!("writing {}", path.display()))?;
    Ok(id)
}
