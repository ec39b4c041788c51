//! Who may talk to the server: the `Host` a request names (every route) and
//! the `Origin` of a browser's upgrade or form post.
//!
//! The `Host` check stops DNS rebinding: a page on `evil.test` whose name
//! is made to resolve to this server is same-origin with itself, so its
//! `Origin` check passes, but its requests say `Host: evil.test`. Names are
//! therefore allowed only when configured (`CHAT_ALLOWED_HOSTS`, and the
//! hosts of `CHAT_ALLOWED_ORIGINS`); `localhost` and IP literals are always
//! allowed, since a rebinding page cannot make a browser send those.

use super::config::Config;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::net::IpAddr;
use std::sync::Arc;

/// The host of a `Host` value or an origin's authority, without port,
/// brackets or trailing dot, lowercased.
fn host_part(authority: &str) -> String {
    let authority = authority.trim().to_ascii_lowercase();
    let host = match authority.strip_prefix('[') {
        // `[::1]:3000`: up to the bracket.
        Some(v6) => v6.split(']').next().unwrap_or_default(),
        None => match authority.rsplit_once(':') {
            Some((host, port)) if port.bytes().all(|b| b.is_ascii_digit()) => host,
            _ => authority.as_str(),
        },
    };
    host.trim_end_matches('.').to_owned()
}

/// True when a request naming `host` (a `Host` header value) is served.
pub(crate) fn host_allowed(host: &str, config: &Config) -> bool {
    let name = host_part(host);
    if name == "localhost" || name.parse::<IpAddr>().is_ok() {
        return true;
    }
    let listed = |entry: &str| entry == "*" || host_part(entry) == name;
    config.allowed_hosts.iter().any(|h| listed(h))
        || config
            .allowed_origins
            .iter()
            .filter_map(|o| o.split_once("://").map(|(_, authority)| authority))
            .any(listed)
}

/// Middleware over every route: a request whose `Host` (or, in HTTP/2, its
/// authority) is not allowed gets 421 and nothing else. Requests naming no
/// host at all (HTTP/1.0 tools) are served: browsers always name one.
pub(crate) async fn check_host(
    State(config): State<Arc<Config>>,
    request: Request,
    next: Next,
) -> Response {
    let host = request
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| request.uri().authority().map(|a| a.as_str()));
    match host {
        Some(host) if !host_allowed(host, &config) => {
            tracing::debug!(host, "refused request for a host not allowed");
            metrics::counter!(super::stats::REFUSED_HOSTS).increment(1);
            (
                StatusCode::MISDIRECTED_REQUEST,
                "this server does not answer for that host name (see CHAT_ALLOWED_HOSTS)",
            )
                .into_response()
        }
        _ => next.run(request).await,
    }
}

/// True when the upgrade or form post may go ahead: no `Origin` (non-browser
/// clients), the server's own origin (its scheme, `https` under TLS, + `Host`), or one of the
/// configured origins.
pub(crate) fn origin_allowed(headers: &HeaderMap, config: &Config) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    let own = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(|host| format!("{}://{}", config.scheme(), host.to_ascii_lowercase()));
    own.as_deref() == Some(origin.as_str()) || config.allowed_origins.contains(&origin)
}

/// True when a state-changing HTTP request (a form post) comes from the
/// chat's own pages: its `Origin` is allowed (see [`origin_allowed`]), or,
/// without one, the browser says `Sec-Fetch-Site: same-origin`. A request
/// that says neither is refused: a cross-site form post from a page that
/// strips `Origin` cannot act for the visitor.
pub(crate) fn same_origin_request(headers: &HeaderMap, config: &Config) -> bool {
    if headers.contains_key(header::ORIGIN) {
        return origin_allowed(headers, config);
    }
    headers
        .get("sec-fetch-site")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"same-origin"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(origin: Option<&str>, host: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_str(host).unwrap());
        if let Some(o) = origin {
            h.insert(header::ORIGIN, HeaderValue::from_str(o).unwrap());
        }
        h
    }

    #[test]
    fn origin_rules() {
        let mut config = Config::default();
        assert!(origin_allowed(&headers(None, "a:1"), &config));
        assert!(origin_allowed(&headers(Some("http://a:1"), "a:1"), &config));
        assert!(origin_allowed(
            &headers(Some("HTTP://A:1/"), "a:1"),
            &config
        ));
        for foreign in ["http://evil", "https://a:1", "null"] {
            assert!(!origin_allowed(&headers(Some(foreign), "a:1"), &config));
        }
        config.allowed_origins = vec!["https://chat.example".into()];
        assert!(origin_allowed(
            &headers(Some("https://chat.example"), "a:1"),
            &config
        ));
    }

    #[test]
    fn a_form_post_needs_its_own_origin_or_a_same_origin_fetch_site() {
        let config = Config::default();
        let with_site = |origin: Option<&str>, site: &str| {
            let mut h = headers(origin, "a:1");
            h.insert("sec-fetch-site", HeaderValue::from_str(site).unwrap());
            h
        };
        assert!(same_origin_request(
            &headers(Some("http://a:1"), "a:1"),
            &config
        ));
        assert!(
            !same_origin_request(&headers(None, "a:1"), &config),
            "neither"
        );
        assert!(same_origin_request(
            &with_site(None, "same-origin"),
            &config
        ));
        for site in ["cross-site", "same-site", "none"] {
            assert!(
                !same_origin_request(&with_site(None, site), &config),
                "{site}"
            );
        }
        let foreign = with_site(Some("http://evil"), "same-origin");
        assert!(
            !same_origin_request(&foreign, &config),
            "a foreign Origin wins"
        );
    }

    #[test]
    fn localhost_and_ip_literals_are_always_served_names_only_when_listed() {
        let mut config = Config::default();
        for ok in [
            "localhost",
            "LOCALHOST:3000",
            "localhost.",
            "127.0.0.1:3000",
            "10.1.2.3",
            "[::1]:3000",
            "[fe80::1]",
        ] {
            assert!(host_allowed(ok, &config), "{ok}");
        }
        for refused in [
            "evil.test",
            "evil.test:3000",
            "localhost.evil.test",
            "127.0.0.1.evil",
        ] {
            assert!(!host_allowed(refused, &config), "{refused}");
        }
        config.allowed_hosts = vec!["chat.example.org".into()];
        config.allowed_origins = vec!["https://other.example:8443".into()];
        assert!(host_allowed("Chat.Example.org:443", &config));
        assert!(host_allowed("other.example:8443", &config));
        assert!(!host_allowed("evil.test", &config));
        config.allowed_hosts = vec!["*".into()];
        assert!(host_allowed("evil.test", &config));
    }
}
