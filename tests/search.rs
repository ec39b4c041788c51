//! `search` (*extension*): full-text search over a real server, on either
//! store (`make test` runs it on SQLite and on PostgreSQL): every room or
//! one, newest first, paged; its limits at the bound and one past it.

mod common;

use common::{fast, Client, TestServer};
use serde_json::{json, Value};
use std::time::Duration;

/// The texts of a `results` frame, in order.
fn texts(results: &Value) -> Vec<&str> {
    results["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap())
        .collect()
}

/// Sends `frame` (a `search`) and reads its `results`.
async fn search(c: &mut Client, frame: Value) -> Value {
    c.send(frame).await;
    loop {
        let v = c.recv().await;
        match v["type"].as_str() {
            Some("results") => return v,
            Some("error") => panic!("search refused: {v}"),
            _ => {}
        }
    }
}

/// Posts `text` to `room` and waits for its echo.
async fn post(c: &mut Client, room: &str, text: &str) {
    c.send(json!({"type": "send", "room": room, "text": text}))
        .await;
    c.recv_type("message").await;
    // Distinct times: the order is by time first.
    tokio::time::sleep(Duration::from_millis(3)).await;
}

#[tokio::test]
async fn search_finds_words_in_every_room_newest_first_and_pages_on() {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "general").await;
    ada.join("side").await;
    post(&mut ada, "general", "apple pie").await;
    post(&mut ada, "general", "banana split").await;
    post(&mut ada, "side", "Apple juice").await;
    post(&mut ada, "general", "**APPLE** tart").await;
    post(&mut ada, "side", "pineapple").await;
    // Anyone with a name searches every room, joined or not.
    let (mut bob, _) = server.user("bob").await;

    let all = search(&mut bob, json!({"type": "search", "query": "apple"})).await;
    assert_eq!(all["query"], "apple");
    assert_eq!(texts(&all), ["**APPLE** tart", "Apple juice", "apple pie"]);
    assert_eq!(all["messages"][0]["html"], "<strong>APPLE</strong> tart");
    assert_eq!(all["messages"][1]["room"], "side");
    assert_eq!(all["messages"][1]["id"], 1);
    assert!(all.get("next").is_none(), "{all}");

    // Pages: a full page says where the next starts; the last says nothing.
    let first = search(
        &mut bob,
        json!({"type": "search", "query": "apple", "limit": 2}),
    )
    .await;
    assert_eq!(texts(&first).len(), 2);
    let next = first["next"].as_str().expect("a next page").to_owned();
    let rest = search(
        &mut bob,
        json!({"type": "search", "query": "apple", "limit": 2, "before": next}),
    )
    .await;
    assert_eq!(texts(&rest), ["apple pie"]);
    assert!(rest.get("next").is_none());

    // One room; a prefix; every word; operators are only words.
    let side = search(
        &mut bob,
        json!({"type": "search", "query": "apple", "room": "side"}),
    )
    .await;
    assert_eq!(texts(&side), ["Apple juice"]);
    let prefix = search(&mut bob, json!({"type": "search", "query": "app"})).await;
    assert_eq!(texts(&prefix).len(), 3);
    let both = search(&mut bob, json!({"type": "search", "query": "pie APPLE"})).await;
    assert_eq!(texts(&both), ["apple pie"]);
    let inert = search(
        &mut bob,
        json!({"type": "search", "query": "\"apple\" OR NOT x*"}),
    )
    .await;
    assert_eq!(texts(&inert), Vec::<&str>::new());
    server.stop().await;
}

#[tokio::test]
async fn search_limits_hold_at_the_bound_and_one_past_it() {
    let server = TestServer::start(fast()).await;
    let mut visitor = server.client().await;
    visitor
        .expect_error(json!({"type": "search", "query": "x"}), "hello_required")
        .await;
    let (mut ada, _) = server.user("ada").await;
    let at_bound = search(
        &mut ada,
        json!({"type": "search", "query": "a".repeat(200)}),
    )
    .await;
    assert_eq!(texts(&at_bound), Vec::<&str>::new());
    for (frame, code) in [
        (
            json!({"type": "search", "query": "a".repeat(201)}),
            "bad_request",
        ),
        (json!({"type": "search", "query": "   "}), "bad_request"),
        (json!({"type": "search", "query": "!!! ???"}), "bad_request"),
        (
            json!({"type": "search", "query": "x", "limit": 51}),
            "bad_request",
        ),
        (
            json!({"type": "search", "query": "x", "limit": 0}),
            "bad_request",
        ),
        (
            json!({"type": "search", "query": "x", "before": "junk"}),
            "bad_request",
        ),
        (
            json!({"type": "search", "query": "x", "room": "Not A Room"}),
            "bad_room",
        ),
        (
            json!({"type": "search", "query": "x", "room": "nope"}),
            "no_such_room",
        ),
    ] {
        ada.expect_error(frame, code).await;
    }
    let fifty = search(
        &mut ada,
        json!({"type": "search", "query": "x", "limit": 50}),
    )
    .await;
    assert_eq!(texts(&fifty), Vec::<&str>::new());
    server.stop().await;
}

#[tokio::test]
async fn searches_beyond_the_burst_are_rate_limited() {
    let server = TestServer::start(chat::Config {
        search_burst: 3.0,
        search_rate_per_sec: 0.01,
        ..fast()
    })
    .await;
    let (mut ada, _) = server.user("ada").await;
    for _ in 0..3 {
        search(&mut ada, json!({"type": "search", "query": "x"})).await;
    }
    ada.expect_error(json!({"type": "search", "query": "x"}), "rate_limited")
        .await;
    // Other requests are not held back by it.
    ada.join("general").await;
    server.stop().await;
}
