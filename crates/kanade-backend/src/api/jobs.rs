//! `/api/jobs`: register (YAML or JSON body; several at once, all or nothing, through
//! `/api/jobs:batch`), list, read and delete job manifests.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use kanade_protocol::api::{
    BatchRequest, BatchResponse, BatchWritten, JobDetail, JobStatus, JobSummary,
};
use kanade_protocol::manifest::{Manifest, ManifestError};
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::{audit, batch, catalog, desired};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(batch))
        .routes(routes!(read, delete))
        .routes(routes!(status))
        .routes(routes!(revoke))
        .routes(routes!(unrevoke))
}

/// Accepts the manifest as YAML or JSON (JSON is YAML). Nothing is written unless it parses
/// and validates. Creating an existing id replaces it (200), a new id answers 201.
#[utoipa::path(
    post,
    path = "/api/jobs",
    request_body(content = Manifest, content_type = "application/json", description = "The job manifest as JSON (YAML is accepted too, with any content type)"),
    responses(
        (status = 200, body = JobDetail, description = "An existing job was replaced"),
        (status = 201, body = JobDetail, description = "The job was registered"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The manifest breaks a rule; `field` names it"),
    ),
)]
async fn create(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<JobDetail>)> {
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("the body is not UTF-8 text"))?;
    let manifest = check(&state, text)?;
    if let Some((field, table, owner)) = state.manifests.table_taken(&manifest) {
        return Err(ApiError::from(ManifestError::Invalid {
            field,
            message: format!("table `{table}` belongs to job `{owner}`"),
        }));
    }
    if let Some(check) = &manifest.check
        && let Some(owner) = state.manifests.check_owner(&check.name, &manifest.id)
    {
        return Err(ApiError::from(ManifestError::Invalid {
            field: "check.name".to_owned(),
            message: format!(
                "check `{}` belongs to job `{owner}`: check names are unique across jobs",
                check.name
            ),
        }));
    }
    let replaced = catalog::put(&state.js, &manifest, text)
        .await
        .map_err(|e| ApiError::unavailable("could not store the job", format!("{e:#}")))?;
    // The KV watch does this too; doing it here means the tables exist when we answer.
    if let Err(err) =
        crate::manifests::register(&state.store, &state.manifests, manifest.clone()).await
    {
        tracing::error!(job = %manifest.id, error = %err, "could not reconcile the job's explode tables");
    }
    let (status, action) = match replaced {
        true => (StatusCode::OK, "job.update"),
        false => (StatusCode::CREATED, "job.create"),
    };
    let payload = json!({"version": manifest.version, "shell": manifest.execute.shell.as_str()});
    audit::record(&state.js, &caller, action, Some(&manifest.id), payload).await;
    Ok((
        status,
        Json(JobDetail {
            manifest,
            yaml: Some(text.to_owned()),
        }),
    ))
}

/// What every registration checks before anything is written: the manifest parses and
/// validates, carries its script inline, and fits in a broker message.
fn check(state: &AppState, text: &str) -> ApiResult<Manifest> {
    let manifest = Manifest::parse(text)?;
    if manifest.execute.script_file.is_some() {
        return Err(ApiError::from(ManifestError::Invalid {
            field: "execute.script_file".to_owned(),
            message:
                "the server cannot read your files; inline the script (`kanade job create` does)"
                    .to_owned(),
        }));
    }
    let stored = serde_json::to_vec(&manifest).map_or(0, |v| v.len());
    crate::edge::fits_broker(&state.nats, "the job", stored.max(text.len()))?;
    Ok(manifest)
}

