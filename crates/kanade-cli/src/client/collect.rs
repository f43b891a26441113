//! `ApiClient` methods for collected file bundles: list (`GET /api/collect/bundles`), download
//! (`GET /api/collect/bundles/{key}`, streamed) and delete.

use kanade_protocol::collect::BundleInfo;
use reqwest::Method;

use crate::client::{ApiClient, ClientError};

/// The path segments of a bundle: its key's three parts, each percent-encoded on its own.
fn segments(key: &str) -> Vec<&str> {
    ["api", "collect", "bundles"]
        .into_iter()
        .chain(key.split('/'))
        .collect()
}

impl ApiClient {
    /// `GET /api/collect/bundles?pc=&job=`: newest first.
    pub async fn list_bundles(
        &self,
        pc: Option<&str>,
        job: Option<&str>,
    ) -> Result<Vec<BundleInfo>, ClientError> {
        let query = [
            ("pc", pc.map(str::to_owned)),
            ("job", job.map(str::to_owned)),
        ];
        let request = self.request_with_query(Method::GET, &["api", "collect", "bundles"], &query);
        self.send(request).await
    }

    /// `GET /api/collect/bundles/{key}`: the zip, read piece by piece with
    /// `reqwest::Response::chunk`.
    pub async fn download_bundle(&self, key: &str) -> Result<reqwest::Response, ClientError> {
        let request = self
            .request(Method::GET, &segments(key))
            .timeout(std::time::Duration::from_secs(3600));
        let (client, request) = request.build_split();
        let request = request.map_err(|err| ClientError::BaseUrl {
            url: self.base_url.to_string(),
            message: err.to_string(),
        })?;
        let (method, url) = (request.method().clone(), request.url().to_string());
        let response = client
            .execute(request)
            .await
            .map_err(|source| ClientError::Transport {
                method,
                url,
                source,
            })?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status();
        let bytes = response.bytes().await.unwrap_or_default();
        let detail = serde_json::from_slice::<kanade_protocol::api::ErrorBody>(&bytes)
            .ok()
            .map(|body| body.error);
        Err(ClientError::Api {
            status,
            detail,
            body: String::from_utf8_lossy(&bytes[..bytes.len().min(300)]).into_owned(),
        })
    }

    /// `DELETE /api/collect/bundles/{key}`.
    pub async fn delete_bundle(&self, key: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &segments(key)))
            .await
    }
}
