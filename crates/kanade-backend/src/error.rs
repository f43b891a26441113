//! `ApiError`: the one error type of the HTTP API, always rendered as
//! `{"error": {"code", "message", "field"?}}`. Clients get a user message; details of server
//! faults go to the log only.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use kanade_protocol::api::{ErrorBody, ErrorDetail};
use kanade_protocol::manifest::ManifestError;

use crate::store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub field: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            field: None,
        }
    }

    pub fn not_found(what: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{} not found", what.into()),
        )
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// A server-side fault: logged in full, reported to the client without internals.
    pub fn internal(context: &str, err: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %err, "{context}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("{context}; see the server log"),
        )
    }

    /// The broker or store could not do it. A message the broker refused for its size is the
    /// caller's to shrink (413), not an outage: every publish should be checked first
    /// (`edge::fits_broker`), this catches the ones that were not.
    pub fn unavailable(context: &str, err: impl std::fmt::Display) -> ApiError {
        let text = err.to_string();
        if text.contains("max payload size exceeded") || text.contains("Payload size limit of") {
            return ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                format!("{context}: the message is larger than the broker accepts ({text})"),
            );
        }
        tracing::warn!(error = %err, "{context}");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{context}: {err}"),
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
                field: self.field,
            },
        };
        (self.status, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> ApiError {
        match err {
            StoreError::NotFound => ApiError::not_found("record"),
            StoreError::Conflict(msg) => ApiError::new(StatusCode::CONFLICT, "conflict", msg),
            StoreError::Unavailable(msg) => {
                tracing::error!(error = %msg, "database unavailable");
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "database_unavailable", msg)
            }
            StoreError::Other(msg) => ApiError::internal("database error", msg),
        }
    }
}

/// Parse errors (unknown or mistyped keys) are 400; broken rules are 422. Both name the field.
impl From<ManifestError> for ApiError {
    fn from(err: ManifestError) -> ApiError {
        let (status, code) = match err {
            ManifestError::Syntax { .. } | ManifestError::Field { .. } => {
                (StatusCode::BAD_REQUEST, "invalid_document")
            }
            ManifestError::Invalid { .. } => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            }
        };
        ApiError {
            status,
            code,
            field: err.field().map(str::to_owned),
            message: err.to_string(),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(err: JsonRejection) -> ApiError {
        ApiError::new(err.status(), "invalid_json", err.body_text())
    }
}

/// Reads a JSON request body into `T`, naming the path of an unknown or mistyped key (400),
/// or of a value past its limit, such as a duration over the maximum (422).
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> ApiResult<T> {
    let mut de = serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(&mut de).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner();
        let field = (path != ".").then_some(path);
        let message = match &field {
            Some(path) => format!("{path}: {inner}"),
            None => format!("invalid JSON: {inner}"),
        };
        let (status, code) = match kanade_protocol::duration::is_out_of_range(&message) {
            true => (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed"),
            false => (StatusCode::BAD_REQUEST, "invalid_json"),
        };
        ApiError {
            status,
            code,
            message,
            field,
        }
    })
}

/// `Query` whose rejections use the API's error shape.
pub struct AppQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for AppQuery<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(AppQuery(value)),
            Err(err) => Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                err.body_text(),
            )),
        }
    }
}
