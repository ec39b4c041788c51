//! The hub as a state machine: built on a temporary store, fed commands, read
//! through its outbox receivers. The commit thread's part is played by
//! [`Harness::commit`], so every step is deterministic and nothing sleeps.
//! Member lists and counts (protocol 1.1) are in [`members`].

use super::post::Tag;
use super::{Client, Command, Hub, Request};
use crate::protocol::{ClientFrame, CLOSE_REPLACED, CLOSE_TOO_SLOW};
use crate::server::config::Config;
use crate::server::outbox::{ConnId, Outbox};
use crate::store::group_commit::Job;
use crate::store::{open, SqliteWriter, StoreOptions, StoreWriter, SyncMode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

mod access;
mod directory;
mod fatal;
mod identities;
mod members;
mod offload;
mod queues;
mod requests;

/// A hub with its store, and the commit thread's queue held by the test.
struct Harness {
    hub: Hub,
    jobs: mpsc::Receiver<Job<Tag>>,
    writer: SqliteWriter,
    next_conn: ConnId,
    _dir: tempfile::TempDir,
}

/// One connection as the hub sees it: its id, queue and close request.
struct Peer {
    conn: ConnId,
    outbox: Outbox,
}

impl Harness {
    fn new(config: Config) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let (reader, writer) = open(&options(dir.path())).unwrap();
        let (tx, jobs) = mpsc::channel(super::COMMIT_QUEUE);
        let hub = Hub::new(Arc::new(config), Box::new(reader), tx).unwrap();
        Harness {
            hub,
            jobs,
            writer,
            next_conn: 1,
            _dir: dir,
        }
    }

    /// How to open the harness's store again.
    fn store_options(&self) -> StoreOptions {
        options(self._dir.path())
    }

    /// The names of the rooms in the store, sorted.
    fn stored_rooms(&self) -> Vec<String> {
        let rooms = self.hub.reader.run(|r| r.rooms()).unwrap();
        rooms.into_iter().map(|row| row.name).collect()
    }

    /// Hands the hub one command and lets it finish (its reads run in place).
    fn handle(&mut self, command: Command) {
        self.hub.handle(command);
    }

    fn connect(&mut self) -> Peer {
        self.connect_from(client("127.0.0.1", None))
    }

    /// A connection from `client` (an address and an identity cookie).
    fn connect_from(&mut self, client: Client) -> Peer {
        let conn = self.next_conn;
        self.next_conn += 1;
        let outbox = Outbox::new(self.hub.config.outbound_bytes);
        self.handle(Command::Connect(conn, outbox.clone(), client));
        Peer { conn, outbox }
    }

    fn frame(&mut self, peer: &Peer, frame: Value) {
        let frame = ClientFrame::parse(&frame.to_string()).expect("a valid client frame");
        self.handle(Command::Frame(peer.conn, Request::new(frame)));
    }

    /// A connection that said hello as `name`, its `welcome` read.
    fn user(&mut self, name: &str) -> Peer {
        let mut peer = self.connect();
        self.frame(&peer, json!({"type": "hello", "name": name}));
        assert_eq!(peer.only()["type"], "welcome");
        peer
    }

    /// A user who joined `room`, its `joined` read.
    fn member(&mut self, name: &str, room: &str) -> Peer {
        let mut peer = self.user(name);
        self.frame(&peer, json!({"type": "join", "room": room}));
        assert_eq!(peer.only()["type"], "joined");
        peer
    }

    fn send(&mut self, peer: &Peer, room: &str, text: &str) {
        // Short texts name their nonce; long ones are told apart by their start.
        let nonce: String = format!("n-{text}").chars().take(12).collect();
        self.frame(
            peer,
            json!({"type": "send", "room": room, "text": text, "nonce": nonce}),
        );
    }

    /// Does what the commit thread would: stores every queued job as one
    /// batch and hands the results to the hub. Returns how many were stored.
    fn commit(&mut self) -> usize {
        let (mut tags, mut messages) = (Vec::new(), Vec::new());
        let mut changes = Vec::new();
        while let Ok(job) = self.jobs.try_recv() {
            match job {
                Job::Change { tag, change } => changes.push((tag, change)),
                Job::Message { tag, message } => {
                    tags.push(tag);
                    messages.push(message);
                }
                Job::CreateRoom(room) => self.writer.create_room(&room).unwrap(),
                Job::DeleteRoom(room) => self.writer.delete_room(&room).unwrap(),
                Job::Probe(reply) => drop(reply.send(self.writer.probe())),
                Job::Expire {
                    before_ms,
                    max_rows,
                } => drop(self.writer.expire(before_ms, max_rows).unwrap()),
                Job::Identity(change) => self.writer.save_identities(&[change]).unwrap(),
                Job::Read(mark) => self.writer.save_reads(&[mark]).unwrap(),
                Job::Access(change) => {
                    let change = crate::store::accounts::AccountChange::Access(change);
                    drop(self.writer.save_accounts(&[change]));
                }
                Job::Moderation(change, audit) => {
                    let change =
                        crate::store::accounts::AccountChange::Moderation { change, audit };
                    drop(self.writer.save_accounts(&[change]));
                }
                Job::Accounts {
                    identities,
                    changes,
                    done,
                } => {
                    self.writer.save_identities(&identities).unwrap();
                    let saved = self.writer.save_accounts(&changes);
                    if let Some(done) = done {
                        let _ = done.send(saved);
                    }
                }
            }
        }
        let n = messages.len();
        let results = self.writer.append(&messages);
        let done: Vec<_> = tags.into_iter().zip(results).collect();
        let frames = super::post::encode_committed(&done);
        self.handle(Command::Committed(done, frames));
        if !changes.is_empty() {
            let (tags, changes): (Vec<_>, Vec<_>) = changes.into_iter().unzip();
            let results = self.writer.change(&changes);
            self.handle(Command::Changed(tags.into_iter().zip(results).collect()));
        }
        n
    }
}

