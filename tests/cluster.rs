//! Several servers on one PostgreSQL database are one chat: presence,
//! member counts, typing and names across nodes; a node killed under load;
//! the database stopped under load. Real servers (in-process, or child
//! processes where a node must die by SIGKILL), a throw-away cluster each.

mod common;

use common::pg::PgCluster;
use common::{Client, ServerProcess, TestServer};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;

/// The next frame that `wanted` accepts, skipping others.
async fn until(c: &mut Client, wanted: impl Fn(&Value) -> bool) -> Value {
    loop {
        let v = c.recv().await;
        if wanted(&v) {
            return v;
        }
    }
}

/// The next `presence` frame about `user`.
async fn presence_of(c: &mut Client, user: &str) -> String {
    let v = until(c, |v| v["type"] == "presence" && v["user"] == user).await;
    v["state"].as_str().unwrap().to_owned()
}

/// Like [`until`], keeping the `message` frames passed on the way in `got`.
async fn until_keeping(c: &mut Client, got: &mut Vec<Value>, wanted: impl Fn(&Value) -> bool) {
    loop {
        let v = c.recv().await;
        if wanted(&v) {
            return;
        }
        if v["type"] == "message" {
            got.push(v);
        }
    }
}

/// `room`'s member list as `c` gets it, asked until it is `expected`
/// (another node's news takes a commit to arrive).
async fn members_become(c: &mut Client, room: &str, expected: &[&str]) {
    let deadline = tokio::time::Instant::now() + common::WAIT;
    loop {
        c.send(json!({"type": "members", "room": room})).await;
        let got = c.recv_type("members").await["names"].clone();
        if got == json!(expected) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "members {got}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn three_nodes_share_presence_member_counts_typing_names_and_tokens() {
    let cluster = PgCluster::start();
    let config = || {
        let mut c = cluster.node();
        c.presence_threshold = 3;
        c
    };
    let (a, b, c) = (
        TestServer::start(config()).await,
        TestServer::start(config()).await,
        TestServer::start(config()).await,
    );
    let mut ada = a.member("ada", "general").await;
    let (mut bob, bob_welcome) = b.user("bob").await;
    let bob_token = bob_welcome["token"].as_str().unwrap().to_owned();
    bob.join("general").await;
    members_become(&mut bob, "general", &["ada", "bob"]).await;
    assert_eq!(presence_of(&mut ada, "bob").await, "joined");
    let mut cy = c.member("cy", "general").await;
    members_become(&mut cy, "general", &["ada", "bob", "cy"]).await;
    assert_eq!(presence_of(&mut ada, "cy").await, "joined");
    assert_eq!(presence_of(&mut bob, "cy").await, "joined");

    // Names are taken on every node, whatever the case or look-alike.
    let mut other = c.client().await;
    other
        .expect_error(json!({"type": "hello", "name": "ADA"}), "name_taken")
        .await;
    other
        .expect_error(json!({"type": "hello", "name": "b\u{43e}b"}), "name_taken")
        .await;

    // Typing reaches the other nodes' members.
    bob.send(json!({"type": "typing", "room": "general"})).await;
    for c in [&mut ada, &mut cy] {
        let typing = c.recv_type("typing").await;
        assert_eq!(
            (typing["room"].as_str(), typing["user"].as_str()),
            (Some("general"), Some("bob"))
        );
    }

    // A fourth member makes the room large: counts, not presence, everywhere.
    let dan = a.member("dan", "general").await;
    for c in [&mut bob, &mut cy] {
        let count = until(c, |v| v["type"] == "member_count").await;
        assert_eq!(count["count"], 4);
    }
    drop(dan);
    for c in [&mut bob, &mut cy] {
        let count = until(c, |v| v["type"] == "member_count").await;
        assert_eq!(count["count"], 3, "one last count, then presence again");
    }

    // Bob's connection ends: everyone hears it, and his name stays his.
    drop(bob);
    assert_eq!(presence_of(&mut ada, "bob").await, "left");
    assert_eq!(presence_of(&mut cy, "bob").await, "left");
    let mut thief = a.client().await;
    thief
        .expect_error(json!({"type": "hello", "name": "Bob"}), "name_taken")
        .await;

    // His token brings him back on another node as himself.
    let mut bob = c.client().await;
    bob.send(json!({"type": "hello", "name": "bob", "token": bob_token}))
        .await;
    assert_eq!(bob.recv_type("welcome").await["user"], bob_welcome["user"]);
    bob.join("general").await;
    assert_eq!(presence_of(&mut ada, "bob").await, "joined");
    // A second connection with it on a third node replaces the first (4000).
    let mut again = a.client().await;
    again
        .send(json!({"type": "hello", "name": "bob", "token": bob_token}))
        .await;
    assert_eq!(
        again.recv_type("welcome").await["user"],
        bob_welcome["user"]
    );
    assert_eq!(bob.closed().await.0, 4000);
    again.join("general").await;
    members_become(&mut cy, "general", &["ada", "bob", "cy"]).await;
    a.stop().await;
    // A node that stops leaves at once: its members are gone elsewhere.
    members_become(&mut cy, "general", &["cy"]).await;
    b.stop().await;
    c.stop().await;
}

#[tokio::test]
async fn three_nodes_posting_into_two_rooms_deliver_every_message_once_in_id_order() {
    let cluster = PgCluster::start();
    let nodes = [
        TestServer::start(cluster.node()).await,
        TestServer::start(cluster.node()).await,
        TestServer::start(cluster.node()).await,
    ];
    let rooms = ["general", "side"];
    let mut clients = Vec::new();
    for (i, server) in nodes.iter().enumerate() {
        let (mut c, _) = server.user(&format!("u{i}")).await;
        for room in rooms {
            c.join(room).await;
        }
        clients.push(c);
    }
    // Everyone in both rooms on every node, as seen from the last node.
    members_become(&mut clients[2], "side", &["u0", "u1", "u2"]).await;
    const EACH: usize = 30;
    for i in 0..EACH {
        for (n, c) in clients.iter_mut().enumerate() {
            let room = rooms[i % 2];
            c.send(json!({"type": "send", "room": room, "text": format!("{n}-{i}")}))
                .await;
        }
    }
    let per_room = EACH * clients.len() / 2;
    // Per client and room: (id, text) in the order delivered.
    let mut seen: Vec<HashMap<String, Vec<(u64, String)>>> = Vec::new();
    for c in clients.iter_mut() {
        let mut got: HashMap<String, Vec<(u64, String)>> = HashMap::new();
        while got.values().map(Vec::len).sum::<usize>() < 2 * per_room {
            let m = c.recv_type("message").await;
            let room = m["room"].as_str().unwrap().to_owned();
            let text = m["text"].as_str().unwrap().to_owned();
            got.entry(room)
                .or_default()
                .push((m["id"].as_u64().unwrap(), text));
        }
        for room in rooms {
            let ids: Vec<u64> = got[room].iter().map(|(id, _)| *id).collect();
            assert_eq!(ids, (1..=per_room as u64).collect::<Vec<_>>(), "{room}");
        }
        seen.push(got);
    }
    // Every client got the same messages; history on each node, and a join
    // with `after`, agree with what was delivered.
    assert!(seen.iter().all(|got| *got == seen[0]));
    for room in rooms {
        for c in clients.iter_mut() {
            let pages = c.history_pages(room).await;
            let history: Vec<(u64, String)> = pages
                .into_iter()
                .rev()
                .flatten()
                .map(|m| {
                    (
                        m["id"].as_u64().unwrap(),
                        m["text"].as_str().unwrap().to_owned(),
                    )
                })
                .collect();
            assert_eq!(history, seen[0][room]);
        }
        let (mut late, _) = nodes[2].user(&format!("late-{room}")).await;
        late.send(json!({"type": "join", "room": room, "after": 40}))
            .await;
        let joined = late.recv_type("joined").await;
        let after: Vec<u64> = common::ids(&joined["messages"]);
        assert_eq!(after, (41..=per_room as u64).collect::<Vec<_>>());
    }
    for server in nodes {
        server.stop().await;
    }
}

/// A node as a child process on `url`, with a short lease.
async fn process(dir: &std::path::Path, url: &str) -> ServerProcess {
    let env = [
        ("CHAT_DATABASE_URL", url),
        ("CHAT_NODE_LEASE_SECS", "2"),
        ("CHAT_RATE_PER_SEC", "1000"),
        ("CHAT_RATE_BURST", "1000"),
    ];
    ServerProcess::spawn(dir, &env).await
}

#[tokio::test]
async fn a_node_killed_under_load_loses_nothing_its_users_move_with_their_tokens() {
    let cluster = PgCluster::start();
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = process(da.path(), &cluster.url).await;
    let b = process(db.path(), &cluster.url).await;
    let mut witness = Client::connect(b.addr).await;
    witness.send(json!({"type": "hello", "name": "wit"})).await;
    witness.recv_type("welcome").await;
    witness.join("general").await;
    let mut ada = Client::connect(a.addr).await;
    ada.send(json!({"type": "hello", "name": "ada"})).await;
    let welcome = ada.recv_type("welcome").await;
    let token = welcome["token"].as_str().unwrap().to_owned();
    ada.join("general").await;
    assert_eq!(presence_of(&mut witness, "ada").await, "joined");

    // Ada posts 60 messages without waiting; her node dies after 30 went out.
    const TOTAL: usize = 60;
    let text = |i: usize| format!("m{i}");
    let mut confirmed = 0; // echoes read before the kill (in order)
    for i in 0..TOTAL {
        if i == TOTAL / 2 {
            // Read what has come back so far, then kill.
            while let Ok(Some(Ok(m))) = tokio::time::timeout(
                Duration::from_millis(30),
                futures::StreamExt::next(ada.ws()),
            )
            .await
            {
                if let tokio_tungstenite::tungstenite::Message::Text(t) = m {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    if v["type"] == "message" {
                        confirmed = v["id"].as_u64().unwrap() as usize;
                    }
                }
            }
            a.kill();
            break;
        }
        let frame =
            json!({"type": "send", "room": "general", "text": text(i), "nonce": format!("n{i}")});
        ada.send(frame).await;
    }
    // The survivors see her leave once her node's lease (2 s) runs out.
    let mut seen = Vec::new();
    let presence = |state: &'static str| {
        move |v: &Value| v["type"] == "presence" && v["user"] == "ada" && v["state"] == state
    };
    until_keeping(&mut witness, &mut seen, presence("left")).await;

    // She comes back on the other node with her token, resumes after the
    // last id she saw, and resends what she has not seen with its nonce.
    let mut ada = Client::connect(b.addr).await;
    ada.send(json!({"type": "hello", "name": "ada", "token": token}))
        .await;
    assert_eq!(ada.recv_type("welcome").await["user"], welcome["user"]);
    ada.send(json!({"type": "join", "room": "general", "after": confirmed}))
        .await;
    let joined = ada.recv_type("joined").await;
    assert_ne!(joined["missed"], true);
    let stored: Vec<String> = joined["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    until_keeping(&mut witness, &mut seen, presence("joined")).await;
    for i in confirmed..TOTAL {
        let frame =
            json!({"type": "send", "room": "general", "text": text(i), "nonce": format!("n{i}")});
        ada.send(frame).await;
    }
    // Each message once: the resent ones already stored come back as the originals.
    let mut by_nonce = HashMap::new();
    while by_nonce.len() < TOTAL - confirmed {
        let m = ada.recv_type("message").await;
        by_nonce.insert(
            m["nonce"].as_str().unwrap().to_owned(),
            m["id"].as_u64().unwrap(),
        );
    }
    for i in confirmed..TOTAL {
        assert_eq!(
            by_nonce[&format!("n{i}")],
            (i + 1) as u64,
            "n{i} is message {}",
            i + 1
        );
    }
    // The witness got 1..=60 once each, in order, with the texts in order.
    while seen.len() < TOTAL {
        seen.push(witness.recv_type("message").await);
    }
    let ids: Vec<u64> = seen.iter().map(|m| m["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (1..=TOTAL as u64).collect::<Vec<_>>());
    let got: Vec<String> = seen
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, (0..TOTAL).map(text).collect::<Vec<_>>());
    assert_eq!(stored, got[confirmed..confirmed + stored.len()].to_vec());
    witness.quiet().await;
}

#[tokio::test]
async fn the_database_stopped_for_5_s_under_load_loses_and_duplicates_nothing() {
    let cluster = PgCluster::start();
    let a = TestServer::start(cluster.node()).await;
    let b = TestServer::start(cluster.node()).await;
    let mut ada = a.member("ada", "general").await;
    let bob = b.member("bob", "general").await;
    members_become(&mut ada, "general", &["ada", "bob"]).await;
    // Both post every 50 ms for 8 s; the database is away from 1 s to 6 s.
    let poster = |mut c: Client, who: &'static str| {
        tokio::spawn(async move {
            let (mut accepted, mut refused, mut ids) = (Vec::new(), 0, Vec::new());
            let start = tokio::time::Instant::now();
            let mut i = 0;
            let mut next = start;
            while start.elapsed() < Duration::from_secs(8) || i == 0 {
                if tokio::time::Instant::now() >= next {
                    let text = format!("{who}{i}");
                    c.send(json!({"type": "send", "room": "general", "text": text, "nonce": text}))
                        .await;
                    i += 1;
                    next += Duration::from_millis(50);
                }
                let wait = next.saturating_duration_since(tokio::time::Instant::now());
                if let Ok(Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t)))) =
                    tokio::time::timeout(wait, futures::StreamExt::next(c.ws())).await
                {
                    let v: Value = serde_json::from_str(&t).unwrap();
                    match v["type"].as_str() {
                        Some("message") => {
                            ids.push(v["id"].as_u64().unwrap());
                            if v["user"] == who {
                                accepted.push(v["text"].as_str().unwrap().to_owned());
                            }
                        }
                        Some("error") => {
                            assert_eq!(v["code"], "unavailable", "{v}");
                            refused += 1;
                        }
                        _ => {}
                    }
                }
            }
            (c, accepted, refused, ids, i)
        })
    };
    let (pa, pb) = (poster(ada, "ada"), poster(bob, "bob"));
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.ctl("stop");
    tokio::time::sleep(Duration::from_secs(5)).await;
    cluster.ctl("start");
    let (mut ada, a_ok, a_refused, mut a_ids, _) = pa.await.unwrap();
    let (mut bob, b_ok, b_refused, mut b_ids, _) = pb.await.unwrap();
    assert!(
        a_refused > 0 && b_refused > 0,
        "the outage was felt: {a_refused} {b_refused}"
    );
    // Once the nodes have caught up, every member has every stored message
    // once, in order, and history holds exactly the accepted ones.
    let history: Vec<Value> = ada
        .history_pages("general")
        .await
        .into_iter()
        .rev()
        .flatten()
        .collect();
    let last = history.last().unwrap()["id"].as_u64().unwrap();
    for (c, ids) in [(&mut ada, &mut a_ids), (&mut bob, &mut b_ids)] {
        while ids.last() != Some(&last) {
            ids.push(c.recv_type("message").await["id"].as_u64().unwrap());
        }
        assert_eq!(*ids, (1..=last).collect::<Vec<_>>());
    }
    let texts: Vec<String> = history
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_owned())
        .collect();
    let mut accepted: Vec<String> = a_ok.into_iter().chain(b_ok).collect();
    accepted.sort();
    let mut stored = texts.clone();
    stored.sort();
    // Echoes read after the poster stopped were not counted as accepted.
    assert!(accepted.iter().all(|t| stored.binary_search(t).is_ok()));
    stored.dedup();
    assert_eq!(stored.len(), texts.len(), "no message stored twice");
    a.stop().await;
    b.stop().await;
}

