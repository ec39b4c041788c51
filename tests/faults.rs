//! Faults and attacks of issue 11, each against a real server: what a client
//! or an operator can do wrong, and what the server does about it.

mod common;

use common::{fast, ids, TestServer};
use serde_json::json;

#[tokio::test]
async fn join_after_the_largest_id_neither_panics_nor_replays_everything() {
    let server = TestServer::start(fast()).await;
    let mut alice = server.member("alice", "general").await;
    alice.post_numbered("general", 3).await;
    let (mut bob, _) = server.user("bob").await;
    bob.send(json!({"type": "join", "room": "general", "after": u64::MAX}))
        .await;
    let joined = bob.recv_type("joined").await;
    assert_eq!(ids(&joined["messages"]), [1, 2, 3]);
    assert_eq!(joined["missed"], true);
    // The hub is alive: a new message reaches both.
    bob.send(json!({"type": "send", "room": "general", "text": "still here"}))
        .await;
    assert_eq!(bob.recv_type("message").await["id"], 4);
    assert_eq!(alice.recv_type("message").await["id"], 4);
    server.stop().await;
}

#[tokio::test]
async fn join_after_beyond_the_newest_id_starts_the_client_over() {
    let server = TestServer::start(fast()).await;
    let mut alice = server.member("alice", "general").await;
    alice.post_numbered("general", 5).await;
    for (name, after, expect_missed) in [("bob", 5, false), ("cy", 6, true)] {
        let (mut c, _) = server.user(name).await;
        c.send(json!({"type": "join", "room": "general", "after": after}))
            .await;
        let joined = c.recv_type("joined").await;
        if expect_missed {
            // Another history: the recent messages, and `missed` so the
            // browser drops what it had instead of waiting for id 7.
            assert_eq!(ids(&joined["messages"]), [1, 2, 3, 4, 5]);
            assert_eq!(joined["missed"], true);
        } else {
            assert_eq!(joined["messages"], json!([]));
            assert!(joined.get("missed").is_none());
        }
    }
    server.stop().await;
}
