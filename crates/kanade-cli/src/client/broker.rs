//! `ApiClient` methods of the broker's resources: set them up (optionally with another
//! replica count) through the backend.

use kanade_protocol::api::{JetstreamSetup, JetstreamSetupReport};
use reqwest::Method;

use crate::client::{ApiClient, ClientError};

impl ApiClient {
    /// `POST /api/jetstream/setup` (admin).
    pub async fn jetstream_setup(
        &self,
        replicas: Option<usize>,
    ) -> Result<JetstreamSetupReport, ClientError> {
        let body = JetstreamSetup { replicas };
        self.send(
            self.request(Method::POST, &["api", "jetstream", "setup"])
                .json(&body),
        )
        .await
    }
}
