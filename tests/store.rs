//! Integration tests of durable history: restarts, SIGKILL under load, store
//! failures, many rooms, scroll-back, and migrations, each with its own
//! temporary data directory.

mod common;

use chat::Config;
use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

/// A message as a client saw it: (id, user, text, ts).
type Seen = (u64, String, String, u64);

fn seen(m: &Value) -> Seen {
    (
        m["id"].as_u64().unwrap(),
        m["user"].as_str().unwrap().to_owned(),
        m["text"].as_str().unwrap().to_owned(),
        m["ts"].as_u64().unwrap(),
    )
}

/// Every message of `room`, oldest first.
async fn all_history(c: &mut Client, room: &str) -> Vec<Value> {
    let pages = c.history_pages(room).await;
    pages.into_iter().rev().flatten().collect()
}

#[tokio::test]
async fn messages_ids_and_rooms_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(fast(), dir.path()).await;
    let (mut alice, _) = server.user("alice").await;
    alice.join("general").await;
    alice.join("kept-room").await; // created, never posted to
    let (mut bob, first_welcome) = server.user("bob").await;
    bob.join("general").await;
    let bob_token = first_welcome["token"].as_str().unwrap().to_owned();
    let mut sent = Vec::new();
    for i in 1..=5 {
        alice
            .send(json!({"type": "send", "room": "general", "text": format!("m{i}")}))
            .await;
        let m = bob.recv_type("message").await;
        sent.push(seen(&m));
    }
    server.stop().await;

    let server = TestServer::start_in(fast(), dir.path()).await;
    // 1.1: names and tokens survive too: "bob" is bob's, his token takes it back.
    let mut other = server.client().await;
    other
        .expect_error(json!({"type": "hello", "name": "Bob"}), "name_taken")
        .await;
    let mut bob = server.client().await;
    bob.send(json!({"type": "hello", "name": "bob", "token": bob_token}))
        .await;
    let welcome = bob.recv_type("welcome").await;
    assert_eq!(welcome["user"], first_welcome["user"]);
    assert_eq!(welcome["rooms"], json!(["general", "kept-room"]));
    // bob had read up to 3: exactly 4 and 5 come back, as they were.
    bob.send(json!({"type": "join", "room": "general", "after": 3}))
        .await;
    let joined = bob.recv_type("joined").await;
    let replay: Vec<Seen> = joined["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(seen)
        .collect();
    assert_eq!(replay, sent[3..]);
    assert_eq!(joined["messages"][0]["html"], "m4");
    bob.send(json!({"type": "send", "room": "general", "text": "after restart"}))
        .await;
    assert_eq!(bob.recv_type("message").await["id"], 6);
    server.stop().await;
}

#[tokio::test]
async fn a_replay_beyond_the_cap_says_what_was_missed() {
    let config = Config {
        replay_cap: 3,
        ..fast()
    };
    let server = TestServer::start(config).await;
    let mut alice = server.member("alice", "general").await;
    alice.post_numbered("general", 5).await;
    let (mut bob, _) = server.user("bob").await;
    bob.send(json!({"type": "join", "room": "general", "after": 0}))
        .await;
    let joined = bob.recv_type("joined").await;
    assert_eq!(ids(&joined["messages"]), [3, 4, 5]);
    assert_eq!(joined["missed"], true);
    server.stop().await;
}

#[tokio::test]
async fn joining_a_room_already_joined_answers_the_members_and_no_history() {
    let server = TestServer::start(fast()).await;
    let mut alice = server.member("alice", "general").await;
    alice.post_numbered("general", 5).await;
    for after in [json!(0), json!(null)] {
        alice
            .send(json!({"type": "join", "room": "general", "after": after}))
            .await;
        let joined = alice.recv_type("joined").await;
        assert_eq!(joined["messages"], json!([]), "nothing re-sent");
        assert_eq!(joined["members"], json!(["alice"]));
        assert_eq!(joined["member_count"], 1);
    }
    alice.post_numbered("general", 1).await;
    server.stop().await;
}

