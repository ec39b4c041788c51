//! *1.2*: API tokens against a real server: made on the account page,
//! posting over HTTP (`POST /api/v1/rooms/{room}/messages`) and over
//! `/ws` with `Authorization: Bearer`, limited to rooms, revoked at once.

mod common;

use chat::Config;
use common::http::signed_up as account;
use common::http::{accounts_config, api_post, form, http, token};
use common::*;
use serde_json::json;

#[tokio::test]
async fn a_token_posts_over_http_once_per_nonce_with_the_protocol_codes() {
    let server = TestServer::start(accounts_config()).await;
    let cookie = account(&server, "Deploy").await;
    let token = token(&server, &cookie, "ci bot", "").await;
    assert!(token.starts_with("chat_") && token.len() == 69, "{token}");
    let page = http(
        &server,
        "GET",
        "/account",
        &[("Cookie", cookie.as_str())],
        "",
    )
    .await;
    assert!(!page.body.contains(&token), "shown once, never again");
    assert!(page.body.contains("ci bot"));
    let mut reader = server.member("reader", "general").await;
    let (status, posted, _) = api_post(
        &server,
        "general",
        &token,
        json!({"text": "deployed **v2**", "nonce": "job-1"}),
    )
    .await;
    assert_eq!(status, 201, "{posted}");
    assert_eq!(
        (posted["user"].as_str(), posted["room"].as_str()),
        (Some("Deploy"), Some("general"))
    );
    assert_eq!(posted["html"], "deployed <strong>v2</strong>");
    let live = reader.recv_type("message").await;
    assert_eq!(live["id"], posted["id"]);
    // A retry with the same nonce posts nothing new.
    let (status, again, _) = api_post(
        &server,
        "general",
        &token,
        json!({"text": "deployed **v2**", "nonce": "job-1"}),
    )
    .await;
    assert_eq!((status, again["id"].clone()), (201, posted["id"].clone()));
    // The protocol's codes.
    let (status, e, _) = api_post(&server, "general", &token, json!({"text": "   "})).await;
    assert_eq!((status, e["code"].as_str()), (400, Some("bad_text")));
    let (status, e, _) = api_post(&server, "nowhere", &token, json!({"text": "hi"})).await;
    assert_eq!((status, e["code"].as_str()), (404, Some("no_such_room")));
    let (status, e, _) = api_post(&server, "general", &token, json!({"words": "hi"})).await;
    assert_eq!((status, e["code"].as_str()), (400, Some("bad_request")));
    let (status, e, _) = api_post(&server, "general", "", json!({"text": "hi"})).await;
    assert_eq!((status, e["code"].as_str()), (401, Some("unauthorized")));
    let forged = format!("chat_{}", "ab".repeat(32));
    let (status, _, _) = api_post(&server, "general", &forged, json!({"text": "hi"})).await;
    assert_eq!(status, 401, "a token the server did not make");
    reader.quiet().await;
    server.stop().await;
}

#[tokio::test]
async fn a_token_is_rate_limited_at_its_bound_with_retry_after() {
    let server = TestServer::start(Config {
        rate_per_sec: 0.001,
        rate_burst: 2.0,
        ..accounts_config()
    })
    .await;
    let cookie = account(&server, "Bot").await;
    let token = token(&server, &cookie, "bot", "").await;
    for n in 0..2 {
        let (status, _, _) =
            api_post(&server, "general", &token, json!({"text": format!("n{n}")})).await;
        assert_eq!(status, 201, "{n}: within the burst");
    }
    let (status, e, answer) =
        api_post(&server, "general", &token, json!({"text": "one past"})).await;
    assert_eq!((status, e["code"].as_str()), (429, Some("rate_limited")));
    assert_eq!(answer.header("retry-after"), Some("1"));
    server.stop().await;
}

