//! *1.2* (section 3): messages that change: `edit`, `delete`, `react`,
//! `unreact` and `reply_to`, live and in every later read, on both stores.

mod common;

use common::{fast, ids, TestServer};
use serde_json::json;

#[tokio::test]

async fn an_edit_a_deletion_and_a_reaction_are_seen_live_in_history_search_and_after_a_resumed_join(
) {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "general").await;
    let (mut bob, welcome) = server.user("bob").await;
    bob.join("general").await;
    let token = welcome["token"].clone();
    ada.post_numbered("general", 3).await;
    for _ in 0..3 {
        bob.recv_type("message").await;
    }
    // Bob leaves having seen up to 3; the changes are made while he is away.
    drop(bob);
    ada.send(json!({"type": "edit", "room": "general", "id": 1, "text": "fixed <b>"}))
        .await;
    let edited = ada.recv_type("edited").await;
    assert_eq!(edited["text"], "fixed <b>");
    assert!(
        !edited["html"].as_str().unwrap().contains("<b>"),
        "{edited}"
    );
    ada.send(json!({"type": "delete", "room": "general", "id": 2}))
        .await;
    assert_eq!(ada.recv_type("deleted").await["id"], 2);
    ada.send(json!({"type": "react", "room": "general", "id": 3, "emoji": "👍"}))
        .await;
    let r = ada.recv_type("reaction").await;
    assert_eq!(
        (r["on"].clone(), r["count"].clone(), r["user"].clone()),
        (json!(true), json!(1), json!("ada"))
    );

    // Every later read gives the state now, ids unchanged and gap-free.
    ada.send(json!({"type": "history", "room": "general"}))
        .await;
    let history = ada.recv_type("history").await;
    let messages = &history["messages"];
    assert_eq!(ids(messages), [1, 2, 3]);
    assert_eq!(messages[0]["text"], "fixed <b>");
    assert!(messages[0]["edited_ts"].as_u64().is_some());
    assert_eq!(
        messages[1],
        json!({"room": "general", "id": 2, "ts": messages[1]["ts"], "deleted": true})
    );
    assert_eq!(
        messages[2]["reactions"],
        json!([{"emoji": "👍", "count": 1, "mine": true}])
    );
    ada.send(json!({"type": "search", "query": "m2"})).await;
    assert_eq!(ada.recv_type("results").await["messages"], json!([]));
    ada.send(json!({"type": "search", "query": "fixed"})).await;
    assert_eq!(ids(&ada.recv_type("results").await["messages"]), [1]);

    // Bob resumes after 3: the changes are replayed after `joined`.
    let mut bob = server.client().await;
    bob.send(json!({"type": "hello", "name": "bob", "token": token}))
        .await;
    bob.recv_type("welcome").await;
    bob.send(json!({"type": "join", "room": "general", "after": 3}))
        .await;
    let joined = bob.recv_type("joined").await;
    assert_eq!(joined["messages"], json!([]));
    assert_eq!(bob.recv().await["type"], "edited");
    assert_eq!(bob.recv().await["type"], "deleted");
    let replayed = bob.recv().await;
    assert_eq!(
        (replayed["type"].clone(), replayed["count"].clone()),
        (json!("reaction"), json!(1))
    );
}

#[tokio::test]
async fn only_the_author_edits_and_only_the_author_or_a_moderator_deletes() {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "general").await;
    let mut eve = server.member("eve", "general").await;
    ada.post_numbered("general", 1).await;
    eve.recv_type("message").await;
    eve.expect_error(
        json!({"type": "edit", "room": "general", "id": 1, "text": "mine now"}),
        "forbidden",
    )
    .await;
    eve.expect_error(
        json!({"type": "delete", "room": "general", "id": 1}),
        "forbidden",
    )
    .await;
    // No such id, one past the newest, and a room not joined.
    ada.expect_error(
        json!({"type": "delete", "room": "general", "id": 2}),
        "bad_request",
    )
    .await;
    ada.expect_error(
        json!({"type": "delete", "room": "side", "id": 1}),
        "not_in_room",
    )
    .await;
    // A deleted message cannot be edited or reacted to any more.
    ada.send(json!({"type": "delete", "room": "general", "id": 1}))
        .await;
    ada.recv_type("deleted").await;
    ada.expect_error(
        json!({"type": "edit", "room": "general", "id": 1, "text": "again"}),
        "bad_request",
    )
    .await;
    ada.expect_error(
        json!({"type": "react", "room": "general", "id": 1, "emoji": "👍"}),
        "bad_request",
    )
    .await;
}

