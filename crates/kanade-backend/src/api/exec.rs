//! `POST /api/exec/{job_id}`: fire a registered job at machines, groups or the whole fleet,
//! at once or in waves (`rollout`). Named machines and groups are resolved first: unknown
//! machines and empty groups are 422 (unless `allow_unknown`), and the answer lists each
//! targeted machine, online or not. 202 with status `pending`, or `unconfirmed` when the
//! broker did not acknowledge the command (it may run); 503 names the database or the broker.
//! While the fleet is frozen the exec still goes out (a rollout's waves wait for the thaw),
//! and the answer carries a `fleet_frozen` warning saying so; it is audited like any other.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::Utc;
use kanade_protocol::api::{ExecRequest, ExecResponse, ExecWarning, WARNING_FLEET_FROZEN};

use crate::auth::{Operator, Require};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::{catalog, desired, exec};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(fire))
}

#[utoipa::path(
    post,
    path = "/api/exec/{job_id}",
    params(("job_id" = String, Path, description = "The job id")),
    request_body(content = ExecRequest, content_type = "application/json"),
    responses(
        (status = 202, body = ExecResponse, description = "The command was published (a rollout: planned). `warnings` carries `fleet_frozen` when the fleet freeze is on: the manual run still goes out now, a rollout's waves wait for the thaw"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such job"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "The request breaks a rule, or names machines never seen (`target.pcs`) or groups without members (`target.groups`, `rollout.waves`) without `allow_unknown`; `field` names it"),
    ),
)]
async fn fire(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(job_id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<ExecResponse>)> {
    let req: ExecRequest = parse_json(&body)?;
    let now = Utc::now();
    req.validate(now)?;
    let job = catalog::get(&state.js, &job_id)
        .await
        .map_err(|e| ApiError::unavailable("could not read the job", format!("{e:#}")))?
        .ok_or_else(|| ApiError::not_found(format!("job {job_id}")))?;
    let fanout = exec::Fanout::of(&state);
    let machines = exec::targets::resolve(&fanout, &req, now)
        .await
        .map_err(|e| match e {
            exec::targets::ResolveError::Invalid(err) => ApiError::from(err),
            exec::targets::ResolveError::Store(err) => ApiError::from(err),
            exec::targets::ResolveError::Unavailable(err) => {
                ApiError::unavailable("could not read the group members", format!("{err:#}"))
            }
        })?;
    // Read before sending, so the warning describes the fleet this exec went out to. A freeze
    // that cannot be read does not stop a manual exec; the operator is told.
    let frozen = match desired::freeze(&state.js).await {
        Ok(freeze) => freeze.exec_warning(now, req.rollout.is_some()),
        Err(err) => Some(format!(
            "could not check the fleet freeze ({err:#}); if it is on, scheduled fires and rollout waves are held"
        )),
    };
    let mut fired = crate::approval::fire_or_request(&fanout, &job.manifest, &req, &caller, now)
        .await
        .map_err(|e| match e {
            exec::FireError::Store(err) => ApiError::from(err),
            exec::FireError::Broker(err) => {
                ApiError::unavailable("could not publish the command", format!("{err:#}"))
            }
        })?;
    fired.machines = machines;
    fired.warnings.extend(frozen.map(|message| ExecWarning {
        code: WARNING_FLEET_FROZEN.to_owned(),
        message,
    }));
    Ok((StatusCode::ACCEPTED, Json(fired)))
}
