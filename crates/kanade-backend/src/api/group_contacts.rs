//! `/api/groups/{name}/email`: who is e-mailed about a group's compliance alerts, kept in KV
//! `group_contacts` (read by the alert task when it sends).

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use bytes::Bytes as Payload;
use kanade_protocol::api::GroupEmails;
use kanade_protocol::names;
use kanade_protocol::subject;
use kanade_protocol::wire::GroupContacts;
use serde_json::json;

use crate::auth::{Operator, Require, Viewer};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::state::AppState;
use crate::{audit, notify};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, replace))
}

fn check_group(name: &str) -> ApiResult<()> {
    match subject::is_valid_token(name) {
        true => Ok(()),
        false => Err(ApiError::bad_request(format!(
            "`{name}` is not a valid group name (letters, digits, '-' and '_')"
        ))),
    }
}

#[utoipa::path(
    get,
    path = "/api/groups/{name}/email",
    params(("name" = String, Path, description = "The group name")),
    responses(
        (status = 200, body = GroupEmails, description = "Where mail about the group goes"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
    Path(name): Path<String>,
) -> ApiResult<Json<GroupEmails>> {
    check_group(&name)?;
    let emails = notify::group_emails(&state.js, &name).await.map_err(|e| {
        ApiError::unavailable("could not read the group's contacts", format!("{e:#}"))
    })?;
    Ok(Json(GroupEmails { emails }))
}

/// Replaces the group's addresses; an empty list removes them.
#[utoipa::path(
    put,
    path = "/api/groups/{name}/email",
    params(("name" = String, Path, description = "The group name")),
    request_body(content = GroupEmails, content_type = "application/json"),
    responses(
        (status = 200, body = GroupEmails, description = "The new addresses"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "An address breaks a rule"),
    ),
)]
async fn replace(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(name): Path<String>,
    body: Bytes,
) -> ApiResult<Json<GroupEmails>> {
    check_group(&name)?;
    let req: GroupEmails = parse_json(&body)?;
    req.validate()?;
    let contacts = GroupContacts {
        emails: req.emails.clone(),
    };
    let stored = async {
        let kv = state.js.get_key_value(names::KV_GROUP_CONTACTS).await?;
        match contacts.emails.is_empty() {
            true => kv.delete(&name).await?,
            false => {
                kv.put(&name, Payload::from(serde_json::to_vec(&contacts)?))
                    .await?;
            }
        }
        anyhow::Ok(())
    }
    .await;
    stored.map_err(|e| {
        ApiError::unavailable("could not store the group's contacts", format!("{e:#}"))
    })?;
    audit::record(
        &state.js,
        &caller,
        "group.email",
        Some(&name),
        json!({"emails": req.emails}),
    )
    .await;
    Ok(Json(req))
}
