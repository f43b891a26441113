//! Layered agent config: `GET/PUT/PATCH/DELETE /api/config/{scope}` (scope `global`,
//! `groups.<g>` or `pcs.<pc_id>`) and `GET /api/agents/{pc_id}/effective_config` (each value
//! with the scope it came from), and `GET /api/config/{scope}/inherited` (what an unset field
//! of a scope gets from the layers below it).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kanade_protocol::api::EffectiveConfigView;
use kanade_protocol::config::ConfigScope;
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::{audit, desired};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(read, replace, patch, remove))
        .routes(routes!(effective))
        .routes(routes!(inherited))
}

fn key(scope: &str) -> ApiResult<String> {
    desired::scope_key(scope).map_err(|m| {
        let mut err = ApiError::bad_request(m);
        err.field = Some("scope".to_owned());
        err
    })
}

/// A value out of its range: 422 naming the field.
fn check(scope: &ConfigScope) -> ApiResult<()> {
    scope.check().map_err(|(field, message)| {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            message,
        );
        err.field = Some(field.to_owned());
        err
    })
}

fn unavailable(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("could not reach the config store", format!("{err:#}"))
}

#[utoipa::path(
    get,
    path = "/api/config/{scope}",
    params(("scope" = String, Path, description = "`global`, `groups.<group>` or `pcs.<pc_id>`")),
    responses(
        (status = 200, body = ConfigScope, description = "The values set at this scope"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(scope): Path<String>,
) -> ApiResult<Json<ConfigScope>> {
    let key = key(&scope)?;
    let found = desired::read_scope(&state.js, &key)
        .await
        .map_err(unavailable)?;
    Ok(Json(found.unwrap_or_default()))
}

/// Replaces the whole scope. Unknown fields are refused with their name.
#[utoipa::path(
    put,
    path = "/api/config/{scope}",
    params(("scope" = String, Path, description = "`global`, `groups.<group>` or `pcs.<pc_id>`")),
    request_body(content = ConfigScope, content_type = "application/json"),
    responses(
        (status = 200, body = ConfigScope, description = "The new values of the scope"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A value is out of range; `field` names it"),
    ),
)]
async fn replace(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(scope): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ConfigScope>> {
    let key = key(&scope)?;
    let new: ConfigScope = parse_json(&body)?;
    check(&new)?;
    let mut patch = serde_json::Map::new();
    for field in kanade_protocol::config::FIELDS {
        patch.insert((*field).to_owned(), serde_json::Value::Null);
    }
    if let serde_json::Value::Object(set) = serde_json::to_value(&new).unwrap_or_default() {
        patch.extend(set);
    }
    let written = desired::patch_scope(&state.js, &key, &patch)
        .await
        .map_err(unavailable)?;
    audit::record(
        &state.js,
        &caller,
        "config.set",
        Some(&key),
        serde_json::to_value(&new).unwrap_or_default(),
    )
    .await;
    Ok(Json(written.unwrap_or_default()))
}

/// Sets the fields present; `null` unsets one.
#[utoipa::path(
    patch,
    path = "/api/config/{scope}",
    params(("scope" = String, Path, description = "`global`, `groups.<group>` or `pcs.<pc_id>`")),
    request_body(content = ConfigScope, content_type = "application/json", description = "Only the keys given change; `null` clears one"),
    responses(
        (status = 200, body = ConfigScope, description = "The new values of the scope"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A value is out of range; `field` names it"),
    ),
)]
async fn patch(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(scope): Path<String>,
    body: Bytes,
) -> ApiResult<Json<ConfigScope>> {
    let key = key(&scope)?;
    let patch: serde_json::Map<String, serde_json::Value> = parse_json(&body)?;
    // Validate the patch on its own first, so an unknown field is named precisely.
    let set: serde_json::Map<String, serde_json::Value> = patch
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for field in patch.keys() {
        if !kanade_protocol::config::FIELDS.contains(&field.as_str()) {
            let mut err = ApiError::bad_request(format!(
                "{field}: unknown config field; known: {}",
                kanade_protocol::config::FIELDS.join(", ")
            ));
            err.field = Some(field.clone());
            return Err(err);
        }
    }
    let parsed: ConfigScope = parse_json(serde_json::to_vec(&set).unwrap_or_default().as_slice())?;
    check(&parsed)?;
    let written = desired::patch_scope(&state.js, &key, &patch)
        .await
        .map_err(unavailable)?;
    audit::record(&state.js, &caller, "config.patch", Some(&key), json!(patch)).await;
    Ok(Json(written.unwrap_or_default()))
}

