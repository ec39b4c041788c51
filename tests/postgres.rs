//! The PostgreSQL store against a real, throw-away PostgreSQL cluster
//! (`common::pg`): the store seam itself, and a real server on it.

mod common;

use chat::store::{
    pg, IdentityChange, IdentityRow, NewMessage, StoreOptions, StoreReader, StoreWriter, SyncMode,
};
use common::pg::PgCluster;
use common::{ids, TestServer};
use serde_json::json;
use std::time::Duration;

fn options(url: &str) -> StoreOptions {
    StoreOptions {
        data_dir: std::env::temp_dir(),
        sync: SyncMode::Normal,
        busy_timeout: Duration::from_secs(5),
        database_url: Some(url.to_owned()),
    }
}

fn msg(room: &str, text: &str, author: Option<&str>, nonce: Option<&str>) -> NewMessage {
    NewMessage {
        room: room.into(),
        user: "u".into(),
        text: text.into(),
        html: text.into(),
        ts: chat::store::now_ms(),
        author: author.map(str::to_owned),
        nonce: nonce.map(str::to_owned),
        reply_to: None,
        attachments: Vec::new(),
    }
}

#[test]
fn a_database_from_a_newer_server_stops_this_one_naming_both_versions() {
    let cluster = PgCluster::start();
    drop(pg::open(&cluster.url, &options(&cluster.url), "t0").unwrap());
    let mut db = postgres::Client::connect(&cluster.url, postgres::NoTls).unwrap();
    let ours: i32 = db
        .query_one("SELECT version FROM chat_schema", &[])
        .unwrap()
        .get(0);
    db.execute("UPDATE chat_schema SET version = $1", &[&(ours + 1)])
        .unwrap();
    let refused = pg::open(&cluster.url, &options(&cluster.url), "t1").err();
    let said = refused.expect("refused").to_string();
    let (found, known) = (format!("version {}", ours + 1), format!("version {ours}"));
    assert!(said.contains(&found) && said.contains(&known), "{said}");
}

#[test]
fn two_writers_on_one_database_number_a_room_without_gap_or_duplicate() {
    let cluster = PgCluster::start();
    let (reader, _) = pg::open(&cluster.url, &options(&cluster.url), "t0").unwrap();
    let writers: Vec<_> = (0..2)
        .map(|node| {
            let url = cluster.url.clone();
            std::thread::spawn(move || {
                let (_, mut w) = pg::open(&url, &options(&url), &format!("t{node}")).unwrap();
                let mut got = Vec::new();
                for round in 0..50 {
                    let batch: Vec<NewMessage> = (0..4)
                        .map(|i| msg("shared", &format!("{node}/{round}/{i}"), None, None))
                        .collect();
                    for stored in w.append(&batch) {
                        got.push(stored.unwrap().message.id);
                    }
                }
                got
            })
        })
        .collect();
    let mut all: Vec<u64> = writers
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    all.sort_unstable();
    assert_eq!(all, (1..=400).collect::<Vec<u64>>());
    let stored = reader.range("shared", 1, 400).unwrap();
    assert_eq!(stored.len(), 400);
    let rooms = reader.rooms().unwrap();
    let shared = rooms.iter().find(|r| r.name == "shared").unwrap();
    assert_eq!(shared.last_id, 400);
}

#[test]
fn nonces_identities_expiry_and_the_probe_behave_as_on_sqlite() {
    let cluster = PgCluster::start();
    let (r, mut w) = pg::open(&cluster.url, &options(&cluster.url), "t").unwrap();
    // Schema applied once: a second open finds it.
    let (_r2, _w2) = pg::open(&cluster.url, &options(&cluster.url), "t").unwrap();
    let first = w.append(&[msg("a", "hi", Some("id1"), Some("n1"))]);
    let again = w.append(&[
        msg("a", "hi again", Some("id1"), Some("n1")),
        msg("a", "other", Some("id2"), Some("n1")),
    ]);
    assert_eq!(first[0].as_ref().unwrap().message.id, 1);
    let repeat = again[0].as_ref().unwrap();
    assert!(repeat.repeat);
    assert_eq!((repeat.message.id, repeat.message.text.as_str()), (1, "hi"));
    assert_eq!(again[1].as_ref().unwrap().message.id, 2);
    assert_eq!(r.range("a", 1, 2).unwrap()[0].nonce.as_deref(), Some("n1"));

    let row = IdentityRow {
        id: "id1".into(),
        token_hash: [7; 32],
        name: "Ada".into(),
        seen_ms: 5,
    };
    w.save_identities(&[IdentityChange::Save(row.clone())])
        .unwrap();
    let renamed = IdentityRow {
        name: "Grace".into(),
        ..row.clone()
    };
    w.save_identities(&[IdentityChange::Save(renamed.clone())])
        .unwrap();
    assert_eq!(r.identities().unwrap(), [renamed]);
    w.save_identities(&[IdentityChange::Forget("id1".into())])
        .unwrap();
    assert_eq!(r.identities().unwrap(), []);

    w.probe().unwrap();
    w.probe().unwrap();
    // Every message of room a expires; its ids go on from 3.
    assert_eq!(w.expire(u64::MAX >> 2, 1).unwrap(), 1);
    assert_eq!(w.expire(u64::MAX >> 2, 100).unwrap(), 1);
    let next = w.append(&[msg("a", "after", None, None)]);
    assert_eq!(next[0].as_ref().unwrap().message.id, 3);
    w.create_room("empty").unwrap();
    w.delete_room("empty").unwrap();
    w.delete_room("a").unwrap();
    let names: Vec<String> = r.rooms().unwrap().into_iter().map(|r| r.name).collect();
    assert_eq!(names, ["a", "general"]);
}

