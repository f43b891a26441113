//! Typed HTTP client for the backend API: one method per route, returning the
//! `kanade_protocol::api` types. The CLI and the system tests both use it, so they exercise the
//! same requests operators send.
//!
//! API boundary: `ApiClient` and `ClientError`. The bearer token (`$KANADE_AUTH_TOKEN`, or the
//! session `kanade login` stored; see `session`) is added in exactly one place,
//! `ApiClient::request_at`.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use kanade_protocol::api::{
    BatchRequest, BatchResponse, ErrorBody, ErrorDetail, ExecRequest, ExecResponse,
    ExecutionDetail, ExecutionSummary, Health, JobDetail, JobSummary, Page, ResultDetail,
    ResultSummary, StreamStatus, VersionInfo,
};
use kanade_protocol::manifest::Manifest;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use serde::de::DeserializeOwned;

mod accounts;
mod approvals;
mod broker;
mod collect;
mod fleet;
mod hints;
mod install;
mod keys;
mod machines;
mod reach;
mod schedules;
mod server;
pub mod terminal;

pub use fleet::{AgentQuery, ObsQuery, PerfRange};
pub use machines::Verdict;
pub use reach::{TailEvent, TailStream};

/// The environment variable holding the bearer token every request carries.
pub const AUTH_TOKEN_ENV: &str = "KANADE_AUTH_TOKEN";

/// Error codes of `POST /api/auth/login`'s 401s: these are about the credentials just sent, not
/// about a missing sign-in, so their own message is shown.
pub const LOGIN_CODES: [&str; 3] = ["invalid_credentials", "totp_required", "invalid_totp"];
/// The 403 code while the caller must change the password before anything else.
pub const PASSWORD_CHANGE_REQUIRED: &str = "password_change_required";

/// A client bound to one backend.
#[derive(Debug, Clone)]
pub struct ApiClient {
    base_url: Url,
    token: Option<String>,
    http: reqwest::Client,
    /// The CA `pinning` trusts (also for the remote terminal's WebSocket).
    ca_file: Option<std::path::PathBuf>,
}

/// Why a request failed. `Api` carries the HTTP status and the server's `ErrorBody`.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The backend URL itself is unusable.
    #[error("invalid backend URL `{url}`: {message}")]
    BaseUrl { url: String, message: String },
    /// The request never got an HTTP answer (backend down, DNS, TLS, timeout).
    #[error("cannot reach the backend ({method} {url})")]
    Transport {
        method: Method,
        url: String,
        #[source]
        source: reqwest::Error,
    },
    /// The backend answered with an error status.
    #[error("{}", api_message(*.status, .detail.as_ref(), .body))]
    Api {
        status: StatusCode,
        /// The server's `{"error": {...}}`, when the body had that shape.
        detail: Option<ErrorDetail>,
        /// The raw body (first 500 bytes) when it did not.
        body: String,
    },
    /// A success status with a body that is not the expected type.
    #[error("unexpected response from {method} {url}: {message}")]
    Decode {
        method: Method,
        url: String,
        message: String,
    },
}

impl ClientError {
    /// The HTTP status, when the backend answered.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The server's error code (`invalid_credentials`, `conflict`, ...), when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api {
                detail: Some(detail),
                ..
            } => Some(&detail.code),
            _ => None,
        }
    }

    /// The server's error message, when it sent one.
    pub fn server_message(&self) -> Option<&str> {
        match self {
            ClientError::Api {
                detail: Some(detail),
                ..
            } => Some(&detail.message),
            _ => None,
        }
    }

    /// True when the request itself was wrong (HTTP 400/422, or an unusable URL): the CLI exits
    /// with 2 for these, like any other bad input.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ClientError::BaseUrl { .. } => true,
            ClientError::Api { status, .. } => {
                *status == StatusCode::BAD_REQUEST || *status == StatusCode::UNPROCESSABLE_ENTITY
            }
            _ => false,
        }
    }
}

/// Filters of `GET /api/results`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResultQuery {
    pub exec_id: Option<String>,
    pub pc_id: Option<String>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

/// Filters of `GET /api/executions`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecutionQuery {
    pub job_id: Option<String>,
    pub status: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub limit: u32,
    pub offset: u64,
}

