//! Integration tests of the WebSocket hub: a real server on an ephemeral port,
//! real WebSocket clients (tokio-tungstenite), frames checked as JSON exactly
//! as an outside client sees them.

mod common;

use chat::Config;
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error as WsError, Message};

#[tokio::test]
async fn hello_welcome_and_ping() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.client().await;
    c.send(json!({"type": "ping"})).await;
    assert_eq!(c.recv().await, json!({"type": "pong"}));
    c.send(json!({"type": "hello", "name": "  alice  "})).await;
    let w = c.recv().await;
    assert_eq!(w["type"], "welcome");
    assert_eq!(w["user"]["name"], "alice");
    assert!(w["user"]["id"].as_str().is_some_and(|s| !s.is_empty()));
    assert!(w["token"].as_str().is_some_and(|s| s.len() >= 32));
    assert_eq!(w["rooms"], json!(["general"]));
    c.expect_error(json!({"type": "hello", "name": "again"}), "bad_request")
        .await;
    server.stop().await;
}

#[tokio::test]
async fn every_frame_but_hello_and_ping_needs_hello() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.client().await;
    for frame in [
        json!({"type": "join", "room": "general"}),
        json!({"type": "leave", "room": "general"}),
        json!({"type": "typing", "room": "general"}),
        json!({"type": "history", "room": "general"}),
    ] {
        c.expect_error(frame, "hello_required").await;
    }
    let e = c
        .error(json!({"type": "send", "room": "general", "text": "hi", "nonce": "n-1"}))
        .await;
    assert_eq!(
        (e["code"].clone(), e["nonce"].clone()),
        (json!("hello_required"), json!("n-1"))
    );
    server.stop().await;
}

#[tokio::test]
async fn names_are_checked_at_and_past_their_bounds() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.client().await;
    for bad in ["", "   ", &"x".repeat(33), "ali\u{0007}ce", "a\nb"] {
        c.expect_error(json!({"type": "hello", "name": bad}), "bad_name")
            .await;
    }
    c.expect_error(json!({"type": "hello"}), "bad_request")
        .await;
    c.send(json!({"type": "hello", "name": "é".repeat(32)}))
        .await;
    assert_eq!(c.recv().await["user"]["name"], "é".repeat(32));
    server.stop().await;
}

#[tokio::test]
async fn names_are_unique_and_tokens_reclaim_them() {
    let server = TestServer::start(Config::default()).await;
    let (mut alice, welcome) = server.user("alice").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    alice.join("general").await;

    let mut bob = server.client().await;
    bob.expect_error(json!({"type": "hello", "name": "alice"}), "name_taken")
        .await;
    bob.expect_error(json!({"type": "hello", "name": "ALICE"}), "name_taken")
        .await;
    bob.expect_error(
        json!({"type": "hello", "name": "alice", "token": "not-a-token"}),
        "name_taken",
    )
    .await;
    bob.send(json!({"type": "hello", "name": "bob"})).await;
    bob.recv_type("welcome").await;
    bob.join("general").await;

    // A new connection with alice's token replaces the old one.
    let mut alice2 = server.client().await;
    alice2
        .send(json!({"type": "hello", "name": "alice", "token": token}))
        .await;
    let w2 = alice2.recv_type("welcome").await;
    assert_eq!(w2["user"]["id"], welcome["user"]["id"]);
    assert_eq!(w2["token"], welcome["token"]);
    let (code, reason) = alice.closed().await;
    assert_eq!(code, 4000, "{reason}");
    let left = bob.recv_type("presence").await;
    assert_eq!(
        left,
        json!({"type": "presence", "room": "general", "user": "alice", "state": "left"})
    );

    // 1.1: once alice2 is gone, the name is still alice's (for the lease):
    // refused to anyone else, taken back by her token.
    alice2.join("general").await;
    drop(alice2);
    bob.sees_leave("general", "alice").await;
    let mut carol = server.client().await;
    carol
        .expect_error(json!({"type": "hello", "name": "Alice"}), "name_taken")
        .await;
    let mut alice3 = server.client().await;
    alice3
        .send(json!({"type": "hello", "name": "Alice", "token": token}))
        .await;
    let w3 = alice3.recv_type("welcome").await;
    assert_eq!(
        w3["user"],
        json!({"id": welcome["user"]["id"], "name": "Alice", "account": false, "role": "guest"})
    );
    server.stop().await;
}