impl Peer {
    /// Every frame queued for this connection, as its writer would take them.
    fn frames(&mut self) -> Vec<Value> {
        let taken = self.outbox.take();
        self.outbox.written(taken.iter().map(|f| f.len()).sum());
        taken
            .iter()
            .map(|f| serde_json::from_slice(f.json()).unwrap())
            .collect()
    }

    /// The one frame queued.
    fn only(&mut self) -> Value {
        let frames = self.frames();
        assert_eq!(frames.len(), 1, "{frames:?}");
        frames.into_iter().next().unwrap()
    }

    /// The frames of one type.
    fn of_type(&mut self, ty: &str) -> Vec<Value> {
        self.frames()
            .into_iter()
            .filter(|f| f["type"] == ty)
            .collect()
    }

    fn close_code(&self) -> Option<u16> {
        self.outbox.reason().map(|(code, _)| code)
    }
}

fn options(dir: &std::path::Path) -> StoreOptions {
    StoreOptions {
        data_dir: dir.to_owned(),
        sync: SyncMode::Normal,
        busy_timeout: Duration::from_secs(1),
        database_url: None,
    }
}

/// A client at `addr` with the identity cookie `cookie`.
fn client(addr: &str, cookie: Option<&str>) -> Client {
    Client {
        addr: addr.parse().unwrap(),
        cookie: cookie.map(str::to_owned),
        minted: None,
        replaced: false,
        account: None,
    }
}

fn config() -> Config {
    Config {
        rate_per_sec: 1e6,
        rate_burst: 1e6,
        identity_burst: 1e6,
        identity_net_burst: 1e6,
        identity_server_burst: 1e6,
        ..Config::default()
    }
}

/// (id, user, text) of message frames.
fn seen(frames: &[Value]) -> Vec<(u64, String, String)> {
    frames
        .iter()
        .filter(|f| f["type"] == "message")
        .map(|f| {
            let s = |k: &str| f[k].as_str().unwrap().to_owned();
            (f["id"].as_u64().unwrap(), s("user"), s("text"))
        })
        .collect()
}

#[test]
fn messages_go_out_only_once_committed_in_id_order_to_every_member() {
    let mut h = Harness::new(config());
    let mut peers: Vec<Peer> = ["ada", "bob", "cy"]
        .iter()
        .map(|n| h.member(n, "general"))
        .collect();
    for p in &mut peers {
        p.frames(); // presence of the later joiners
    }
    let mut expected = Vec::new();
    let mut received = vec![Vec::new(); peers.len()];
    for round in 0..4 {
        for (i, name) in ["ada", "bob", "cy"].iter().enumerate() {
            let text = format!("{name} {round}");
            h.send(&peers[i], "general", &text);
            expected.push(((expected.len() + 1) as u64, name.to_string(), text));
        }
        let early: Vec<Value> = peers.iter_mut().flat_map(|p| p.frames()).collect();
        assert!(early.is_empty(), "nothing before the commit: {early:?}");
        assert_eq!(h.commit(), 3);
        for (p, got) in peers.iter_mut().zip(&mut received) {
            got.extend(seen(&p.frames()));
        }
    }
    for got in received {
        assert_eq!(got, expected);
    }
}

#[test]
fn the_sender_gets_its_message_back_with_its_nonce() {
    let mut h = Harness::new(config());
    let mut ada = h.member("ada", "general");
    h.send(&ada, "general", "hi");
    h.commit();
    let echo = ada.only();
    assert_eq!(
        (echo["id"].as_u64(), echo["nonce"].as_str()),
        (Some(1), Some("n-hi"))
    );
}

