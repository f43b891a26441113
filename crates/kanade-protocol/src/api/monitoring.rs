//! What machines report as they run: performance series, fleet percentiles, process
//! snapshots, observed events, and the live event stream pushed to pages.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One averaged step of a machine's performance series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerfPoint {
    pub at: DateTime<Utc>,
    pub samples: u32,
    pub cpu_pct: f64,
    pub mem_used_bytes: f64,
    pub mem_total_bytes: f64,
    pub swap_used_bytes: f64,
    pub disk_read_bytes_per_sec: f64,
    pub disk_written_bytes_per_sec: f64,
    pub net_rx_bytes_per_sec: f64,
    pub net_tx_bytes_per_sec: f64,
}

/// `GET /api/agents/{pc_id}/perf`: averages per `step_secs`, at most about 1000 points.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PerfSeries {
    pub pc_id: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub step_secs: u64,
    pub points: Vec<PerfPoint>,
}

/// `GET /api/perf/fleet`: percentiles over the machines' latest samples, and the fleet's
/// average and maximum per step over the range.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetPerf {
    pub machines: u64,
    pub cpu_p50: f64,
    pub cpu_p90: f64,
    pub cpu_p99: f64,
    pub mem_pct_p50: f64,
    pub mem_pct_p90: f64,
    pub mem_pct_p99: f64,
    pub step_secs: u64,
    pub series: Vec<FleetPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetPoint {
    pub at: DateTime<Utc>,
    pub machines: u64,
    pub cpu_avg: f64,
    pub cpu_max: f64,
    pub mem_pct_avg: f64,
    pub mem_pct_max: f64,
}

/// `GET /api/perf/top`: machines ranked by their latest sample.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TopEntry {
    pub pc_id: String,
    pub at: DateTime<Utc>,
    pub value: f64,
}

/// `GET /api/agents/{pc_id}/processes`: one snapshot of the busiest processes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ProcessSnapshot {
    pub pc_id: String,
    #[serde(default)]
    pub at: Option<DateTime<Utc>>,
    pub processes: Vec<crate::wire::ProcessSample>,
}

/// One row of `GET /api/obs_events`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ObsEntry {
    pub id: i64,
    pub pc_id: String,
    pub at: DateTime<Utc>,
    pub kind: String,
    pub source: String,
    #[serde(default)]
    pub event_record_id: Option<String>,
    pub payload: serde_json::Value,
}

/// `GET /api/obs_events/kinds`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct KindCount {
    pub kind: String,
    pub events: u64,
}

/// What `GET /api/events/stream` pushes (Server-Sent Events; the SSE event name is the
/// `type`). Each says what changed, so a page refetches only what it shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum LiveEvent {
    /// An execution was created or its counters/status moved.
    Execution { exec_id: String, job_id: String },
    /// A machine's run started or finished.
    Result {
        exec_id: String,
        pc_id: String,
        result_id: String,
        exit_code: Option<i32>,
    },
    /// A machine went offline or came back.
    Agent { pc_id: String, online: bool },
    /// A timeline event was recorded.
    Timeline { pc_id: String, kind: String },
}

impl LiveEvent {
    pub fn name(&self) -> &'static str {
        match self {
            LiveEvent::Execution { .. } => "execution",
            LiveEvent::Result { .. } => "result",
            LiveEvent::Agent { .. } => "agent",
            LiveEvent::Timeline { .. } => "timeline",
        }
    }
}
