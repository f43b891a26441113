//! The checks every request passes before a handler runs, so no malformed id or oversized
//! body reaches the broker or SQL: path and query ids obey `kanade_protocol::ids` (400
//! naming the parameter), and bodies over the HTTP limit or over the broker's `max_payload`
//! answer 413 in the API's error shape.

use axum::extract::{FromRequestParts, MatchedPath, RawPathParams, Request};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use kanade_protocol::ids::IdKind;

use crate::error::{ApiError, ApiResult};

/// Largest request body accepted (a manifest with an inline script).
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;

/// Room left for the headers JetStream adds to a message (`Nats-Msg-Id`, KV rollups).
const HEADER_ROOM: usize = 1024;

/// Which rule a path parameter follows. `id` depends on the resource; a parameter this table
/// does not know gets the subject-token rule, the strictest one.
fn path_kind(route: &str, name: &str) -> IdKind {
    match name {
        "job_id" => IdKind::Job,
        "exec_id" => IdKind::Execution,
        "result_id" => IdKind::Result,
        "pc_id" => IdKind::Machine,
        "group" | "name" => IdKind::Group,
        "username" => IdKind::Username,
        "key" => IdKind::Release,
        "check" => IdKind::Check,
        "scope" => IdKind::Scope,
        "token_id" => IdKind::EnrollmentToken,
        "bundle_key" => IdKind::Bundle,
        "id" if route.starts_with("/api/jobs/") => IdKind::Job,
        "id" if route.starts_with("/api/schedules/") => IdKind::Schedule,
        "id" if route.starts_with("/api/notifications/") => IdKind::Notification,
        _ => IdKind::Machine,
    }
}

/// Query parameters that name an exact id (filters such as `?pc=` that match part of an id
/// are free text and stay with their handler).
fn query_kind(name: &str) -> Option<IdKind> {
    match name {
        "pc_id" => Some(IdKind::Machine),
        "exec_id" => Some(IdKind::Execution),
        "job_id" => Some(IdKind::Job),
        "group" => Some(IdKind::Group),
        _ => None,
    }
}

fn invalid_id(field: &str, err: impl std::fmt::Display) -> ApiError {
    let mut out = ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_id",
        format!("{field}: {err}"),
    );
    out.field = Some(field.to_owned());
    out
}

/// Route layer: refuses a request whose path or query ids break their rule.
pub async fn check_ids(req: Request, next: Next) -> Response {
    let (mut parts, body) = req.into_parts();
    if let Err(err) = ids_of(&mut parts).await {
        return err.into_response();
    }
    next.run(Request::from_parts(parts, body)).await
}

async fn ids_of(parts: &mut axum::http::request::Parts) -> ApiResult<()> {
    let route = parts
        .extensions
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_default();
    match RawPathParams::from_request_parts(parts, &()).await {
        Ok(params) => {
            for (name, value) in params.iter() {
                path_kind(&route, name)
                    .check(value)
                    .map_err(|e| invalid_id(name, e))?;
            }
        }
        Err(axum::extract::rejection::RawPathParamsRejection::InvalidUtf8InPathParam(e)) => {
            return Err(ApiError::bad_request(e.body_text()));
        }
        Err(_) => {}
    }
    for (name, value) in query_pairs(&parts.uri) {
        if let Some(kind) = query_kind(&name) {
            kind.check(&value).map_err(|e| invalid_id(&name, e))?;
        }
    }
    Ok(())
}

/// The decoded `name=value` pairs of the query. One that does not parse is the handler's to
/// refuse, in its own words.
fn query_pairs(uri: &axum::http::Uri) -> Vec<(String, String)> {
    axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map(|q| q.0)
        .unwrap_or_default()
}

/// Blanket layer: the plain-text 413 axum answers for a body over the limit
/// (`DefaultBodyLimit`) becomes the API's JSON error.
pub async fn limit_body(req: Request, next: Next) -> Response {
    let response = next.run(req).await;
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if response.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return too_large_http().into_response();
    }
    response
}

fn too_large_http() -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "the request body is too large: the API accepts at most {} MiB \
             (agent binaries on /api/agent-releases more)",
            BODY_LIMIT / (1024 * 1024)
        ),
    )
}

/// 413 when a message of `len` bytes would exceed the broker's `max_payload`: checked before
/// publishing, so nothing is half-written and the operator learns the real limit.
pub fn fits_broker(nats: &async_nats::Client, what: &str, len: usize) -> ApiResult<()> {
    let max = nats.max_payload();
    if max == 0 || len + HEADER_ROOM <= max {
        return Ok(());
    }
    Err(ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        format!(
            "{what} is {len} bytes; the broker accepts messages of at most {} bytes \
             (nats-server max_payload)",
            max.saturating_sub(HEADER_ROOM)
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_params_follow_their_resource() {
        assert_eq!(path_kind("/api/jobs/{id}", "id"), IdKind::Job);
        assert_eq!(
            path_kind("/api/schedules/{id}/enable", "id"),
            IdKind::Schedule
        );
        assert_eq!(path_kind("/api/anything/{x}", "x"), IdKind::Machine);
        assert_eq!(query_kind("pc"), None);
    }

    #[test]
    fn query_pairs_are_decoded() {
        let uri: axum::http::Uri = "/x?pc_id=a%2Ab&limit=3".parse().unwrap();
        let pairs = query_pairs(&uri);
        assert_eq!(pairs[0], ("pc_id".to_owned(), "a*b".to_owned()));
    }
}