#[tokio::test]
async fn a_token_limited_to_rooms_posts_there_only_and_a_revoked_one_stops_at_once() {
    let server = TestServer::start(accounts_config()).await;
    let cookie = account(&server, "Ops").await;
    let token = token(&server, &cookie, "alerts", "ops, ops").await;
    let (status, e, _) = api_post(&server, "general", &token, json!({"text": "hi"})).await;
    assert_eq!((status, e["code"].as_str()), (403, Some("forbidden")));
    // Over /ws, from any origin (no cookie: the header is the proof).
    let bearer = format!("Bearer {token}");
    let headers = [
        ("Authorization", bearer.as_str()),
        ("Origin", "http://elsewhere.example"),
    ];
    let (mut bot, _) = Client::connect_with(server.addr, &headers).await;
    bot.send(json!({"type": "hello"})).await;
    let welcome = bot.recv_type("welcome").await;
    assert_eq!(
        (
            welcome["user"]["name"].as_str(),
            welcome["user"]["account"].as_bool()
        ),
        (Some("Ops"), Some(true))
    );
    bot.expect_error(json!({"type": "join", "room": "general"}), "forbidden")
        .await;
    bot.join("ops").await;
    let (status, _, _) = api_post(&server, "ops", &token, json!({"text": "disk at 90%"})).await;
    assert_eq!(status, 201);
    assert_eq!(bot.recv_type("message").await["text"], "disk at 90%");
    // And it posts over the socket, as the account.
    bot.send(json!({"type": "send", "room": "ops", "text": "over the socket"}))
        .await;
    let echoed = bot.recv_type("message").await;
    assert_eq!(
        (echoed["user"].as_str(), echoed["text"].as_str()),
        (Some("Ops"), Some("over the socket"))
    );
    // Revoked on the account page: its socket closes, its next post is 401.
    let page = http(
        &server,
        "GET",
        "/account",
        &[("Cookie", cookie.as_str())],
        "",
    )
    .await;
    let at = page.body.find("name=\"token\" value=\"").unwrap() + 20;
    let label = &page.body[at..at + 16];
    let revoked = form(
        &server,
        "/account/tokens/revoke",
        &[("token", label)],
        &cookie,
    )
    .await;
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(bot.closed().await.0, 4004);
    let (status, _, _) = api_post(&server, "ops", &token, json!({"text": "again"})).await;
    assert_eq!(status, 401);
    use tokio_tungstenite::tungstenite::{client::IntoClientRequest, Error};
    let mut request = format!("ws://{}/ws", server.addr)
        .into_client_request()
        .unwrap();
    request
        .headers_mut()
        .insert("authorization", bearer.parse().unwrap());
    let refused = tokio_tungstenite::connect_async(request).await;
    assert!(
        matches!(&refused, Err(Error::Http(r)) if r.status() == 401),
        "a revoked token opens no socket"
    );
    server.stop().await;
}

#[tokio::test]
async fn token_names_and_rooms_are_checked_at_their_bounds() {
    let server = TestServer::start(accounts_config()).await;
    let cookie = account(&server, "Ada").await;
    let make = |label: String, rooms: String| {
        let (server, cookie) = (&server, cookie.clone());
        async move {
            form(
                server,
                "/account/tokens",
                &[("label", label.as_str()), ("rooms", rooms.as_str())],
                &cookie,
            )
            .await
            .status
        }
    };
    assert_eq!(make("x".repeat(64), String::new()).await, 200);
    assert_eq!(make("x".repeat(65), String::new()).await, 422);
    assert_eq!(make(String::new(), String::new()).await, 422);
    let rooms = |n: usize| {
        (0..n)
            .map(|i| format!("r{i}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(make("twenty".into(), rooms(20)).await, 200);
    assert_eq!(make("twenty-one".into(), rooms(21)).await, 422);
    assert_eq!(make("bad room".into(), "Not A Room!".into()).await, 422);
    let cross = http(
        &server,
        "POST",
        "/account/tokens",
        &[
            ("Cookie", cookie.as_str()),
            ("Origin", "http://evil.example"),
        ],
        "label=x",
    )
    .await;
    assert_eq!(cross.status, 403);
    server.stop().await;
}
