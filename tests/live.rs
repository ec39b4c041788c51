//! *1.2*: the fallback transport itself (`/live`): what the WebSocket suites
//! cannot say about it. Those suites run over it too (`make test`'s
//! `CHAT_TEST_TRANSPORT=live` pass): order, `after`, nonces, rate limits,
//! the origin check, the size bound and slow readers.

mod common;

use chat::Config;
use common::live::{request, Event, LiveClient};
use common::*;
use serde_json::{json, Value};
use std::time::Duration;

fn say(room: &str, text: &str) -> Value {
    json!({"type": "send", "room": room, "text": text})
}

/// Texts of the next `n` messages `c` gets, skipping other frames.
async fn texts(c: &mut LiveClient, n: usize) -> Vec<String> {
    let mut got = Vec::new();
    while got.len() < n {
        let m = c.frame_of("message").await;
        got.push(m["text"].as_str().unwrap().to_owned());
    }
    got
}

fn numbered(range: std::ops::RangeInclusive<usize>) -> Vec<String> {
    range.map(|i| format!("m{i}")).collect()
}

#[tokio::test]
async fn a_dropped_stream_resumes_after_its_last_event_losing_and_doubling_nothing() {
    let server = TestServer::start(fast()).await;
    let mut ann = server.member("ann", "general").await;
    let mut bob = LiveClient::member(server.addr, "bob", "general").await;
    ann.post_numbered("general", 5).await;
    assert_eq!(texts(&mut bob, 5).await, numbered(1..=5));
    // The stream drops; messages go on meanwhile; it comes back.
    let (session, last, seq) = (bob.session.clone(), bob.last_id, bob.seq);
    drop(bob);
    for i in 6..=10 {
        ann.send(say("general", &format!("m{i}"))).await;
    }
    for _ in 6..=10 {
        ann.recv_type("message").await;
    }
    let mut bob = LiveClient::resume(server.addr, &session, last, seq)
        .await
        .expect("resumed");
    ann.post_numbered("general", 2).await;
    let got = texts(&mut bob, 7).await;
    assert_eq!(
        got[..5],
        numbered(6..=10),
        "the missed ones, once, in order"
    );
    assert_eq!(got[5..], numbered(1..=2));
    // Coming back twice from the same point gives the same frames again:
    // the client decides what it has.
    let again = LiveClient::resume(server.addr, &session, last, bob.seq).await;
    let mut again = again.expect("resumed again");
    assert_eq!(texts(&mut again, 7).await, got);
    // The stream that was replaced has ended.
    assert_eq!(bob.next().await, None, "a stream another took over ends");
    // And the session still posts, in its order.
    again.seq = seq;
    assert_eq!(again.post(&[say("general", "still here")]).await, 204);
    assert_eq!(ann.recv_type("message").await["text"], "still here");
    server.stop().await;
}

#[tokio::test]
async fn a_stream_that_missed_more_than_was_kept_is_told_to_start_over_and_its_session_ends() {
    let server = TestServer::start(Config {
        outbound_bytes: 4 * 1024,
        ..fast()
    })
    .await;
    let mut ann = server.member("ann", "general").await;
    let mut bob = LiveClient::member(server.addr, "bob", "general").await;
    let (session, last, seq) = (bob.session.clone(), bob.last_id, bob.seq);
    ann.send(say("general", &"x".repeat(2000))).await;
    assert_eq!(
        bob.frame_of("message").await["text"]
            .as_str()
            .unwrap()
            .len(),
        2000
    );
    // 3 × 2000 bytes written since `last` (plus the join's frames): more
    // than the 4 KiB kept.
    for _ in 0..2 {
        ann.send(say("general", &"y".repeat(2000))).await;
        bob.frame_of("message").await;
    }
    drop(bob);
    let (status, why) = LiveClient::resume(server.addr, &session, last, seq)
        .await
        .err()
        .expect("refused");
    assert_eq!(status, 410, "{why}");
    ann.sees_leave("general", "bob").await;
    let (status, _) = LiveClient::resume(server.addr, &session, last, seq)
        .await
        .err()
        .expect("gone");
    assert_eq!(status, 404);
    server.stop().await;
}