/// Registers several manifests all or nothing: each document is checked as `POST /api/jobs`
/// checks one, ids must differ and explode tables must not clash within the batch; on any
/// error the answer names `documents[i]` and its field and nothing is written. A broker failure
/// part way puts back what was written (503 saying so). Each job is audited as a single create.
#[utoipa::path(
    post,
    path = "/api/jobs:batch",
    request_body(content = BatchRequest, description = "The manifests, one YAML (or JSON) text each, stored as written"),
    responses(
        (status = 200, body = BatchResponse, description = "Every job was registered or replaced"),
        (status = 400, body = kanade_protocol::api::ErrorBody, description = "A document does not parse; `field` is `documents[i].<path>`"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A document breaks a rule; `field` is `documents[i].<field>`; nothing was written"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "The broker failed part way; what was written has been put back"),
    ),
)]
async fn batch(
    State(state): State<AppState>,
    caller: Require<Operator>,
    body: Bytes,
) -> ApiResult<Json<BatchResponse>> {
    let request: BatchRequest = crate::error::parse_json(&body)?;
    batch::check_size(&request.documents)?;
    let mut manifests: Vec<Manifest> = Vec::with_capacity(request.documents.len());
    for (index, text) in request.documents.iter().enumerate() {
        let manifest = check(&state, text).map_err(|err| batch::in_document(index, err))?;
        if let Some(first) = manifests.iter().position(|m| m.id == manifest.id) {
            return Err(batch::in_document(
                index,
                ApiError::from(ManifestError::Invalid {
                    field: "id".to_owned(),
                    message: format!("job `{}` is also documents[{first}]", manifest.id),
                }),
            ));
        }
        manifests.push(manifest);
    }
    check_tables(&state, &manifests)?;
    let entries: Vec<batch::Entry> = manifests
        .iter()
        .zip(&request.documents)
        .map(|(manifest, text)| batch::Entry {
            id: manifest.id.clone(),
            json: serde_json::to_vec(manifest).unwrap_or_default(),
            text: text.clone(),
        })
        .collect();
    let replaced = batch::write_all(&state.js, batch::JOBS, &entries)
        .await
        .map_err(|failure| batch::failed(&failure.describe(&entries, "job")))?;
    let mut written = Vec::with_capacity(manifests.len());
    for (manifest, replaced) in manifests.into_iter().zip(replaced) {
        if let Err(err) =
            crate::manifests::register(&state.store, &state.manifests, manifest.clone()).await
        {
            tracing::error!(job = %manifest.id, error = %err, "could not reconcile the job's explode tables");
        }
        let action = match replaced {
            true => "job.update",
            false => "job.create",
        };
        let payload =
            json!({"version": manifest.version, "shell": manifest.execute.shell.as_str()});
        audit::record(&state.js, &caller, action, Some(&manifest.id), payload).await;
        written.push(BatchWritten {
            id: manifest.id,
            replaced,
        });
    }
    Ok(Json(BatchResponse { written }))
}

/// No two jobs of the batch claim one explode table (names compare case-insensitively, as
/// SQLite's do), and none claims a table of a registered job outside the batch (a job the batch
/// replaces gives up the tables it no longer names).
fn check_tables(state: &AppState, manifests: &[Manifest]) -> ApiResult<()> {
    let mut claimed: std::collections::HashMap<String, (usize, &str)> = Default::default();
    let mut checks: std::collections::HashMap<&str, (usize, &str)> = Default::default();
    for (index, manifest) in manifests.iter().enumerate() {
        if let Some(check) = &manifest.check {
            let taken = |message: String| {
                batch::in_document(
                    index,
                    ApiError::from(ManifestError::Invalid {
                        field: "check.name".to_owned(),
                        message,
                    }),
                )
            };
            if let Some((first, owner)) = checks.get(check.name.as_str()) {
                return Err(taken(format!(
                    "check `{}` is also named by job `{owner}` (documents[{first}])",
                    check.name
                )));
            }
            checks.insert(&check.name, (index, &manifest.id));
            if let Some(owner) = state.manifests.check_owner(&check.name, &manifest.id)
                && !manifests.iter().any(|m| m.id == owner)
            {
                return Err(taken(format!(
                    "check `{}` belongs to job `{owner}`: check names are unique across jobs",
                    check.name
                )));
            }
        }
        for (path, spec) in manifest.explode_specs() {
            let taken = |message: String| {
                batch::in_document(
                    index,
                    ApiError::from(ManifestError::Invalid {
                        field: format!("{path}.table"),
                        message,
                    }),
                )
            };
            let key = spec.table.to_ascii_lowercase();
            if let Some((first, owner)) = claimed.get(&key) {
                return Err(taken(format!(
                    "table `{}` is also claimed by job `{owner}` (documents[{first}])",
                    spec.table
                )));
            }
            claimed.insert(key, (index, &manifest.id));
            let Some((owner, _)) = state.manifests.explode_table(&spec.table) else {
                continue;
            };
            if owner != manifest.id && !manifests.iter().any(|m| m.id == owner) {
                return Err(taken(format!(
                    "table `{}` belongs to job `{owner}`",
                    spec.table
                )));
            }
        }
    }
    Ok(())
}