/// Filters of `GET /api/audit`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditQuery {
    pub actor: Option<String>,
    pub action: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub limit: Option<u32>,
    pub offset: Option<u64>,
}

fn http_client(builder: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
    builder
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(60))
        .user_agent(concat!("kanade-cli/", env!("CARGO_PKG_VERSION")))
}

impl ApiClient {
    /// A client for `base_url` (e.g. `http://127.0.0.1:8080`, optionally with a path prefix)
    /// sending `token` as a bearer token when given.
    pub fn new(base_url: &str, token: Option<String>) -> Result<ApiClient, ClientError> {
        let bad = |message: &str| ClientError::BaseUrl {
            url: base_url.to_owned(),
            message: message.to_owned(),
        };
        let base = Url::parse(base_url).map_err(|err| bad(&err.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("must start with http:// or https://"));
        }
        // reqwest is built without a default crypto provider; ring is the one we ship. A second
        // install (another client in the same process) fails harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = http_client(reqwest::Client::builder())
            .build()
            .map_err(|err| bad(&format!("cannot build an HTTP client: {err}")))?;
        Ok(ApiClient {
            base_url: base,
            token: token.filter(|t| !t.is_empty()),
            http,
            ca_file: None,
        })
    }

    /// Trusts only the CA in `ca_file` for an `https://` backend (a private CA such as the one
    /// `kanade-backend tls-init` makes); `None` keeps the system's roots.
    pub fn pinning(mut self, ca_file: Option<&std::path::Path>) -> Result<ApiClient, ClientError> {
        let Some(path) = ca_file else {
            return Ok(self);
        };
        let bad = |message: String| ClientError::BaseUrl {
            url: self.base_url.to_string(),
            message,
        };
        let pem = std::fs::read(path).map_err(|err| {
            bad(format!(
                "cannot read the backend CA {}: {err}",
                path.display()
            ))
        })?;
        let ca = reqwest::Certificate::from_pem(&pem).map_err(|err| {
            bad(format!(
                "{} is not a PEM certificate: {err}",
                path.display()
            ))
        })?;
        self.http = http_client(reqwest::Client::builder().tls_certs_only([ca]))
            .build()
            .map_err(|err| bad(format!("cannot build an HTTP client: {err}")))?;
        self.ca_file = Some(path.to_owned());
        Ok(self)
    }

    /// Like `new`, with the token taken from `$KANADE_AUTH_TOKEN`.
    pub fn from_env(base_url: &str) -> Result<ApiClient, ClientError> {
        ApiClient::new(base_url, std::env::var(AUTH_TOKEN_ENV).ok())
    }

    pub fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// `GET /health`.
    pub async fn health(&self) -> Result<Health, ClientError> {
        self.send(self.request(Method::GET, &["health"])).await
    }

    /// `GET /api/version`.
    pub async fn version(&self) -> Result<VersionInfo, ClientError> {
        self.send(self.request(Method::GET, &["api", "version"]))
            .await
    }

    /// `POST /api/jobs` with a manifest as written (YAML or JSON text).
    pub async fn create_job_yaml(&self, text: &str) -> Result<JobDetail, ClientError> {
        let request = self
            .request(Method::POST, &["api", "jobs"])
            .header(reqwest::header::CONTENT_TYPE, "application/yaml")
            .body(text.to_owned());
        self.send(request).await
    }

    /// `POST /api/jobs:batch`: every manifest (text as written) registered, or none.
    pub async fn create_jobs_batch(
        &self,
        documents: Vec<String>,
    ) -> Result<BatchResponse, ClientError> {
        let request = self
            .request(Method::POST, &["api", "jobs:batch"])
            .json(&BatchRequest { documents });
        self.send(request).await
    }

    /// `POST /api/jobs` with a parsed manifest, sent as JSON.
    pub async fn create_job(&self, manifest: &Manifest) -> Result<JobDetail, ClientError> {
        let request = self.request(Method::POST, &["api", "jobs"]).json(manifest);
        self.send(request).await
    }

    /// `GET /api/jobs`.
    pub async fn list_jobs(&self) -> Result<Vec<JobSummary>, ClientError> {
        self.send(self.request(Method::GET, &["api", "jobs"])).await
    }

