//! Remote terminal: `GET /api/agents/{pc_id}/terminal` (WebSocket; a shell on the machine),
//! `GET /api/terminal-sessions` (the audited sessions) and
//! `GET /api/terminal-sessions/{session_id}/transcript` (NDJSON). Admin only. A browser
//! cannot set the Authorization header on a WebSocket, so the token may also come as the
//! subprotocol `bearer.<token>` beside `kanade.terminal`.

use axum::Json;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use kanade_protocol::terminal::{self, TerminalSession, TranscriptEntry};
use kanade_protocol::{ids, subject};
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Admin, Require};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;
use crate::terminal::Refused;

/// The subprotocol the backend answers with.
const PROTOCOL: &str = "kanade.terminal";
/// The prefix of the subprotocol that carries a browser's token.
const TOKEN_PROTOCOL_PREFIX: &str = "bearer.";

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(open))
        .routes(routes!(list))
        .routes(routes!(transcript))
}

/// Takes a token offered as the WebSocket subprotocol `bearer.<token>` as the request's
/// bearer token when it has no Authorization header (run before `Require`).
pub struct WsToken;

impl<S: Send + Sync> FromRequestParts<S> for WsToken {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if parts.headers.contains_key(header::AUTHORIZATION) {
            return Ok(WsToken);
        }
        let offered = parts
            .headers
            .get_all(header::SEC_WEBSOCKET_PROTOCOL)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .find_map(|p| p.strip_prefix(TOKEN_PROTOCOL_PREFIX))
            .and_then(|token| HeaderValue::from_str(&format!("Bearer {token}")).ok());
        if let Some(value) = offered {
            parts.headers.insert(header::AUTHORIZATION, value);
        }
        Ok(WsToken)
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OpenQuery {
    /// Terminal rows (default 24).
    rows: Option<u16>,
    /// Terminal columns (default 80).
    cols: Option<u16>,
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/terminal",
    params(("pc_id" = String, Path, description = "The machine id"), OpenQuery),
    responses(
        (status = 101, description = "WebSocket: binary frames are terminal bytes both ways; text frames are JSON controls (`{\"type\":\"resize\",\"rows\":40,\"cols\":100}` from the client; `opened` and, last, `exit` with `reason` from the server). Under `terminal: consent` the server first sends `waiting` (`message`, `timeout_secs`) while the machine's signed-in user is asked, then `opened` or, last, `refused` with `reason` (declined, no answer in time, nobody signed in; audited as `terminal_refused`). Every session is audited (`terminal_open`, `terminal_close`) and its transcript kept"),
        (status = 400, body = kanade_protocol::api::ErrorBody, description = "Not a WebSocket request, or a size out of range"),
        (status = 403, body = kanade_protocol::api::ErrorBody, description = "Not an admin, or the machine's config says `terminal: deny`"),
        (status = 409, body = kanade_protocol::api::ErrorBody, description = "The fleet freeze is on"),
        (status = 502, body = kanade_protocol::api::ErrorBody, description = "The machine refused, did not answer, or is offline"),
    ),
)]
async fn open(
    State(state): State<AppState>,
    _token: WsToken,
    caller: Require<Admin>,
    Path(pc_id): Path<String>,
    AppQuery(q): AppQuery<OpenQuery>,
    ws: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    if !subject::is_valid_pc_id(&pc_id) {
        return Err(ApiError::bad_request(format!(
            "`{pc_id}` is not a valid machine id"
        )));
    }
    let ws = ws.map_err(|why| {
        ApiError::bad_request(format!(
            "this is a WebSocket endpoint; connect with `Upgrade: websocket` ({why})"
        ))
    })?;
    let size = (q.rows.unwrap_or(24), q.cols.unwrap_or(80));
    terminal::check_size(size.0, size.1).map_err(ApiError::bad_request)?;
    let caller = caller.0;
    let refusal = |refused: Refused| match refused {
        Refused::Frozen => ApiError::new(
            StatusCode::CONFLICT,
            "fleet_frozen",
            "the fleet freeze is on: remote terminals wait for the thaw",
        ),
        Refused::Denied => ApiError::new(
            StatusCode::FORBIDDEN,
            "terminal_denied",
            format!("the config of machine {pc_id} says terminal: deny"),
        ),
        Refused::Agent(why) => ApiError::new(StatusCode::BAD_GATEWAY, "agent_refused", why),
        Refused::Unavailable(why) => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", why)
        }
    };
    let admission = crate::terminal::check(&state, &pc_id)
        .await
        .map_err(refusal)?;
    if admission.consent.is_some() {
        // The user's answer can take a while: the client is told it waits, over the socket.
        return Ok(ws
            .protocols([PROTOCOL])
            .on_upgrade(move |socket| {
                crate::terminal::with_consent(state, socket, caller, pc_id, size, admission)
            })
            .into_response());
    }
    let opened = crate::terminal::start(&state, &caller, &pc_id, size, admission)
        .await
        .map_err(refusal)?;
    Ok(ws
        .protocols([PROTOCOL])
        .on_upgrade(move |socket| crate::terminal::bridge(state, socket, caller, opened))
        .into_response())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct ListQuery {
    /// Only this machine's sessions.
    pc_id: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/terminal-sessions",
    params(ListQuery),
    responses((status = 200, body = Vec<TerminalSession>, description = "Audited terminal sessions, newest first")),
)]
async fn list(
    State(state): State<AppState>,
    _caller: Require<Admin>,
    AppQuery(q): AppQuery<ListQuery>,
) -> ApiResult<Json<Vec<TerminalSession>>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let sessions = state
        .store
        .read(move |c| store::terminal::list(c, q.pc_id.as_deref(), limit))
        .await?;
    Ok(Json(sessions))
}

#[utoipa::path(
    get,
    path = "/api/terminal-sessions/{session_id}/transcript",
    params(("session_id" = String, Path, description = "The session id")),
    responses(
        (status = 200, body = Vec<TranscriptEntry>, content_type = "application/x-ndjson", description = "One JSON object per line: `t_ms` since the start, `dir` (`o` output, `i` an input line), `text`"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such session, or its transcript is past retention"),
    ),
)]
async fn transcript(
    State(state): State<AppState>,
    _caller: Require<Admin>,
    Path(session_id): Path<String>,
) -> ApiResult<Response> {
    if !ids::is_token(&session_id) {
        return Err(ApiError::bad_request(format!(
            "session_id: `{session_id}` is not a valid session id"
        )));
    }
    let body = crate::terminal::read_transcript(&state.js, &session_id)
        .await
        .map_err(|e| ApiError::unavailable("cannot read the transcript", e))?
        .ok_or_else(|| {
            ApiError::not_found(format!("transcript of terminal session {session_id}"))
        })?;
    let mut response = body.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(response)
}
