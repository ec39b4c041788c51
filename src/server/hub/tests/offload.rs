//! The hub never waits on a read: the real hub task (started by `spawn`)
//! over a store whose reads can be held at a gate, as a slow disk or a
//! costly search would hold them.

use super::*;
use crate::protocol::ChatMessage;
use crate::server::hub::{spawn, HubHandle};
use crate::server::payload::Payload;
use crate::store::search::{Found, Search};
use crate::store::{StoreError, StoreReader};
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::task::Poll;

/// Which reads wait at the gate while it is shut.
#[derive(Default)]
struct Gate {
    /// `search` waits.
    searches: AtomicBool,
    /// `range` (every join, watch and history read) waits.
    ranges: AtomicBool,
    /// Reads waiting now.
    waiting: Mutex<usize>,
    /// Signalled when the gate opens or a read starts waiting.
    changed: Condvar,
}

impl Gate {
    /// Waits here while `shut` says so.
    fn pass(&self, shut: &AtomicBool) {
        let mut waiting = self.waiting.lock().unwrap();
        *waiting += 1;
        self.changed.notify_all();
        while shut.load(Ordering::SeqCst) {
            waiting = self.changed.wait(waiting).unwrap();
        }
        *waiting -= 1;
    }

    /// Opens it for every read.
    fn open(&self) {
        let _lock = self.waiting.lock().unwrap();
        self.searches.store(false, Ordering::SeqCst);
        self.ranges.store(false, Ordering::SeqCst);
        self.changed.notify_all();
    }

    /// Waits until a read is held at the gate (it was asked for).
    fn until_held(&self) {
        let mut waiting = self.waiting.lock().unwrap();
        while *waiting == 0 {
            waiting = self.changed.wait(waiting).unwrap();
        }
    }
}

/// A reader whose reads pass the gate first.
struct Gated(Box<dyn StoreReader>, Arc<Gate>);

impl StoreReader for Gated {
    fn another(&self) -> Result<Box<dyn StoreReader>, StoreError> {
        Ok(Box::new(Gated(self.0.another()?, self.1.clone())))
    }
    fn rooms(&self) -> Result<Vec<crate::store::RoomRow>, StoreError> {
        self.0.rooms()
    }
    fn identities(&self) -> Result<Vec<crate::store::IdentityRow>, StoreError> {
        self.0.identities()
    }
    fn last_read(&self, identity: &str, room: &str) -> Result<Option<u64>, StoreError> {
        self.0.last_read(identity, room)
    }
    fn search(&self, search: &Search) -> Result<Found, StoreError> {
        self.1.pass(&self.1.searches);
        self.0.search(search)
    }
    fn range(&self, room: &str, from: u64, to: u64) -> Result<Vec<ChatMessage>, StoreError> {
        self.1.pass(&self.1.ranges);
        self.0.range(room, from, to)
    }
}

/// A connection to the real hub, read as its task would read it.
struct Live {
    conn: ConnId,
    outbox: Outbox,
    taken: VecDeque<Payload>,
}

impl Live {
    async fn open(hub: &HubHandle, conn: ConnId, name: &str) -> Live {
        let outbox = Outbox::new(Config::default().outbound_bytes);
        assert!(
            hub.connect(conn, outbox.clone(), client("127.0.0.1", None))
                .await
        );
        let mut live = Live {
            conn,
            outbox,
            taken: VecDeque::new(),
        };
        live.ask(hub, json!({"type": "hello", "name": name})).await;
        assert_eq!(live.next().await["type"], "welcome");
        live
    }

    /// [`Live::open`], then a member of `general` (its `joined` read).
    async fn member(hub: &HubHandle, conn: ConnId, name: &str) -> Live {
        let mut live = Live::open(hub, conn, name).await;
        live.ask(hub, json!({"type": "join", "room": "general"}))
            .await;
        assert_eq!(live.next().await["type"], "joined");
        live
    }

