//! `ApiClient` methods of the command signing routes: list, add, rotate and retire keys, and
//! have the backend sign a break-glass command.

use kanade_protocol::api::{
    AddCommandKeyRequest, CommandKeyRow, SignCommandRequest, SignCommandResponse,
};
use kanade_protocol::wire::Command;
use reqwest::Method;

use crate::client::{ApiClient, ClientError};

impl ApiClient {
    /// `GET /api/command-keys`.
    pub async fn command_keys(&self) -> Result<Vec<CommandKeyRow>, ClientError> {
        self.send(self.request(Method::GET, &["api", "command-keys"]))
            .await
    }

    /// `POST /api/command-keys`: trust a public key made elsewhere.
    pub async fn add_command_key(&self, public_key: &str) -> Result<CommandKeyRow, ClientError> {
        let body = AddCommandKeyRequest {
            public_key: public_key.to_owned(),
        };
        self.send(
            self.request(Method::POST, &["api", "command-keys"])
                .json(&body),
        )
        .await
    }

    /// `POST /api/command-keys/rotate`.
    pub async fn rotate_command_key(&self) -> Result<CommandKeyRow, ClientError> {
        self.send(self.request(Method::POST, &["api", "command-keys", "rotate"]))
            .await
    }

    /// `DELETE /api/command-keys/{key_id}`.
    pub async fn retire_command_key(&self, key_id: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &["api", "command-keys", key_id]))
            .await
    }

    /// `POST /api/commands/sign`: `command` signed for `target`.
    pub async fn sign_command(
        &self,
        command: &Command,
        target: &str,
    ) -> Result<Command, ClientError> {
        let body = SignCommandRequest {
            command: command.clone(),
            target: target.to_owned(),
            os_user: Some(crate::audit::os_user()),
        };
        let signed: SignCommandResponse = self
            .send(
                self.request(Method::POST, &["api", "commands", "sign"])
                    .json(&body),
            )
            .await?;
        Ok(signed.command)
    }
}