#[tokio::test]
async fn posts_are_applied_once_in_order_and_a_retry_changes_nothing() {
    let server = TestServer::start(fast()).await;
    let mut ann = server.member("ann", "general").await;
    let bob = LiveClient::member(server.addr, "bob", "general").await;
    let seq = bob.seq;
    let body = format!("{}\n{}\n", say("general", "one"), say("general", "two"));
    assert_eq!(bob.post_raw(seq, body.as_bytes(), &[]).await.0, 204);
    assert_eq!(
        bob.post_raw(seq, body.as_bytes(), &[]).await.0,
        204,
        "a retry"
    );
    assert_eq!(bob.post_raw(seq + 2, b"", &[]).await.0, 409, "one skipped");
    assert_eq!(
        bob.post_raw(seq + 1, say("general", "three").to_string().as_bytes(), &[])
            .await
            .0,
        204
    );
    for text in ["one", "two", "three"] {
        assert_eq!(ann.recv_type("message").await["text"], text);
    }
    ann.quiet().await;
    server.stop().await;
}

#[tokio::test]
async fn frames_come_from_the_chats_own_pages_only_and_sessions_are_never_made_up() {
    let server = TestServer::start(fast()).await;
    let bob = LiveClient::open(server.addr).await;
    let hello = json!({"type": "hello", "name": "bob"}).to_string();
    let foreign = [("Origin", "https://evil.example")];
    assert_eq!(bob.post_raw(0, hello.as_bytes(), &foreign).await.0, 403);
    // Neither Origin nor Sec-Fetch-Site: refused as a form post would be.
    let path = format!("/live?session={}&seq=0", bob.session);
    let (status, _, _) = request(server.addr, "POST", &path, &[], hello.as_bytes()).await;
    assert_eq!(status, 403);
    let same = [("Sec-Fetch-Site", "same-origin")];
    let (status, _, _) = request(server.addr, "POST", &path, &same, hello.as_bytes()).await;
    assert_eq!(status, 204);
    // A stream opened from another site is refused like a WebSocket.
    let refused = LiveClient::open_with(server.addr, &foreign).await.err();
    assert_eq!(refused.expect("refused").0, 403);
    // A session id nobody was given names nothing.
    let made_up = "0".repeat(64);
    let (status, _) = LiveClient::resume(server.addr, &made_up, 0, 0)
        .await
        .err()
        .unwrap();
    assert_eq!(status, 404);
    let path = format!("/live?session={made_up}&seq=0");
    let origin = format!("http://{}", server.addr);
    let (status, _, _) = request(
        server.addr,
        "POST",
        &path,
        &[("Origin", &origin)],
        hello.as_bytes(),
    )
    .await;
    assert_eq!(status, 404);
    // Resuming needs to say from where.
    let path = format!("/live?session={}", bob.session);
    let (status, _, _) = request(server.addr, "GET", &path, &[], b"").await;
    assert_eq!(status, 400);
    server.stop().await;
}

#[tokio::test]
async fn a_session_nobody_hears_from_within_the_idle_timeout_is_closed_and_pings_keep_it() {
    let server = TestServer::start(Config {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(600),
        ..fast()
    })
    .await;
    let mut bob = LiveClient::member(server.addr, "bob", "general").await;
    // Pinging every 200 ms for 1.2 s (twice the timeout) keeps it.
    for _ in 0..6 {
        assert_eq!(bob.post(&[json!({"type": "ping"})]).await, 204);
        bob.frame_of("pong").await;
        let _ = bob.next_within(Duration::from_millis(200)).await;
    }
    // Then silence (keep-alive comments still come down: they are not the
    // client speaking).
    loop {
        match bob.next().await {
            Some(Event::Close(code, _)) => {
                assert_eq!(code, 4002);
                break;
            }
            Some(Event::Frame(_)) => {}
            None => panic!("ended without a close event"),
        }
    }
    let (mut ann, _) = server.user("ann").await;
    assert_eq!(
        ann.join("general").await["members"],
        json!(["ann"]),
        "bob is gone"
    );
    server.stop().await;
}