    async fn ask(&self, hub: &HubHandle, frame: Value) {
        let frame = ClientFrame::parse(&frame.to_string()).unwrap();
        assert!(hub.frame(self.conn, frame).await);
    }

    /// The next frame queued for it, waited for (at most 10 s).
    async fn next(&mut self) -> Value {
        let wait = async {
            loop {
                if let Some(frame) = self.taken.pop_front() {
                    self.outbox.written(frame.len());
                    return serde_json::from_slice::<Value>(frame.json()).unwrap();
                }
                std::future::poll_fn(|cx| match self.outbox.poll_next(cx, &mut self.taken) {
                    Poll::Ready(closed) => panic!("closed: {closed:?}"),
                    Poll::Pending if self.taken.is_empty() => Poll::Pending,
                    Poll::Pending => Poll::Ready(()),
                })
                .await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("a frame within 10 s")
    }

    /// The next frame of type `ty`, skipping others (presence).
    async fn next_of(&mut self, ty: &str) -> Value {
        loop {
            let frame = self.next().await;
            if frame["type"] == ty {
                return frame;
            }
        }
    }
}

/// Waits (off the runtime's workers) until a read is held at `gate`.
async fn held(gate: &Arc<Gate>) {
    let gate = gate.clone();
    tokio::task::spawn_blocking(move || gate.until_held())
        .await
        .unwrap();
}

/// The real hub over a gated SQLite store.
fn gated_hub(dir: &tempfile::TempDir) -> (HubHandle, Arc<Gate>) {
    let (reader, writer) = open(&options(dir.path())).unwrap();
    let gate = Arc::new(Gate::default());
    let reader = Gated(Box::new(reader), gate.clone());
    let hub = spawn(Arc::new(Config::default()), reader, writer, None).unwrap();
    (hub, gate)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_held_up_in_the_store_holds_up_no_one_else() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, gate) = gated_hub(&dir);
    let mut ada = Live::member(&hub, 1, "ada").await;
    gate.searches.store(true, Ordering::SeqCst);
    let mut bob = Live::open(&hub, 2, "bob").await;
    bob.ask(&hub, json!({"type": "search", "query": "hello"}))
        .await;
    held(&gate).await;
    // While bob's search waits in the store, ada chats on: the hub used
    // to await each read, so this send waited for the search.
    ada.ask(
        &hub,
        json!({"type": "send", "room": "general", "text": "hello there"}),
    )
    .await;
    let echo = ada.next_of("message").await;
    assert_eq!(echo["text"], "hello there");
    gate.open();
    let results = bob.next_of("results").await;
    assert_eq!(results["query"], "hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_join_whose_replay_is_slow_meets_the_live_messages_with_no_gap_and_no_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let (hub, gate) = gated_hub(&dir);
    let mut ada = Live::member(&hub, 1, "ada").await;
    let say = |n: u64| json!({"type": "send", "room": "general", "text": format!("m{n}")});
    for n in 1..=3 {
        ada.ask(&hub, say(n)).await;
        assert_eq!(ada.next_of("message").await["id"], n);
    }
    gate.ranges.store(true, Ordering::SeqCst);
    let mut cy = Live::open(&hub, 2, "cy").await;
    cy.ask(&hub, json!({"type": "join", "room": "general"}))
        .await;
    held(&gate).await;
    // cy is a member now; what is broadcast meanwhile waits behind its reply.
    for n in 4..=6 {
        ada.ask(&hub, say(n)).await;
        assert_eq!(ada.next_of("message").await["id"], n);
    }
    gate.open();
    let joined = cy.next().await;
    assert_eq!(joined["type"], "joined");
    let replayed: Vec<u64> = joined["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_u64().unwrap())
        .collect();
    assert_eq!(replayed, [1, 2, 3], "cut where the room was when asked");
    for n in 4..=6 {
        let live = cy.next().await;
        assert_eq!(
            (live["type"].as_str(), live["id"].as_u64()),
            (Some("message"), Some(n))
        );
    }
}
