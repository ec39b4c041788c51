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
