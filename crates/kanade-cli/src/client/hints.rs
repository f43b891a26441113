//! `ApiClient` methods of the inventory, compliance, notification and group-contact routes.

use kanade_protocol::api::{
    CheckRow, ComplianceSummary, GroupEmails, InventoryChange, InventoryFacts, InventoryJobPage,
    InventorySearch, NotificationDetail, NotificationRequest, NotificationSent,
    NotificationSummary, Page,
};
use reqwest::Method;

use crate::client::{ApiClient, ClientError};

impl ApiClient {
    /// `GET /api/inventory/{job_id}?pc=&limit=&offset=`.
    pub async fn inventory_for_job(
        &self,
        job_id: &str,
        pc: Option<&str>,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<InventoryJobPage, ClientError> {
        let query = [
            ("pc", pc.map(str::to_owned)),
            ("limit", limit.map(|n| n.to_string())),
            ("offset", offset.map(|n| n.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "inventory", job_id], &query);
        self.send(request).await
    }

    /// `GET /api/agents/{pc_id}/inventory`.
    pub async fn agent_inventory(&self, pc_id: &str) -> Result<Vec<InventoryFacts>, ClientError> {
        self.send(self.request(Method::GET, &["api", "agents", pc_id, "inventory"]))
            .await
    }

    /// `GET /api/inventory/search?table=&<column>__<op>=<value>…&limit=&offset=`.
    pub async fn inventory_search(
        &self,
        table: &str,
        filters: &[(String, String)],
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<InventorySearch, ClientError> {
        let mut query: Vec<(&str, Option<String>)> = vec![("table", Some(table.to_owned()))];
        query.extend(filters.iter().map(|(k, v)| (k.as_str(), Some(v.clone()))));
        query.push(("limit", limit.map(|n| n.to_string())));
        query.push(("offset", offset.map(|n| n.to_string())));
        let request = self.request_with_query(Method::GET, &["api", "inventory", "search"], &query);
        self.send(request).await
    }

    /// `GET /api/inventory/history?pc_id=&job_id=&limit=&offset=`.
    pub async fn inventory_history(
        &self,
        pc_id: Option<&str>,
        job_id: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<InventoryChange>, ClientError> {
        let query = [
            ("pc_id", pc_id.map(str::to_owned)),
            ("job_id", job_id.map(str::to_owned)),
            ("limit", limit.map(|n| n.to_string())),
        ];
        let request =
            self.request_with_query(Method::GET, &["api", "inventory", "history"], &query);
        self.send(request).await
    }

    /// `GET /api/compliance`.
    pub async fn compliance(&self) -> Result<Vec<ComplianceSummary>, ClientError> {
        self.send(self.request(Method::GET, &["api", "compliance"]))
            .await
    }

    /// `GET /api/compliance/{check}?status=&limit=&offset=`.
    pub async fn compliance_check(
        &self,
        check: &str,
        status: Option<&str>,
        limit: Option<u32>,
        offset: Option<u64>,
    ) -> Result<Page<CheckRow>, ClientError> {
        let query = [
            ("status", status.map(str::to_owned)),
            ("limit", limit.map(|n| n.to_string())),
            ("offset", offset.map(|n| n.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "compliance", check], &query);
        self.send(request).await
    }

    /// `GET /api/agents/{pc_id}/checks`.
    pub async fn agent_checks(&self, pc_id: &str) -> Result<Vec<CheckRow>, ClientError> {
        self.send(self.request(Method::GET, &["api", "agents", pc_id, "checks"]))
            .await
    }

    /// `POST /api/notifications`.
    pub async fn send_notification(
        &self,
        request: &NotificationRequest,
    ) -> Result<NotificationSent, ClientError> {
        let request = self
            .request(Method::POST, &["api", "notifications"])
            .json(request);
        self.send(request).await
    }

    /// `GET /api/notifications?limit=&offset=`.
    pub async fn list_notifications(
        &self,
        limit: u32,
        offset: u64,
    ) -> Result<Page<NotificationSummary>, ClientError> {
        let query = [
            ("limit", Some(limit.to_string())),
            ("offset", Some(offset.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "notifications"], &query);
        self.send(request).await
    }

    /// `GET /api/notifications/{id}`.
    pub async fn get_notification(&self, id: &str) -> Result<NotificationDetail, ClientError> {
        self.send(self.request(Method::GET, &["api", "notifications", id]))
            .await
    }

    /// `PUT /api/groups/{name}/email`.
    pub async fn set_group_emails(
        &self,
        group: &str,
        emails: &GroupEmails,
    ) -> Result<GroupEmails, ClientError> {
        let request = self
            .request(Method::PUT, &["api", "groups", group, "email"])
            .json(emails);
        self.send(request).await
    }

    /// `GET /api/groups/{name}/email`.
    pub async fn group_emails(&self, group: &str) -> Result<GroupEmails, ClientError> {
        self.send(self.request(Method::GET, &["api", "groups", group, "email"]))
            .await
    }
}
