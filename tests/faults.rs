//! Faults and attacks of issue 11, each against a real server: what a client
//! or an operator can do wrong, and what the server does about it.

mod common;

use common::{fast, ids, status_of, upgrade_request, Client, TestServer};
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

#[tokio::test]
async fn a_dns_rebinding_page_is_refused_by_its_host_name() {
    let server = TestServer::start(fast()).await;
    let status = status_of(server.addr, &upgrade_request("evil.test", "")).await;
    assert_eq!(status, "HTTP/1.1 421 Misdirected Request");
    let page = "GET / HTTP/1.1\r\nHost: evil.test:3000\r\nConnection: close\r\n\r\n";
    assert_eq!(
        status_of(server.addr, page).await,
        "HTTP/1.1 421 Misdirected Request"
    );
    // The server's own names still work.
    for host in ["localhost:3000", &server.addr.to_string()] {
        let status = status_of(server.addr, &upgrade_request(host, "")).await;
        assert_eq!(status, "HTTP/1.1 101 Switching Protocols", "{host}");
    }
    server.stop().await;

    let server = TestServer::start(chat::Config {
        allowed_hosts: vec!["chat.example.org".into()],
        ..fast()
    })
    .await;
    let status = status_of(server.addr, &upgrade_request("chat.example.org", "")).await;
    assert_eq!(status, "HTTP/1.1 101 Switching Protocols");
    let status = status_of(server.addr, &upgrade_request("evil.test", "")).await;
    assert_eq!(status, "HTTP/1.1 421 Misdirected Request");
    server.stop().await;
}

#[tokio::test]
async fn a_second_server_on_one_data_directory_stops_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let first = common::ServerProcess::spawn(dir.path(), &[]).await;
    // Serving, so it holds the lock: it listens before it opens the store,
    // and a second one started meanwhile could take the lock first.
    common::Client::connect(first.addr).await.alive().await;
    let mut second = common::ServerProcess::command(dir.path(), common::free_addr())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // It must stop by itself; should it run (the lock not held), the test
    // fails instead of waiting on it for good.
    let deadline = std::time::Instant::now() + common::WAIT;
    let status = loop {
        if let Some(status) = second.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            panic!("the second server did not stop");
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let second = second.wait_with_output().unwrap();
    assert!(!status.success());
    let stderr = String::from_utf8_lossy(&second.stderr);
    assert!(
        stderr.contains("another chat server is using this data directory"),
        "{stderr}"
    );
    // The first one still serves.
    let mut c = common::Client::connect(first.addr).await;
    c.alive().await;
}

#[tokio::test]
async fn healthz_answers_ok_while_the_store_commits_and_reads_and_503_when_it_cannot() {
    if common::on_postgres() {
        return; // It breaks the SQLite file; tests/postgres.rs stops PostgreSQL instead.
    }
    let dir = tempfile::tempdir().unwrap();
    let server = TestServer::start_in(fast(), dir.path()).await;
    let ask = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    // Not on the chat's own address: only on the operations listener.
    let public = common::raw_http(server.addr, ask).await;
    assert!(public.starts_with("HTTP/1.1 404"), "{public}");
    let ops = server.ops_addr;
    let ok = common::raw_http(ops, ask).await;
    assert!(ok.starts_with("HTTP/1.1 200 OK"), "{ok}");
    assert!(ok.ends_with("ok\n"), "{ok}");
    // Asked again at once: the result is reused, nothing is written.
    let db = rusqlite::Connection::open(dir.path().join(chat::store::DB_FILE)).unwrap();
    let probed = || -> i64 {
        db.query_row("SELECT at_ms FROM probe", [], |r| r.get(0))
            .unwrap()
    };
    let (first, start) = (probed(), std::time::Instant::now());
    for _ in 0..20 {
        assert!(common::raw_http(ops, ask).await.starts_with("HTTP/1.1 200"));
    }
    if start.elapsed() < std::time::Duration::from_millis(900) {
        assert_eq!(probed(), first, "20 probes within the second wrote nothing");
    }
    // The database refuses writes now, as a full disk would.
    db.execute_batch(
        "CREATE TRIGGER refuse BEFORE INSERT ON probe \
         BEGIN SELECT RAISE(ABORT, 'simulated write failure'); END;",
    )
    .unwrap();
    let sick = common::http_until(ops, ask, "HTTP/1.1 503").await;
    assert!(
        sick.ends_with("unhealthy: the store is not taking writes\n"),
        "{sick}"
    );
    assert!(
        !sick.contains("simulated"),
        "no store error reaches a client: {sick}"
    );
    db.execute_batch("DROP TRIGGER refuse").unwrap();
    common::http_until(ops, ask, "HTTP/1.1 200 OK").await;
    // Reads fail (the table they read is gone): said too.
    db.execute_batch("ALTER TABLE read_marks RENAME TO read_marks_away")
        .unwrap();
    let sick = common::http_until(ops, ask, "HTTP/1.1 503").await;
    assert!(
        sick.ends_with("unhealthy: the store is not answering reads\n"),
        "{sick}"
    );
    db.execute_batch("ALTER TABLE read_marks_away RENAME TO read_marks")
        .unwrap();
    common::http_until(ops, ask, "HTTP/1.1 200 OK").await;
    server.stop().await;
}

#[tokio::test]
async fn metrics_count_connections_messages_deliveries_and_refusals() {
    if common::on_postgres() {
        return; // The same counting on either store; this one is SQLite's.
    }
    // A server process of its own: the recorder is per process, so every
    // count below is this server's alone and can be exact.
    let dir = tempfile::tempdir().unwrap();
    let ops = common::free_addr().to_string();
    let mut server =
        common::ServerProcess::spawn(dir.path(), &[("CHAT_OPS_ADDR", ops.as_str())]).await;
    let mut alice = Client::member_at(server.addr, "alice", "general").await;
    let mut bob = Client::member_at(server.addr, "bob", "general").await;
    alice.post_numbered("general", 3).await;
    for _ in 0..3 {
        bob.recv_type("message").await;
    }
    bob.expect_error(json!({"type": "nonsense"}), "bad_request")
        .await;
    let foreign = upgrade_request("localhost", "")
        .replace("Origin: http://localhost", "Origin: http://evil.test");
    assert_eq!(
        status_of(server.addr, &foreign).await,
        "HTTP/1.1 403 Forbidden"
    );
    let ask = "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    let public = common::raw_http(server.addr, ask).await;
    assert!(public.starts_with("HTTP/1.1 404"), "not public: {public}");
    let text = common::raw_http(ops.parse().unwrap(), ask).await;
    assert!(text.starts_with("HTTP/1.1 200 OK"), "{text}");
    let value = |line_start: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(line_start))
            .unwrap_or_else(|| panic!("{line_start} in {text}"))
            .rsplit(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(value("chat_connections "), 2.0);
    assert_eq!(value("chat_messages_stored_total "), 3.0);
    assert_eq!(
        value("chat_deliveries_total "),
        6.0,
        "3 messages to 2 members"
    );
    assert_eq!(
        value("chat_refused_frames_total{code=\"bad_request\"} "),
        1.0
    );
    assert_eq!(
        value("chat_refused_upgrades_total{reason=\"origin\"} "),
        1.0
    );
    let commits = value("chat_store_commit_seconds_count ");
    assert!(
        (1.0..=3.0).contains(&commits),
        "{commits} commits for 3 messages"
    );
    assert!(text.contains("chat_store_commit_seconds_bucket{le=\"0.005\"}"));
    assert!(text.contains("chat_hub_queue_depth "));
    server.kill();
}
