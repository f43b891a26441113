//! `ApiClient` methods of schedules: register (one or a batch), list, read, delete, enable or
//! disable, and the upcoming fires.

use kanade_protocol::api::{BatchRequest, BatchResponse};
use kanade_protocol::schedule::{ScheduleDetail, ScheduleSummary, UpcomingFire};
use reqwest::Method;

use super::{ApiClient, ClientError};

impl ApiClient {
    /// `POST /api/schedules` with a schedule as written (YAML or JSON text).
    pub async fn create_schedule_yaml(&self, text: &str) -> Result<ScheduleDetail, ClientError> {
        let request = self
            .request(Method::POST, &["api", "schedules"])
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(text.to_owned());
        self.send(request).await
    }

    /// `POST /api/schedules:batch`: every schedule (text as written) registered, or none.
    pub async fn create_schedules_batch(
        &self,
        documents: Vec<String>,
    ) -> Result<BatchResponse, ClientError> {
        let request = self
            .request(Method::POST, &["api", "schedules:batch"])
            .json(&BatchRequest { documents });
        self.send(request).await
    }

    /// `GET /api/schedules`.
    pub async fn list_schedules(&self) -> Result<Vec<ScheduleSummary>, ClientError> {
        self.send(self.request(Method::GET, &["api", "schedules"]))
            .await
    }

    /// `GET /api/schedules/{id}`.
    pub async fn get_schedule(&self, id: &str) -> Result<ScheduleDetail, ClientError> {
        self.send(self.request(Method::GET, &["api", "schedules", id]))
            .await
    }

    /// `DELETE /api/schedules/{id}`.
    pub async fn delete_schedule(&self, id: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &["api", "schedules", id]))
            .await
    }

    /// `PATCH /api/schedules/{id}/enable` or `/disable`.
    pub async fn set_schedule_enabled(
        &self,
        id: &str,
        enabled: bool,
    ) -> Result<ScheduleSummary, ClientError> {
        let verb = if enabled { "enable" } else { "disable" };
        self.send(self.request(Method::PATCH, &["api", "schedules", id, verb]))
            .await
    }

    /// `GET /api/schedules/upcoming?limit=`.
    pub async fn upcoming_fires(&self, limit: usize) -> Result<Vec<UpcomingFire>, ClientError> {
        let query = [("limit", Some(limit.to_string()))];
        let request =
            self.request_with_query(Method::GET, &["api", "schedules", "upcoming"], &query);
        self.send(request).await
    }
}