#[tokio::test]
async fn reactions_are_one_emoji_at_most_twenty_kinds_and_counted_once_per_identity() {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "general").await;
    ada.post_numbered("general", 1).await;
    for bad in ["", "a", "1", "👍👍", "<b>"] {
        ada.expect_error(
            json!({"type": "react", "room": "general", "id": 1, "emoji": bad}),
            "bad_request",
        )
        .await;
    }
    // A second react by the same identity changes nothing (count stays 1).
    ada.send(json!({"type": "react", "room": "general", "id": 1, "emoji": "🎉"}))
        .await;
    assert_eq!(ada.recv_type("reaction").await["count"], 1);
    ada.send(json!({"type": "react", "room": "general", "id": 1, "emoji": "🎉"}))
        .await;
    assert_eq!(ada.recv_type("reaction").await["count"], 1);
    // Twenty kinds (the bound), then one more is refused.
    let kinds: Vec<char> = ('\u{1F600}'..).take(20).collect();
    for e in &kinds[1..] {
        ada.send(json!({"type": "react", "room": "general", "id": 1, "emoji": e.to_string()}))
            .await;
        ada.recv_type("reaction").await;
    }
    ada.expect_error(
        json!({"type": "react", "room": "general", "id": 1, "emoji": "🙏"}),
        "bad_request",
    )
    .await;
    ada.send(json!({"type": "unreact", "room": "general", "id": 1, "emoji": "🎉"}))
        .await;
    let off = ada.recv_type("reaction").await;
    assert_eq!(
        (off["on"].clone(), off["count"].clone()),
        (json!(false), json!(0))
    );
}

#[tokio::test]
async fn a_reply_quotes_what_it_answers_and_says_so_when_that_was_deleted() {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "general").await;
    ada.post_numbered("general", 2).await;
    ada.send(json!({"type": "send", "room": "general", "text": "yes", "reply_to": 1}))
        .await;
    let reply = ada.recv_type("message").await;
    assert_eq!(
        reply["reply_to"],
        json!({"id": 1, "user": "ada", "text": "m1"})
    );
    ada.send(json!({"type": "delete", "room": "general", "id": 2}))
        .await;
    ada.recv_type("deleted").await;
    ada.send(json!({"type": "send", "room": "general", "text": "no", "reply_to": 2}))
        .await;
    let reply = ada.recv_type("message").await;
    assert_eq!(reply["reply_to"], json!({"id": 2, "deleted": true}));
    ada.expect_error(
        json!({"type": "send", "room": "general", "text": "x", "reply_to": 99}),
        "bad_request",
    )
    .await;
}

#[tokio::test]
async fn an_edit_and_a_reaction_outlive_a_restart_and_a_reaction_counts_once_across_devices() {
    use common::http::{accounts_config, hello_with, signed_up};
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(accounts_config(), dir.path()).await;
    let ann = signed_up(&server, "Ann").await;
    let (mut phone, _) = hello_with(&server, &ann, "").await;
    let (mut laptop, _) = hello_with(&server, &ann, "").await;
    phone.join("general").await;
    laptop.join("general").await;
    phone
        .send(json!({"type": "send", "room": "general", "text": "draft"}))
        .await;
    laptop.recv_type("message").await;
    // The same identity on two devices: one reaction, counted once.
    for c in [&mut phone, &mut laptop] {
        c.send(json!({"type": "react", "room": "general", "id": 1, "emoji": "🎉"}))
            .await;
        assert_eq!(c.recv_type("reaction").await["count"], 1);
    }
    laptop
        .send(json!({"type": "edit", "room": "general", "id": 1, "text": "final"}))
        .await;
    phone.recv_type("edited").await;
    drop((phone, laptop));
    server.stop().await;

    let server = TestServer::start_in(accounts_config(), dir.path()).await;
    let (mut c, _) = server.user("reader").await;
    c.join("general").await;
    c.send(json!({"type": "history", "room": "general"})).await;
    let m = &c.recv_type("history").await["messages"][0];
    assert_eq!(m["text"], "final");
    assert!(m["edited_ts"].as_u64().is_some(), "{m}");
    assert_eq!(
        m["reactions"],
        json!([{"emoji": "🎉", "count": 1, "mine": false}])
    );
    server.stop().await;
}
