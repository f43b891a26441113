//! `GET /api/results/{result_id}/output?stream=stdout|stderr`: the whole output of one run as
//! plain bytes — the inline text, or, when the agent spilled it (over 256 KiB), streamed from
//! the `result_output` object store without holding it in memory. Operator or admin: output
//! can hold secrets, and the inline preview in `GET /api/results/{id}` already serves viewers.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use kanade_protocol::names;
use kanade_protocol::reach::OutputStream;
use serde::Deserialize;
use tokio::io::AsyncReadExt;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::{Operator, Require};
use crate::error::{ApiError, ApiResult, AppQuery};
use crate::state::AppState;
use crate::store;

/// Bytes read from the object store per body chunk.
const READ_SIZE: usize = 64 * 1024;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(output))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct OutputQuery {
    /// `stdout` (default) or `stderr`.
    stream: Option<OutputStream>,
}

#[utoipa::path(
    get,
    path = "/api/results/{result_id}/output",
    params(("result_id" = String, Path, description = "The result id"), OutputQuery),
    responses(
        (status = 200, description = "The stream's whole text; header `x-kanade-output` says `inline` or `spilled`", content_type = "text/plain", body = String),
        (status = 404, body = kanade_protocol::api::ErrorBody, description = "No such result, or its spilled output is no longer kept"),
    ),
)]
async fn output(
    State(state): State<AppState>,
    _caller: Require<Operator>,
    Path(result_id): Path<String>,
    AppQuery(q): AppQuery<OutputQuery>,
) -> ApiResult<Response> {
    let stream = q.stream.unwrap_or(OutputStream::Stdout);
    let id = result_id.clone();
    let Some(detail) = state
        .store
        .read(move |c| store::results::get(c, &id))
        .await?
    else {
        return Err(ApiError::not_found(format!("result {result_id}")));
    };
    let (inline, object) = match stream {
        OutputStream::Stdout => (detail.stdout, detail.stdout_object),
        OutputStream::Stderr => (detail.stderr, detail.stderr_object),
    };
    let Some(key) = object else {
        return Ok(text_response(Body::from(inline), "inline", None));
    };
    let gone = || {
        ApiError::not_found(format!(
            "the spilled {} of result {result_id} ({key}; kept for a limited time)",
            stream.as_str()
        ))
    };
    let bucket = state
        .js
        .get_object_store(names::OBJ_RESULT_OUTPUT)
        .await
        .map_err(|e| ApiError::unavailable("cannot open the output store", e))?;
    let object = match bucket.get(&key).await {
        Ok(object) => object,
        Err(err)
            if matches!(
                err.kind(),
                async_nats::jetstream::object_store::GetErrorKind::NotFound
                    | async_nats::jetstream::object_store::GetErrorKind::BucketLink
            ) =>
        {
            return Err(gone());
        }
        Err(err) => return Err(ApiError::unavailable("cannot read the spilled output", err)),
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
    Ok(text_response(
        Body::from_stream(chunks),
        "spilled",
        Some(size),
    ))
}

fn text_response(body: Body, origin: &'static str, size: Option<usize>) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert("x-kanade-output", HeaderValue::from_static(origin));
    if let Some(size) = size {
        headers.insert(header::CONTENT_LENGTH, HeaderValue::from(size));
    }
    response
}