    /// `GET /api/jobs/{id}`.
    pub async fn get_job(&self, id: &str) -> Result<JobDetail, ClientError> {
        self.send(self.request(Method::GET, &["api", "jobs", id]))
            .await
    }

    /// `DELETE /api/jobs/{id}`.
    pub async fn delete_job(&self, id: &str) -> Result<(), ClientError> {
        self.send_empty(self.request(Method::DELETE, &["api", "jobs", id]))
            .await
    }

    /// `POST /api/exec/{job_id}`.
    pub async fn exec(
        &self,
        job_id: &str,
        request: &ExecRequest,
    ) -> Result<ExecResponse, ClientError> {
        let request = self
            .request(Method::POST, &["api", "exec", job_id])
            .json(request);
        self.send(request).await
    }

    /// `GET /api/executions?limit=&offset=`.
    pub async fn list_executions(
        &self,
        query: &ExecutionQuery,
    ) -> Result<Page<ExecutionSummary>, ClientError> {
        let pairs = [
            ("job_id", query.job_id.clone()),
            ("status", query.status.clone()),
            (
                "since",
                query
                    .since
                    .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true)),
            ),
            ("limit", Some(query.limit.to_string())),
            ("offset", Some(query.offset.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "executions"], &pairs);
        self.send(request).await
    }

    /// `GET /api/executions/{exec_id}`.
    pub async fn get_execution(&self, exec_id: &str) -> Result<ExecutionDetail, ClientError> {
        self.send(self.request(Method::GET, &["api", "executions", exec_id]))
            .await
    }

    /// `GET /api/results?exec_id=&pc_id=&limit=&offset=` (unset filters are left out).
    pub async fn list_results(
        &self,
        query: &ResultQuery,
    ) -> Result<Page<ResultSummary>, ClientError> {
        let pairs = [
            ("exec_id", query.exec_id.clone()),
            ("pc_id", query.pc_id.clone()),
            ("limit", query.limit.map(|n| n.to_string())),
            ("offset", query.offset.map(|n| n.to_string())),
        ];
        let request = self.request_with_query(Method::GET, &["api", "results"], &pairs);
        self.send(request).await
    }

    /// `GET /api/results/{result_id}`.
    pub async fn get_result(&self, result_id: &str) -> Result<ResultDetail, ClientError> {
        self.send(self.request(Method::GET, &["api", "results", result_id]))
            .await
    }

    /// `GET /api/jetstream`.
    pub async fn jetstream(&self) -> Result<Vec<StreamStatus>, ClientError> {
        self.send(self.request(Method::GET, &["api", "jetstream"]))
            .await
    }

    /// The URL of `segments` below the base URL; each segment is percent-encoded, so an id can
    /// never escape its place in the path.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    /// Every request starts here: the one place that attaches credentials.
    fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.request_at(method, self.url(segments))
    }

    fn request_with_query(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, Option<String>)],
    ) -> RequestBuilder {
        let mut url = self.url(segments);
        for (key, value) in query {
            if let Some(value) = value {
                url.query_pairs_mut().append_pair(key, value);
            }
        }
        self.request_at(method, url)
    }

    fn request_at(&self, method: Method, url: Url) -> RequestBuilder {
        let request = self.http.request(method, url);
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    async fn send<T: DeserializeOwned>(&self, request: RequestBuilder) -> Result<T, ClientError> {
        let (method, url, bytes) = self.send_raw(request).await?;
        serde_json::from_slice(&bytes).map_err(|err| ClientError::Decode {
            method,
            url,
            message: format!("{err} in {}", snippet(&bytes)),
        })
    }

    async fn send_empty(&self, request: RequestBuilder) -> Result<(), ClientError> {
        self.send_raw(request).await.map(|_| ())
    }

    /// Sends, and turns a non-2xx answer into `ClientError::Api`.
    async fn send_raw(
        &self,
        request: RequestBuilder,
    ) -> Result<(Method, String, bytes::Bytes), ClientError> {
        let (client, request) = request.build_split();
        let request = request.map_err(|err| ClientError::BaseUrl {
            url: self.base_url.to_string(),
            message: err.to_string(),
        })?;
        let method = request.method().clone();
        let url = request.url().to_string();
        let transport = |source| ClientError::Transport {
            method: method.clone(),
            url: url.clone(),
            source,
        };
        let response = client.execute(request).await.map_err(transport)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if status.is_success() {
            return Ok((method, url, bytes));
        }
        let detail = serde_json::from_slice::<ErrorBody>(&bytes)
            .ok()
            .map(|body| body.error);
        Err(ClientError::Api {
            status,
            detail,
            body: snippet(&bytes),
        })
    }
}