#[utoipa::path(
    delete,
    path = "/api/config/{scope}",
    params(("scope" = String, Path, description = "`global`, `groups.<group>` or `pcs.<pc_id>`")),
    responses(
        (status = 204, description = "The scope was cleared"),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(scope): Path<String>,
) -> ApiResult<StatusCode> {
    let key = key(&scope)?;
    let mut patch = serde_json::Map::new();
    for field in kanade_protocol::config::FIELDS {
        patch.insert((*field).to_owned(), serde_json::Value::Null);
    }
    desired::patch_scope(&state.js, &key, &patch)
        .await
        .map_err(unavailable)?;
    audit::record(&state.js, &caller, "config.delete", Some(&key), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}

/// What each field of a scope falls back to when it is unset there. `max_local_concurrent`'s
/// built-in default is each machine's CPU count: it is the machine's reported count on a
/// machine scope and `null` elsewhere.
#[utoipa::path(
    get,
    path = "/api/config/{scope}/inherited",
    params(("scope" = String, Path, description = "`global`, `groups.<group>` or `pcs.<pc_id>`")),
    responses(
        (status = 200, body = Vec<kanade_protocol::config::Sourced>, description = "Each field's value from the layers below the scope, with the scope it comes from (`default` for built-in)"),
        (status = 400, body = kanade_protocol::api::ErrorBody, description = "Not a scope; `field` is `scope`"),
    ),
)]
async fn inherited(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(scope): Path<String>,
) -> ApiResult<Json<Vec<kanade_protocol::config::Sourced>>> {
    let key = key(&scope)?;
    let mut sources = desired::inherited(&state.js, &key)
        .await
        .map_err(unavailable)?;
    let cpus = match key.strip_prefix("pcs.") {
        Some(pc_id) => {
            let id = pc_id.to_owned();
            state
                .store
                .read(move |c| crate::store::perf::cpu_count(c, &id))
                .await?
        }
        None => None,
    };
    if let Some(source) = sources
        .iter_mut()
        .find(|s| s.field == "max_local_concurrent" && s.scope == "default")
    {
        source.value = cpus.map_or(serde_json::Value::Null, |n| json!(n.max(1)));
    }
    Ok(Json(sources))
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/effective_config",
    params(("pc_id" = String, Path, description = "The machine id")),
    responses(
        (status = 200, body = EffectiveConfigView, description = "Each value the machine uses with the scope it came from"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "A machine never seen, with no groups or config of its own"),
    ),
)]
async fn effective(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(pc_id): Path<String>,
) -> ApiResult<Json<EffectiveConfigView>> {
    if !kanade_protocol::subject::is_valid_pc_id(&pc_id) {
        return Err(ApiError::bad_request(format!(
            "`{pc_id}` is not a valid machine id"
        )));
    }
    let mut view = desired::effective(&state.js, &pc_id)
        .await
        .map_err(unavailable)?;
    // The built-in max_local_concurrent is the machine's own CPU count, resolved on the agent:
    // show the count the machine reported, not this backend's.
    let id = pc_id.clone();
    let cpus = state
        .store
        .read(move |c| crate::store::perf::cpu_count(c, &id))
        .await?;
    if let Some(cpus) = cpus
        && let Some(source) = view
            .sources
            .iter_mut()
            .find(|s| s.field == "max_local_concurrent" && s.scope == "default")
    {
        source.value = json!(cpus.max(1));
        view.effective.max_local_concurrent = cpus.max(1);
    }
    let own_scope = format!("pcs.{pc_id}");
    let configured = !view.groups.is_empty() || view.sources.iter().any(|s| s.scope == own_scope);
    if !configured && !crate::api::agents::seen(&state, &pc_id).await? {
        return Err(ApiError::not_found(format!(
            "machine {pc_id} (it never sent a heartbeat and has no groups or config of its own)"
        )));
    }
    Ok(Json(view))
}