#[tokio::test]
async fn join_leave_and_presence() {
    let server = TestServer::start(Config::default()).await;
    let mut alice = server.member("alice", "general").await;
    let (mut bob, _) = server.user("bob").await;
    let joined = bob.join("general").await;
    assert_eq!(joined["members"], json!(["alice", "bob"]));
    assert_eq!(joined["messages"], json!([]));
    assert_eq!(
        alice.recv().await,
        json!({"type": "presence", "room": "general", "user": "bob", "state": "joined"})
    );
    bob.send(json!({"type": "leave", "room": "general"})).await;
    assert_eq!(bob.recv().await, json!({"type": "left", "room": "general"}));
    assert_eq!(
        alice.recv().await,
        json!({"type": "presence", "room": "general", "user": "bob", "state": "left"})
    );
    bob.expect_error(json!({"type": "leave", "room": "general"}), "not_in_room")
        .await;
    bob.join("general").await;
    alice.recv_type("presence").await;
    drop(bob);
    assert_eq!(
        alice.recv().await,
        json!({"type": "presence", "room": "general", "user": "bob", "state": "left"})
    );
    server.stop().await;
}

#[tokio::test]
async fn messages_reach_every_member_escaped_with_ids_and_nonce() {
    let server = TestServer::start(Config::default()).await;
    let mut alice = server.member("alice", "general").await;
    let mut bob = server.member("bob", "general").await;
    alice.recv_type("presence").await;
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    alice
        .send(json!({"type": "send", "room": "general", "text": "  <b>hi</b> & \"bye\"\r\nnext\u{0}  ", "nonce": "n1"}))
        .await;
    alice
        .send(json!({"type": "send", "room": "general", "text": "second"}))
        .await;
    for c in [&mut alice, &mut bob] {
        let m = c.recv().await;
        assert_eq!(m["type"], "message");
        assert_eq!(m["room"], "general");
        assert_eq!(m["id"], 1);
        assert_eq!(m["user"], "alice");
        assert_eq!(m["text"], "<b>hi</b> & \"bye\"\nnext");
        assert_eq!(
            m["html"],
            "&lt;b&gt;hi&lt;&#x2F;b&gt; &amp; &quot;bye&quot;<br>next"
        );
        assert_eq!(m["nonce"], "n1");
        assert!(m["ts"].as_u64().unwrap() >= before);
        let m2 = c.recv().await;
        assert_eq!((m2["id"].as_u64(), m2.get("nonce")), (Some(2), None));
    }
    // A later joiner gets the recent messages, oldest first, each with the
    // nonce it was sent with (1.1).
    let (mut carol, _) = server.user("carol").await;
    let joined = carol.join("general").await;
    assert_eq!(ids(&joined["messages"]), [1, 2]);
    assert_eq!(joined["messages"][0]["nonce"], "n1");
    assert!(joined["messages"][1].get("nonce").is_none());
    assert_eq!(joined["members"], json!(["alice", "bob", "carol"]));
    server.stop().await;
}

#[tokio::test]
async fn room_names_and_creation() {
    let server = TestServer::start(Config::default()).await;
    let (mut c, _) = server.user("alice").await;
    for bad in [
        "General",
        "-a",
        "_a",
        "a b",
        "",
        &"r".repeat(33),
        "<script>",
    ] {
        c.expect_error(json!({"type": "join", "room": bad}), "bad_room")
            .await;
    }
    c.expect_error(
        json!({"type": "send", "room": "Bad!", "text": "x"}),
        "bad_room",
    )
    .await;
    let max = "r".repeat(32);
    c.join(&max).await;
    c.join("a-b_c").await;
    let (_, w) = server.user("bob").await;
    assert_eq!(w["rooms"], json!(["a-b_c", "general", max]));
    server.stop().await;
}

