//! Requests through a test server's router, as hyper hands them over.

use super::{TestServer, WAIT};
use axum::body::Body;
use axum::http::Request;
use tower::ServiceExt;

/// A response: status, headers (lower-cased names), body.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    /// The identity cookie this response sets, as a `Cookie` header value.
    pub fn identity_cookie(&self) -> Option<String> {
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix("chat_id="))
            .map(|v| format!("chat_id={}", v.split(';').next().unwrap()))
    }

    /// The value cookie `name` is set to (`None`: not set).
    pub fn set_cookie(&self, name: &str) -> Option<String> {
        let prefix = format!("{name}=");
        self.headers
            .iter()
            .filter(|(n, _)| n == "set-cookie")
            .find_map(|(_, v)| v.strip_prefix(prefix.as_str()))
            .map(|v| v.split(';').next().unwrap().to_owned())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One request through the server's router (`tower::ServiceExt::oneshot`),
/// as hyper would hand it over: no socket, the same hub as the WebSockets.
pub async fn http(
    server: &TestServer,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Response {
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", server.addr.to_string());
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::from(body.to_owned())).unwrap();
    let response = tokio::time::timeout(WAIT, server.router.clone().oneshot(request))
        .await
        .expect("response in time")
        .unwrap();
    let status = response.status().as_u16();
    let headers = response
        .headers()
        .iter()
        .map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap().to_owned()))
        .collect();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    Response {
        status,
        headers,
        body: String::from_utf8(body.to_vec()).unwrap(),
    }
}

/// *1.2*: a password zxcvbn scores as safe.
pub const PASSWORD: &str = "vexed quartz jumps fog";

/// *1.2*: a server configuration for account tests: a cheap hash (its
/// cost is measured in `make bench`, not in timed tests) and no limits
/// that the tests do not mean to reach.
pub fn accounts_config() -> chat::Config {
    chat::Config {
        password_memory_kib: 64,
        ..super::fast()
    }
}

/// A form posted as the chat's own page posts it (`Sec-Fetch-Site:
/// same-origin`), with the `Cookie` header `cookie` (none when empty).
pub async fn form(
    server: &TestServer,
    path: &str,
    fields: &[(&str, &str)],
    cookie: &str,
) -> Response {
    let body = serde_urlencoded::to_string(fields).unwrap();
    let mut headers = vec![
        ("Content-Type", "application/x-www-form-urlencoded"),
        ("Sec-Fetch-Site", "same-origin"),
    ];
    if !cookie.is_empty() {
        headers.push(("Cookie", cookie));
    }
    http(server, "POST", path, &headers, &body).await
}

/// The `Cookie` header of the session `response` set (panics without one).
pub fn session_cookie(response: &Response) -> String {
    let id = response
        .set_cookie("chat_session")
        .unwrap_or_else(|| panic!("a session cookie: {:?}", response.headers));
    assert_eq!(id.len(), 64, "256 bits in hex");
    format!("chat_session={id}")
}
