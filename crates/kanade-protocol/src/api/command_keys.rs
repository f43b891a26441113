//! Command signing keys as the API shows them, and the break-glass CLI's sign request.

use serde::{Deserialize, Serialize};

/// One key of `GET /api/command-keys`.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommandKeyRow {
    #[serde(flatten)]
    pub key: crate::signing::CommandKey,
    /// The key this backend signs with.
    pub current: bool,
}

/// `POST /api/command-keys`: trust a public key made elsewhere (`kanade keys break-glass`).
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddCommandKeyRequest {
    /// The nkeys-encoded ed25519 public key (`U…`).
    pub public_key: String,
}

/// `POST /api/commands/sign`: the break-glass CLI asks the backend to sign a command it is
/// about to publish itself.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignCommandRequest {
    pub command: crate::wire::Command,
    /// The subject it will be published to (`commands.all`, `commands.group.<g>`,
    /// `commands.pc.<pc_id>`).
    pub target: String,
    /// The operating-system user running the CLI (break-glass `kanade run`), recorded in the
    /// `command.sign` audit entry beside the signed-in user. Not proof of anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_user: Option<String>,
}

/// The answer: the same command with its signature.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SignCommandResponse {
    pub command: crate::wire::Command,
}
