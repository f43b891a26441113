//! Server settings: `GET /api/settings` (viewer) lists each with its stored and effective
//! value; `PUT /api/settings` (admin) merges a JSON object of setting → value (`null` unsets),
//! 422 naming the setting when a value is out of range, audited as `settings.set`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use kanade_protocol::settings::{self, ServerSettings, SettingRow, SettingsView};
use serde_json::{Map, Value};

use crate::auth::{Admin, Require, Viewer};
use crate::error::{ApiError, ApiResult, parse_json};
use crate::settings::EditError;
use crate::state::AppState;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(read, write))
}

fn unavailable(err: impl std::fmt::Display) -> ApiError {
    ApiError::unavailable("could not reach the server settings", err)
}

fn view(state: &AppState, stored: &ServerSettings) -> SettingsView {
    let configured_ttl_hours = u32::try_from(state.auth.session_ttl.num_hours().max(1)).ok();
    let rows = settings::SPECS
        .iter()
        .map(|spec| {
            let value = stored.get(spec.key);
            let fallback = match spec.key {
                settings::SESSION_TTL_HOURS => configured_ttl_hours,
                settings::RESULT_OUTPUT_RETENTION_DAYS => {
                    Some(settings::DEFAULT_RESULT_OUTPUT_RETENTION_DAYS)
                }
                _ => None,
            };
            SettingRow {
                key: spec.key.to_owned(),
                value,
                effective: value.or(fallback),
                min: spec.min,
                max: spec.max,
                help: spec.help.to_owned(),
            }
        })
        .collect();
    SettingsView { settings: rows }
}

#[utoipa::path(
    get,
    path = "/api/settings",
    responses(
        (status = 200, body = SettingsView, description = "Every server setting, stored and in force"),
        (status = 503, body = kanade_protocol::api::ErrorBody, description = "The broker cannot be asked"),
    ),
)]
async fn read(
    State(state): State<AppState>,
    _caller: Require<Viewer>,
) -> ApiResult<Json<SettingsView>> {
    let stored = crate::settings::read(&state.js)
        .await
        .map_err(unavailable)?;
    Ok(Json(view(&state, &stored)))
}

#[utoipa::path(
    put,
    path = "/api/settings",
    request_body(content = Object, content_type = "application/json", description = "Setting → whole number, or null to unset; settings not named keep their value"),
    responses(
        (status = 200, body = SettingsView, description = "The settings after the change"),
        (status = 400, body = kanade_protocol::api::ErrorBody, description = "Not a JSON object, or an unknown setting (named)"),
        (status = 422, body = kanade_protocol::api::ErrorBody, description = "A value out of range or not a number (the setting is named)"),
    ),
)]
async fn write(
    State(state): State<AppState>,
    caller: Require<Admin>,
    body: Bytes,
) -> ApiResult<Json<SettingsView>> {
    let patch: Map<String, Value> = parse_json(&body)?;
    let stored = match crate::settings::edit(&state.js, &patch).await {
        Ok(stored) => stored,
        Err(EditError::Invalid(err)) => {
            let status = match err {
                settings::SettingError::Unknown(_) => StatusCode::BAD_REQUEST,
                settings::SettingError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            };
            let code = match status {
                StatusCode::BAD_REQUEST => "unknown_setting",
                _ => "validation_failed",
            };
            let mut api = ApiError::new(status, code, err.to_string());
            api.field = Some(err.key().to_owned());
            return Err(api);
        }
        Err(EditError::Broker(err)) => return Err(unavailable(format!("{err:#}"))),
    };
    crate::audit::record(
        &state.js,
        &caller,
        "settings.set",
        None,
        Value::Object(patch),
    )
    .await;
    Ok(Json(view(&state, &stored)))
}
