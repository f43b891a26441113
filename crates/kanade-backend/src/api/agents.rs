//! `/api/agents`: the fleet table (filter, sort, page), one machine, version counts, ping,
//! performance series and the process snapshot of investigation mode.

use std::time::{Duration, Instant};

use async_nats::jetstream;
use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use kanade_protocol::api::{AgentRow, Page, PerfSeries, PingResult, ProcessSnapshot, VersionCount};
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::{AgentGroups, Heartbeat};
use serde::Deserialize;

use crate::api::Paging;
use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(versions))
        .routes(routes!(read))
        .routes(routes!(ping))
        .routes(routes!(perf))
        .routes(routes!(processes))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Substring of the machine id, host name or one of its addresses.
    q: Option<String>,
    online: Option<bool>,
    group: Option<String>,
    os: Option<String>,
    version: Option<String>,
    sort: Option<String>,
    /// `asc` (default) or `desc`.
    order: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/agents",
    params(ListQuery),
    responses(
        (status = 200, body = Page<AgentRow>, description = "Machines matching the filters"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Json<Page<AgentRow>>> {
    let sort = match q.sort.as_deref() {
        None => None,
        Some(s) => Some(
            *store::agents::SORTABLE
                .iter()
                .find(|c| **c == s)
                .ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "cannot sort by `{s}`; use one of {}",
                        store::agents::SORTABLE.join(", ")
                    ))
                })?,
        ),
    };
    let descending = match q.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "order must be asc or desc, not `{other}`"
            )));
        }
    };
    let pcs = match &q.group {
        Some(group) => Some(
            members(&state.js, group)
                .await
                .map_err(|e| ApiError::unavailable("could not read groups", format!("{e:#}")))?,
        ),
        None => None,
    };
    let filter = store::agents::ListFilter {
        text: q.q,
        online: q.online,
        os: q.os,
        version: q.version,
        pcs,
        sort,
        descending,
    };
    let paging = Paging {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset, now, window) = (
        paging.limit(),
        paging.offset(),
        Utc::now(),
        state.online_window(),
    );
    // The total may be a second or two old; the rows are always fresh.
    let key = format!(
        "{:?}|{:?}|{:?}|{:?}|{:?}",
        filter.text, filter.online, filter.os, filter.version, filter.pcs
    );
    let known = state.totals.get(&key, std::time::Instant::now());
    let page = state
        .store
        .read(move |c| store::agents::list(c, &filter, now, window, limit, offset, known))
        .await?;
    if known.is_none() {
        state.totals.put(key, page.total, std::time::Instant::now());
    }
    Ok(Json(page))
}

