//! `/api/saved-searches`: named inventory searches in KV `saved_searches`, one document per
//! user (key = the user name in hex). Everyone lists their own and the shared ones; operators
//! save (a same-named one of theirs is replaced) and delete their own; admins delete any.

use anyhow::Context;
use async_nats::jetstream;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use futures::TryStreamExt;
use kanade_protocol::api::Role;
use kanade_protocol::names;
use kanade_protocol::saved::{MAX_PER_USER, SaveSearch, SavedSearch, SavedSearches};
use serde_json::json;

use crate::audit;
use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, save))
        .routes(routes!(remove))
}

fn key_of(username: &str) -> String {
    username.bytes().map(|b| format!("{b:02x}")).collect()
}

async fn bucket(js: &jetstream::Context) -> anyhow::Result<jetstream::kv::Store> {
    js.get_key_value(names::KV_SAVED_SEARCHES)
        .await
        .context("opening KV saved_searches")
}

/// Every user's document, by key.
async fn every(kv: &jetstream::kv::Store) -> anyhow::Result<Vec<(String, SavedSearches)>> {
    let keys: Vec<String> = match kv.keys().await {
        Ok(keys) => keys
            .try_collect()
            .await
            .context("listing KV saved_searches")?,
        Err(err) => return Err(anyhow::anyhow!(err).context("listing KV saved_searches")),
    };
    let mut out = Vec::with_capacity(keys.len());
    for key in keys {
        match kanade_bus::kv::read::<SavedSearches>(kv, &key).await {
            Ok((Some(doc), _)) => out.push((key, doc)),
            Ok((None, _)) => {}
            Err(err) => tracing::warn!(key, error = format!("{err:#}"), "skipping saved searches"),
        }
    }
    Ok(out)
}

fn unavailable(err: anyhow::Error) -> ApiError {
    ApiError::unavailable("could not reach the saved searches", format!("{err:#}"))
}

/// The caller's own searches and everyone's shared ones, by name.
#[utoipa::path(
    get,
    path = "/api/saved-searches",
    responses(
        (status = 200, body = Vec<SavedSearch>, description = "Own and shared searches, by name"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    caller: Require<Viewer>,
) -> ApiResult<Json<Vec<SavedSearch>>> {
    let kv = bucket(&state.js).await.map_err(unavailable)?;
    let mine = key_of(&caller.username);
    let mut out: Vec<SavedSearch> = every(&kv)
        .await
        .map_err(unavailable)?
        .into_iter()
        .flat_map(|(key, doc)| {
            let own = key == mine;
            doc.searches.into_iter().filter(move |s| own || s.shared)
        })
        .collect();
    out.sort_by(|a, b| (a.name.to_lowercase(), &a.owner).cmp(&(b.name.to_lowercase(), &b.owner)));
    Ok(Json(out))
}

/// Saves a search of the caller; one of theirs with the same name (ignoring case) is
/// replaced and keeps its id.
#[utoipa::path(
    post,
    path = "/api/saved-searches",
    request_body(content = SaveSearch, content_type = "application/json"),
    responses(
        (status = 200, body = SavedSearch, description = "The saved search"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A field breaks a rule"),
    ),
)]
async fn save(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<Json<SavedSearch>> {
    let req: SaveSearch = parse_json(&body)?;
    req.validate()?;
    let name = req.name.trim().to_owned();
    let kv = bucket(&state.js).await.map_err(unavailable)?;
    let mut saved = None;
    let mut full = false;
    kanade_bus::kv::modify::<SavedSearches, _>(&kv, &key_of(&caller.username), |doc| {
        let mut doc = doc.unwrap_or_default();
        let same = doc
            .searches
            .iter()
            .position(|s| s.name.to_lowercase() == name.to_lowercase());
        let search = SavedSearch {
            id: same
                .map(|i| doc.searches[i].id.clone())
                .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
            name: name.clone(),
            query: req.query.trim().to_owned(),
            shared: req.shared,
            owner: caller.username.clone(),
            updated_at: Utc::now(),
        };
        match same {
            Some(i) => doc.searches[i] = search.clone(),
            None if doc.searches.len() >= MAX_PER_USER => {
                full = true;
                return Ok(Some(doc));
            }
            None => doc.searches.push(search.clone()),
        }
        saved = Some(search);
        Ok(Some(doc))
    })
    .await
    .map_err(unavailable)?;
    let Some(saved) = saved.filter(|_| !full) else {
        let mut err = ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!("you keep {MAX_PER_USER} saved searches already; delete one first"),
        );
        err.field = Some("name".to_owned());
        return Err(err);
    };
    audit::record(
        &state.js,
        &caller,
        "saved_search.save",
        Some(&saved.name),
        json!({"id": saved.id, "query": saved.query, "shared": saved.shared}),
    )
    .await;
    Ok(Json(saved))
}

/// Deletes a saved search: the caller's own, or anyone's for an admin.
#[utoipa::path(
    delete,
    path = "/api/saved-searches/{id}",
    params(("id" = String, Path, description = "The saved search's id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such search of yours"),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let kv = bucket(&state.js).await.map_err(unavailable)?;
    let keys = match caller.role >= Role::Admin {
        true => every(&kv)
            .await
            .map_err(unavailable)?
            .into_iter()
            .filter(|(_, doc)| doc.searches.iter().any(|s| s.id == id))
            .map(|(key, _)| key)
            .collect(),
        false => vec![key_of(&caller.username)],
    };
    let mut removed = None;
    for key in keys {
        kanade_bus::kv::modify::<SavedSearches, _>(&kv, &key, |doc| {
            let Some(mut doc) = doc else { return Ok(None) };
            if let Some(i) = doc.searches.iter().position(|s| s.id == id) {
                removed = Some(doc.searches.remove(i));
            }
            Ok((!doc.searches.is_empty()).then_some(doc))
        })
        .await
        .map_err(unavailable)?;
        if removed.is_some() {
            break;
        }
    }
    let Some(removed) = removed else {
        return Err(ApiError::not_found(format!("saved search {id}")));
    };
    audit::record(
        &state.js,
        &caller,
        "saved_search.delete",
        Some(&removed.name),
        json!({"id": removed.id, "owner": removed.owner}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}