#[utoipa::path(
    get,
    path = "/api/jobs",
    responses(
        (status = 200, body = Vec<JobSummary>, description = "Every registered job"),
    ),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<Vec<JobSummary>>> {
    // The manifest cache (prewarmed, kept current by a watch on KV `jobs`, updated at once by
    // this backend's own creates and deletes) answers without a KV read per job.
    let manifests = state.manifests.all();
    Ok(Json(
        manifests
            .iter()
            .map(|m| JobSummary::from(m.as_ref()))
            .collect(),
    ))
}

#[utoipa::path(
    get,
    path = "/api/jobs/{id}",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, body = JobDetail, description = "The job with its manifest"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobDetail>> {
    let job = catalog::get(&state.js, &id)
        .await
        .map_err(|e| ApiError::unavailable("could not read the job", format!("{e:#}")))?;
    job.map(Json)
        .ok_or_else(|| ApiError::not_found(format!("job {id}")))
}

#[utoipa::path(
    delete,
    path = "/api/jobs/{id}",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 204, description = "Deleted, revoked, and its schedules disabled"),
    ),
)]
async fn delete(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let deleted = catalog::delete(&state.js, &id)
        .await
        .map_err(|e| ApiError::unavailable("could not delete the job", format!("{e:#}")))?;
    if !deleted {
        return Err(ApiError::not_found(format!("job {id}")));
    }
    state.manifests.remove(&id);
    // Commands already out (or replayed to machines that were offline) must not run a
    // job that no longer exists.
    desired::set_revoked(&state.js, &id, true)
        .await
        .map_err(|e| ApiError::unavailable("could not revoke the deleted job", format!("{e:#}")))?;
    // Its schedules would only fire refused commands: turn them off.
    let disabled = crate::schedules::disable_for_job(&state.js, &id)
        .await
        .map_err(|e| {
            ApiError::unavailable("could not disable the job's schedules", format!("{e:#}"))
        })?;
    audit::record(
        &state.js,
        &caller,
        "job.delete",
        Some(&id),
        json!({"revoked": true, "schedules_disabled": disabled}),
    )
    .await;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    get,
    path = "/api/jobs/{id}/status",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, body = JobStatus, description = "Whether the job is revoked"),
    ),
)]
async fn status(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    let status = desired::job_status(&state.js, &id)
        .await
        .map_err(|e| ApiError::unavailable("could not read the job status", format!("{e:#}")))?;
    Ok(Json(status))
}

#[utoipa::path(
    post,
    path = "/api/jobs/{id}/revoke",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, body = JobStatus, description = "Agents now refuse the job"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such job"),
    ),
)]
async fn revoke(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    set_revoked(state, caller, id, true).await
}

#[utoipa::path(
    post,
    path = "/api/jobs/{id}/unrevoke",
    params(("id" = String, Path, description = "The job id")),
    responses(
        (status = 200, body = JobStatus, description = "Agents run the job again"),
    ),
)]
async fn unrevoke(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(id): Path<String>,
) -> ApiResult<Json<JobStatus>> {
    set_revoked(state, caller, id, false).await
}

/// Agents refuse a revoked job (exit 126), including commands replayed after an outage.
async fn set_revoked(
    state: AppState,
    caller: Require<Operator>,
    id: String,
    revoked: bool,
) -> ApiResult<Json<JobStatus>> {
    if !kanade_protocol::manifest::is_valid_id(&id) {
        return Err(ApiError::bad_request(format!(
            "`{id}` is not a valid job id"
        )));
    }
    let unavailable = |e: anyhow::Error| {
        ApiError::unavailable("could not write the job status", format!("{e:#}"))
    };
    // Unrevoking stays possible for a job deleted while revoked.
    if revoked
        && catalog::get(&state.js, &id)
            .await
            .map_err(unavailable)?
            .is_none()
    {
        return Err(ApiError::not_found(format!("job {id}")));
    }
    desired::set_revoked(&state.js, &id, revoked)
        .await
        .map_err(unavailable)?;
    let action = if revoked {
        "job.revoke"
    } else {
        "job.unrevoke"
    };
    audit::record(&state.js, &caller, action, Some(&id), json!({})).await;
    Ok(Json(
        desired::job_status(&state.js, &id)
            .await
            .map_err(unavailable)?,
    ))
}
