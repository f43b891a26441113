//! `AppState`: what every handler may reach — the store, the broker, the config and the
//! authentication settings.

use std::sync::Arc;

use async_nats::jetstream;

use crate::auth::settings::AuthSettings;
use crate::config::BackendConfig;
use crate::live::LiveHub;
use crate::manifests::ManifestCache;
use crate::metrics::Metrics;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub config: Arc<BackendConfig>,
    pub auth: Arc<AuthSettings>,
    pub metrics: Metrics,
    pub live: LiveHub,
    /// Every registered job, kept current from KV `jobs`.
    pub manifests: ManifestCache,
    /// Recent totals of the fleet table, so paging does not count 50,000 rows each time.
    pub totals: Arc<crate::totals::Totals>,
    /// Signs every command the backend publishes.
    pub signer: Arc<crate::signer::Signer>,
    /// Machine identities and enrollment tokens, and the kick of live connections.
    pub access: Arc<crate::access::BrokerAccess>,
    /// Accounts and sessions (KV, with the SQLite read model kept by watches).
    pub accounts: Arc<crate::accounts::Accounts>,
}

impl axum::extract::FromRef<AppState> for Metrics {
    fn from_ref(state: &AppState) -> Metrics {
        state.metrics.clone()
    }
}

impl AppState {
    /// A machine is online while its last heartbeat is younger than this.
    pub fn online_window(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.config.telemetry.offline_after.0)
            .unwrap_or(chrono::Duration::minutes(2))
    }
}
