//! `ApiClient` methods of the server settings, machine metadata and derived groups routes.

use kanade_protocol::meta::AgentMeta;
use kanade_protocol::settings::SettingsView;
use reqwest::Method;
use serde_json::{Map, Value};

use super::{ApiClient, ClientError};

impl ApiClient {
    /// `GET /api/settings`.
    pub async fn settings(&self) -> Result<SettingsView, ClientError> {
        self.send(self.request(Method::GET, &["api", "settings"]))
            .await
    }

    /// `PUT /api/settings`: `patch` maps settings to values (`null` unsets).
    pub async fn set_settings(
        &self,
        patch: &Map<String, Value>,
    ) -> Result<SettingsView, ClientError> {
        let request = self.request(Method::PUT, &["api", "settings"]).json(patch);
        self.send(request).await
    }
}

impl ApiClient {
    /// `GET /api/agents/{pc_id}/meta`.
    pub async fn agent_meta(&self, pc_id: &str) -> Result<AgentMeta, ClientError> {
        self.send(self.request(Method::GET, &["api", "agents", pc_id, "meta"]))
            .await
    }

    /// `PUT /api/agents/{pc_id}/meta`.
    pub async fn set_agent_meta(
        &self,
        pc_id: &str,
        meta: &AgentMeta,
    ) -> Result<AgentMeta, ClientError> {
        let request = self
            .request(Method::PUT, &["api", "agents", pc_id, "meta"])
            .json(meta);
        self.send(request).await
    }
}