#[tokio::test]
async fn scroll_back_pages_to_the_very_first_message() {
    let server = TestServer::start(fast()).await;
    let mut c = server.member("alice", "general").await;
    c.post_numbered("general", 250).await;
    let pages: Vec<Vec<u64>> = c
        .history_pages("general")
        .await
        .into_iter()
        .map(|page| ids(&Value::Array(page)))
        .collect();
    assert_eq!(
        pages,
        [
            (151..=250).collect::<Vec<_>>(),
            (51..=150).collect(),
            (1..=50).collect()
        ]
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_posting_to_many_rooms_keeps_every_room_in_order() {
    const ROOMS: usize = 10;
    const SENDERS: usize = 2;
    const EACH: usize = 30;
    const TOTAL: u64 = (SENDERS * EACH) as u64;
    let server = TestServer::start(fast()).await;
    let mut watchers = Vec::new();
    let mut senders = Vec::new();
    for r in 0..ROOMS {
        let room = format!("room-{r}");
        watchers.push(server.member(&format!("watch{r}"), &room).await);
        for s in 0..SENDERS {
            senders.push((
                room.clone(),
                server.member(&format!("s{r}-{s}"), &room).await,
            ));
        }
    }
    let sending: Vec<_> = senders
        .into_iter()
        .map(|(room, mut c)| {
            tokio::spawn(async move {
                for i in 0..EACH {
                    c.send(json!({"type": "send", "room": room, "text": format!("{i}")}))
                        .await;
                }
                for _ in 0..TOTAL {
                    c.recv_type("message").await;
                }
                c
            })
        })
        .collect();
    let watching: Vec<_> = watchers
        .into_iter()
        .enumerate()
        .map(|(r, mut c)| {
            tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < TOTAL as usize {
                    let m = c.recv_type("message").await;
                    assert_eq!(m["room"], format!("room-{r}"));
                    got.push(m["id"].as_u64().unwrap());
                }
                (got, all_history(&mut c, &format!("room-{r}")).await)
            })
        })
        .collect();
    let mut _keep = Vec::new();
    for t in sending {
        _keep.push(t.await.unwrap());
    }
    for t in watching {
        let (live, stored) = t.await.unwrap();
        assert_eq!(live, (1..=TOTAL).collect::<Vec<_>>());
        assert_eq!(ids(&Value::Array(stored)), live);
    }
    server.stop().await;
}

#[tokio::test]
async fn a_failed_write_is_refused_and_other_rooms_go_on() {
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(fast(), dir.path()).await;
    let (mut alice, _) = server.user("alice").await; // the store is open from here
                                                     // Make the database refuse one message, as a full disk or I/O error would.
    match server.database_url() {
        Some(url) => {
            let url = url.to_owned();
            std::thread::spawn(move || {
                let mut db = postgres::Client::connect(&url, postgres::NoTls).unwrap();
                db.batch_execute(
                    "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN
                       IF NEW.text = 'boom' THEN RAISE EXCEPTION 'simulated write failure';
                       END IF; RETURN NEW; END $$;
                     CREATE TRIGGER refuse BEFORE INSERT ON messages
                       FOR EACH ROW EXECUTE FUNCTION refuse();",
                )
                .unwrap();
            })
            .join()
            .unwrap();
        }
        None => {
            let db = rusqlite::Connection::open(dir.path().join(chat::store::DB_FILE)).unwrap();
            db.execute_batch(
                "CREATE TRIGGER refuse BEFORE INSERT ON messages WHEN NEW.text = 'boom'
                 BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;",
            )
            .unwrap();
        }
    }
    alice.join("broken").await;
    alice.join("fine").await;
    let post = |room: &str, text: &str, nonce: &str| json!({"type": "send", "room": room, "text": text, "nonce": nonce});
    alice.send(post("broken", "one", "n1")).await;
    assert_eq!(alice.recv_type("message").await["id"], 1);
    alice.send(post("broken", "boom", "n2")).await;
    alice.send(post("fine", "unaffected", "n3")).await;
    alice.send(post("broken", "two", "n4")).await;
    let e = alice.recv().await;
    assert_eq!(
        (e["code"].as_str(), e["nonce"].as_str()),
        (Some("unavailable"), Some("n2"))
    );
    let fine = alice.recv().await;
    assert_eq!(
        (fine["room"].as_str(), fine["id"].as_u64()),
        (Some("fine"), Some(1))
    );
    let two = alice.recv().await;
    assert_eq!(
        (two["text"].as_str(), two["id"].as_u64()),
        (Some("two"), Some(2))
    );
    let stored = all_history(&mut alice, "broken").await;
    let texts: Vec<&str> = stored.iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["one", "two"]);
    server.stop().await;
}

