//! The live-update hub: projectors, the watchdog and the exec path announce what changed
//! after it is committed; `GET /api/events/stream` relays it to dashboards. Lossy by design:
//! a slow subscriber skips ahead and refetches.

use kanade_protocol::api::LiveEvent;
use tokio::sync::broadcast;

const CAPACITY: usize = 4096;

#[derive(Clone)]
pub struct LiveHub(broadcast::Sender<LiveEvent>);

impl Default for LiveHub {
    fn default() -> LiveHub {
        LiveHub(broadcast::channel(CAPACITY).0)
    }
}

impl LiveHub {
    /// Announces a committed change; nobody listening is fine.
    pub fn send(&self, event: LiveEvent) {
        let _ = self.0.send(event);
    }

    /// True while a dashboard listens (nothing needs building for nobody).
    pub fn listening(&self) -> bool {
        self.0.receiver_count() > 0
    }

    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.0.subscribe()
    }
}
