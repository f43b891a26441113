//! The dashboard: the React app of `web/`, built by Vite into `web/dist` and embedded into this
//! binary with rust-embed (release builds carry the files; debug builds read `web/dist` from
//! disk at run time, so a rebuilt front end shows up without recompiling).
//!
//! It is the router's fallback: every GET that no API route claims is a file of the app, or
//! else a client-side route, answered with `index.html`. Paths under `/api/`, `/health` and
//! `/metrics` keep the API's JSON 404. When the app was never built (the Rust build never needs
//! Node), a short page says how to build it.

use std::borrow::Cow;
use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The files of `web/dist`. `allow_missing` lets the crate compile when the folder is absent
/// (build.rs also creates it empty); an empty folder means "not built".
#[derive(rust_embed::RustEmbed)]
#[folder = "../../web/dist"]
#[allow_missing = true]
struct Dist;

/// One file of the app.
pub struct Asset {
    pub bytes: Cow<'static, [u8]>,
    /// A strong validator of the content, sent as the `ETag`.
    pub etag: String,
}

/// Where the app's files come from: the embedded build, or a map in tests.
pub trait Assets: Send + Sync {
    /// The file at `path`, relative to the build folder (`index.html`, `assets/x.js`).
    fn get(&self, path: &str) -> Option<Asset>;
}

/// The files embedded at compile time (or read from `web/dist` in debug builds).
pub struct Embedded;

impl Assets for Embedded {
    fn get(&self, path: &str) -> Option<Asset> {
        let file = Dist::get(path)?;
        let etag = hex(&file.metadata.sha256_hash()[..16]);
        Some(Asset {
            bytes: file.data,
            etag,
        })
    }
}

/// Files held in memory: tests, and anything else that wants to serve a fixed set.
#[derive(Default)]
pub struct MemoryAssets(HashMap<String, Vec<u8>>);

impl MemoryAssets {
    pub fn with(mut self, path: &str, bytes: impl Into<Vec<u8>>) -> MemoryAssets {
        self.0.insert(path.to_owned(), bytes.into());
        self
    }
}

impl Assets for MemoryAssets {
    fn get(&self, path: &str) -> Option<Asset> {
        let bytes = self.0.get(path)?;
        Some(Asset {
            etag: format!("{:016x}-{}", fnv1a(bytes), bytes.len()),
            bytes: Cow::Owned(bytes.clone()),
        })
    }
}

/// Whether a path belongs to the API (and so never falls back to the app).
pub fn is_api_path(path: &str) -> bool {
    ["/api", "/health", "/metrics"].iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// The router's fallback: the API's JSON 404 for API paths and for anything but GET/HEAD,
/// the embedded dashboard for the rest.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    if is_api_path(uri.path()) || !(method == Method::GET || method == Method::HEAD) {
        return ApiError::not_found("route").into_response();
    }
    respond(&Embedded, uri.path(), &headers)
}

/// Answers GET `path` from `assets`: the file itself, `index.html` for client-side routes, a
/// 404 for a missing hashed asset, or the "not built" page when there is no `index.html`.
pub fn respond(assets: &dyn Assets, path: &str, headers: &HeaderMap) -> Response {
    let relative = path.trim_start_matches('/');
    let relative = if relative.is_empty() {
        "index.html"
    } else {
        relative
    };
    let traversal = relative
        .split('/')
        .any(|segment| segment == ".." || segment == "." || segment.contains('\\'));
    if !traversal && let Some(asset) = assets.get(relative) {
        return file_response(relative, asset, headers);
    }
    // A missing build output is a real 404: answering HTML would surface as a confusing MIME
    // error in the browser after a deploy replaced the hashed names.
    if relative.starts_with("assets/") {
        return (
            StatusCode::NOT_FOUND,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "not found\n",
        )
            .into_response();
    }
    match assets.get("index.html") {
        Some(index) => file_response("index.html", index, headers),
        None => not_built(),
    }
}

fn file_response(path: &str, asset: Asset, request: &HeaderMap) -> Response {
    let etag = format!("\"{}\"", asset.etag);
    // Vite puts content hashes in the names under assets/, so those never change.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let mut builder = Response::builder()
        .header(header::CACHE_CONTROL, cache)
        .header(header::ETAG, &etag)
        .header(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    let content_type = content_type(path);
    if content_type.starts_with("text/html") {
        builder = builder
            .header(header::CONTENT_SECURITY_POLICY, CSP)
            .header(header::REFERRER_POLICY, "same-origin");
    }
    let matches = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    let response = if matches {
        builder.status(StatusCode::NOT_MODIFIED).body(Body::empty())
    } else {
        builder
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, HeaderValue::from_static(content_type))
            .body(Body::from(asset.bytes))
    };
    response.unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// Scripts only from this origin; inline styles are allowed (the chart library sets them).
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'";

/// The content type of a file of the build, by its extension.
pub fn content_type(path: &str) -> &'static str {
    let ext = path
        .rsplit_once('.')
        .map(|(_, ext)| ext.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "webmanifest" => "application/manifest+json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "woff" => "font/woff",
        "ttf" => "font/ttf",
        "txt" => "text/plain; charset=utf-8",
        "wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// What `/` shows when the binary was built without the front end.
pub const NOT_BUILT_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>kanade: dashboard not built</title>
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:3rem auto;padding:0 1rem}
code,pre{background:#8882;padding:.1rem .3rem;border-radius:4px}pre{padding:.6rem}</style></head>
<body>
<h1>The dashboard was not built into this backend</h1>
<p>The API is running (try <a href="/health">/health</a>); only the web front end is missing.
Build it, then rebuild the backend so that it embeds <code>web/dist</code>
(a debug build reads <code>web/dist</code> from disk, so a reload is enough there):</p>
<pre>cd web &amp;&amp; npm ci &amp;&amp; npm run build
cargo build -p kanade-backend</pre>
<p>or run <code>./scripts/up</code>, which does both when Node.js is installed.</p>
</body>
</html>
"#;

fn not_built() -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        NOT_BUILT_PAGE,
    )
        .into_response()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, b| {
        (hash ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_are_recognised_by_segment() {
        for api in [
            "/api",
            "/api/",
            "/api/nope",
            "/health",
            "/metrics",
            "/metrics/x",
        ] {
            assert!(is_api_path(api), "{api}");
        }
        for app in ["/", "/agents/x", "/apis", "/healthy", "/jobs/api"] {
            assert!(!is_api_path(app), "{app}");
        }
    }

    #[test]
    fn content_types_by_extension() {
        assert_eq!(content_type("index.html"), "text/html; charset=utf-8");
        assert_eq!(
            content_type("assets/index-AbC123.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(content_type("assets/x.CSS"), "text/css; charset=utf-8");
        assert_eq!(content_type("favicon.svg"), "image/svg+xml");
        assert_eq!(content_type("LICENSE"), "application/octet-stream");
    }
}
