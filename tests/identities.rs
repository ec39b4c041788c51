//! Protocol 1.1, parts 2 and 3, against a real server: nobody speaks as
//! someone else (through `hello` or the form, online, offline, during a
//! reconnect), look-alike names are one name, a browser proves its identity
//! with a cookie scripts cannot read, and a resent message is posted once,
//! even when the connection is cut between send and echo, and across a
//! restart.

mod common;

use chat::Config;
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

/// A `hello` on a new connection: the client and its answer.
async fn hello(server: &TestServer, frame: Value) -> (Client, Value) {
    let mut c = server.client().await;
    c.send(frame).await;
    let answer = c.recv().await;
    (c, answer)
}

/// The `chat_id=…` pair of a `Set-Cookie` list.
fn identity_cookie(set_cookies: &[String]) -> Option<String> {
    set_cookies
        .iter()
        .find(|c| c.starts_with("chat_id="))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

#[tokio::test]
async fn no_one_takes_a_name_online_offline_or_during_a_reconnect_and_look_alikes_are_the_same_name(
) {
    let server = TestServer::start(fast()).await;
    let (mut ada, welcome) = server.user("Ada").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    // Someone in her room, to hear when she is gone.
    let mut eve = server.member("eve", "general").await;
    ada.join("general").await;
    let attempts = [
        ("Ada", "name_taken"),
        ("ADA", "name_taken"),
        ("\u{410}da", "name_taken"), // Cyrillic А
        ("Ad\u{430}", "name_taken"), // Cyrillic а
        ("Ada\u{200B}", "bad_name"), // zero-width space
        ("\u{202E}adA", "bad_name"), // right-to-left override
        ("\u{3164}", "bad_name"),    // Hangul filler: looks blank
        ("Ada\u{2060}", "bad_name"), // word joiner
    ];
    let try_all = |stage: &'static str| {
        let server = &server;
        async move {
            for (name, code) in attempts {
                let (_, answer) = hello(server, json!({"type": "hello", "name": name})).await;
                assert_eq!(answer["code"], code, "{stage}: {name:?} → {answer}");
            }
        }
    };
    try_all("online").await;
    // Her connection drops: while her browser waits out its backoff, the
    // name is still hers.
    if !common::on_live() {
        ada.ws().close(None).await.unwrap();
    }
    drop(ada);
    eve.sees_leave("general", "Ada").await;
    try_all("offline").await;
    let (_, back) = hello(
        &server,
        json!({"type": "hello", "name": "Ada", "token": token}),
    )
    .await;
    assert_eq!(back["user"], welcome["user"]);
    server.stop().await;
}

