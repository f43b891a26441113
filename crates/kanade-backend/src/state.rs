//! `AppState`: what every handler may reach — the store, the broker, the config and the
//! authentication settings.

use std::sync::Arc;

use async_nats::jetstream;

use crate::auth::AuthSettings;
use crate::config::BackendConfig;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub nats: async_nats::Client,
    pub js: jetstream::Context,
    pub config: Arc<BackendConfig>,
    pub auth: Arc<AuthSettings>,
}
