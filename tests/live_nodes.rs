//! *1.2* (section 6) on two servers sharing one PostgreSQL database: what
//! the README says of sticky sessions, checked. A fallback session lives on
//! the node that opened it. Its POST or its resumed stream reaching the
//! other node is answered 404, as a session that does not exist is, and
//! changes nothing. A client that starts over there (a new session, `join`
//! with `after`, as after a dropped WebSocket) loses and doubles nothing.

mod common;

use common::live::{request, LiveClient};
use common::pg::PgCluster;
use common::TestServer;
use serde_json::json;

fn say(text: &str) -> serde_json::Value {
    json!({"type": "send", "room": "general", "text": text})
}

#[tokio::test]
async fn a_post_or_resume_at_the_other_node_is_a_404_and_starting_over_there_loses_nothing() {
    let cluster = PgCluster::start();
    let a = TestServer::start(cluster.node()).await;
    let b = TestServer::start(cluster.node()).await;
    let mut reader = LiveClient::member(a.addr, "reader", "general").await;
    let mut poster = b.member("poster", "general").await;
    poster.send(say("one")).await;
    let first = reader.frame_of("message").await;
    assert_eq!(first["text"], "one", "delivered across the nodes");

    // The session's next POST, sent to the node that does not hold it.
    let path = format!("/live?session={}&seq={}", reader.session, reader.seq);
    let origin = format!("http://{}", b.addr);
    let body = format!("{}\n", say("lost on the way"));
    let (status, _, why) = request(
        b.addr,
        "POST",
        &path,
        &[("Origin", &origin), ("Content-Type", "text/plain")],
        body.as_bytes(),
    )
    .await;
    assert_eq!(status, 404, "{why}");
    // Its stream, resumed at that node: unknown there too.
    let resumed = LiveClient::resume(b.addr, &reader.session, reader.last_id, reader.seq).await;
    assert_eq!(resumed.err().map(|(status, _)| status), Some(404));

    // Meanwhile the room goes on; the client starts over on node b.
    poster.send(say("two")).await;
    poster.send(say("three")).await;
    poster.recv_type("message").await;
    poster.recv_type("message").await;
    let mut again = LiveClient::open(b.addr).await;
    again
        .post(&[json!({"type": "hello", "name": "reader-again"})])
        .await;
    again.frame_of("welcome").await;
    let after = first["id"].as_u64().unwrap();
    let join = json!({"type": "join", "room": "general", "after": after});
    assert_eq!(again.post(&[join]).await, 204);
    let joined = again.frame_of("joined").await;
    let texts: Vec<_> = joined["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        texts,
        ["two", "three"],
        "what it missed, once, and nothing posted to b"
    );
    poster.send(say("four")).await;
    assert_eq!(again.frame_of("message").await["text"], "four");
    // The session on node a was never touched by what reached b.
    reader.frame_of("message").await;
    assert_eq!(reader.frame_of("message").await["text"], "three");
    assert_eq!(reader.post(&[say("still here")]).await, 204);
    assert_eq!(again.frame_of("message").await["text"], "still here");
}
