//! Response headers: what every answer says about itself (tower-http's
//! `SetResponseHeaderLayer`), the page's Content-Security-Policy with the
//! render's nonce, compression of the page, and caching.
//!
//! The page's scripts are the hydration loader and leptos's data scripts,
//! all inline and all carrying the nonce leptos_axum makes for each render
//! ([`leptos::nonce::use_nonce`]); the CSP allows exactly those, the site's
//! own files, WebAssembly compilation (`'wasm-unsafe-eval'`), and WebSocket
//! and fetch connections to the site itself. The bundle (JS, WASM, CSS) is
//! precompressed at build time (`cargo leptos build --precompress`) and
//! served as `.br` or `.gz`; the page, rendered per request, is compressed
//! on the fly at the fastest level. The bundle's names carry a hash of
//! their content (cargo-leptos `hash-files`), so they are cached for a year.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use leptos::prelude::use_context;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::set_header::SetResponseHeaderLayer;

/// The page's policy for a render with `nonce`.
fn page_csp(nonce: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
         style-src 'self'; img-src 'self' data:; connect-src 'self'; object-src 'none'; \
         base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
}

/// *1.2*: the policy of the account pages: the site's stylesheet and
/// images, forms posted to the site itself, no script at all.
pub(crate) const FORM_PAGE_CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; \
     form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The policy of every other answer (files, errors, refusals): nothing runs
/// from them and nobody frames them.
const DEFAULT_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Inside a page render (and the not-found page's): the CSP with this
/// render's nonce, and `Cache-Control: private, no-cache` (the page holds
/// the visitor's name and form).
pub(crate) fn page_headers() {
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    if let Some(nonce) = leptos::nonce::use_nonce() {
        if let Ok(csp) = HeaderValue::from_str(&page_csp(&nonce)) {
            response.insert_header(header::CONTENT_SECURITY_POLICY, csp);
        }
    }
    response.insert_header(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, no-cache"),
    );
}

/// The page routes, compressed (gzip or brotli, as the browser asks).
pub(crate) fn compressed(pages: Router) -> Router {
    pages.layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
}

/// Static files: those whose name carries a content hash
/// (`chat.<hash>.wasm`) are cached for a year and never revalidated; the
/// others (the favicon, an unhashed build) are revalidated on each use
/// (`Last-Modified` makes it a 304).
pub(crate) fn cached(files: Router) -> Router {
    files.layer(axum::middleware::from_fn(cache_by_name))
}

/// Sets `Cache-Control` on a static file's answer by its name.
async fn cache_by_name(request: Request, next: Next) -> Response {
    let hashed = is_hashed(request.uri().path());
    let mut response = next.run(request).await;
    if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
        let value = if hashed {
            "public, max-age=31536000, immutable"
        } else {
            "no-cache"
        };
        response
            .headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static(value));
    }
    response
}

/// True for a file name with a cargo-leptos content hash: `name.<hash>.ext`,
/// the hash 22 URL-safe base64 characters (an MD5).
fn is_hashed(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or_default();
    let mut parts = name.rsplit('.');
    let (_ext, hash) = (parts.next(), parts.next());
    parts.next().is_some()
        && hash.is_some_and(|h| {
            h.len() == 22
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

/// `Strict-Transport-Security` under HTTPS: a year.
pub(crate) const HSTS: &str = "max-age=31536000";

/// What every answer carries, unless it set its own. `Referrer-Policy:
/// same-origin`, not `no-referrer`: under `no-referrer` browsers send
/// `Origin: null` with the page's own form posts (Fetch, "serializing a
/// request origin"), which the origin check must refuse.
///
/// Under HTTPS (`CHAT_TLS_CERT`, or `CHAT_SECURE_COOKIES` behind a TLS
/// proxy) also `Strict-Transport-Security` for a year: a browser that has
/// been here once never talks plain HTTP to this host again, where its
/// cookie could be read or planted.
pub(crate) fn secured(app: Router, https: bool) -> Router {
    let set = |name, value: &'static str| {
        SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
    };
    let app = match https {
        true => app.layer(set(header::STRICT_TRANSPORT_SECURITY, HSTS)),
        false => app,
    };
    app.layer(set(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(set(header::REFERRER_POLICY, "same-origin"))
        .layer(set(header::X_FRAME_OPTIONS, "DENY"))
        .layer(set(header::CONTENT_SECURITY_POLICY, DEFAULT_CSP))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_policy_allows_only_its_nonce_its_own_files_and_wasm() {
        let csp = page_csp("abc");
        assert!(csp.contains("script-src 'self' 'nonce-abc' 'wasm-unsafe-eval';"));
        assert!(!csp.contains("unsafe-inline"));
        assert!(csp.contains("frame-ancestors 'none'"));
    }

    #[test]
    fn only_content_hashed_names_are_cached_for_long() {
        assert!(is_hashed("/pkg/chat.Yk3qVb0Xc9_-aZ1234567w.wasm"));
        assert!(is_hashed("/pkg/chat.Yk3qVb0Xc9_-aZ1234567w.css"));
        for plain in [
            "/pkg/chat.wasm",
            "/favicon.svg",
            "/pkg/chat.short.js",
            "/x.Yk3qVb0Xc9_-aZ1234567w",
        ] {
            assert!(!is_hashed(plain), "{plain}");
        }
    }
}
