//! Password hashing with argon2id (the crate's recommended parameters), a verification that
//! costs the same whether or not the account exists, and [`HashGate`], which bounds how many
//! hashes run at once (each one holds ~19 MiB) so a flood of sign-ins cannot exhaust memory.

use std::sync::Arc;
use std::time::Duration;

use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};
use tokio::sync::Semaphore;

/// A hash could not start: too many are running and queued. Try again after `retry_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy {
    pub retry_after: Duration,
}

/// At most `workers` hashes run at once and at most `queue` more wait; the rest are refused
/// at once with [`Busy`].
#[derive(Clone)]
pub struct HashGate {
    admitted: Arc<Semaphore>,
    running: Arc<Semaphore>,
}

impl HashGate {
    pub fn new(workers: usize, queue: usize) -> HashGate {
        let workers = workers.max(1);
        HashGate {
            admitted: Arc::new(Semaphore::new(workers + queue)),
            running: Arc::new(Semaphore::new(workers)),
        }
    }

    /// One worker per core (at most 4), and a queue of four per worker.
    pub fn for_this_host() -> HashGate {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let workers = cores.clamp(1, 4);
        HashGate::new(workers, workers * 4)
    }

    /// Runs `work` (a hash or a verification) on the blocking pool once a worker is free.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let busy = Busy {
            retry_after: Duration::from_secs(1),
        };
        let _admitted = self
            .admitted
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy)?;
        let _running = self
            .running
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| busy)?;
        tokio::task::spawn_blocking(work).await.map_err(|_| busy)
    }
}

pub fn hash(password: &str) -> anyhow::Result<String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing a password: {e}"))?;
    Ok(hash.to_string())
}

/// True when `password` matches `stored`. A malformed stored hash never matches.
pub fn verify(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// Spends the time of one verification, for unknown accounts, so timing does not reveal
/// whether a user exists.
pub fn verify_dummy(password: &str) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let stored = DUMMY.get_or_init(|| hash("kanade-timing-equaliser").unwrap_or_default());
    let _ = verify(password, stored);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let a = hash("correct horse battery").unwrap();
        let b = hash("correct horse battery").unwrap();
        assert!(a.starts_with("$argon2id$"), "{a}");
        assert_ne!(a, b, "salted");
        assert!(verify("correct horse battery", &a));
        assert!(!verify("wrong horse battery", &a));
        assert!(!verify("anything", "not a hash"));
    }

    #[tokio::test]
    async fn the_gate_runs_a_bounded_number_and_refuses_beyond_its_queue() {
        let gate = HashGate::new(1, 1);
        let (release, blocked) = std::sync::mpsc::channel::<()>();
        let (started_tx, started) = tokio::sync::oneshot::channel();
        let running = tokio::spawn({
            let gate = gate.clone();
            async move {
                gate.run(move || {
                    let _ = started_tx.send(());
                    blocked.recv().ok()
                })
                .await
            }
        });
        started.await.unwrap();
        let queued = tokio::spawn({
            let gate = gate.clone();
            async move { gate.run(|| 2).await }
        });
        // The queued call holds its admission before the third arrives.
        while gate.admitted.available_permits() > 0 {
            tokio::task::yield_now().await;
        }
        assert!(gate.run(|| 3).await.is_err(), "beyond worker + queue");
        release.send(()).unwrap();
        assert_eq!(running.await.unwrap(), Ok(Some(())));
        assert_eq!(queued.await.unwrap(), Ok(2));
        assert_eq!(gate.run(|| 4).await, Ok(4), "free again");
    }
}
