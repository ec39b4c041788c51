//! `read` (*extension*): where an identity stopped reading a room is kept
//! in the store and comes back in its next `joined` as `last_read`.

mod common;

use common::{fast, Client, TestServer};
use serde_json::{json, Value};

/// A new connection as the identity of `token`, joined to `room`.
async fn back(server: &TestServer, token: &str, room: &str) -> (Client, Value) {
    let mut c = server.client().await;
    c.send(json!({"type": "hello", "name": "ada", "token": token}))
        .await;
    c.recv_type("welcome").await;
    let joined = c.join(room).await;
    (c, joined)
}

/// Posts one message and waits for it: every job queued before it is
/// committed by then (one commit thread, in order).
async fn flush(c: &mut Client) {
    c.send(json!({"type": "send", "room": "general", "text": "flush"}))
        .await;
    c.recv_type("message").await;
}

#[tokio::test]
async fn where_an_identity_stopped_reading_comes_back_with_its_next_join() {
    let server = TestServer::start(fast()).await;
    let (mut ada, welcome) = server.user("ada").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    let first = ada.join("general").await;
    assert!(
        first.get("last_read").is_none(),
        "nothing read yet: {first}"
    );
    ada.post_numbered("general", 5).await;
    ada.send(json!({"type": "read", "room": "general", "id": 3}))
        .await;
    flush(&mut ada).await;
    drop(ada);
    let (mut ada, joined) = back(&server, &token, "general").await;
    assert_eq!(joined["last_read"], 3);

    // Only raised: a lower mark changes nothing; one past the newest id
    // (6, the flush) is cut to it.
    ada.send(json!({"type": "read", "room": "general", "id": 2}))
        .await;
    ada.send(json!({"type": "read", "room": "general", "id": 99}))
        .await;
    flush(&mut ada).await;
    drop(ada);
    let (mut ada, joined) = back(&server, &token, "general").await;
    assert_eq!(joined["last_read"], 6);

    // A room not joined, and before a name: refused; others have no mark.
    ada.expect_error(
        json!({"type": "read", "room": "side", "id": 1}),
        "not_in_room",
    )
    .await;
    let mut visitor = server.client().await;
    visitor
        .expect_error(
            json!({"type": "read", "room": "general", "id": 1}),
            "hello_required",
        )
        .await;
    let (mut bob, _) = server.user("bob").await;
    assert!(bob.join("general").await.get("last_read").is_none());
    server.stop().await;
}
