//! `GET /api/openapi.json`: the OpenAPI 3.1 document of every route, generated from the
//! handlers' `#[utoipa::path]` attributes and the protocol types, then completed here with what
//! every route shares: bearer auth, the error body and the error statuses.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, ResponseBuilder};
use utoipa::{OpenApi as _, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::state::AppState;

/// The name of the security scheme in the document.
pub const BEARER: &str = "bearer";

#[derive(utoipa::OpenApi)]
#[openapi(
    info(
        title = "kanade",
        description = "Endpoint management: jobs, executions, results, machines, schedules. \
            Sign in with `POST /api/auth/login` and send the token as `Authorization: Bearer <token>`. \
            Every error answers `{\"error\": {\"code\", \"message\", \"field\"?}}`.",
    ),
    components(schemas(kanade_protocol::api::ErrorBody)),
    security(("bearer" = [])),
)]
struct ApiDoc;

pub(crate) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(openapi_json))
}

/// The routes of the API with their document, before the shared parts are added.
pub(crate) fn base() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
}

/// The finished document, built once.
pub fn document() -> &'static OpenApi {
    static DOC: LazyLock<OpenApi> = LazyLock::new(|| {
        let mut doc = super::routes().into_openapi();
        complete(&mut doc);
        doc
    });
    &DOC
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document of this API", content_type = "application/json")),
)]
async fn openapi_json() -> impl IntoResponse {
    static TEXT: LazyLock<String> =
        LazyLock::new(|| document().to_json().unwrap_or_else(|_| "{}".to_owned()));
    ([(header::CONTENT_TYPE, "application/json")], TEXT.as_str())
}

/// Adds the security scheme, unique operation ids, tags, and the error responses each route
/// can give on top of the ones its attribute names.
fn complete(doc: &mut OpenApi) {
    // Axum's catch-all segments (`{*bundle_key}`) are plain parameters in OpenAPI.
    let wild: Vec<String> = doc
        .paths
        .paths
        .keys()
        .filter(|p| p.contains("{*"))
        .cloned()
        .collect();
    for path in wild {
        if let Some(item) = doc.paths.paths.remove(&path) {
            doc.paths.paths.insert(path.replace("{*", "{"), item);
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        BEARER,
        SecurityScheme::Http(
            HttpBuilder::new()
                .scheme(HttpAuthScheme::Bearer)
                .bearer_format("JWT")
                .description(Some(
                    "A session token from POST /api/auth/login, or the static service token",
                ))
                .build(),
        ),
    );
    let mut ids = BTreeSet::new();
    for (path, item) in doc.paths.paths.iter_mut() {
        for (method, op) in operations(item) {
            let id = format!("{method}{}", path.replace(['/', '{', '}', '-', '.'], "_"));
            let id = id.trim_end_matches('_').replace("__", "_");
            assert!(ids.insert(id.clone()), "duplicate operation id {id}");
            op.operation_id = Some(id);
            let tag = path
                .trim_start_matches("/api/")
                .trim_start_matches('/')
                .split(['/', '.'])
                .next()
                .unwrap_or("api")
                .to_owned();
            op.tags = Some(vec![tag]);
            add_errors(path, method, op);
        }
    }
}

fn operations(item: &mut PathItem) -> Vec<(&'static str, &mut Operation)> {
    [
        ("get", item.get.as_mut()),
        ("put", item.put.as_mut()),
        ("post", item.post.as_mut()),
        ("delete", item.delete.as_mut()),
        ("patch", item.patch.as_mut()),
        ("head", item.head.as_mut()),
    ]
    .into_iter()
    .filter_map(|(m, op)| op.map(|op| (m, op)))
    .collect()
}

fn add_errors(path: &str, method: &str, op: &mut Operation) {
    // `security(())` on the attribute marks a public route; the rest need the bearer token.
    let public = op
        .security
        .as_ref()
        .is_some_and(|s| s.iter().all(|r| r == &SecurityRequirement::default()));
    let has_path_params = path.contains('{');
    let has_input = op.parameters.as_ref().is_some_and(|p| !p.is_empty())
        || op.request_body.is_some()
        || matches!(method, "post" | "put" | "patch");
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if has_input {
        wanted.push((
            "400",
            "Malformed input: the message and `field` say what is wrong",
        ));
    }
    if !public {
        wanted.push(("401", "Not signed in, or the token is invalid or expired"));
        wanted.push((
            "403",
            "The caller's role is too low, or the password must be changed first",
        ));
    }
    if has_path_params {
        wanted.push(("404", "No such resource"));
    }
    if op.request_body.is_some() {
        wanted.push(("413", "The request body is too large"));
    }
    if path != "/api/openapi.json" && path != "/api/version" {
        wanted.push(("500", "A server fault; details are in the server log"));
        wanted.push(("503", "The broker or the database is unavailable"));
    }
    for (status, description) in wanted {
        if op.responses.responses.contains_key(status) {
            continue;
        }
        op.responses
            .responses
            .insert(status.to_owned(), error_response(description).into());
    }
}

fn error_response(description: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(
                    kanade_protocol::api::ErrorBody::name(),
                )))
                .build(),
        )
        .build()
}
