//! `ApiClient` methods of the two-person rule: list requests, approve, reject.

use kanade_protocol::approval::{Approval, DecisionRequest};
use reqwest::Method;

use super::{ApiClient, ClientError};

impl ApiClient {
    /// `GET /api/approvals?state=` (`awaiting` when `None`; `all` for every state).
    pub async fn approvals(
        &self,
        state: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Vec<Approval>, ClientError> {
        let pairs = [
            ("state", state.map(str::to_owned)),
            ("limit", limit.map(|n| n.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "approvals"], &pairs);
        self.send(request).await
    }

    /// `POST /api/executions/{exec_id}/approve` (`approve`) or `/reject`.
    pub async fn decide(
        &self,
        exec_id: &str,
        approve: bool,
        reason: Option<String>,
    ) -> Result<Approval, ClientError> {
        let verb = if approve { "approve" } else { "reject" };
        let request = self
            .request(Method::POST, &["api", "executions", exec_id, verb])
            .json(&DecisionRequest { reason });
        self.send(request).await
    }
}