fn api_message(status: StatusCode, detail: Option<&ErrorDetail>, body: &str) -> String {
    let code_is = |want: &[&str]| detail.is_some_and(|d| want.contains(&d.code.as_str()));
    if status == StatusCode::UNAUTHORIZED && !code_is(&LOGIN_CODES) {
        return "not signed in (or the session expired): run `kanade login`".to_owned();
    }
    if status == StatusCode::FORBIDDEN && code_is(&[PASSWORD_CHANGE_REQUIRED]) {
        return "your password must be changed before anything else: run `kanade account passwd`"
            .to_owned();
    }
    let code = status.as_u16();
    match detail {
        Some(ErrorDetail {
            message,
            field: Some(field),
            ..
        }) if !message.starts_with(field.as_str()) => format!("{field}: {message} (HTTP {code})"),
        Some(detail) => format!("{} (HTTP {code})", detail.message),
        None if body.trim().is_empty() => format!("the backend answered HTTP {status}"),
        None => format!("the backend answered HTTP {status}: {}", body.trim()),
    }
}

fn snippet(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    match text.char_indices().nth(500) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api_error(status: u16, body: &str) -> String {
        let status = StatusCode::from_u16(status).unwrap();
        let detail = serde_json::from_str::<ErrorBody>(body)
            .ok()
            .map(|b| b.error);
        ClientError::Api {
            status,
            detail,
            body: body.to_owned(),
        }
        .to_string()
    }

    #[test]
    fn error_messages_carry_the_server_message_and_status() {
        let cases = [
            (
                401,
                r#"{"error":{"code":"unauthorized","message":"no token"}}"#,
                "not signed in (or the session expired): run `kanade login`",
            ),
            (
                401,
                "",
                "not signed in (or the session expired): run `kanade login`",
            ),
            (
                401,
                r#"{"error":{"code":"invalid_credentials","message":"wrong user name or password"}}"#,
                "wrong user name or password (HTTP 401)",
            ),
            (
                403,
                r#"{"error":{"code":"password_change_required","message":"change it"}}"#,
                "your password must be changed before anything else: run `kanade account passwd`",
            ),
            (
                409,
                r#"{"error":{"code":"conflict","message":"`admin` is the last enabled admin"}}"#,
                "`admin` is the last enabled admin (HTTP 409)",
            ),
            (
                404,
                r#"{"error":{"code":"not_found","message":"job `x` not found"}}"#,
                "job `x` not found (HTTP 404)",
            ),
            (
                422,
                r#"{"error":{"code":"invalid","message":"must be 1s or more","field":"execute.timeout"}}"#,
                "execute.timeout: must be 1s or more (HTTP 422)",
            ),
            (
                422,
                r#"{"error":{"code":"invalid","message":"id: bad","field":"id"}}"#,
                "id: bad (HTTP 422)",
            ),
            (
                502,
                "Bad Gateway",
                "the backend answered HTTP 502 Bad Gateway: Bad Gateway",
            ),
        ];
        for (status, body, want) in cases {
            assert_eq!(api_error(status, body), want);
        }
    }

    #[test]
    fn ids_are_escaped_into_one_path_segment() {
        let client = ApiClient::new("http://127.0.0.1:8080/prefix/", None).unwrap();
        assert_eq!(
            client.url(&["api", "jobs", "a/b c"]).as_str(),
            "http://127.0.0.1:8080/prefix/api/jobs/a%2Fb%20c"
        );
        let client = ApiClient::new("http://127.0.0.1:8080", None).unwrap();
        assert_eq!(
            client.url(&["health"]).as_str(),
            "http://127.0.0.1:8080/health"
        );
    }

    #[test]
    fn unusable_base_urls_are_bad_input() {
        for bad in ["127.0.0.1:8080", "ftp://x", "not a url"] {
            let err = ApiClient::new(bad, None).unwrap_err();
            assert!(err.is_bad_input(), "{bad}: {err}");
        }
    }
}