/// Machines in `group`, set by operators (`agent_groups`) or derived from inventory
/// (`agent_groups_derived`).
async fn members(js: &jetstream::Context, group: &str) -> anyhow::Result<Vec<String>> {
    Ok(crate::desired::all_groups(js)
        .await?
        .into_iter()
        .filter(|(_, groups)| groups.iter().any(|g| g == group))
        .map(|(pc, _)| pc)
        .collect())
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}",
    params(("pc_id" = String, Path, description = "The machine id")),
    responses(
        (status = 200, body = AgentRow, description = "The machine"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
) -> ApiResult<Json<AgentRow>> {
    let (id, now, window) = (pc_id.clone(), Utc::now(), state.online_window());
    let mut row = state
        .store
        .read(move |c| store::agents::get(c, &id, now, window))
        .await?
        .ok_or_else(|| ApiError::not_found(format!("machine {pc_id}")))?;
    let kv = state.js.get_key_value(names::KV_AGENT_GROUPS).await.ok();
    let entry = match kv {
        Some(kv) => kv.get(&pc_id).await.ok().flatten(),
        None => None,
    };
    row.groups = entry
        .and_then(|bytes| serde_json::from_slice::<AgentGroups>(&bytes).ok())
        .map(|g| g.groups)
        .unwrap_or_default();
    Ok(Json(row))
}

#[utoipa::path(
    get,
    path = "/api/agents/versions",
    responses(
        (status = 200, body = Vec<VersionCount>, description = "How many machines run each agent version"),
    ),
)]
async fn versions(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<VersionCount>>> {
    let (now, window) = (Utc::now(), state.online_window());
    Ok(Json(
        state
            .store
            .read(move |c| store::agents::versions(c, now, window))
            .await?,
    ))
}

const PING_TIMEOUT: Duration = Duration::from_secs(5);

#[utoipa::path(
    post,
    path = "/api/agents/{pc_id}/ping",
    params(("pc_id" = String, Path, description = "The machine id")),
    responses(
        (status = 200, body = PingResult, description = "Whether the agent answered, and how fast"),
    ),
)]
async fn ping(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
) -> ApiResult<Json<PingResult>> {
    if !subject::is_valid_pc_id(&pc_id) {
        return Err(ApiError::bad_request(format!(
            "`{pc_id}` is not a valid machine id"
        )));
    }
    let started = Instant::now();
    let answer = tokio::time::timeout(
        PING_TIMEOUT,
        state.nats.request(subject::ping(&pc_id), "".into()),
    )
    .await;
    let result = match answer {
        Ok(Ok(msg)) => PingResult {
            pc_id,
            answered: true,
            rtt_ms: Some(started.elapsed().as_secs_f64() * 1000.0),
            heartbeat: serde_json::from_slice::<Heartbeat>(&msg.payload).ok(),
        },
        _ => PingResult {
            pc_id,
            answered: false,
            rtt_ms: None,
            heartbeat: None,
        },
    };
    Ok(Json(result))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct PerfRange {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    /// Seconds per point (or `5m`); widened so a series has at most about 1000 points.
    step: Option<kanade_protocol::duration::HumanDuration>,
}

pub(crate) fn range(q: &PerfRange) -> ApiResult<(DateTime<Utc>, DateTime<Utc>, i64)> {
    let to = q.to.unwrap_or_else(Utc::now);
    let from = q.from.unwrap_or(to - chrono::Duration::hours(1));
    if from >= to {
        return Err(ApiError::bad_request("`from` must be before `to`"));
    }
    let step = q
        .step
        .map(|s| i64::try_from(s.as_secs()).unwrap_or(i64::MAX));
    Ok((from, to, store::perf::effective_step(from, to, step)))
}

/// True when `pc_id` ever sent a heartbeat (it has a row in `agents`).
pub(crate) async fn seen(state: &AppState, pc_id: &str) -> ApiResult<bool> {
    let (id, now, window) = (pc_id.to_owned(), chrono::Utc::now(), state.online_window());
    Ok(state
        .store
        .read(move |c| store::agents::get(c, &id, now, window))
        .await?
        .is_some())
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/perf",
    params(("pc_id" = String, Path, description = "The machine id"), PerfRange),
    responses(
        (status = 200, body = PerfSeries, description = "The machine's performance series"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "A machine never seen, with no samples"),
    ),
)]
async fn perf(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
    AppQuery(q): AppQuery<PerfRange>,
) -> ApiResult<Json<PerfSeries>> {
    let (from, to, step) = range(&q)?;
    let id = pc_id.clone();
    let points = state
        .store
        .read(move |c| store::perf::series(c, &id, from, to, step))
        .await?;
    let id = pc_id.clone();
    if points.is_empty()
        && !seen(&state, &pc_id).await?
        && !state
            .store
            .read(move |c| store::perf::has_samples(c, &id))
            .await?
    {
        return Err(ApiError::not_found(format!(
            "machine {pc_id} (it never sent a heartbeat)"
        )));
    }
    Ok(Json(PerfSeries {
        pc_id,
        from,
        to,
        step_secs: u64::try_from(step).unwrap_or(0),
        points,
    }))
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/processes",
    params(("pc_id" = String, Path, description = "The machine id")),
    responses(
        (status = 200, body = ProcessSnapshot, description = "The latest process list of the machine"),
    ),
)]
async fn processes(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
) -> ApiResult<Json<ProcessSnapshot>> {
    let id = pc_id.clone();
    let (at, processes) = state
        .store
        .read(move |c| store::perf::processes(c, &id))
        .await?;
    Ok(Json(ProcessSnapshot {
        pc_id,
        at,
        processes,
    }))
}
