//! Inventory facts, search and history, and the compliance views of checks.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::common::Page;
use crate::hints::CheckStatus;
use crate::manifest::{DisplayField, ExplodeSpec};

/// The latest inventory of one job on one machine.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryFacts {
    pub pc_id: String,
    pub job_id: String,
    /// The object the job printed.
    pub facts: serde_json::Value,
    /// The values of the job's `summary` fields, by field.
    #[serde(default)]
    pub summary: serde_json::Value,
    /// When the run that produced it finished.
    pub collected_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// `GET /api/inventory/{job_id}`: one job across machines, with how to show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryJobPage {
    pub job_id: String,
    #[serde(default)]
    pub display: Vec<DisplayField>,
    #[serde(default)]
    pub summary: Vec<DisplayField>,
    #[serde(default)]
    pub explode: Vec<ExplodeSpec>,
    #[serde(flatten)]
    pub page: Page<InventoryFacts>,
}

/// `GET /api/inventory/search`: rows of one explode table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventorySearch {
    pub table: String,
    /// Column order of the rows.
    pub columns: Vec<String>,
    pub items: Vec<serde_json::Map<String, serde_json::Value>>,
    pub total: u64,
    pub limit: u32,
    pub offset: u64,
}

/// The comparison operators of `GET /api/inventory/search` (`column__op=value`; no `__op`
/// means `eq`).
pub const SEARCH_OPERATORS: [&str; 9] = [
    "eq",
    "ne",
    "contains",
    "startswith",
    "gt",
    "gte",
    "lt",
    "lte",
    "in",
];

/// One change between two inventory runs (`GET /api/inventory/history`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InventoryChange {
    pub id: i64,
    pub pc_id: String,
    pub job_id: String,
    /// The explode field or the tracked scalar.
    pub field_path: String,
    /// The primary key of an exploded item (`null` for a scalar).
    pub identity: serde_json::Value,
    /// `added`, `removed` or `changed`.
    pub change_kind: String,
    pub before: serde_json::Value,
    pub after: serde_json::Value,
    pub observed_at: DateTime<Utc>,
}

/// A check's latest status on one machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckRow {
    pub pc_id: String,
    pub check_name: String,
    pub status: CheckStatus,
    #[serde(default)]
    pub detail: Option<String>,
    #[serde(default)]
    pub label: Option<String>,
    pub job_id: String,
    /// When the run that reported it finished.
    pub finished_at: DateTime<Utc>,
    pub recorded_at: DateTime<Utc>,
}

/// `GET /api/compliance`: one check across the fleet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComplianceSummary {
    pub check_name: String,
    #[serde(default)]
    pub label: Option<String>,
    pub ok: u64,
    pub warn: u64,
    pub fail: u64,
    pub unknown: u64,
    /// Machines whose status is `fail` (at most 100, sorted).
    pub failing: Vec<String>,
}

/// `GET /api/compliance/{check}/trend`: one UTC day of a check, counting each machine that
/// reported that day once, by its last result of the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckTrendDay {
    /// The UTC day, `YYYY-MM-DD`.
    pub day: String,
    pub ok: u64,
    pub warn: u64,
    pub fail: u64,
    pub unknown: u64,
}

/// `GET /api/compliance/{check}/trend`: the check's days with results, oldest first (days
/// without any result are left out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CheckTrend {
    pub check_name: String,
    /// How many days back the answer reaches (today included).
    pub days: u32,
    pub points: Vec<CheckTrendDay>,
}
