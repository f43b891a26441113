//! `/api/inventory`: one job's facts across machines (with how to show them), one machine's
//! facts, searching explode tables (`column__op=value`) and the change history.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kanade_protocol::api::{
    InventoryChange, InventoryFacts, InventoryJobPage, InventorySearch, Page, SEARCH_OPERATORS,
};
use kanade_protocol::manifest::ExplodeSpec;
use serde::Deserialize;

use crate::api::Paging;
use crate::auth::{Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store::{self, explode};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search))
        .routes(routes!(history))
        .routes(routes!(for_job))
        .routes(routes!(for_pc))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct JobQuery {
    /// Only machines whose id contains this.
    pc: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/inventory/{job_id}",
    params(("job_id" = String, Path, description = "The job id"), JobQuery),
    responses(
        (status = 200, body = InventoryJobPage, description = "The facts the job collected per machine"),
    ),
)]
async fn for_job(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(job_id): Path<String>,
    AppQuery(q): AppQuery<JobQuery>,
) -> ApiResult<Json<InventoryJobPage>> {
    let paging = Paging {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset, id) = (paging.limit(), paging.offset(), job_id.clone());
    let page = state
        .store
        .read(move |c| store::inventory::for_job(c, &id, q.pc.as_deref(), limit, offset))
        .await?;
    let manifest = state.manifests.get(&job_id);
    let hint = manifest.as_ref().and_then(|m| m.inventory.clone());
    if hint.is_none() && page.total == 0 {
        return Err(ApiError::not_found(format!("inventory of job {job_id}")));
    }
    let hint = hint.unwrap_or_default();
    Ok(Json(InventoryJobPage {
        job_id,
        display: hint.display,
        summary: hint.summary,
        explode: hint.explode,
        page,
    }))
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/inventory",
    params(("pc_id" = String, Path, description = "The machine id")),
    responses(
        (status = 200, body = Vec<InventoryFacts>, description = "The facts of every inventory job on the machine"),
    ),
)]
async fn for_pc(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
) -> ApiResult<Json<Vec<InventoryFacts>>> {
    let facts = state
        .store
        .read(move |c| store::inventory::for_pc(c, &pc_id))
        .await?;
    Ok(Json(facts))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryQuery {
    pc_id: Option<String>,
    job_id: Option<String>,
    limit: Option<u32>,
    offset: Option<u64>,
}

#[utoipa::path(
    get,
    path = "/api/inventory/history",
    params(HistoryQuery),
    responses(
        (status = 200, body = Page<InventoryChange>, description = "Inventory changes, newest first"),
    ),
)]
async fn history(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(q): AppQuery<HistoryQuery>,
) -> ApiResult<Json<Page<InventoryChange>>> {
    let paging = Paging {
        limit: q.limit,
        offset: q.offset,
    };
    let (limit, offset) = (paging.limit(), paging.offset());
    let page = state
        .store
        .read(move |c| {
            store::inventory::history(c, q.pc_id.as_deref(), q.job_id.as_deref(), limit, offset)
        })
        .await?;
    Ok(Json(page))
}

/// `?table=<explode table>&<column>__<op>=<value>…&limit=&offset=`. Every condition must hold.
#[utoipa::path(
    get,
    path = "/api/inventory/search",
    description = "Every other query parameter is a condition `<column>__<op>=<value>` (a bare `<column>=<value>` is `eq`; `in` takes a comma list).",
    params(("table" = String, Query, description = "The explode table to search"), ("limit" = Option<u32>, Query, description = "At most this many rows (default 50, at most 1000)"), ("offset" = Option<u64>, Query, description = "Rows to skip")),
    responses(
        (status = 200, body = InventorySearch, description = "Rows matching every condition"),
    ),
)]
async fn search(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    AppQuery(pairs): AppQuery<Vec<(String, String)>>,
) -> ApiResult<Json<InventorySearch>> {
    let mut table = None;
    let mut paging = Paging::default();
    let mut conditions = Vec::new();
    for (key, value) in pairs {
        match key.as_str() {
            "table" => table = Some(value),
            "limit" => paging.limit = Some(number(&key, &value)?),
            "offset" => paging.offset = Some(number(&key, &value)?),
            _ => conditions.push((key, value)),
        }
    }
    let table = table.ok_or_else(|| bad_param("table", "`table` is required".to_owned()))?;
    let (_, spec) = state.manifests.explode_table(&table).ok_or_else(|| {
        let known: Vec<String> = state
            .manifests
            .all()
            .iter()
            .flat_map(|m| {
                m.explode_specs()
                    .map(|(_, s)| s.table.clone())
                    .collect::<Vec<_>>()
            })
            .collect();
        bad_param(
            "table",
            format!("unknown table `{table}`; explode tables: {}", list(&known)),
        )
    })?;
    let filters = filters(&spec, conditions)?;
    let (limit, offset) = (paging.limit(), paging.offset());
    let found = state
        .store
        .read(move |c| explode::search(c, &spec, &filters, limit, offset))
        .await?;
    Ok(Json(found))
}

/// Reads `column__op=value` pairs against `spec`'s columns (a bare `column=value` is `eq`;
/// `in` takes a comma list).
fn filters(spec: &ExplodeSpec, pairs: Vec<(String, String)>) -> ApiResult<Vec<explode::Filter>> {
    let columns = explode::column_names(spec);
    let mut out = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let (column, op) = match columns.contains(&key) {
            true => (key.clone(), "eq".to_owned()),
            false => match key.rsplit_once("__") {
                Some((column, op)) => (column.to_owned(), op.to_owned()),
                None => (key.clone(), "eq".to_owned()),
            },
        };
        let op = explode::Op::parse(&op).ok_or_else(|| {
            bad_param(
                &key,
                format!(
                    "unknown operator `{op}` in `{key}`; use one of {}",
                    SEARCH_OPERATORS.join(", ")
                ),
            )
        })?;
        if !columns.contains(&column) {
            return Err(bad_param(
                &key,
                format!(
                    "unknown column `{column}` in table `{}`; columns: {}",
                    spec.table,
                    columns.join(", ")
                ),
            ));
        }
        let values = match op {
            explode::Op::In => value.split(',').map(|v| v.trim().to_owned()).collect(),
            _ => vec![value],
        };
        out.push(explode::Filter { column, op, values });
    }
    Ok(out)
}

fn number<T: std::str::FromStr>(key: &str, value: &str) -> ApiResult<T> {
    value.parse().map_err(|_| {
        bad_param(
            key,
            format!("`{key}` must be a non-negative number, not `{value}`"),
        )
    })
}

fn list(names: &[String]) -> String {
    match names.is_empty() {
        true => "(none registered)".to_owned(),
        false => names.join(", "),
    }
}

fn bad_param(field: &str, message: String) -> ApiError {
    ApiError {
        field: Some(field.to_owned()),
        ..ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }
}
