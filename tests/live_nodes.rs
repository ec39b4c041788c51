//! *1.2* (section 6) on two servers sharing one PostgreSQL database, behind
//! a load balancer without sticky sessions. A fallback session lives on the
//! node that opened it; a POST of it reaching the other node is handed to
//! that one through the database and applied there, once and in order, as
//! if it had come there. A resumed stream reaching the other node is a 404
//! (not handed over): the client starts over there (a new session, `join`
//! with `after`, as after a dropped WebSocket) and loses and doubles
//! nothing.

mod common;

use common::live::{Event, LiveClient};
use common::pg::PgCluster;
use common::{ServerProcess, TestServer};
use serde_json::json;

fn say(text: &str) -> serde_json::Value {
    json!({"type": "send", "room": "general", "text": text})
}

fn line(frame: serde_json::Value) -> Vec<u8> {
    format!("{frame}\n").into_bytes()
}

/// `client`'s POST of `text` to the general room, sent to the server at
/// `to` with `query` (`seq=N`, `&end=1`): its status and body.
async fn say_at(
    client: &LiveClient,
    to: std::net::SocketAddr,
    query: &str,
    text: &str,
) -> (u16, String) {
    client.post_query(to, query, &line(say(text)), &[]).await
}

#[tokio::test]
async fn a_post_reaching_the_other_node_is_applied_once_by_the_node_holding_the_session() {
    let cluster = PgCluster::start();
    let a = TestServer::start(cluster.node()).await;
    let b = TestServer::start(cluster.node()).await;
    let mut reader = LiveClient::member(a.addr, "reader", "general").await;
    let mut poster = b.member("poster", "general").await;

    // The session's next POST, sent to the node that does not hold it.
    let seq = reader.seq;
    let (status, why) = say_at(&reader, b.addr, &format!("seq={seq}"), "handed over").await;
    assert_eq!(status, 204, "{why}");
    let got = reader.frame_of("message").await;
    assert_eq!(got["text"], "handed over");
    assert_eq!(got["user"], "reader", "applied as the session's own frame");
    assert_eq!(poster.recv_type("message").await["text"], "handed over");

    // The same POST again, at either node: a retry, applied no more.
    for node in [b.addr, a.addr] {
        let (status, why) = say_at(&reader, node, &format!("seq={seq}"), "handed over").await;
        assert_eq!(status, 204, "{why}");
    }
    // Out of order through b: the holder's 409, handed back.
    let (status, why) = say_at(&reader, b.addr, &format!("seq={}", seq + 2), "early").await;
    assert_eq!(status, 409, "{why}");
    reader.seq += 1;
    assert_eq!(reader.post(&[say("at home")]).await, 204);
    assert_eq!(
        reader.frame_of("message").await["text"],
        "at home",
        "no double"
    );
    assert_eq!(poster.recv_type("message").await["text"], "at home");

    // The origin check is the receiving node's, before anything is handed on.
    let (status, _) = reader
        .post_query(
            b.addr,
            &format!("seq={}", reader.seq),
            &line(say("forged")),
            &[("Origin", "http://evil.example")],
        )
        .await;
    assert_eq!(status, 403);
    // A session no node holds: 404 at once, as at its own node.
    let mut stranger = LiveClient::open(a.addr).await;
    stranger.session = "0".repeat(64);
    let (status, _) = say_at(&stranger, b.addr, "seq=0", "nobody").await;
    assert_eq!(status, 404);

    // `end=1` through b ends the session at a, after its frames.
    let (status, why) = say_at(&reader, b.addr, &format!("seq={}&end=1", reader.seq), "bye").await;
    assert_eq!(status, 204, "{why}");
    // The room sees the message and the member leaving (in either order:
    // presence goes out at once, the message once stored).
    let (mut said, mut left) = (false, false);
    while !(said && left) {
        let frame = poster.recv().await;
        said |= frame["type"] == "message" && frame["text"] == "bye";
        left |= frame["type"] == "presence" && frame["state"] == "left";
    }
    // Its own echo may or may not come before the close.
    loop {
        match reader.next().await {
            Some(Event::Close(code, _)) => break assert_eq!(code, 1000),
            Some(Event::Frame(_)) => {}
            None => panic!("the stream ended without its close"),
        }
    }
}

#[tokio::test]
async fn a_resume_at_the_other_node_is_a_404_and_starting_over_there_loses_nothing() {
    let cluster = PgCluster::start();
    let a = TestServer::start(cluster.node()).await;
    let b = TestServer::start(cluster.node()).await;
    let mut reader = LiveClient::member(a.addr, "reader", "general").await;
    let mut poster = b.member("poster", "general").await;
    poster.send(say("one")).await;
    let first = reader.frame_of("message").await;
    assert_eq!(first["text"], "one", "delivered across the nodes");

    // Its stream, resumed at the node that does not hold it: unknown there.
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
    assert_eq!(texts, ["two", "three"], "what it missed, once");
    poster.send(say("four")).await;
    assert_eq!(again.frame_of("message").await["text"], "four");
    // The session on node a goes on, untouched.
    reader.frame_of("message").await;
    assert_eq!(reader.frame_of("message").await["text"], "three");
    assert_eq!(reader.post(&[say("still here")]).await, 204);
    assert_eq!(again.frame_of("message").await["text"], "still here");
}

#[tokio::test]
async fn a_post_for_a_session_of_a_node_that_stopped_is_a_404_at_the_other() {
    let cluster = PgCluster::start();
    let a = TestServer::start(cluster.node()).await;
    let b = TestServer::start(cluster.node()).await;
    let mut reader = LiveClient::member(a.addr, "reader", "general").await;
    let (status, why) = say_at(&reader, b.addr, &format!("seq={}", reader.seq), "first").await;
    assert_eq!(status, 204, "{why}");
    assert_eq!(reader.frame_of("message").await["text"], "first");
    reader.seq += 1;
    // Node a leaves (its sessions' rows go with it): the next POST through
    // b finds no node holding the session and is answered as unknown, at
    // once rather than after the wait for an answer.
    a.stop().await;
    let started = std::time::Instant::now();
    let (status, why) = say_at(&reader, b.addr, &format!("seq={}", reader.seq), "late").await;
    assert_eq!(status, 404, "{why}");
    assert!(started.elapsed() < std::time::Duration::from_secs(3));
}

#[tokio::test]
async fn a_post_for_a_session_of_a_node_that_died_is_a_503_then_a_404_once_its_lease_ends() {
    let cluster = PgCluster::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let env = [
        ("CHAT_DATABASE_URL", cluster.url.as_str()),
        ("CHAT_NODE_LEASE_SECS", "2"),
    ];
    let mut a = ServerProcess::spawn(da.path(), &env).await;
    let b = ServerProcess::spawn(db.path(), &env).await;
    let mut reader = LiveClient::member(a.addr, "reader", "general").await;
    async fn post(reader: &LiveClient, to: std::net::SocketAddr) -> (u16, String) {
        say_at(reader, to, &format!("seq={}", reader.seq), "anyone?").await
    }
    let (status, why) = post(&reader, b.addr).await;
    assert_eq!(status, 204, "{why}");
    reader.seq += 1;
    // Killed: no shutdown code runs, its rows stay until its lease ends.
    a.kill();
    let (status, why) = post(&reader, b.addr).await;
    assert_eq!(status, 503, "nobody answered: the client retries ({why})");
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        let (status, why) = post(&reader, b.addr).await;
        if status == 404 {
            break;
        }
        assert_eq!(status, 503, "{why}");
        assert!(
            tokio::time::Instant::now() < deadline,
            "the dead node's sessions were never removed"
        );
    }
}