#[test]
fn a_join_and_the_live_stream_meet_with_no_gap_and_no_overlap() {
    let mut h = Harness::new(config());
    let ada = h.member("ada", "general");
    for i in 1..=3 {
        h.send(&ada, "general", &i.to_string());
    }
    h.commit();
    h.send(&ada, "general", "4");
    // Bob joins while message 4 is being stored: his snapshot ends at 3…
    let mut bob = h.user("bob");
    h.frame(&bob, json!({"type": "join", "room": "general"}));
    let joined = bob.only();
    let ids: Vec<u64> = joined["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    // …and 4 reaches him live once committed.
    h.commit();
    assert_eq!(seen(&bob.frames()), [(4, "ada".into(), "4".into())]);
}

#[test]
fn a_known_token_reclaims_its_identity_and_the_older_connection_gets_4000() {
    let mut h = Harness::new(config());
    let mut first = h.connect();
    h.frame(&first, json!({"type": "hello", "name": "Ada"}));
    let welcome = first.only();
    let token = welcome["token"].as_str().unwrap();
    let mut second = h.connect();
    h.frame(
        &second,
        json!({"type": "hello", "name": "ada", "token": token}),
    );
    let again = second.only();
    assert_eq!(again["user"]["id"], welcome["user"]["id"]);
    assert_eq!(again["user"]["name"], "ada");
    assert_eq!(first.close_code(), Some(CLOSE_REPLACED));
    // Without the token the name is someone else's.
    let mut third = h.connect();
    h.frame(&third, json!({"type": "hello", "name": "ADA"}));
    assert_eq!(third.only()["code"], "name_taken");
}

#[test]
fn sends_past_the_burst_are_rate_limited_with_their_nonce() {
    let mut h = Harness::new(Config {
        rate_per_sec: 0.001,
        rate_burst: 3.0,
        ..Config::default()
    });
    let mut ada = h.member("ada", "general");
    for i in 0..4 {
        h.send(&ada, "general", &i.to_string());
    }
    let errors = ada.of_type("error");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["code"], "rate_limited");
    assert_eq!(errors[0]["nonce"], "n-3");
    assert_eq!(h.commit(), 3);
}

#[test]
fn a_connection_joins_up_to_its_cap_of_rooms_and_not_one_more() {
    let mut h = Harness::new(Config {
        max_rooms_per_conn: 3,
        ..config()
    });
    let mut ada = h.user("ada");
    for room in ["a", "b", "c"] {
        h.frame(&ada, json!({"type": "join", "room": room}));
        assert_eq!(ada.only()["type"], "joined");
    }
    h.frame(&ada, json!({"type": "join", "room": "d"}));
    assert_eq!(ada.only()["code"], "too_many_rooms");
    // Joining a room already joined does not count again.
    h.frame(&ada, json!({"type": "join", "room": "a"}));
    assert_eq!(ada.only()["type"], "joined");
}

#[test]
fn the_server_creates_rooms_up_to_its_total_and_stores_them_through_the_writer() {
    let mut h = Harness::new(Config {
        max_rooms_total: 3,
        ..config()
    });
    let mut ada = h.user("ada");
    for room in ["a", "b"] {
        h.frame(&ada, json!({"type": "join", "room": room}));
        assert_eq!(ada.only()["type"], "joined");
    }
    h.frame(&ada, json!({"type": "join", "room": "c"}));
    let refused = ada.only();
    assert_eq!(refused["code"], "too_many_rooms");
    // The hub wrote nothing itself: the rooms reach the store on the commit.
    assert_eq!(h.stored_rooms(), ["general"]);
    h.commit();
    assert_eq!(h.stored_rooms(), ["a", "b", "general"]);
}

#[test]
fn a_member_whose_queue_is_full_is_closed_as_too_slow_and_the_others_get_everything() {
    let mut h = Harness::new(Config {
        outbound_bytes: 64 * 1024,
        ..config()
    });
    let stalled = h.member("stalled", "general");
    let mut reader = h.member("reader", "general");
    reader.frames();
    let mut texts = Vec::new();
    // 20 frames of about 4 KB: more than 64 KiB in all.
    let text = |i: i32| format!("{i} {}", "x".repeat(1990));
    for i in 0..20 {
        h.send(&reader, "general", &text(i));
        h.commit();
        texts.extend(seen(&reader.frames()).into_iter().map(|(_, _, t)| t));
    }
    assert_eq!(stalled.close_code(), Some(CLOSE_TOO_SLOW));
    assert_eq!(reader.close_code(), None);
    assert_eq!(texts, (0..20).map(text).collect::<Vec<_>>());
}
