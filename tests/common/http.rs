//! Requests through a test server's router, as hyper hands them over.

use super::{Client, TestServer, WAIT};
use axum::body::Body;
use axum::http::Request;
use serde_json::{json, Value};
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

/// Signs up `name` (a new identity); the session's `Cookie` header.
pub async fn signed_up(server: &TestServer, name: &str) -> String {
    let made = form(
        server,
        "/signup",
        &[("name", name), ("password", PASSWORD)],
        "",
    )
    .await;
    assert_eq!(made.status, 303, "{}", made.body);
    format!("chat_session={}", made.set_cookie("chat_session").unwrap())
}

/// Makes a token on the account page; the token.
pub async fn token(server: &TestServer, cookie: &str, label: &str, rooms: &str) -> String {
    let made = form(
        server,
        "/account/tokens",
        &[("label", label), ("rooms", rooms)],
        cookie,
    )
    .await;
    assert_eq!(made.status, 200, "{}", made.body);
    let start = made
        .body
        .find("value=\"chat_")
        .expect("the new token shown")
        + 7;
    made.body[start..start + 69].to_owned()
}

/// `POST /api/v1/rooms/{room}/messages` with `token` (none when empty).
pub async fn api_post(
    server: &TestServer,
    room: &str,
    token: &str,
    body: Value,
) -> (u16, Value, Response) {
    let auth = format!("Bearer {token}");
    let mut headers = vec![("Content-Type", "application/json")];
    if !token.is_empty() {
        headers.push(("Authorization", auth.as_str()));
    }
    let path = format!("/api/v1/rooms/{room}/messages");
    let answer = http(server, "POST", &path, &headers, &body.to_string()).await;
    let json = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
    (answer.status, json, answer)
}

/// A WebSocket with `cookie` that said hello (`name`: none when empty);
/// returns it and its `welcome` (or the refusal).
pub async fn hello_with(server: &TestServer, cookie: &str, name: &str) -> (Client, Value) {
    let (mut c, _) = Client::connect_with(server.addr, &[("Cookie", cookie)]).await;
    let hello = match name {
        "" => json!({"type": "hello"}),
        name => json!({"type": "hello", "name": name}),
    };
    c.send(hello).await;
    let answer = c.recv().await;
    (c, answer)
}