#[tokio::test]
async fn sessions_count_against_the_per_address_cap_and_leaving_frees_the_place() {
    let server = TestServer::start(Config {
        max_connections_per_addr: 2,
        ..fast()
    })
    .await;
    let first = LiveClient::open(server.addr).await;
    let _ws = server.client().await;
    let refused = LiveClient::open_with(server.addr, &[])
        .await
        .err()
        .expect("refused");
    assert_eq!(refused.0, 429, "{}", refused.1);
    // The page leaves (`end=1`): its place is free again.
    let path = format!("/live?session={}&seq=0&end=1", first.session);
    let origin = format!("http://{}", server.addr);
    let (status, _, _) = request(server.addr, "POST", &path, &[("Origin", &origin)], b"").await;
    assert_eq!(status, 204);
    let deadline = tokio::time::Instant::now() + WAIT;
    while LiveClient::open_with(server.addr, &[]).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the place never came back"
        );
        tokio::task::yield_now().await;
    }
    server.stop().await;
}

#[tokio::test]
async fn a_mixed_room_gets_every_message_once_in_one_order() {
    let server = TestServer::start(fast()).await;
    // Three of each; a fallback member is a `Client` over the fallback.
    let mut members = Vec::new();
    for i in 0..3 {
        members.push((
            format!("w{i}"),
            server.member(&format!("w{i}"), "mixed").await,
        ));
        let live = LiveClient::member(server.addr, &format!("l{i}"), "mixed").await;
        members.push((format!("l{i}"), Client::live(live)));
    }
    const EACH: usize = 30;
    let total = EACH * 6;
    let mut senders = Vec::new();
    for (who, mut c) in members {
        senders.push(tokio::spawn(async move {
            for n in 0..EACH {
                c.send(say("mixed", &format!("{who}-{n}"))).await;
            }
            let mut got = Vec::new();
            while got.len() < total {
                let m = c.recv_type("message").await;
                got.push((
                    m["id"].as_u64().unwrap(),
                    m["text"].as_str().unwrap().to_owned(),
                ));
            }
            got
        }));
    }
    let mut seen = Vec::new();
    for s in senders {
        seen.push(s.await.unwrap());
    }
    let first = &seen[0];
    let ids: Vec<u64> = first.iter().map(|(id, _)| *id).collect();
    assert_eq!(
        ids,
        (1..=total as u64).collect::<Vec<_>>(),
        "no gap, no duplicate"
    );
    for other in &seen[1..] {
        assert_eq!(other, first, "one order for every member, either transport");
    }
    for i in 0..3 {
        for who in ["w", "l"] {
            let mine: Vec<_> = first
                .iter()
                .filter(|(_, t)| t.starts_with(&format!("{who}{i}-")))
                .map(|(_, t)| t.clone())
                .collect();
            let sent: Vec<_> = (0..EACH).map(|n| format!("{who}{i}-{n}")).collect();
            assert_eq!(mine, sent, "each sender's own order kept");
        }
    }
    server.stop().await;
}

#[tokio::test]
async fn a_post_over_64_kib_is_refused_whole_and_the_session_goes_on() {
    let server = TestServer::start(fast()).await;
    let mut bob = LiveClient::member(server.addr, "bob", "general").await;
    let line = say("general", &"z".repeat(2000)).to_string();
    let fits = format!("{line}\n").repeat(65_536 / (line.len() + 1));
    assert!(fits.len() <= 65_536);
    let over = format!("{fits}{}", "z".repeat(65_537 - fits.len()));
    assert_eq!(over.len(), 65_537);
    assert_eq!(bob.post_raw(bob.seq, over.as_bytes(), &[]).await.0, 413);
    assert_eq!(bob.post_raw(bob.seq, fits.as_bytes(), &[]).await.0, 204);
    let n = fits.lines().count();
    assert_eq!(texts(&mut bob, n).await.len(), n);
    server.stop().await;
}