#[test]
fn accounts_sessions_and_failed_sign_ins_are_kept_as_on_sqlite() {
    let cluster = PgCluster::start();
    let (r, mut w) = pg::open(&cluster.url, &options(&cluster.url), "t").unwrap();
    common::accounts::accounts_sessions_and_failures_are_kept(&r, &mut w);
    common::accounts::invites_and_tokens_are_kept(&r, &mut w);
}

#[tokio::test]
async fn a_server_on_postgresql_keeps_messages_and_identities_across_a_restart() {
    let cluster = PgCluster::start();
    let config = || cluster.node();
    let server = TestServer::start(config()).await;
    let (mut ada, welcome) = server.user("ada").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ada.join("general").await;
    ada.post_numbered("general", 3).await;
    server.stop().await;

    let server = TestServer::start(config()).await;
    let (mut bob, _) = server.user("bob").await;
    bob.send(json!({"type": "join", "room": "general", "after": 1}))
        .await;
    assert_eq!(ids(&bob.recv_type("joined").await["messages"]), [2, 3]);
    let mut c = server.client().await;
    c.expect_error(json!({"type": "hello", "name": "ADA"}), "name_taken")
        .await;
    let mut ada = server.client().await;
    ada.send(json!({"type": "hello", "name": "ada", "token": token}))
        .await;
    assert_eq!(ada.recv().await["user"], welcome["user"]);
    server.stop().await;
}

#[tokio::test]
async fn the_database_down_means_unavailable_and_healthz_503_then_it_recovers() {
    let cluster = PgCluster::start();
    let server = TestServer::start(cluster.node()).await;
    let mut ada = server.member("ada", "general").await;
    ada.post_numbered("general", 1).await;
    cluster.ctl("stop");
    ada.send(json!({"type": "send", "room": "general", "text": "lost?", "nonce": "x1"}))
        .await;
    let refused = ada.recv_type("error").await;
    assert_eq!(refused["code"], "unavailable");
    assert_eq!(refused["nonce"], "x1");
    let ask = "GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
    common::http_until(server.ops_addr, ask, "HTTP/1.1 503").await;
    cluster.ctl("start");
    // The same nonce again, once the database is back: posted once, as id 2.
    ada.send(json!({"type": "send", "room": "general", "text": "lost?", "nonce": "x1"}))
        .await;
    assert_eq!(ada.recv_type("message").await["id"], 2);
    common::http_until(server.ops_addr, ask, "HTTP/1.1 200").await;
    ada.alive().await;
    server.stop().await;
}

