//! `ApiClient` methods of machine access: enrollment tokens (create, list, delete) and the
//! machines that asked to join (list; approve, reject, revoke).

use kanade_protocol::duration::HumanDuration;
use kanade_protocol::enrollment::{
    CreateTokenRequest, CreatedToken, DecisionRequest, DecisionResponse, MachineIdentity, TokenRow,
};
use reqwest::Method;

use crate::client::{ApiClient, ClientError};

/// What an admin decides about a machine (the last path segment of the route).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Approve,
    Reject,
    Revoke,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Reject => "reject",
            Verdict::Revoke => "revoke",
        }
    }
}

impl ApiClient {
    /// `GET /api/enrollment/tokens`.
    pub async fn enrollment_tokens(&self) -> Result<Vec<TokenRow>, ClientError> {
        self.send(self.request(Method::GET, &["api", "enrollment", "tokens"]))
            .await
    }

    /// `POST /api/enrollment/tokens`: the record and the text, shown once.
    pub async fn create_enrollment_token(
        &self,
        group: Option<String>,
        expires: HumanDuration,
        uses: u32,
    ) -> Result<CreatedToken, ClientError> {
        let body = CreateTokenRequest {
            group,
            expires,
            uses,
        };
        self.send(
            self.request(Method::POST, &["api", "enrollment", "tokens"])
                .json(&body),
        )
        .await
    }

    /// `DELETE /api/enrollment/tokens/{token_id}`.
    pub async fn delete_enrollment_token(&self, id: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &["api", "enrollment", "tokens", id]))
            .await
    }

    /// `GET /api/machines/identities[?status=]`.
    pub async fn machine_identities(
        &self,
        status: Option<&str>,
    ) -> Result<Vec<MachineIdentity>, ClientError> {
        let query = [("status", status.map(str::to_owned))];
        self.send(self.request_with_query(Method::GET, &["api", "machines", "identities"], &query))
            .await
    }

    /// `POST /api/machines/identities/{pc_id}/approve|reject|revoke`.
    pub async fn decide_machine(
        &self,
        pc_id: &str,
        verdict: Verdict,
        reason: Option<String>,
    ) -> Result<DecisionResponse, ClientError> {
        let body = DecisionRequest { reason };
        self.send(
            self.request(
                Method::POST,
                &["api", "machines", "identities", pc_id, verdict.as_str()],
            )
            .json(&body),
        )
        .await
    }
}
