//! Test infrastructure only, never a dependency of non-test code: a real `nats-server` per
//! test on a free loopback port with a temporary store, and small helpers for ports and
//! waiting. End-to-end scenarios of the whole system live in `tests/e2e/`.

pub mod cluster;
pub mod nats;

pub use cluster::NatsCluster;
pub use nats::{NatsServer, Options as NatsOptions};

use std::net::TcpListener;
use std::path::PathBuf;

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The workspace root (where `Cargo.toml`, `.tools/` and `scripts/` are): the nearest
/// ancestor of the current directory (cargo runs tests in the package's folder) whose
/// `Cargo.toml` declares `[workspace]`. Found at run time so a test binary built from another
/// checkout sharing the target directory still looks in the right place.
pub fn workspace_root() -> PathBuf {
    let start =
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        if std::fs::read_to_string(&manifest).is_ok_and(|text| text.contains("[workspace]")) {
            return dir.to_path_buf();
        }
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .and_then(|p| p.parent())
        .expect("crates/kanade-testkit sits two levels below the workspace root")
        .to_path_buf()
}
