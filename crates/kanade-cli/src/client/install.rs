//! `ApiClient` method of the agent installer: `POST /api/enrollment/install-command`.

use kanade_protocol::install::{InstallCommand, InstallCommandRequest};
use reqwest::Method;

use crate::client::{ApiClient, ClientError};

impl ApiClient {
    /// `POST /api/enrollment/install-command` (admin): the command, its script and the
    /// single-use token it carries.
    pub async fn install_command(
        &self,
        req: &InstallCommandRequest,
    ) -> Result<InstallCommand, ClientError> {
        self.send(
            self.request(Method::POST, &["api", "enrollment", "install-command"])
                .json(req),
        )
        .await
    }
}