#[tokio::test]
async fn text_is_checked_at_and_past_its_bounds() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.member("alice", "general").await;
    for bad in [
        String::new(),
        "  \n\t ".into(),
        "\u{0007}".into(),
        "x".repeat(2001),
    ] {
        let e = c
            .error(json!({"type": "send", "room": "general", "text": bad, "nonce": "t"}))
            .await;
        assert_eq!(
            (e["code"].as_str(), e["nonce"].as_str()),
            (Some("bad_text"), Some("t"))
        );
    }
    c.send(json!({"type": "send", "room": "general", "text": "x".repeat(2000)}))
        .await;
    let m = c.recv_type("message").await;
    assert_eq!(
        (m["id"].as_u64(), m["text"].as_str().unwrap().len()),
        (Some(1), 2000)
    );
    server.stop().await;
}

#[tokio::test]
async fn requests_for_rooms_not_joined_are_refused() {
    let server = TestServer::start(Config::default()).await;
    let (mut c, _) = server.user("alice").await;
    for frame in [
        json!({"type": "send", "room": "general", "text": "x"}),
        json!({"type": "typing", "room": "general"}),
        json!({"type": "history", "room": "general"}),
        json!({"type": "leave", "room": "general"}),
        json!({"type": "send", "room": "nowhere", "text": "x"}),
    ] {
        c.expect_error(frame, "not_in_room").await;
    }
    server.stop().await;
}

#[tokio::test]
async fn malformed_frames_are_bad_requests_and_the_connection_stays() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.member("alice", "general").await;
    for raw in [
        "not json",
        "[]",
        "{}",
        r#"{"type":"shout"}"#,
        r#"{"type":"join"}"#,
        r#"{"type":"send","room":"general"}"#,
        r#"{"type":"join","room":"general","after":-1}"#,
        r#"{"type":"history","room":"general","limit":0}"#,
        r#"{"type":"history","room":"general","limit":101}"#,
        r#"{"type":"history","room":"general","limit":"5"}"#,
    ] {
        c.send_raw(Message::text(raw)).await;
        let e = c.recv_type("error").await;
        assert_eq!(e["code"], "bad_request", "{raw} → {e}");
    }
    // The fallback carries lines of text: there is no binary frame to send.
    if !common::on_live() {
        c.send_raw(Message::binary(vec![1u8, 2, 3])).await;
        assert_eq!(c.recv_type("error").await["code"], "bad_request");
    }
    for limit in [1, 100] {
        c.send(json!({"type": "history", "room": "general", "limit": limit}))
            .await;
        assert_eq!(c.recv().await["type"], "history");
    }
    c.alive().await;
    server.stop().await;
}

