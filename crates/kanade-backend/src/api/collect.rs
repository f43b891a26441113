//! Collected file bundles in object store `collections` (`kanade_protocol::collect`):
//! `GET /api/collect/bundles` lists them (newest first, `?pc=` and `?job=` filters),
//! `GET /api/collect/bundles/{*bundle_key}` streams one zip, `DELETE` removes one (audited).
//! Operator or admin for all three: bundles hold files taken from machines.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures::TryStreamExt;
use kanade_protocol::collect::BundleInfo;
use kanade_protocol::names;
use serde::Deserialize;
use serde_json::json;
use tokio::io::AsyncReadExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::audit;
use crate::auth::{Operator, Require};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;

/// Bytes read from the object store per body chunk.
const READ_SIZE: usize = 64 * 1024;
/// Most bundles one list answers with.
const MAX_LIST: usize = 1000;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(download, remove))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this machine's bundles (exact id).
    pc: Option<String>,
    /// Only this job's bundles (exact id).
    job: Option<String>,
    /// At most this many (default and cap 1000), newest first.
    limit: Option<usize>,
}

async fn store(state: &AppState) -> ApiResult<async_nats::jetstream::object_store::ObjectStore> {
    state
        .js
        .get_object_store(names::OBJ_COLLECTIONS)
        .await
        .map_err(|e| ApiError::unavailable("cannot open object store collections", e))
}

fn checked(key: &str) -> ApiResult<()> {
    match kanade_protocol::collect::check_bundle_key(key) {
        None => Ok(()),
        Some(why) => Err(ApiError::bad_request(format!("bundle_key: {why}"))),
    }
}

#[utoipa::path(
    get,
    path = "/api/collect/bundles",
    params(ListQuery),
    responses(
        (status = 200, body = Vec<BundleInfo>, description = "Bundles, newest first"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Operator>,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Json<Vec<BundleInfo>>> {
    let bucket = store(&state).await?;
    let infos: Vec<_> = bucket
        .list()
        .await
        .map_err(|e| ApiError::unavailable("cannot list collections", e))?
        .try_collect()
        .await
        .map_err(|e| ApiError::unavailable("cannot list collections", e))?;
    let mut out: Vec<BundleInfo> = infos
        .into_iter()
        .filter(|info| !info.deleted)
        .filter_map(|info| {
            let (pc_id, job_id) = BundleInfo::parts(&info.name)?;
            let keep = q.pc.as_deref().is_none_or(|pc| pc == pc_id)
                && q.job.as_deref().is_none_or(|job| job == job_id);
            keep.then(|| BundleInfo {
                pc_id: pc_id.to_owned(),
                job_id: job_id.to_owned(),
                key: info.name.clone(),
                size: info.size as u64,
                created_at: chrono::DateTime::from_timestamp(
                    info.modified.map_or(0, |m| m.unix_timestamp()),
                    0,
                )
                .unwrap_or_default(),
                digest: info.digest.clone(),
            })
        })
        .collect();
    out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.key.cmp(&a.key)));
    out.truncate(q.limit.unwrap_or(MAX_LIST).clamp(1, MAX_LIST));
    Ok(Json(out))
}

#[utoipa::path(
    get,
    path = "/api/collect/bundles/{*bundle_key}",
    params(("bundle_key" = String, Path, description = "`<pc_id>/<job_id>/<time>.zip`")),
    responses(
        (status = 200, description = "The zip", content_type = "application/zip", body = Vec<u8>),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such bundle (or no longer kept)"),
    ),
)]
async fn download(
    State(state): State<AppState>,
    _caller: Require<Operator>,
    Path(key): Path<String>,
) -> ApiResult<Response> {
    checked(&key)?;
    let bucket = store(&state).await?;
    let object = match bucket.get(&key).await {
        Ok(object) => object,
        Err(err)
            if matches!(
                err.kind(),
                async_nats::jetstream::object_store::GetErrorKind::NotFound
                    | async_nats::jetstream::object_store::GetErrorKind::BucketLink
            ) =>
        {
            return Err(ApiError::not_found(format!("bundle {key}")));
        }
        Err(err) => return Err(ApiError::unavailable("cannot read the bundle", err)),
    };
    let size = object.info().size;
    let chunks = futures::stream::try_unfold(object, |mut object| async move {
        let mut buf = vec![0u8; READ_SIZE];
        let n = object.read(&mut buf).await?;
        if n == 0 {
            return Ok::<_, std::io::Error>(None);
        }
        buf.truncate(n);
        Ok(Some((bytes::Bytes::from(buf), object)))
    });
    let mut response = Body::from_stream(chunks).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/zip"),
    );
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    let file = key.replace(['/', ':'], "_");
    if let Ok(value) = HeaderValue::from_str(&format!("attachment; filename=\"{file}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    Ok(response)
}

#[utoipa::path(
    delete,
    path = "/api/collect/bundles/{*bundle_key}",
    params(("bundle_key" = String, Path, description = "`<pc_id>/<job_id>/<time>.zip`")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such bundle"),
    ),
)]
async fn remove(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(key): Path<String>,
) -> ApiResult<StatusCode> {
    checked(&key)?;
    let bucket = store(&state).await?;
    match bucket.info(&key).await {
        Ok(info) if !info.deleted => {}
        _ => return Err(ApiError::not_found(format!("bundle {key}"))),
    }
    bucket
        .delete(&key)
        .await
        .map_err(|e| ApiError::unavailable("cannot delete the bundle", e))?;
    audit::record(&state.js, &caller, "collect.delete", Some(&key), json!({})).await;
    Ok(StatusCode::NO_CONTENT)
}
