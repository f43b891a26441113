//! Derived groups: `GET /api/group-defs` (viewer: each definition with its members now, or
//! why its condition fails), `POST /api/group-defs` (admin: create or replace; the condition
//! is checked and tried in the sandbox first, 422 naming `where` when refused) and
//! `DELETE /api/group-defs/{group}` (admin). Audited as `group.derive` / `group.underive`.
//! The materializer (`derived_groups`) writes the membership agents follow.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::derived::{self, DerivedGroup, DerivedGroupRequest, DerivedGroupView};
use kanade_protocol::ids::IdKind;
use serde_json::json;

use crate::auth::{Admin, Require, Viewer};
use crate::derived_groups;
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, define))
        .routes(routes!(remove))
}

fn unavailable(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("could not reach the group definitions", format!("{err:#}"))
}

fn invalid(field: &str, message: String) -> ApiError {
    let mut err = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "validation_failed",
        format!("{field}: {message}"),
    );
    err.field = Some(field.to_owned());
    err
}

async fn view(state: &AppState, def: DerivedGroup) -> ApiResult<DerivedGroupView> {
    let (members, error) = match derived_groups::evaluate(&state.store, &def.condition)
        .await
        .map_err(|e| ApiError::internal("could not evaluate a derived group", format!("{e:#}")))?
    {
        Ok(members) => (members, None),
        Err(why) => (Vec::new(), Some(why.0)),
    };
    Ok(DerivedGroupView {
        name: def.name,
        condition: def.condition,
        created_by: def.created_by,
        updated_at: def.updated_at,
        members,
        error,
    })
}

#[utoipa::path(
    get,
    path = "/api/group-defs",
    responses(
        (status = 200, body = Vec<DerivedGroupView>, description = "Every derived group with the machines its condition matches now"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "The broker cannot be asked"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<DerivedGroupView>>> {
    let defs = derived_groups::definitions(&state.js)
        .await
        .map_err(unavailable)?;
    let mut out = Vec::with_capacity(defs.len());
    for def in defs {
        out.push(view(&state, def).await?);
    }
    Ok(Json(out))
}

#[utoipa::path(
    post,
    path = "/api/group-defs",
    request_body(content = DerivedGroupRequest, content_type = "application/json", description = "The group's name and the SQL condition (body of a WHERE; `machine.pc_id` names the machine) its members meet"),
    responses(
        (status = 201, body = DerivedGroupView, description = "Defined; members now listed, agents follow within seconds"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A bad name, or a condition that is not one read-only expression over inventory tables (`where` is named)"),
    ),
)]
async fn define(
    State(state): State<AppState>,
    caller: Require<Admin>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<DerivedGroupView>)> {
    let req: DerivedGroupRequest = parse_json(&body)?;
    IdKind::Group
        .check(&req.name)
        .map_err(|e| invalid("name", e.to_string()))?;
    derived::check_condition(&req.condition).map_err(|m| invalid("where", m))?;
    let condition = req.condition.trim().to_owned();
    let tried =
        |e: anyhow::Error| ApiError::internal("could not try the condition", format!("{e:#}"));
    if let Err(why) = derived_groups::probe(&state.store, &condition)
        .await
        .map_err(tried)?
    {
        return Err(invalid("where", why.0));
    }
    if let Err(why) = derived_groups::evaluate(&state.store, &condition)
        .await
        .map_err(tried)?
    {
        return Err(invalid("where", why.0));
    }
    let def = DerivedGroup {
        name: req.name.clone(),
        condition: condition.clone(),
        created_by: Some(caller.username.clone()),
        updated_at: Utc::now(),
    };
    derived_groups::put_definition(&state.js, &def)
        .await
        .map_err(unavailable)?;
    crate::audit::record(
        &state.js,
        &caller,
        "group.derive",
        Some(&req.name),
        json!({"where": condition}),
    )
    .await;
    Ok((StatusCode::CREATED, Json(view(&state, def).await?)))
}

#[utoipa::path(
    delete,
    path = "/api/group-defs/{group}",
    params(("group" = String, Path, description = "Derived group name")),
    responses(
        (status = 204, description = "Deleted; its members leave the group within seconds"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such derived group"),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Require<Admin>,
    Path(group): Path<String>,
) -> ApiResult<StatusCode> {
    if !derived_groups::delete_definition(&state.js, &group)
        .await
        .map_err(unavailable)?
    {
        return Err(ApiError::not_found(format!("derived group {group}")));
    }
    crate::audit::record(
        &state.js,
        &caller,
        "group.underive",
        Some(&group),
        json!({}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