#[test]
fn nodes_starting_together_on_an_empty_database_apply_the_schema_once() {
    let cluster = PgCluster::start();
    let opened: Vec<_> = (0..4)
        .map(|i| {
            let url = cluster.url.clone();
            std::thread::spawn(move || {
                let mut options = node_options();
                options.database_url = Some(url.clone());
                chat::store::pg::open(&url, &options, &format!("n{i}")).map(drop)
            })
        })
        .collect();
    for node in opened {
        node.join().unwrap().expect("every node opens the store");
    }
    let mut db = postgres::Client::connect(&cluster.url, postgres::NoTls).unwrap();
    let versions = db.query("SELECT version FROM chat_schema", &[]).unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!(
        versions[0].get::<_, i32>(0),
        chat::store::pg::SCHEMA_VERSION
    );
}

fn node_options() -> chat::store::StoreOptions {
    chat::store::StoreOptions {
        data_dir: std::env::temp_dir(),
        sync: chat::SyncMode::Normal,
        busy_timeout: Duration::from_secs(5),
        database_url: None,
    }
}

#[tokio::test]
async fn one_free_name_claimed_on_two_nodes_at_once_goes_to_exactly_one() {
    let cluster = PgCluster::start();
    let a = TestServer::start(cluster.node()).await;
    let b = TestServer::start(cluster.node()).await;
    for round in 0..20 {
        let (mut on_a, mut on_b) = (a.client().await, b.client().await);
        // The same name, and a look-alike of it, at the same moment.
        let (name, alike) = (format!("race{round}"), format!("RACE{round}"));
        let ((), ()) = tokio::join!(
            on_a.send(json!({"type": "hello", "name": name})),
            on_b.send(json!({"type": "hello", "name": alike}))
        );
        let (ra, rb) = tokio::join!(on_a.recv(), on_b.recv());
        let welcomed = [&ra, &rb].iter().filter(|r| r["type"] == "welcome").count();
        assert_eq!(welcomed, 1, "round {round}: {ra} / {rb}");
        let refused = if ra["type"] == "welcome" { &rb } else { &ra };
        assert_eq!(refused["code"], "name_taken", "{refused}");
    }
    a.stop().await;
    b.stop().await;
}
