//! Groups: `GET /api/groups` (names and member counts) and a machine's membership
//! (`GET/PUT /api/agents/{pc_id}/groups`, add/remove one). Writes are compare-and-set.
//! Putting a machine never seen (no heartbeat, no pending or approved enrollment) in a group
//! is 404 unless `?allow_unknown=true` (pre-staging its groups before it enrolls): a typo
//! would otherwise make a group nobody is in.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kanade_protocol::api::{self, GroupList, GroupSummary};
use kanade_protocol::enrollment::IdentityStatus;
use kanade_protocol::subject;
use serde::Deserialize;
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, AppQuery, parse_json};
use crate::state::AppState;
use crate::{audit, desired};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(read, replace))
        .routes(routes!(add, remove))
}

fn unavailable(err: anyhow::Error) -> ApiError {
    if let Some(too_many) = err.downcast_ref::<desired::TooManyGroups>() {
        return ApiError::from(kanade_protocol::manifest::ManifestError::Invalid {
            field: "group".to_owned(),
            message: too_many.to_string(),
        });
    }
    ApiError::unavailable("could not reach the group store", format!("{err:#}"))
}

fn check_pc(pc_id: &str) -> ApiResult<()> {
    if subject::is_valid_pc_id(pc_id) {
        return Ok(());
    }
    Err(ApiError::bad_request(format!(
        "`{pc_id}` is not a valid machine id"
    )))
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct Staging {
    /// Put a machine never seen (no heartbeat, not enrolled) in groups anyway, before it
    /// enrolls; refused with 404 otherwise.
    #[serde(default)]
    allow_unknown: bool,
}

/// 404 for a machine that never sent a heartbeat and has no pending or approved enrollment,
/// unless the caller pre-stages it on purpose.
async fn check_known(state: &AppState, pc_id: &str, staging: &Staging) -> ApiResult<()> {
    if staging.allow_unknown || super::agents::seen(state, pc_id).await? {
        return Ok(());
    }
    let identity = state.access.registry.identity(pc_id).await.map_err(|err| {
        ApiError::unavailable("could not reach the machine registry", format!("{err:#}"))
    })?;
    if identity
        .is_some_and(|i| matches!(i.status, IdentityStatus::Pending | IdentityStatus::Approved))
    {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::NOT_FOUND,
        "not_found",
        format!(
            "machine {pc_id} was never seen (no heartbeat, not enrolled); \
             set allow_unknown=true to put it in groups before it enrolls"
        ),
    ))
}

#[utoipa::path(
    get,
    path = "/api/groups",
    responses(
        (status = 200, body = Vec<GroupSummary>, description = "Every group with its member count"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<GroupSummary>>> {
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for (_, groups) in desired::all_groups(&state.js).await.map_err(unavailable)? {
        for g in groups {
            *counts.entry(g).or_default() += 1;
        }
    }
    Ok(Json(
        counts
            .into_iter()
            .map(|(name, members)| GroupSummary { name, members })
            .collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/groups",
    params(("pc_id" = String, Path, description = "The machine id")),
    responses(
        (status = 200, body = GroupList, description = "The machine's groups"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
) -> ApiResult<Json<GroupList>> {
    check_pc(&pc_id)?;
    let groups = desired::groups_of(&state.js, &pc_id)
        .await
        .map_err(unavailable)?;
    Ok(Json(GroupList { groups }))
}

#[utoipa::path(
    put,
    path = "/api/agents/{pc_id}/groups",
    params(("pc_id" = String, Path, description = "The machine id"), Staging),
    request_body(content = GroupList, content_type = "application/json"),
    responses(
        (status = 200, body = GroupList, description = "The machine's new groups"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "A machine never seen (no heartbeat, not enrolled), without `allow_unknown`"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "Too many groups, or a group name breaks a rule"),
    ),
)]
async fn replace(
    State(state): State<AppState>,
    caller: Require<Operator>,
    AppQuery(staging): AppQuery<Staging>,
    Path(pc_id): Path<String>,
    body: Bytes,
) -> ApiResult<Json<GroupList>> {
    check_pc(&pc_id)?;
    let req: GroupList = parse_json(&body)?;
    api::check_group_names(&req.groups)?;
    check_known(&state, &pc_id, &staging).await?;
    let wanted = req.groups.clone();
    let groups = desired::edit_groups(&state.js, &pc_id, |_| wanted.clone())
        .await
        .map_err(unavailable)?;
    // The machine's broker grant names its group subjects: it reconnects to get the new ones.
    state.access.kick(&pc_id).await;
    audit::record(
        &state.js,
        &caller,
        "groups.set",
        Some(&pc_id),
        json!({"groups": groups}),
    )
    .await;
    Ok(Json(GroupList { groups }))
}

#[utoipa::path(
    put,
    path = "/api/agents/{pc_id}/groups/{group}",
    params(("pc_id" = String, Path, description = "The machine id"), ("group" = String, Path, description = "The group name"), Staging),
    responses(
        (status = 200, body = GroupList, description = "The machine's groups"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "A machine never seen (no heartbeat, not enrolled), without `allow_unknown`"),
    ),
)]
async fn add(
    State(state): State<AppState>,
    caller: Require<Operator>,
    AppQuery(staging): AppQuery<Staging>,
    Path((pc_id, group)): Path<(String, String)>,
) -> ApiResult<Json<GroupList>> {
    check_pc(&pc_id)?;
    api::check_group_names(std::slice::from_ref(&group))?;
    check_known(&state, &pc_id, &staging).await?;
    let g = group.clone();
    let groups = desired::edit_groups(&state.js, &pc_id, |mut current| {
        current.push(g.clone());
        current
    })
    .await
    .map_err(unavailable)?;
    // The machine's broker grant names its group subjects: it reconnects to get the new ones.
    state.access.kick(&pc_id).await;
    audit::record(
        &state.js,
        &caller,
        "groups.add",
        Some(&pc_id),
        json!({"group": group}),
    )
    .await;
    Ok(Json(GroupList { groups }))
}

#[utoipa::path(
    delete,
    path = "/api/agents/{pc_id}/groups/{group}",
    params(("pc_id" = String, Path, description = "The machine id"), ("group" = String, Path, description = "The group name")),
    responses(
        (status = 200, body = GroupList, description = "The machine's groups"),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path((pc_id, group)): Path<(String, String)>,
) -> ApiResult<Json<GroupList>> {
    check_pc(&pc_id)?;
    let g = group.clone();
    let groups = desired::edit_groups(&state.js, &pc_id, |current| {
        current.into_iter().filter(|x| *x != g).collect()
    })
    .await
    .map_err(unavailable)?;
    // The machine's broker grant names its group subjects: it reconnects to get the new ones.
    state.access.kick(&pc_id).await;
    audit::record(
        &state.js,
        &caller,
        "groups.remove",
        Some(&pc_id),
        json!({"group": group}),
    )
    .await;
    Ok(Json(GroupList { groups }))
}
