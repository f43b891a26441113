//! `ApiClient` methods of the server settings, machine metadata and derived groups routes.

use kanade_protocol::derived::{DerivedGroupRequest, DerivedGroupView};
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

impl ApiClient {
    /// `GET /api/group-defs`.
    pub async fn derived_groups(&self) -> Result<Vec<DerivedGroupView>, ClientError> {
        self.send(self.request(Method::GET, &["api", "group-defs"]))
            .await
    }

    /// `POST /api/group-defs`.
    pub async fn derive_group(
        &self,
        request: &DerivedGroupRequest,
    ) -> Result<DerivedGroupView, ClientError> {
        let request = self
            .request(Method::POST, &["api", "group-defs"])
            .json(request);
        self.send(request).await
    }

    /// `DELETE /api/group-defs/{group}`.
    pub async fn delete_derived_group(&self, group: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &["api", "group-defs", group]))
            .await
    }
}
