//! `/api/groups/{name}/email`: who is e-mailed about a group's compliance alerts, kept in KV
//! `group_contacts` (read by the alert task when it sends).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
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

pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/api/groups/{name}/email", get(read).put(replace))
}

fn check_group(name: &str) -> ApiResult<()> {
    match subject::is_valid_token(name) {
        true => Ok(()),
        false => Err(ApiError::bad_request(format!(
            "`{name}` is not a valid group name (letters, digits, '-' and '_')"
        ))),
    }
}

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