#[tokio::test]
async fn two_nodes_on_one_database_are_one_chat_each_member_gets_every_message_once_in_order() {
    let cluster = PgCluster::start();
    let config = || cluster.node();
    let a = TestServer::start(config()).await;
    let b = TestServer::start(config()).await;
    let mut ada = a.member("ada", "general").await;
    let mut bob = b.member("bob", "general").await;
    // Live both ways.
    ada.send(json!({"type": "send", "room": "general", "text": "from a"}))
        .await;
    assert_eq!(bob.recv_type("message").await["text"], "from a");
    bob.send(json!({"type": "send", "room": "general", "text": "from b"}))
        .await;
    assert_eq!(ada.recv_type("message").await["text"], "from a");
    assert_eq!(ada.recv_type("message").await["text"], "from b");
    assert_eq!(bob.recv_type("message").await["text"], "from b");
    // Both post at once: every member gets ids 3..=42 once, in order.
    for i in 0..20 {
        for (c, who) in [(&mut ada, "a"), (&mut bob, "b")] {
            let text = format!("{who}{i}");
            c.send(json!({"type": "send", "room": "general", "text": text}))
                .await;
        }
    }
    for c in [&mut ada, &mut bob] {
        let mut got = Vec::new();
        while got.len() < 40 {
            got.push(c.recv_type("message").await["id"].as_u64().unwrap());
        }
        assert_eq!(got, (3..=42).collect::<Vec<u64>>());
    }
    // A newcomer on either node reads the same history.
    let (mut cy, _) = a.user("cy").await;
    cy.send(json!({"type": "join", "room": "general", "after": 40}))
        .await;
    assert_eq!(ids(&cy.recv_type("joined").await["messages"]), [41, 42]);
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_server_on_postgresql_stops_cleanly_on_sigterm() {
    let cluster = PgCluster::start();
    let dir = tempfile::tempdir().unwrap();
    let addr = common::free_addr();
    let mut child = common::ServerProcess::command(dir.path(), addr)
        .env("CHAT_DATABASE_URL", &cluster.url)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + common::WAIT;
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(std::time::Instant::now() < deadline, "listens in time");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = common::Client::connect(addr).await;
    c.send(json!({"type": "hello", "name": "ada"})).await;
    c.recv_type("welcome").await;
    let term = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let out = tokio::task::spawn_blocking(move || {
        let status = child.wait().unwrap();
        let mut err = String::new();
        use std::io::Read;
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        (status, err)
    })
    .await
    .unwrap();
    assert!(out.0.success(), "exit {:?}: {}", out.0, out.1);
    assert!(!out.1.contains("panicked"), "{}", out.1);
}

#[test]
fn a_failing_message_is_left_out_and_the_batch_goes_on_without_a_gap() {
    let cluster = PgCluster::start();
    let (r, mut w) = pg::open(&cluster.url, &options(&cluster.url), "t").unwrap();
    w.append(&[msg("a", "first", None, None)]);
    let mut db = postgres::Client::connect(&cluster.url, postgres::NoTls).unwrap();
    db.batch_execute(
        "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN \
           IF NEW.text = 'boom' THEN RAISE EXCEPTION 'simulated write failure'; END IF; \
           RETURN NEW; END $$ LANGUAGE plpgsql; \
         CREATE TRIGGER refuse BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse();",
    )
    .unwrap();
    let results = w.append(&[
        msg("a", "before", Some("id1"), Some("n1")),
        msg("a", "boom", None, None),
        msg("a", "after", Some("id1"), Some("n1")), // a resend within the batch
        msg("b", "other room", None, None),
    ]);
    assert_eq!(results[0].as_ref().unwrap().message.id, 2);
    assert!(results[1].is_err());
    let resent = results[2].as_ref().unwrap();
    assert!(resent.repeat && resent.message.id == 2);
    assert_eq!(results[3].as_ref().unwrap().message.id, 1);
    let next = w.append(&[msg("a", "next", None, None)]);
    assert_eq!(next[0].as_ref().unwrap().message.id, 3, "no id skipped");
    let texts: Vec<String> = r
        .range("a", 1, 3)
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(texts, ["first", "before", "next"]);
}

#[test]
fn a_name_key_is_taken_over_only_from_an_unused_identity_past_its_lease() {
    let cluster = PgCluster::start();
    let (r, mut w) = pg::open(&cluster.url, &options(&cluster.url), "t").unwrap();
    let keys = |k: &str| vec![format!("{k}-1"), format!("{k}-2")];
    const LEASE: u64 = 1_000;
    // Ada claims "ada"; Bob cannot within her lease, to the millisecond.
    assert!(r.claim_name(&keys("ada"), "ada-id", 10_000, LEASE).unwrap());
    assert!(!r
        .claim_name(&keys("ada"), "bob-id", 10_000 + LEASE, LEASE)
        .unwrap());
    // Her stored last use counts too: used at 20,000, hers until 21,000.
    let row = IdentityRow {
        id: "ada-id".into(),
        token_hash: [1; 32],
        name: "Ada".into(),
        seen_ms: 20_000,
    };
    w.save_identities(&[IdentityChange::Save(row)]).unwrap();
    assert!(!r
        .claim_name(&keys("ada"), "bob-id", 20_000 + LEASE - 1, LEASE)
        .unwrap());
    assert!(r
        .claim_name(&keys("ada"), "bob-id", 20_000 + LEASE + 1, LEASE)
        .unwrap());
    // A refused claim changes nothing; a won one is all or nothing.
    assert!(!r.claim_name(&keys("ada"), "ada-id", 21_002, LEASE).unwrap());
    // Renaming drops the identity's other keys: "ada" is free for Cy at once
    // once Bob moved to "bobby" (his keys are his own, whatever their age).
    assert!(r
        .claim_name(&keys("bobby"), "bob-id", 21_003, LEASE)
        .unwrap());
    assert!(r.claim_name(&keys("ada"), "cy-id", 21_004, LEASE).unwrap());
    assert!(r
        .claim_name(&keys("bobby"), "bob-id", 99_999, LEASE)
        .unwrap());
    // Two equal keys (a name whose two keys agree) are one.
    assert!(r
        .claim_name(&["x".into(), "x".into()], "dan-id", 0, LEASE)
        .unwrap());
}