#[tokio::test]
async fn history_pages_back_to_the_first_message() {
    let server = TestServer::start(fast()).await;
    let mut c = server.member("alice", "general").await;
    c.post_numbered("general", 120).await;
    c.send(json!({"type": "history", "room": "general"})).await;
    let page = c.recv().await;
    assert_eq!(page["type"], "history");
    assert_eq!(ids(&page["messages"]), (71..=120).collect::<Vec<_>>());
    c.send(json!({"type": "history", "room": "general", "before": 71, "limit": 100}))
        .await;
    let page = c.recv().await;
    assert_eq!(ids(&page["messages"]), (1..=70).collect::<Vec<_>>());
    assert_eq!(page["messages"][0]["text"], "m1");
    c.send(json!({"type": "history", "room": "general", "before": 1}))
        .await;
    assert_eq!(c.recv().await["messages"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn join_after_replays_exactly_the_missed_messages() {
    let server = TestServer::start(fast()).await;
    let mut alice = server.member("alice", "general").await;
    alice.post_numbered("general", 5).await;
    let (mut bob, _) = server.user("bob").await;
    bob.send(json!({"type": "join", "room": "general", "after": 2}))
        .await;
    let joined = bob.recv_type("joined").await;
    assert_eq!(ids(&joined["messages"]), [3, 4, 5]);
    assert!(joined.get("missed").is_none());
    bob.send(json!({"type": "join", "room": "general", "after": 5}))
        .await;
    assert_eq!(bob.recv_type("joined").await["messages"], json!([]));
    server.stop().await;
}

#[tokio::test]
async fn typing_reaches_the_others_only() {
    let server = TestServer::start(Config::default()).await;
    let mut alice = server.member("alice", "general").await;
    let mut bob = server.member("bob", "general").await;
    alice.recv_type("presence").await;
    alice
        .send(json!({"type": "typing", "room": "general"}))
        .await;
    assert_eq!(
        bob.recv().await,
        json!({"type": "typing", "room": "general", "user": "alice"})
    );
    alice.quiet().await;
    server.stop().await;
}

#[tokio::test]
async fn rate_limit_allows_the_burst_and_refuses_one_more() {
    let server = TestServer::start(Config {
        rate_per_sec: 0.5,
        rate_burst: 20.0,
        ..Config::default()
    })
    .await;
    let mut c = server.member("alice", "general").await;
    for i in 1..=21 {
        c.send(json!({"type": "send", "room": "general", "text": format!("m{i}"), "nonce": format!("n{i}")}))
            .await;
    }
    // Errors answer at once; messages come once stored, so they may interleave.
    let (mut messages, mut errors) = (Vec::new(), Vec::new());
    for _ in 1..=21 {
        let v = c.recv().await;
        match v["type"].as_str() {
            Some("message") => messages.push(v["id"].as_u64().unwrap()),
            _ => errors.push((v["code"].clone(), v["nonce"].clone())),
        }
    }
    assert_eq!(messages, (1..=20).collect::<Vec<_>>());
    assert_eq!(errors, [(json!("rate_limited"), json!("n21"))]);
    c.send(json!({"type": "history", "room": "general", "limit": 100}))
        .await;
    assert_eq!(ids(&c.recv().await["messages"]).len(), 20);
    server.stop().await;
}

#[tokio::test]
async fn a_foreign_origin_is_refused_with_403() {
    let server = TestServer::start(Config {
        allowed_origins: vec!["https://chat.example".into()],
        ..Config::default()
    })
    .await;
    let url = format!("ws://{}/ws", server.addr);
    let with_origin = |origin: &str| {
        let mut req = url.as_str().into_client_request().unwrap();
        req.headers_mut().insert("Origin", origin.parse().unwrap());
        req
    };
    match tokio_tungstenite::connect_async(with_origin("http://evil.example")).await {
        Err(WsError::Http(resp)) => assert_eq!(resp.status(), 403),
        other => panic!("expected 403, got {other:?}"),
    }
    let own = format!("http://{}", server.addr);
    for origin in [own.as_str(), "https://chat.example"] {
        let (mut ws, _) = tokio_tungstenite::connect_async(with_origin(origin))
            .await
            .unwrap_or_else(|e| panic!("{origin}: {e}"));
        ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    }
    server.stop().await;
}

#[tokio::test]
async fn a_frame_over_16_kib_closes_with_1009() {
    let server = TestServer::start(Config::default()).await;
    let mut c = server.member("alice", "general").await;
    let frame_of = |size: usize| {
        let head = r#"{"type":"send","room":"general","text":""#;
        let tail = r#""}"#;
        let text = "x".repeat(size - head.len() - tail.len());
        let f = format!("{head}{text}{tail}");
        assert_eq!(f.len(), size);
        Message::text(f)
    };
    c.send_raw(frame_of(16 * 1024)).await;
    assert_eq!(c.recv_type("error").await["code"], "bad_text");
    c.alive().await;
    c.send_raw(frame_of(16 * 1024 + 1)).await;
    let (code, reason) = c.closed().await;
    assert_eq!(code, 1009, "{reason}");
    server.stop().await;
}

#[tokio::test]
async fn a_connection_cannot_join_too_many_rooms() {
    let server = TestServer::start(Config {
        max_rooms_per_conn: 3,
        ..Config::default()
    })
    .await;
    let (mut c, _) = server.user("alice").await;
    for room in ["a", "b", "c"] {
        c.join(room).await;
    }
    c.expect_error(json!({"type": "join", "room": "d"}), "too_many_rooms")
        .await;
    c.join("a").await; // re-joining a joined room is fine
    server.stop().await;
}

#[tokio::test]
async fn rooms_are_isolated() {
    let server = TestServer::start(Config::default()).await;
    let mut a = server.member("alice", "room-a").await;
    let mut b = server.member("bob", "room-b").await;
    a.send(json!({"type": "send", "room": "room-a", "text": "only a"}))
        .await;
    b.send(json!({"type": "send", "room": "room-b", "text": "only b"}))
        .await;
    let ma = a.recv().await;
    let mb = b.recv().await;
    assert_eq!(
        (ma["room"].as_str(), ma["id"].as_u64()),
        (Some("room-a"), Some(1))
    );
    assert_eq!(
        (mb["room"].as_str(), mb["id"].as_u64()),
        (Some("room-b"), Some(1))
    );
    a.quiet().await;
    b.quiet().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_senders_are_delivered_in_one_order_without_gaps() {
    let server = TestServer::start(fast()).await;
    const SENDERS: usize = 5;
    const EACH: usize = 50;
    let mut readers = Vec::new();
    for r in 0..3 {
        readers.push(server.member(&format!("reader{r}"), "general").await);
    }
    let mut senders = Vec::new();
    for s in 0..SENDERS {
        senders.push(server.member(&format!("sender{s}"), "general").await);
    }
    let tasks: Vec<_> = senders
        .into_iter()
        .enumerate()
        .map(|(s, mut c)| {
            tokio::spawn(async move {
                for i in 0..EACH {
                    c.send(json!({"type": "send", "room": "general", "text": format!("{s}:{i}")}))
                        .await;
                }
                c
            })
        })
        .collect();
    let mut reader_tasks = Vec::new();
    for mut r in readers {
        reader_tasks.push(tokio::spawn(async move {
            let mut seen = Vec::new();
            while seen.len() < SENDERS * EACH {
                let m = r.recv_type("message").await;
                seen.push((
                    m["id"].as_u64().unwrap(),
                    m["text"].as_str().unwrap().to_owned(),
                ));
            }
            seen
        }));
    }
    // Keep the senders open until every reader is done: closing a socket with
    // unread data resets it, and a reset can discard frames still in flight.
    let mut _senders = Vec::new();
    for t in tasks {
        _senders.push(t.await.unwrap());
    }
    let mut first: Option<Vec<(u64, String)>> = None;
    for t in reader_tasks {
        let seen = t.await.unwrap();
        let ids: Vec<u64> = seen.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, (1..=(SENDERS * EACH) as u64).collect::<Vec<_>>());
        // Each sender's messages appear in the order it sent them.
        let mut next = [0usize; SENDERS];
        for (_, text) in &seen {
            let (s, i) = text.split_once(':').unwrap();
            let (s, i): (usize, usize) = (s.parse().unwrap(), i.parse().unwrap());
            assert_eq!(i, next[s]);
            next[s] += 1;
        }
        match &first {
            None => first = Some(seen),
            Some(f) => assert_eq!(f, &seen, "every member sees the same order"),
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_clients_lose_duplicate_and_reorder_nothing() {
    let server = TestServer::start(fast()).await;
    const CLIENTS: usize = 200;
    const SENDERS: usize = 10;
    const EACH: usize = 20;
    const TOTAL: u64 = (SENDERS * EACH) as u64;
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        clients.push(server.member(&format!("user{i}"), "general").await);
    }
    let mut tasks = Vec::new();
    for (i, mut c) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            if i < SENDERS {
                for k in 0..EACH {
                    c.send(json!({"type": "send", "room": "general", "text": format!("{i}-{k}")}))
                        .await;
                }
            }
            let mut seen = Vec::new();
            while seen.len() < TOTAL as usize {
                let m = c.recv_type("message").await;
                let s = |k: &str| m[k].as_str().unwrap().to_owned();
                seen.push((m["id"].as_u64().unwrap(), s("user"), s("text")));
            }
            (seen, c)
        }));
    }
    let mut clients = Vec::new();
    let mut first: Option<Vec<(u64, String, String)>> = None;
    for t in tasks {
        let (seen, c) = t.await.unwrap();
        let ids: Vec<u64> = seen.iter().map(|m| m.0).collect();
        assert_eq!(ids, (1..=TOTAL).collect::<Vec<_>>());
        // Every member saw the same messages: same ids, senders and texts.
        match &first {
            None => first = Some(seen),
            Some(first) => assert_eq!(&seen, first),
        }
        clients.push(c);
    }
    // Each text is its sender's, and each sender's texts are in the order sent.
    let mut next_k = [0usize; SENDERS];
    for (_, user, text) in first.unwrap() {
        let (i, k) = text.split_once('-').unwrap();
        let (i, k): (usize, usize) = (i.parse().unwrap(), k.parse().unwrap());
        assert_eq!(user, format!("user{i}"));
        assert_eq!(k, next_k[i], "sender {i} out of order");
        next_k[i] += 1;
    }
    assert_eq!(next_k, [EACH; SENDERS]);
    // Nothing more: a pong (queued behind anything else) comes with no message before it.
    for c in &mut clients {
        c.send(json!({"type": "ping"})).await;
        loop {
            let v = c.recv().await;
            assert_ne!(v["type"], "message", "an extra message: {v}");
            if v["type"] == "pong" {
                break;
            }
        }
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_reader_is_closed_and_the_others_keep_receiving() {
    let server = TestServer::start(Config {
        outbound_bytes: 64 * 1024,
        ..fast()
    })
    .await;
    let mut stalled = server.member("stalled", "general").await;
    let mut sender = server.member("sender", "general").await;
    let mut reader = server.member("reader", "general").await;
    // The stalled client never reads while ~12 MB go out to each member: more
    // than the kernel's socket buffers and its 64 KiB queue can hold.
    const N: u64 = 6000;
    const WINDOW: u64 = 4;
    // Once the others hear it left, the stalled client reads again and
    // must find the close frame (the server gives it CHAT's close grace,
    // 10 s, to get out: reading it only after all N messages raced that).
    let (left, heard) = tokio::sync::oneshot::channel::<()>();
    let closing = tokio::spawn(async move {
        if heard.await.is_ok() {
            Some(stalled.closed().await)
        } else {
            None
        }
    });
    let reading = tokio::spawn(async move {
        let mut got = Vec::new();
        let mut left = Some(left);
        while got.len() < N as usize {
            let v = reader.recv().await;
            match v["type"].as_str() {
                Some("message") => got.push(v["id"].as_u64().unwrap()),
                Some("presence") if v["user"] == "stalled" => {
                    left.take().map(|left| left.send(()));
                }
                _ => {}
            }
        }
        (got, left.is_none())
    });
    // The sender keeps at most WINDOW of its messages in flight (it waits for
    // its own echoes), so healthy members never have a deep queue.
    let text = "y".repeat(2000);
    let mut echoed = 0;
    for sent in 1..=N {
        sender
            .send(json!({"type": "send", "room": "general", "text": text}))
            .await;
        while echoed + WINDOW < sent || (sent == N && echoed < N) {
            let id = sender.recv_type("message").await["id"].as_u64().unwrap();
            assert_eq!(id, echoed + 1);
            echoed = id;
        }
    }
    let (got, stalled_left) = reading.await.unwrap();
    assert_eq!(got, (1..=N).collect::<Vec<_>>());
    assert!(stalled_left, "the others are told the slow member left");
    let (code, reason) = closing.await.unwrap().expect("told it left");
    assert_eq!(code, 4001, "{reason}");
    server.stop().await;
}

#[tokio::test]
async fn a_peer_that_stops_answering_pings_is_dropped() {
    // WebSocket pings; the fallback's idle timeout is tested in tests/live.rs.
    if common::on_live() {
        return;
    }
    let server = TestServer::start(Config {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(500),
        ..Config::default()
    })
    .await;
    let mut silent = RawClient::connect(server.addr).await;
    silent
        .send(json!({"type": "hello", "name": "silent"}))
        .await;
    silent
        .send(json!({"type": "join", "room": "general"}))
        .await;
    let mut lively = server.member("lively", "general").await;
    // `lively` reads (and so answers pings) for well past the timeout.
    let deadline = tokio::time::Instant::now() + Duration::from_millis(1500);
    let mut saw_left = false;
    while tokio::time::Instant::now() < deadline {
        if let Ok(Some(Ok(Message::Text(t)))) =
            tokio::time::timeout_at(deadline, lively.ws().next()).await
        {
            let v: Value = serde_json::from_str(&t).unwrap();
            saw_left |= v["type"] == "presence" && v["user"] == "silent" && v["state"] == "left";
        }
    }
    assert!(saw_left, "the silent peer was dropped and the room told");
    lively.alive().await;
    let (code, pings) = silent.closed().await;
    assert_eq!(code, 4002);
    assert!(pings >= 3, "the server pinged before giving up ({pings})");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_closes_every_socket_with_1001() {
    let server = TestServer::start(Config::default()).await;
    let mut a = server.member("a", "general").await;
    let mut b = server.client().await;
    b.alive().await;
    let addr = server.addr;
    server.stop().await;
    assert_eq!(a.closed().await.0, 1001);
    assert_eq!(b.closed().await.0, 1001);
    assert!(tokio_tungstenite::connect_async(format!("ws://{addr}/ws"))
        .await
        .is_err());
}

#[tokio::test]
async fn protocol_1_1_member_pages_and_counts_over_the_wire() {
    let server = TestServer::start(Config {
        member_page: 2,
        presence_threshold: 2,
        ..Config::default()
    })
    .await;
    let mut ada = server.member("ada", "general").await;
    let mut bo = server.member("Bo", "general").await;
    ada.recv_type("presence").await;
    // The third member is one past both bounds: a capped page, no presence.
    let (mut cy, _) = server.user("cy").await;
    cy.send(json!({"type": "join", "room": "general"})).await;
    let joined = cy.recv_type("joined").await;
    assert_eq!(joined["members"], json!(["ada", "Bo"]));
    assert_eq!(joined["member_count"], 3);
    // Within about a second, the others get the count (and no presence).
    let count = tokio::time::timeout(Duration::from_secs(3), ada.recv())
        .await
        .expect("a member_count within the tick");
    assert_eq!(
        count,
        json!({"type": "member_count", "room": "general", "count": 3})
    );
    assert_eq!(bo.recv().await["type"], "member_count");
    assert_eq!(cy.recv().await["type"], "member_count");
    // Paging at and past the limits.
    cy.send(json!({"type": "members", "room": "general", "after": "Bo", "limit": 500}))
        .await;
    assert_eq!(
        cy.recv().await,
        json!({"type": "members", "room": "general", "names": ["cy"], "more": false})
    );
    cy.send(json!({"type": "members", "room": "general", "limit": 1}))
        .await;
    assert_eq!(
        cy.recv().await,
        json!({"type": "members", "room": "general", "names": ["ada"], "more": true})
    );
    for limit in [0, 501] {
        cy.expect_error(
            json!({"type": "members", "room": "general", "limit": limit}),
            "bad_request",
        )
        .await;
    }
    cy.expect_error(json!({"type": "members", "room": "nowhere"}), "not_in_room")
        .await;
    server.stop().await;
}
