//! `ApiClient` methods of the fleet routes: machines, ping, groups, layered config, the freeze,
//! job revocation, agent releases, timelines and performance.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use kanade_protocol::api::{
    AgentRelease, AgentRow, EffectiveConfigView, FleetPerf, FreezeRequest, FreezeStatus, GroupList,
    GroupSummary, JobStatus, ObsEntry, Page, PerfSeries, PingResult, TopEntry, VersionCount,
};
use kanade_protocol::config::ConfigScope;
use reqwest::Method;
use serde_json::{Map, Value};

use crate::client::{ApiClient, ClientError};

/// How long an agent upload may take (the default request timeout is one minute).
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(600);

/// Filters, sort and page of `GET /api/agents`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentQuery {
    /// Substring of the machine id or host name.
    pub q: Option<String>,
    pub online: Option<bool>,
    pub group: Option<String>,
    pub os: Option<String>,
    pub version: Option<String>,
    pub sort: Option<String>,
    pub descending: bool,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// Filters of `GET /api/obs_events`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObsQuery {
    pub pc_id: Option<String>,
    pub kind: Option<String>,
    pub source: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// The range of the performance routes: `from`, `to` (default now) and seconds per point.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerfRange {
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub step_secs: Option<u64>,
}

fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl PerfRange {
    fn pairs(&self) -> [(&'static str, Option<String>); 3] {
        [
            ("from", self.from.as_ref().map(time)),
            ("to", self.to.as_ref().map(time)),
            ("step", self.step_secs.map(|s| s.to_string())),
        ]
    }
}

impl ApiClient {
    /// `GET /api/agents?q=&online=&group=&os=&version=&sort=&order=&limit=&offset=` (unset
    /// filters are left out; `order=desc` only when descending).
    pub async fn list_agents(&self, query: &AgentQuery) -> Result<Page<AgentRow>, ClientError> {
        let pairs = [
            ("q", query.q.clone()),
            ("online", query.online.map(|b| b.to_string())),
            ("group", query.group.clone()),
            ("os", query.os.clone()),
            ("version", query.version.clone()),
            ("sort", query.sort.clone()),
            ("order", query.descending.then(|| "desc".to_owned())),
            ("limit", query.limit.map(|n| n.to_string())),
            ("offset", query.offset.map(|n| n.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "agents"], &pairs);
        self.send(request).await
    }

    /// `GET /api/agents/versions`.
    pub async fn agent_versions(&self) -> Result<Vec<VersionCount>, ClientError> {
        self.send(self.request(Method::GET, &["api", "agents", "versions"]))
            .await
    }

    /// `GET /api/agents/{pc_id}`: the machine with its groups.
    pub async fn get_agent(&self, pc_id: &str) -> Result<AgentRow, ClientError> {
        self.send(self.request(Method::GET, &["api", "agents", pc_id]))
            .await
    }

    /// `POST /api/agents/{pc_id}/ping`: answers within about 5 s, `answered: false` when the
    /// machine did not.
    pub async fn ping(&self, pc_id: &str) -> Result<PingResult, ClientError> {
        self.send(self.request(Method::POST, &["api", "agents", pc_id, "ping"]))
            .await
    }

    /// `GET /api/agents/{pc_id}/perf?from=&to=&step=`.
    pub async fn agent_perf(
        &self,
        pc_id: &str,
        range: &PerfRange,
    ) -> Result<PerfSeries, ClientError> {
        let request = self.request_with_query(
            Method::GET,
            &["api", "agents", pc_id, "perf"],
            &range.pairs(),
        );
        self.send(request).await
    }

    /// `GET /api/perf/fleet?from=&to=&step=`.
    pub async fn fleet_perf(&self, range: &PerfRange) -> Result<FleetPerf, ClientError> {
        let request =
            self.request_with_query(Method::GET, &["api", "perf", "fleet"], &range.pairs());
        self.send(request).await
    }

    /// `GET /api/perf/top?metric=&limit=`.
    pub async fn perf_top(&self, metric: &str, limit: usize) -> Result<Vec<TopEntry>, ClientError> {
        let query = [
            ("metric", Some(metric.to_owned())),
            ("limit", Some(limit.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "perf", "top"], &query);
        self.send(request).await
    }

    /// `GET /api/groups`: every group with its number of machines.
    pub async fn list_groups(&self) -> Result<Vec<GroupSummary>, ClientError> {
        self.send(self.request(Method::GET, &["api", "groups"]))
            .await
    }

    /// `GET /api/agents/{pc_id}/groups`.
    pub async fn agent_groups(&self, pc_id: &str) -> Result<GroupList, ClientError> {
        self.send(self.request(Method::GET, &["api", "agents", pc_id, "groups"]))
            .await
    }

    /// `PUT /api/agents/{pc_id}/groups[?allow_unknown=true]`: replaces the machine's groups.
    /// A machine never seen (no heartbeat, not enrolled) is 404 unless `allow_unknown`.
    pub async fn set_agent_groups(
        &self,
        pc_id: &str,
        groups: &GroupList,
        allow_unknown: bool,
    ) -> Result<GroupList, ClientError> {
        let request = self
            .request_with_query(
                Method::PUT,
                &["api", "agents", pc_id, "groups"],
                &staging(allow_unknown),
            )
            .json(groups);
        self.send(request).await
    }

    /// `PUT /api/agents/{pc_id}/groups/{group}` for a machine the backend knows (404 for one
    /// never seen).
    pub async fn add_agent_group(
        &self,
        pc_id: &str,
        group: &str,
    ) -> Result<GroupList, ClientError> {
        self.add_agent_group_staged(pc_id, group, false).await
    }

    /// `PUT /api/agents/{pc_id}/groups/{group}[?allow_unknown=true]`: with `allow_unknown`, a
    /// machine never seen is put in the group before it enrolls instead of 404.
    pub async fn add_agent_group_staged(
        &self,
        pc_id: &str,
        group: &str,
        allow_unknown: bool,
    ) -> Result<GroupList, ClientError> {
        let request = self.request_with_query(
            Method::PUT,
            &["api", "agents", pc_id, "groups", group],
            &staging(allow_unknown),
        );
        self.send(request).await
    }

    /// `DELETE /api/agents/{pc_id}/groups/{group}`.
    pub async fn remove_agent_group(
        &self,
        pc_id: &str,
        group: &str,
    ) -> Result<GroupList, ClientError> {
        self.send(self.request(Method::DELETE, &["api", "agents", pc_id, "groups", group]))
            .await
    }

    /// `GET /api/config/{scope}` (`global`, `groups.<g>`, `pcs.<pc_id>`): the values it sets.
    pub async fn get_config(&self, scope: &str) -> Result<ConfigScope, ClientError> {
        self.send(self.request(Method::GET, &["api", "config", scope]))
            .await
    }

    /// `PATCH /api/config/{scope}`: sets the fields present, a `null` unsets one; answers the
    /// scope as written.
    pub async fn patch_config(
        &self,
        scope: &str,
        patch: &Map<String, Value>,
    ) -> Result<ConfigScope, ClientError> {
        let request = self
            .request(Method::PATCH, &["api", "config", scope])
            .json(patch);
        self.send(request).await
    }

    /// `GET /api/agents/{pc_id}/effective_config`: each value and the scope it came from.
    pub async fn effective_config(&self, pc_id: &str) -> Result<EffectiveConfigView, ClientError> {
        self.send(self.request(Method::GET, &["api", "agents", pc_id, "effective_config"]))
            .await
    }

    /// `GET /api/freeze`.
    pub async fn freeze_status(&self) -> Result<FreezeStatus, ClientError> {
        self.send(self.request(Method::GET, &["api", "freeze"]))
            .await
    }

    /// `PUT /api/freeze`.
    pub async fn set_freeze(&self, request: &FreezeRequest) -> Result<FreezeStatus, ClientError> {
        let request = self.request(Method::PUT, &["api", "freeze"]).json(request);
        self.send(request).await
    }

    /// `DELETE /api/freeze`.
    pub async fn lift_freeze(&self) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &["api", "freeze"]))
            .await
    }

    /// `GET /api/jobs/{id}/status`.
    pub async fn job_status(&self, id: &str) -> Result<JobStatus, ClientError> {
        self.send(self.request(Method::GET, &["api", "jobs", id, "status"]))
            .await
    }

    /// `POST /api/jobs/{id}/revoke` or `/unrevoke`.
    pub async fn set_job_revoked(&self, id: &str, revoked: bool) -> Result<JobStatus, ClientError> {
        let verb = if revoked { "revoke" } else { "unrevoke" };
        self.send(self.request(Method::POST, &["api", "jobs", id, verb]))
            .await
    }

    /// `POST /api/agent-releases?version=&platform=` with the binary as the body (admin).
    pub async fn publish_release(
        &self,
        version: &str,
        platform: Option<&str>,
        binary: Vec<u8>,
    ) -> Result<AgentRelease, ClientError> {
        let query = [
            ("version", Some(version.to_owned())),
            ("platform", platform.map(str::to_owned)),
        ];
        let request = self
            .request_with_query(Method::POST, &["api", "agent-releases"], &query)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(UPLOAD_TIMEOUT)
            .body(binary);
        self.send(request).await
    }

    /// `GET /api/agent-releases`.
    pub async fn list_releases(&self) -> Result<Vec<AgentRelease>, ClientError> {
        self.send(self.request(Method::GET, &["api", "agent-releases"]))
            .await
    }

    /// `DELETE /api/agent-releases/{key}` (admin).
    pub async fn delete_release(&self, key: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &["api", "agent-releases", key]))
            .await
    }

    /// `GET /api/obs_events?pc_id=&kind=&source=&from=&to=&limit=&offset=`, newest first.
    pub async fn obs_events(&self, query: &ObsQuery) -> Result<Page<ObsEntry>, ClientError> {
        let pairs = [
            ("pc_id", query.pc_id.clone()),
            ("kind", query.kind.clone()),
            ("source", query.source.clone()),
            ("from", query.from.as_ref().map(time)),
            ("to", query.to.as_ref().map(time)),
            ("limit", query.limit.map(|n| n.to_string())),
            ("offset", query.offset.map(|n| n.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "obs_events"], &pairs);
        self.send(request).await
    }
}

/// `allow_unknown=true` when asked, else no query at all.
fn staging(allow_unknown: bool) -> [(&'static str, Option<String>); 1] {
    [("allow_unknown", allow_unknown.then(|| "true".to_owned()))]
}
