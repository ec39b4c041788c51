//! Protocol 1.1 section 4, "Watching without a name": `watch` before
//! `hello`, live messages and nothing else, never a member; its limits.

mod common;

use common::{fast, Client, TestServer};
use serde_json::json;
use std::time::Duration;

/// Reads `c`'s next frame; it must be of type `ty`.
async fn next_is(c: &mut Client, ty: &str) -> serde_json::Value {
    let v = c.recv().await;
    assert_eq!(v["type"], ty, "{v}");
    v
}

#[tokio::test]
async fn a_visitor_without_a_name_watches_a_room_live_and_is_no_member() {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "general").await;
    ada.post_numbered("general", 2).await;
    let mut visitor = server.client().await;
    visitor
        .send(json!({"type": "watch", "room": "general"}))
        .await;
    let watching = next_is(&mut visitor, "watching").await;
    assert_eq!(watching["room"], "general");
    assert_eq!(watching["member_count"], 1);
    assert_eq!(common::ids(&watching["messages"]), [1, 2]);
    // Not a member: no presence for Ada, not in the list or the count.
    ada.quiet().await;
    ada.send(json!({"type": "members", "room": "general"}))
        .await;
    assert_eq!(ada.recv_type("members").await["names"], json!(["ada"]));
    // Messages arrive live; typing does not.
    ada.send(json!({"type": "typing", "room": "general"})).await;
    ada.send(json!({"type": "send", "room": "general", "text": "live"}))
        .await;
    let live = next_is(&mut visitor, "message").await;
    assert_eq!(
        (live["id"].as_u64(), live["text"].as_str()),
        (Some(3), Some("live"))
    );
    // A watcher cannot join, send or type without a name.
    for frame in [
        json!({"type": "join", "room": "general"}),
        json!({"type": "send", "room": "general", "text": "hi"}),
        json!({"type": "typing", "room": "general"}),
    ] {
        visitor.expect_error(frame, "hello_required").await;
    }
    // Unwatched: nothing more.
    visitor
        .send(json!({"type": "unwatch", "room": "general"}))
        .await;
    assert_eq!(next_is(&mut visitor, "unwatched").await["room"], "general");
    ada.post_numbered("general", 1).await;
    visitor.quiet().await;
    server.stop().await;
}

#[tokio::test]
async fn watching_is_limited_to_existing_rooms_and_three_at_once() {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "general").await;
    for room in ["r1", "r2", "r3"] {
        ada.join(room).await;
    }
    let mut visitor = server.client().await;
    visitor
        .expect_error(json!({"type": "watch", "room": "nope"}), "no_such_room")
        .await;
    visitor
        .expect_error(json!({"type": "watch", "room": "Not A Room"}), "bad_room")
        .await;
    for room in ["general", "r1", "r2"] {
        visitor.send(json!({"type": "watch", "room": room})).await;
        next_is(&mut visitor, "watching").await;
    }
    // At the bound: a room already watched may be asked again; a fourth not.
    visitor.send(json!({"type": "watch", "room": "r1"})).await;
    next_is(&mut visitor, "watching").await;
    visitor
        .expect_error(json!({"type": "watch", "room": "r3"}), "too_many_rooms")
        .await;
    visitor
        .expect_error(json!({"type": "unwatch", "room": "r3"}), "bad_request")
        .await;
    // One unwatched makes room for another.
    visitor.send(json!({"type": "unwatch", "room": "r2"})).await;
    next_is(&mut visitor, "unwatched").await;
    visitor.send(json!({"type": "watch", "room": "r3"})).await;
    next_is(&mut visitor, "watching").await;
    server.stop().await;
}

#[tokio::test]
async fn a_watcher_outlives_the_hello_deadline_that_closes_an_idle_socket() {
    let mut config = fast();
    config.hello_timeout = Duration::from_millis(200);
    let server = TestServer::start(config).await;
    let mut idle = server.client().await;
    let mut visitor = server.client().await;
    visitor
        .send(json!({"type": "watch", "room": "general"}))
        .await;
    next_is(&mut visitor, "watching").await;
    assert_eq!(idle.closed().await.0, 4003);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    visitor.alive().await;
    // It may still choose a name, and then it is a member as any other.
    visitor.send(json!({"type": "hello", "name": "late"})).await;
    next_is(&mut visitor, "welcome").await;
    server.stop().await;
}

#[tokio::test]
async fn a_watcher_that_joins_gets_each_message_once_and_still_watches_after_leaving() {
    let server = TestServer::start(fast()).await;
    let mut ada = server.member("ada", "general").await;
    let (mut bob, _) = server.user("bob").await;
    bob.send(json!({"type": "watch", "room": "general"})).await;
    next_is(&mut bob, "watching").await;
    bob.join("general").await;
    ada.send(json!({"type": "send", "room": "general", "text": "once"}))
        .await;
    assert_eq!(bob.recv_type("message").await["text"], "once");
    // The very next frame is the pong: no second copy in between (the
    // copy, had there been one, was queued before the ping was read).
    bob.send(json!({"type": "ping"})).await;
    next_is(&mut bob, "pong").await;
    bob.send(json!({"type": "leave", "room": "general"})).await;
    bob.recv_type("left").await;
    ada.send(json!({"type": "send", "room": "general", "text": "watched"}))
        .await;
    assert_eq!(next_is(&mut bob, "message").await["text"], "watched");
    server.stop().await;
}
