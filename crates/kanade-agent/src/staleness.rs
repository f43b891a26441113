//! The version pin and revocation as the gates see them, under the job's staleness policy
//! (`kanade_protocol::staleness`): read live from KV `script_current` / `script_status`;
//! when that fails, `cached` uses the values last read (a job never read is active and
//! unpinned), `strict` uses them only while the broker was connected within `max_cache_age`
//! (else exit 127), and `unchecked` never consults them.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_nats::connection::State;
use kanade_protocol::staleness::{Staleness, StalenessPolicy};

/// `script_current[job]` and `script_status[job]` (`None` when missing).
pub type GateValues = (Option<String>, Option<String>);

/// The values last read per job, and when the broker was last seen connected.
#[derive(Default)]
pub struct GateCache {
    values: Mutex<HashMap<String, GateValues>>,
    /// `None`: never seen connected (every cache is then too old for `strict`).
    connected_at: Mutex<Option<Instant>>,
}

impl GateCache {
    /// Records the connection state (called on every tick of the command loop, so the age of
    /// the cache counts from the disconnect).
    pub fn observe(&self, state: State) {
        if state == State::Connected {
            *lock(&self.connected_at) = Some(Instant::now());
        }
    }

    /// How long ago the broker was last seen connected; `None` when never.
    pub fn age(&self) -> Option<Duration> {
        lock(&self.connected_at).map(|at| at.elapsed())
    }

    /// The gate values of `job_id` under `policy`, `live` being the live read. Err is the
    /// reason to skip the run with exit 127.
    pub async fn values<F>(
        &self,
        job_id: &str,
        policy: StalenessPolicy,
        live: F,
    ) -> Result<GateValues, String>
    where
        F: std::future::Future<Output = Result<GateValues, String>>,
    {
        if policy.mode == Staleness::Unchecked {
            return Ok((None, None));
        }
        match live.await {
            Ok(values) => {
                lock(&self.values).insert(job_id.to_owned(), values.clone());
                Ok(values)
            }
            Err(live_error) => {
                let cached = lock(&self.values).get(job_id).cloned().unwrap_or_default();
                match (policy.mode, policy.max_cache_age, self.age()) {
                    (Staleness::Strict, Some(max), Some(age)) if age <= max.0 => Ok(cached),
                    (Staleness::Strict, max, age) => Err(format!(
                        "{live_error}; the cached pin and revocation are too old for staleness \
                         strict (broker last connected {}, max_cache_age {})",
                        age.map(|a| format!("{}s ago", a.as_secs()))
                            .unwrap_or_else(|| "never".to_owned()),
                        max.map(|m| m.to_string()).unwrap_or_default()
                    )),
                    _ => {
                        tracing::info!(
                            job_id,
                            error = live_error,
                            "using the cached pin and revocation (staleness cached)"
                        );
                        Ok(cached)
                    }
                }
            }
        }
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kanade_protocol::duration::HumanDuration;

    fn policy(mode: Staleness, age: Option<u64>) -> StalenessPolicy {
        StalenessPolicy {
            mode,
            max_cache_age: age.map(HumanDuration::from_secs),
        }
    }

    fn revoked() -> GateValues {
        (Some("1".into()), Some("REVOKED".into()))
    }

    async fn failing() -> Result<GateValues, String> {
        Err("kanade: cannot read script_status: timed out".to_owned())
    }

    #[tokio::test]
    async fn a_live_read_wins_and_is_remembered() {
        let cache = GateCache::default();
        let got = cache
            .values("j", StalenessPolicy::default(), async { Ok(revoked()) })
            .await;
        assert_eq!(got.unwrap(), revoked());
        // The broker goes away: cached mode uses what it read last.
        let got = cache
            .values("j", StalenessPolicy::default(), failing())
            .await;
        assert_eq!(got.unwrap(), revoked());
        // A job it never read counts as active and unpinned.
        let got = cache
            .values("other", StalenessPolicy::default(), failing())
            .await;
        assert_eq!(got.unwrap(), (None, None));
    }

    #[tokio::test]
    async fn strict_needs_a_recent_connection() {
        let cache = GateCache::default();
        // Never connected: too old whatever the limit.
        let got = cache
            .values("j", policy(Staleness::Strict, Some(600)), failing())
            .await;
        assert!(got.unwrap_err().contains("never"));
        cache.observe(State::Connected);
        cache
            .values("j", policy(Staleness::Strict, Some(600)), async {
                Ok(revoked())
            })
            .await
            .unwrap();
        let got = cache
            .values("j", policy(Staleness::Strict, Some(600)), failing())
            .await;
        assert_eq!(got.unwrap(), revoked());
        // A zero-second limit is already past.
        std::thread::sleep(Duration::from_millis(5));
        let got = cache
            .values("j", policy(Staleness::Strict, Some(0)), failing())
            .await;
        assert!(got.unwrap_err().contains("too old"));
    }

    #[tokio::test]
    async fn unchecked_never_reads() {
        let cache = GateCache::default();
        let got = cache
            .values("j", policy(Staleness::Unchecked, None), async {
                panic!("read although unchecked")
            })
            .await;
        assert_eq!(got.unwrap(), (None, None));
    }
}
