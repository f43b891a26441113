//! `GET /api/agents/{pc_id}/logs`: the agent's own log lines, asked of the machine over the
//! broker (`logs.fetch.<pc>`, request/reply; the agent caps the answer at about 1 MiB).
//! Operator or admin, and audited: an agent's log names paths, users and failures.

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use chrono::{DateTime, Utc};
use kanade_protocol::reach::{LOGS_MAX_LINES, LogsReply, LogsRequest};
use kanade_protocol::subject;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Operator, Require};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;

/// How long the machine has to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);
/// The longest `grep` text accepted.
const MAX_GREP: usize = 200;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(logs))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// Only lines written at or after this RFC 3339 instant.
    since: Option<DateTime<Utc>>,
    /// Only lines containing this text (plain, case-sensitive; at most 200 characters).
    grep: Option<String>,
    /// The newest this many lines (default 200, at most 100000).
    lines: Option<u32>,
}

#[utoipa::path(
    get,
    path = "/api/agents/{pc_id}/logs",
    params(("pc_id" = String, Path, description = "The machine id"), LogsQuery),
    responses(
        (status = 200, body = LogsReply, description = "The agent's log lines, oldest first (`error` says why there are none, e.g. no log folder configured)"),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "A machine never seen"),
        (status = 502, body = kanade_protocol::api::ErrorBody, description = "The machine answered something that is not its log reply"),
        (status = 504, body = kanade_protocol::api::ErrorBody, description = "A known machine did not answer (offline, or an agent without this feature)"),
    ),
)]
async fn logs(
    State(state): State<AppState>,
    caller: Require<Operator>,
    Path(pc_id): Path<String>,
    AppQuery(q): AppQuery<LogsQuery>,
) -> ApiResult<Json<LogsReply>> {
    if !subject::is_valid_pc_id(&pc_id) {
        return Err(ApiError::bad_request(format!(
            "`{pc_id}` is not a valid machine id"
        )));
    }
    if q.grep
        .as_ref()
        .is_some_and(|g| g.chars().count() > MAX_GREP)
    {
        return Err(ApiError::bad_request(format!(
            "grep: at most {MAX_GREP} characters"
        )));
    }
    if let Some(lines) = q.lines.filter(|n| *n == 0 || *n > LOGS_MAX_LINES) {
        return Err(ApiError::bad_request(format!(
            "lines: {lines} is not between 1 and {LOGS_MAX_LINES}"
        )));
    }
    if !super::agents::seen(&state, &pc_id).await? {
        return Err(ApiError::not_found(format!("machine {pc_id}")));
    }
    let request = LogsRequest {
        since: q.since,
        grep: q.grep.clone(),
        lines: q.lines,
    };
    crate::audit::record(
        &state.js,
        &caller,
        "agent.logs",
        Some(&pc_id),
        serde_json::json!({ "since": q.since, "grep": q.grep, "lines": q.lines }),
    )
    .await;
    let payload = serde_json::to_vec(&request)
        .map_err(|e| ApiError::internal("encoding the log request", e))?;
    let answer = tokio::time::timeout(
        ANSWER_TIMEOUT,
        state
            .nats
            .request(subject::logs_fetch(&pc_id), payload.into()),
    )
    .await;
    let msg = match answer {
        Ok(Ok(msg)) => msg,
        Ok(Err(err)) if err.kind() == async_nats::RequestErrorKind::NoResponders => {
            return Err(no_answer(
                &pc_id,
                "it is offline or its agent cannot send logs",
            ));
        }
        Ok(Err(err)) => return Err(ApiError::unavailable("cannot ask the machine", err)),
        Err(_) => return Err(no_answer(&pc_id, "no answer in 10 s")),
    };
    let reply: LogsReply = serde_json::from_slice(&msg.payload).map_err(|e| {
        ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "bad_agent_reply",
            format!("machine {pc_id} answered something that is not a log reply: {e}"),
        )
    })?;
    if reply.pc_id != pc_id {
        return Err(ApiError::new(
            axum::http::StatusCode::BAD_GATEWAY,
            "bad_agent_reply",
            format!("the answer came from {}, not {pc_id}", reply.pc_id),
        ));
    }
    Ok(Json(reply))
}

fn no_answer(pc_id: &str, why: &str) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::GATEWAY_TIMEOUT,
        "agent_unreachable",
        format!("machine {pc_id} did not answer: {why}"),
    )
}
