//! The embedded dashboard: files, client-side routes falling back to index.html, the "not
//! built" page, and unknown API paths keeping their JSON 404.

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use kanade_backend::web::{self, MemoryAssets};
use kanade_protocol::api::ErrorBody;

use crate::support::TestBackend;

const INDEX: &str =
    "<!doctype html><title>kanade</title><script src=\"/assets/index-Ab12.js\"></script>";

fn built() -> MemoryAssets {
    MemoryAssets::default()
        .with("index.html", INDEX)
        .with("assets/index-Ab12.js", "console.log('kanade')")
        .with("favicon.svg", "<svg/>")
}

async fn body(resp: Response) -> String {
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn header_of(resp: &Response, name: header::HeaderName) -> &str {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

#[tokio::test]
async fn index_is_served_at_the_root_and_at_client_routes() {
    let assets = built();
    for path in ["/", "/agents/x", "/jobs/hello/edit", "/executions"] {
        let resp = web::respond(&assets, path, &HeaderMap::new());
        assert_eq!(resp.status(), StatusCode::OK, "{path}");
        assert_eq!(
            header_of(&resp, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        assert_eq!(header_of(&resp, header::CACHE_CONTROL), "no-cache");
        assert!(header_of(&resp, header::CONTENT_SECURITY_POLICY).contains("script-src 'self'"));
        assert_eq!(body(resp).await, INDEX, "{path}");
    }
}

#[tokio::test]
async fn hashed_assets_are_cached_forever_and_revalidated_by_etag() {
    let assets = built();
    let resp = web::respond(&assets, "/assets/index-Ab12.js", &HeaderMap::new());
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(
        header_of(&resp, header::CONTENT_TYPE),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        header_of(&resp, header::CACHE_CONTROL),
        "public, max-age=31536000, immutable"
    );
    let etag = header_of(&resp, header::ETAG).to_owned();
    assert!(etag.starts_with('"'), "{etag}");
    assert_eq!(body(resp).await, "console.log('kanade')");

    let mut conditional = HeaderMap::new();
    conditional.insert(header::IF_NONE_MATCH, HeaderValue::from_str(&etag).unwrap());
    let resp = web::respond(&assets, "/assets/index-Ab12.js", &conditional);
    assert_eq!(resp.status(), StatusCode::NOT_MODIFIED);

    let resp = web::respond(&assets, "/favicon.svg", &HeaderMap::new());
    assert_eq!(header_of(&resp, header::CONTENT_TYPE), "image/svg+xml");
    assert_eq!(header_of(&resp, header::CACHE_CONTROL), "no-cache");

    // A stale hashed name is a 404, not index.html served as JavaScript.
    let resp = web::respond(&assets, "/assets/index-Old9.js", &HeaderMap::new());
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // Traversal never reaches the lookup.
    let resp = web::respond(&assets, "/assets/../index.html", &HeaderMap::new());
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_page_says_how_to_build_when_the_assets_are_missing() {
    let none = MemoryAssets::default();
    for path in ["/", "/agents/x"] {
        let resp = web::respond(&none, path, &HeaderMap::new());
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(
            header_of(&resp, header::CONTENT_TYPE),
            "text/html; charset=utf-8"
        );
        let text = body(resp).await;
        assert!(
            text.contains("cd web &amp;&amp; npm ci &amp;&amp; npm run build"),
            "{text}"
        );
        assert!(text.contains("./scripts/up"));
    }
}

/// Through the real router: whatever `web/dist` holds (a build or nothing), `/` and client
/// routes are HTML, while unknown API paths stay JSON 404s for every method.
#[tokio::test]
async fn the_router_falls_back_to_the_dashboard_only_outside_the_api() {
    let b = TestBackend::start().await;
    let root = b.anon.get(b.url("/")).send().await.unwrap();
    assert_eq!(root.status(), reqwest::StatusCode::OK);
    assert!(
        root.headers()[reqwest::header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let root = root.text().await.unwrap();
    let client_route = b.anon.get(b.url("/agents/x")).send().await.unwrap();
    assert_eq!(client_route.status(), reqwest::StatusCode::OK);
    assert_eq!(client_route.text().await.unwrap(), root);

    for resp in [
        b.anon.get(b.url("/api/nope")).send().await.unwrap(),
        b.http.get(b.url("/api/nope")).send().await.unwrap(),
        b.http.post(b.url("/api/nope")).send().await.unwrap(),
        b.anon.get(b.url("/health/nope")).send().await.unwrap(),
        b.anon.post(b.url("/agents/x")).send().await.unwrap(),
    ] {
        assert_eq!(resp.status(), reqwest::StatusCode::NOT_FOUND);
        let err: ErrorBody = resp.json().await.unwrap();
        assert_eq!(err.error.code, "not_found");
    }
    // The API itself is untouched.
    let health = b.anon.get(b.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
}