#[tokio::test]
async fn a_name_owned_by_another_identity_is_refused_through_the_form_too() {
    let server = TestServer::start(fast()).await;
    let (mut ada, _) = server.user("Ada").await;
    let mut eve = server.member("eve", "general").await;
    ada.join("general").await;
    let post = |name: &'static str, cookie: Option<String>| {
        let server = &server;
        async move {
            let body = format!("name={name}&text=hello&room=general");
            let mut request = format!(
                "POST / HTTP/1.1\r\nHost: {}\r\nSec-Fetch-Site: same-origin\r\nContent-Type: application/x-www-form-urlencoded\r\n\
                 Content-Length: {}\r\nConnection: close\r\n",
                server.addr,
                body.len()
            );
            if let Some(cookie) = cookie {
                request.push_str(&format!("Cookie: {cookie}\r\n"));
            }
            request.push_str("\r\n");
            request.push_str(&body);
            raw_http(server.addr, &request).await
        }
    };
    let online = post("ada", None).await;
    assert!(
        online.starts_with("HTTP/1.1 422") && online.contains("is in use"),
        "{online}"
    );
    drop(ada);
    eve.sees_leave("general", "Ada").await;
    let offline = post("%D0%90da", None).await; // Cyrillic А
    assert!(
        offline.starts_with("HTTP/1.1 422") && offline.contains("is in use"),
        "{offline}"
    );
    // A free name: posted, and the answer sets the identity cookie.
    let grace = post("Grace", None).await;
    assert!(grace.starts_with("HTTP/1.1 303"), "{grace}");
    let set = grace
        .lines()
        .filter_map(|l| l.strip_prefix("set-cookie: "))
        .map(str::to_owned)
        .collect::<Vec<_>>();
    let cookie = identity_cookie(&set).expect("an identity cookie");
    assert!(set.iter().any(|c| c.starts_with("chat_id=")
        && c.contains("HttpOnly")
        && c.contains("SameSite=Lax")));
    // Without it, Grace is someone else's name; with it, the JS client is Grace.
    assert!(post("grace", None).await.starts_with("HTTP/1.1 422"));
    let (mut js, _) = Client::connect_with(server.addr, &[("Cookie", &cookie)]).await;
    js.send(json!({"type": "hello", "name": "Grace"})).await;
    let welcome = js.recv_type("welcome").await;
    assert_eq!(
        welcome["token"], "",
        "the cookie proves it: no token for scripts"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_browser_keeps_its_identity_by_the_cookie_set_on_the_upgrade() {
    let server = TestServer::start(fast()).await;
    let (mut first, set) = Client::connect_with(server.addr, &[]).await;
    let cookie = identity_cookie(&set).expect("the upgrade sets an identity cookie");
    first.send(json!({"type": "hello", "name": "Zoë"})).await;
    let w1 = first.recv_type("welcome").await;
    // This upgrade carried no cookie: the client may not keep cookies, so
    // the token is shown once, and it is the cookie's.
    assert_eq!(format!("chat_id={}", w1["token"].as_str().unwrap()), cookie);
    let (mut second, set) = Client::connect_with(server.addr, &[("Cookie", &cookie)]).await;
    assert!(
        identity_cookie(&set).is_none(),
        "a cookie that came is not replaced"
    );
    second.send(json!({"type": "hello", "name": "Zoë"})).await;
    let w2 = second.recv_type("welcome").await;
    assert_eq!((&w2["user"], &w2["token"]), (&w1["user"], &json!("")));
    assert_eq!(
        first.closed().await.0,
        4000,
        "the older connection is replaced"
    );
    // A forged cookie is just another browser: the name stays Zoë's.
    let forged = "chat_id=00000000000000000000000000000000";
    let (mut other, _) = Client::connect_with(server.addr, &[("Cookie", forged)]).await;
    other
        .expect_error(json!({"type": "hello", "name": "zoe\u{308}"}), "name_taken")
        .await;
    server.stop().await;
}

/// Sends `text` with `nonce` on a bare socket, waits until `witness` sees
/// it stored, and cuts the TCP connection without reading the echo.
async fn send_then_cut(server: &TestServer, token: &str, witness: &mut Client, nonce: &str) -> u64 {
    let mut raw = RawClient::connect(server.addr).await;
    raw.send(json!({"type": "hello", "name": "ada", "token": token}))
        .await;
    raw.send(json!({"type": "join", "room": "general"})).await;
    raw.send(json!({"type": "send", "room": "general", "text": "exactly once", "nonce": nonce}))
        .await;
    let m = witness.recv_type("message").await;
    assert_eq!(
        (m["text"].as_str(), m["nonce"].as_str()),
        (Some("exactly once"), Some(nonce))
    );
    drop(raw);
    m["id"].as_u64().unwrap()
}

/// A reconnect with `token` that resends `nonce`: the message it gets back.
async fn resend(server: &TestServer, token: &str, nonce: &str) -> Value {
    let (mut ada, _) = hello(
        server,
        json!({"type": "hello", "name": "ada", "token": token}),
    )
    .await;
    ada.join("general").await;
    ada.send(json!({"type": "send", "room": "general", "text": "exactly once", "nonce": nonce}))
        .await;
    ada.recv_type("message").await
}

#[tokio::test]
async fn a_send_cut_off_before_its_echo_and_resent_is_posted_once_also_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(fast(), dir.path()).await;
    let (_, welcome) = server.user("ada").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    let mut bob = server.member("bob", "general").await;
    let id = send_then_cut(&server, &token, &mut bob, "n-1").await;
    let again = resend(&server, &token, "n-1").await;
    assert_eq!(
        (again["id"].as_u64(), again["nonce"].as_str()),
        (Some(id), Some("n-1"))
    );
    // The repeat went to ada alone: bob sees presence, no second message.
    while let Ok(frame) = tokio::time::timeout(Duration::from_millis(300), bob.recv()).await {
        assert_ne!(frame["type"], "message", "{frame}");
    }

    let id2 = send_then_cut(&server, &token, &mut bob, "n-2").await;
    server.stop().await;
    let server = TestServer::start_in(fast(), dir.path()).await;
    let again = resend(&server, &token, "n-2").await;
    assert_eq!(again["id"].as_u64(), Some(id2));
    let (mut reader, _) = server.user("reader").await;
    let joined = reader.join("general").await;
    let texts: Vec<&str> = joined["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["nonce"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["n-1", "n-2"], "each message stored once");
    server.stop().await;
}

#[tokio::test]
async fn a_nonce_of_128_characters_is_kept_and_one_of_129_is_a_bad_request() {
    let server = TestServer::start(Config::default()).await;
    let mut ada = server.member("ada", "general").await;
    let ok = "x".repeat(128);
    ada.send(json!({"type": "send", "room": "general", "text": "a", "nonce": ok}))
        .await;
    assert_eq!(ada.recv_type("message").await["nonce"], json!(ok));
    let long = "x".repeat(129);
    let e = ada
        .error(json!({"type": "send", "room": "general", "text": "b", "nonce": long}))
        .await;
    assert_eq!(e["code"], "bad_request");
    assert!(e["message"].as_str().unwrap().contains("128"));
    server.stop().await;
}
