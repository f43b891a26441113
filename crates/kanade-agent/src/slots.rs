//! The local concurrency limit (`max_local_concurrent`): a first-come-first-served semaphore
//! whose size follows the live config. Commands beyond the limit wait in order. Shrinking
//! never stops a running script: the surplus permits retire as running scripts finish.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

pub struct Slots {
    semaphore: Arc<Semaphore>,
    state: Mutex<State>,
}

struct State {
    size: usize,
    /// Permits to retire when they come back (the size shrank while they were out).
    debt: usize,
}

/// A running script's place; returned on drop.
pub struct Slot {
    permit: Option<OwnedSemaphorePermit>,
    slots: Arc<Slots>,
}

impl Slots {
    pub fn new(size: usize) -> Arc<Slots> {
        let size = size.max(1);
        Arc::new(Slots {
            semaphore: Arc::new(Semaphore::new(size)),
            state: Mutex::new(State { size, debt: 0 }),
        })
    }

    pub fn size(&self) -> usize {
        self.lock().size
    }

    /// Changes the limit (at least 1) for the scripts that start from now on.
    pub fn resize(&self, size: usize) {
        let size = size.max(1);
        let mut state = self.lock();
        if size > state.size {
            let grow = size - state.size;
            let repaid = grow.min(state.debt);
            state.debt -= repaid;
            self.semaphore.add_permits(grow - repaid);
        } else {
            let shrink = state.size - size;
            let retired = self.semaphore.forget_permits(shrink);
            state.debt += shrink - retired;
        }
        tracing::info!(from = state.size, to = size, "local concurrency limit");
        state.size = size;
    }

    /// Waits for a free slot, in arrival order.
    pub async fn acquire(self: &Arc<Slots>) -> Slot {
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore is never closed");
        Slot {
            permit: Some(permit),
            slots: self.clone(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        match self.state.lock() {
            Ok(state) => state,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let Some(permit) = self.permit.take() else {
            return;
        };
        let mut state = self.slots.lock();
        if state.debt > 0 {
            state.debt -= 1;
            permit.forget();
        }
        // Otherwise dropping the permit hands it to the next waiter.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn try_acquire(slots: &Arc<Slots>) -> Option<Slot> {
        tokio::time::timeout(Duration::from_millis(50), slots.acquire())
            .await
            .ok()
    }

    #[tokio::test]
    async fn the_limit_follows_resizes_without_stopping_running_work() {
        let slots = Slots::new(1);
        let first = slots.acquire().await;
        assert!(try_acquire(&slots).await.is_none(), "limit 1 holds");
        slots.resize(2);
        let second = try_acquire(&slots).await.expect("growing frees a slot");
        // Shrink to 1 while two run: both keep running, nothing new starts until both end.
        slots.resize(1);
        assert_eq!(slots.size(), 1);
        drop(first);
        assert!(
            try_acquire(&slots).await.is_none(),
            "one still runs, limit is 1"
        );
        drop(second);
        let third = try_acquire(&slots).await.expect("free again");
        assert!(try_acquire(&slots).await.is_none());
        drop(third);
        // Zero means one: a limit never stalls every job.
        slots.resize(0);
        assert_eq!(slots.size(), 1);
        assert!(try_acquire(&slots).await.is_some());
    }

    #[tokio::test]
    async fn waiters_start_in_arrival_order() {
        let slots = Slots::new(1);
        let held = slots.acquire().await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        for n in 0..3 {
            let slots = slots.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let _slot = slots.acquire().await;
                tx.send(n).unwrap();
            });
            tokio::task::yield_now().await;
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        drop(held);
        let order: Vec<i32> = [rx.recv().await, rx.recv().await, rx.recv().await]
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(order, [0, 1, 2]);
    }
}