#[tokio::test]
async fn an_empty_data_directory_is_created_and_migrated_once() {
    if on_postgres() {
        return; // SQLite's file; tests/cluster.rs starts nodes together on PostgreSQL.
    }
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("does/not/exist/yet");
    for round in 0..2 {
        let server = TestServer::start_in(Config::default(), &data).await;
        // A new name each round: the first round's "alice" is still hers.
        let mut c = server.member(&format!("alice{round}"), "general").await;
        c.send(json!({"type": "send", "room": "general", "text": "hi"}))
            .await;
        assert_eq!(c.recv_type("message").await["id"], round + 1);
        server.stop().await;
        let db = rusqlite::Connection::open(data.join(chat::store::DB_FILE)).unwrap();
        let version: i64 = db
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, chat::store::MIGRATIONS.len() as i64);
        let mode: String = db
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
    }
}

/// A SQLite store in `dir`, for the tests that open the store itself.
fn sqlite_options(dir: &std::path::Path) -> chat::store::StoreOptions {
    chat::store::StoreOptions {
        data_dir: dir.to_owned(),
        sync: chat::SyncMode::Normal,
        busy_timeout: Duration::from_secs(1),
        database_url: None,
    }
}

#[test]
fn a_database_from_a_newer_server_stops_this_one_naming_both_versions() {
    let dir = tempfile::tempdir().unwrap();
    let options = sqlite_options(dir.path());
    drop(chat::store::open(&options).unwrap());
    let known = chat::store::MIGRATIONS.len() as i64;
    let db = rusqlite::Connection::open(dir.path().join(chat::store::DB_FILE)).unwrap();
    db.pragma_update(None, "user_version", known + 1).unwrap();
    drop(db);
    // Another test of this binary spawning a process may hold the data
    // directory's lock for a moment (a forked child keeps the lock's file
    // until it execs): wait for that to pass (10 s at most).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let said = loop {
        let said = chat::store::open(&options)
            .err()
            .expect("refused")
            .to_string();
        if !said.contains("lock file") || std::time::Instant::now() > deadline {
            break said;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let (found, ours) = (format!("version {}", known + 1), format!("version {known}"));
    assert!(said.contains(&found) && said.contains(&ours), "{said}");
    // Nothing was changed: the version stays the newer one.
    let db = rusqlite::Connection::open(dir.path().join(chat::store::DB_FILE)).unwrap();
    let version: i64 = db
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap();
    assert_eq!(version, known + 1);
}

#[tokio::test]
async fn a_data_directory_that_cannot_be_opened_stops_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let not_a_dir = dir.path().join("file");
    std::fs::write(&not_a_dir, "not a directory").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chat"))
        .arg("--data-dir")
        .arg(&not_a_dir)
        .env("LEPTOS_SITE_ADDR", "127.0.0.1:0")
        .env("CHAT_OPS_ADDR", "127.0.0.1:0")
        .env("LEPTOS_OUTPUT_NAME", "chat")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("cannot open the store") && stderr.contains("file"),
        "{stderr}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_under_load_loses_no_delivered_message() {
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("CHAT_RATE_PER_SEC", "100000"),
        ("CHAT_RATE_BURST", "100000"),
        // The audit pages through thousands of messages.
        ("CHAT_REQUEST_RATE_PER_SEC", "100000"),
        ("CHAT_REQUEST_BURST", "100000"),
    ];
    let mut server = ServerProcess::spawn(dir.path(), &env).await;
    // Everything any client receives, by id.
    let received: Arc<Mutex<BTreeMap<u64, Seen>>> = Arc::default();
    let mut tasks = Vec::new();
    for s in 0..3 {
        let mut c = Client::connect(server.addr).await;
        c.send(json!({"type": "hello", "name": format!("sender{s}")}))
            .await;
        c.recv_type("welcome").await;
        c.join("load").await;
        let received = received.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent = 0u64;
            let mut echoed = 0u64;
            loop {
                while sent < echoed + 8 {
                    let frame =
                        json!({"type": "send", "room": "load", "text": format!("{s}:{sent}")});
                    if c.ws().send(Message::text(frame.to_string())).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                match c.ws().next().await {
                    Some(Ok(Message::Text(t))) => {
                        let v: Value = serde_json::from_str(&t).unwrap();
                        if v["type"] == "message" {
                            let m = seen(&v);
                            if m.1 == format!("sender{s}") {
                                echoed += 1;
                            }
                            let mut all = received.lock().unwrap();
                            if let Some(before) = all.insert(m.0, m.clone()) {
                                assert_eq!(before, m, "one id, one message");
                            }
                        }
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.kill();
    for t in tasks {
        t.await.unwrap();
    }
    let received = received.lock().unwrap().clone();
    assert!(
        received.len() > 100,
        "the load ran ({} messages)",
        received.len()
    );

    let server = ServerProcess::spawn(dir.path(), &env).await;
    let mut c = Client::connect(server.addr).await;
    c.send(json!({"type": "hello", "name": "auditor"})).await;
    c.recv_type("welcome").await;
    c.join("load").await;
    let stored: Vec<Seen> = all_history(&mut c, "load").await.iter().map(seen).collect();
    let stored_ids: Vec<u64> = stored.iter().map(|m| m.0).collect();
    assert_eq!(
        stored_ids,
        (1..=stored.len() as u64).collect::<Vec<_>>(),
        "no id skipped"
    );
    let by_id: BTreeMap<u64, Seen> = stored.into_iter().map(|m| (m.0, m)).collect();
    for (id, m) in &received {
        assert_eq!(
            by_id.get(id),
            Some(m),
            "delivered message {id} is stored as delivered"
        );
    }
    c.send(json!({"type": "send", "room": "load", "text": "next"}))
        .await;
    let next = c.recv_type("message").await["id"].as_u64().unwrap();
    assert_eq!(next, by_id.len() as u64 + 1, "ids go on without reuse");
    eprintln!(
        "SIGKILL test: {} delivered before the kill, {} stored",
        received.len(),
        by_id.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_commit_of_5000_messages_reaches_a_normal_reader_whole_and_in_order() {
    if on_postgres() {
        return; // It holds SQLite's write lock; the batch path is shared.
    }
    // A server process of its own: its metrics count its commits alone.
    let dir = tempfile::tempdir().unwrap();
    let ops = common::free_addr().to_string();
    let mut server = common::ServerProcess::spawn(
        dir.path(),
        &[
            ("CHAT_OPS_ADDR", ops.as_str()),
            ("CHAT_RATE_PER_SEC", "1000000"),
            ("CHAT_RATE_BURST", "1000000"),
        ],
    )
    .await;
    let commits = || async {
        let ask = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let text = common::raw_http(ops.parse().unwrap(), ask).await;
        let line = text
            .lines()
            .find(|l| l.starts_with("chat_store_commit_seconds_count "));
        line.map_or(0.0, |l| {
            l.rsplit(' ').next().unwrap().parse::<f64>().unwrap()
        })
    };
    let mut sender = Client::member_at(server.addr, "sender", "general").await;
    let mut reader = Client::member_at(server.addr, "reader", "general").await;
    // Another writer holds the database (for less than the busy timeout), so
    // the 5,000 messages queue up for the commit thread and go in together
    // once it lets go: commits far larger than one message each. Nothing may
    // be refused meanwhile.
    let db = rusqlite::Connection::open(dir.path().join(chat::store::DB_FILE)).unwrap();
    db.execute_batch("BEGIN IMMEDIATE").unwrap();
    let before = commits().await;
    const N: u64 = 5000;
    let text = "z".repeat(200);
    for _ in 0..N {
        sender
            .send(json!({"type": "send", "room": "general", "text": text}))
            .await;
    }
    // The pong comes once the hub has handed all 5,000 to the commit thread.
    sender.alive().await;
    db.execute_batch("COMMIT").unwrap();
    for who in [&mut sender, &mut reader] {
        let mut next = 1;
        while next <= N {
            let v = who.recv().await;
            assert_ne!(v["type"], "error", "{v}");
            if v["type"] == "message" {
                assert_eq!(v["id"], next, "in order, none missing");
                next += 1;
            }
        }
        who.alive().await;
    }
    // A commit's messages stay under a quarter of a member's queue (about
    // 280 of these), so 5,000 take some 18 commits: at most 50 (100 each
    // on average), where one commit each would be 5,000.
    let made = commits().await - before;
    assert!(
        (1.0..=50.0).contains(&made),
        "{made} commits for {N} messages"
    );
    server.kill();
}

#[test]
fn accounts_sessions_and_failed_sign_ins_are_kept_in_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let options = sqlite_options(dir.path());
    let (r, mut w) = chat::store::open(&options).unwrap();
    common::accounts::accounts_sessions_and_failures_are_kept(&r, &mut w);
    common::accounts::invites_and_tokens_are_kept(&r, &mut w);
}
