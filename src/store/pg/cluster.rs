//! Several nodes as one chat: what a node tells the others besides its
//! messages. Its hub hands the [`Publisher`] an [`Event`] for each welcomed
//! connection, join, leave, typing notice and identity change; a thread of
//! its own writes them, a batch per transaction, into `cluster_sessions` and
//! `cluster_members` (schema version 2, `cluster.sql`) and sends each as a
//! notice on [`CHANNEL`]. The other nodes' [`listen`](super::listen) threads
//! turn the notices into [`Remote`] changes for their hubs, in commit order,
//! and read the tables whole ([`snapshot`]) when they (re)start listening.
//!
//! Leases: the thread renews its node's row in `cluster_nodes` every third
//! of the lease. A node whose row is older than the lease (killed, or cut
//! off from the database) is removed with its sessions by the first other
//! node to see it, which tells everyone ([`Remote::Gone`]). A node that
//! finds its own row gone, or whose writes failed, writes all its rows
//! again and says so ([`Remote::Reset`]): the others then read the tables
//! again. A node that has just (re)connected waits one lease before
//! removing others, whose renewals may have failed for the same reason.

use super::{as_u64, StoreError};
use crate::store::IdentityRow;
use postgres::{Client, NoTls};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

/// The channel of cluster notices (JSON, see [`Wire`]).
pub const CHANNEL: &str = "chat_cluster";
/// Most events written in one transaction.
const MAX_BATCH: usize = 4096;
/// How soon a node retries after the database failed it.
const RETRY: Duration = Duration::from_secs(1);

/// What a node's hub tells the others, in the order it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Connection `conn` was welcomed as this identity (as it is now).
    Hello {
        /// The connection (unique on its node for the node's life).
        conn: u64,
        /// Its identity.
        identity: IdentityRow,
    },
    /// `conn` joined `room`.
    Join {
        /// The connection.
        conn: u64,
        /// The room.
        room: String,
    },
    /// `conn` left `room`.
    Leave {
        /// The connection.
        conn: u64,
        /// The room.
        room: String,
    },
    /// `conn` ended (it leaves its rooms and lets its identity go).
    Bye {
        /// The connection.
        conn: u64,
    },
    /// `name` is typing in `room` (nothing is written: a notice only).
    Typing {
        /// The room.
        room: String,
        /// Who.
        name: String,
    },
    /// An identity was made, renamed or used without a connection here.
    Identity(IdentityRow),
}

/// What another node did, for this node's hub.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// A connection of `node` was welcomed as `identity`.
    Hello {
        /// The node.
        node: String,
        /// Its connection.
        conn: u64,
        /// The identity it holds.
        identity: IdentityRow,
    },
    /// A connection of `node` joined `room`.
    Join {
        /// The node.
        node: String,
        /// Its connection.
        conn: u64,
        /// The room.
        room: String,
    },
    /// A connection of `node` left `room`.
    Leave {
        /// The node.
        node: String,
        /// Its connection.
        conn: u64,
        /// The room.
        room: String,
    },
    /// A connection of `node` ended.
    Bye {
        /// The node.
        node: String,
        /// Its connection.
        conn: u64,
    },
    /// Someone on another node is typing.
    Typing {
        /// The room.
        room: String,
        /// Who.
        name: String,
    },
    /// An identity changed on another node.
    Identity(IdentityRow),
    /// `node` is gone (its lease ran out, or it stopped): its sessions end.
    Gone(String),
    /// Every other node's sessions and rooms, as the tables hold them now:
    /// what is not in here has ended.
    Snapshot(Snapshot),
}

/// Other nodes' sessions, as read from the tables.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Snapshot {
    /// (node, connection, identity) of every session.
    pub sessions: Vec<(String, u64, IdentityRow)>,
    /// (node, connection, room) of every membership.
    pub members: Vec<(String, u64, String)>,
}

/// A notice as sent: JSON with short keys (a notice holds at most 8,000 bytes;
/// names and rooms are far shorter).
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub(super) enum Wire {
    Hello { n: String, c: u64, i: WireIdentity },
    Join { n: String, c: u64, r: String },
    Leave { n: String, c: u64, r: String },
    Bye { n: String, c: u64 },
    Typing { n: String, r: String, u: String },
    Identity { n: String, i: WireIdentity },
    Gone { n: String },
    Reset { n: String },
}

/// An identity in a notice: the token's hash in hex.
#[derive(Debug, Serialize, Deserialize)]
pub(super) struct WireIdentity {
    id: String,
    t: String,
    name: String,
    s: u64,
}

impl From<&IdentityRow> for WireIdentity {
    fn from(row: &IdentityRow) -> Self {
        WireIdentity {
            id: row.id.clone(),
            t: row.token_hash.iter().map(|b| format!("{b:02x}")).collect(),
            name: row.name.clone(),
            s: row.seen_ms,
        }
    }
}

impl WireIdentity {
    fn row(self) -> Option<IdentityRow> {
        let mut hash = [0u8; 32];
        if self.t.len() != 64 {
            return None;
        }
        for (i, byte) in hash.iter_mut().enumerate() {
            *byte = u8::from_str_radix(self.t.get(2 * i..2 * i + 2)?, 16).ok()?;
        }
        Some(IdentityRow {
            id: self.id,
            token_hash: hash,
            name: self.name,
            seen_ms: self.s,
        })
    }
}

/// What a notice on [`CHANNEL`] means to node `me`: `None` for its own
/// notices and for what it cannot read; `Some(Err(()))` when the tables
/// must be read again (another node reset).
pub(super) fn parse(payload: &str, me: &str) -> Option<Result<Remote, ()>> {
    let wire: Wire = serde_json::from_str(payload).ok()?;
    let (node, remote) = match wire {
        Wire::Hello { n, c, i } => {
            let identity = i.row()?;
            (
                n.clone(),
                Remote::Hello {
                    node: n,
                    conn: c,
                    identity,
                },
            )
        }
        Wire::Join { n, c, r } => (
            n.clone(),
            Remote::Join {
                node: n,
                conn: c,
                room: r,
            },
        ),
        Wire::Leave { n, c, r } => (
            n.clone(),
            Remote::Leave {
                node: n,
                conn: c,
                room: r,
            },
        ),
        Wire::Bye { n, c } => (n.clone(), Remote::Bye { node: n, conn: c }),
        Wire::Typing { n, r, u } => (n, Remote::Typing { room: r, name: u }),
        Wire::Identity { n, i } => (n, Remote::Identity(i.row()?)),
        // Told that this node is gone: its own thread finds out and resets.
        Wire::Gone { n } => (n.clone(), Remote::Gone(n)),
        Wire::Reset { n } => return (n != me).then_some(Err(())),
    };
    (node != me).then_some(Ok(remote))
}

/// Every other node's sessions and memberships.
pub(super) fn snapshot(client: &mut Client, me: &str) -> Result<Snapshot, StoreError> {
    let sessions = client
        .query(
            "SELECT node, conn, identity, token_hash, name, seen_ms \
             FROM cluster_sessions WHERE node <> $1",
            &[&me],
        )?
        .iter()
        .map(|r| {
            let identity = IdentityRow {
                id: r.get(2),
                token_hash: r.get::<_, Vec<u8>>(3).try_into().unwrap_or([0; 32]),
                name: r.get(4),
                seen_ms: as_u64(r.get(5)),
            };
            (r.get(0), as_u64(r.get(1)), identity)
        })
        .collect();
    let members = client
        .query(
            "SELECT node, conn, room FROM cluster_members WHERE node <> $1",
            &[&me],
        )?
        .iter()
        .map(|r| (r.get(0), as_u64(r.get(1)), r.get(2)))
        .collect();
    Ok(Snapshot { sessions, members })
}

/// The hub's way to the publishing thread; dropping it (the hub ended)
/// makes the node leave the cluster cleanly.
#[derive(Debug, Clone)]
pub struct Publisher {
    /// Events for the thread, in order (unbounded: it holds at most what
    /// happened while the database was slow, and the thread drains it all
    /// at each turn).
    events: Sender<Event>,
}

impl Publisher {
    /// Queues `event` for the other nodes.
    pub fn send(&self, event: Event) {
        let _ = self.events.send(event);
    }
}

/// Starts node `node`'s publishing thread on `url`, with leases of `lease`.
pub fn publish(
    url: &str,
    node: &str,
    lease: Duration,
) -> std::io::Result<(Publisher, std::thread::JoinHandle<()>)> {
    let (events, rx) = std::sync::mpsc::channel();
    let mut link = Link {
        url: url.to_owned(),
        node: node.to_owned(),
        lease,
        client: None,
        since: Instant::now(),
        reset: true,
        mirror: Mirror::default(),
    };
    let thread = std::thread::Builder::new()
        .name("pg-cluster".into())
        .spawn(move || link.run(rx))?;
    Ok((Publisher { events }, thread))
}

/// Session rows (connection, identity) and member rows (connection, room).
type Rows = (Vec<(u64, IdentityRow)>, Vec<(u64, String)>);

/// This node's sessions as its tables should hold them.
#[derive(Debug, Default)]
struct Mirror {
    /// Welcomed connections and their identities.
    sessions: HashMap<u64, IdentityRow>,
    /// The rooms of each.
    rooms: HashMap<u64, BTreeSet<String>>,
}

impl Mirror {
    /// Applies `event`; returns the connection whose rows it changed.
    fn apply(&mut self, event: &Event) -> Option<u64> {
        match event {
            Event::Hello { conn, identity } => {
                self.sessions.insert(*conn, identity.clone());
                Some(*conn)
            }
            Event::Join { conn, room } => {
                self.rooms.entry(*conn).or_default().insert(room.clone());
                Some(*conn)
            }
            Event::Leave { conn, room } => {
                if let Some(rooms) = self.rooms.get_mut(conn) {
                    rooms.remove(room);
                }
                Some(*conn)
            }
            Event::Bye { conn } => {
                self.sessions.remove(conn);
                self.rooms.remove(conn);
                Some(*conn)
            }
            Event::Typing { .. } | Event::Identity(_) => None,
        }
    }
}

/// The publishing thread's state.
struct Link {
    /// Where the database is.
    url: String,
    /// This node's id.
    node: String,
    /// How long a node's row lives without renewal.
    lease: Duration,
    /// The connection, while it works.
    client: Option<Client>,
    /// When the connection was made.
    since: Instant,
    /// True when this node's rows must be written whole again.
    reset: bool,
    /// What the rows should be.
    mirror: Mirror,
}

impl Link {
    fn run(&mut self, rx: Receiver<Event>) {
        let mut next_beat = Instant::now();
        loop {
            let wait = next_beat.saturating_duration_since(Instant::now());
            let mut batch = Vec::new();
            match rx.recv_timeout(wait) {
                Ok(event) => batch.push(event),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return self.leave(),
            }
            while batch.len() < MAX_BATCH {
                match rx.try_recv() {
                    Ok(event) => batch.push(event),
                    Err(_) => break,
                }
            }
            if let Err(e) = self.turn(&batch, &mut next_beat) {
                tracing::warn!(error = %e, "cannot reach the other nodes; retrying");
                self.client = None;
                self.reset = true;
                next_beat = Instant::now() + RETRY;
            }
        }
    }

    /// Writes and tells `batch`, then renews the lease if it is time.
    fn turn(&mut self, batch: &[Event], next_beat: &mut Instant) -> Result<(), StoreError> {
        let touched: HashSet<u64> = batch.iter().filter_map(|e| self.mirror.apply(e)).collect();
        if self.client.as_ref().is_none_or(Client::is_closed) {
            self.client = Some(Client::connect(&self.url, NoTls)?);
            self.since = Instant::now();
            self.reset = true;
        }
        if self.reset {
            self.write_all()?;
        } else if !batch.is_empty() {
            self.write(batch, &touched)?;
        }
        if Instant::now() >= *next_beat {
            self.renew()?;
            *next_beat = Instant::now() + self.lease / 3;
        }
        Ok(())
    }

    fn client(&mut self) -> &mut Client {
        self.client.as_mut().expect("connected in turn")
    }

    /// Rewrites the rows of `touched` connections from the mirror and sends
    /// every event of `batch`, in one transaction.
    fn write(&mut self, batch: &[Event], touched: &HashSet<u64>) -> Result<(), StoreError> {
        let node = self.node.clone();
        let notices: Vec<String> = batch.iter().map(|e| notice(&node, e)).collect();
        let conns: Vec<i64> = touched.iter().map(|&c| c as i64).collect();
        let (sessions, members) = self.rows(touched.iter().copied());
        let mut tx = self.client().transaction()?;
        tx.execute(
            "DELETE FROM cluster_members WHERE node = $1 AND conn = ANY($2)",
            &[&node, &conns],
        )?;
        tx.execute(
            "DELETE FROM cluster_sessions WHERE node = $1 AND conn = ANY($2)",
            &[&node, &conns],
        )?;
        insert_rows(&mut tx, &node, &sessions, &members)?;
        tx.execute(
            "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x",
            &[&CHANNEL, &notices],
        )?;
        Ok(tx.commit()?)
    }

    /// Writes every row of this node again and tells the others to read them.
    fn write_all(&mut self) -> Result<(), StoreError> {
        let node = self.node.clone();
        let conns: Vec<u64> = self.mirror.sessions.keys().copied().collect();
        let (sessions, members) = self.rows(conns.into_iter());
        let reset = serde_json::to_string(&Wire::Reset { n: node.clone() }).expect("encodes");
        let mut tx = self.client().transaction()?;
        tx.execute(
            "INSERT INTO cluster_nodes (id, seen) VALUES ($1, now()) \
             ON CONFLICT (id) DO UPDATE SET seen = now()",
            &[&node],
        )?;
        tx.execute("DELETE FROM cluster_members WHERE node = $1", &[&node])?;
        tx.execute("DELETE FROM cluster_sessions WHERE node = $1", &[&node])?;
        insert_rows(&mut tx, &node, &sessions, &members)?;
        tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &reset])?;
        tx.commit()?;
        self.reset = false;
        tracing::info!(node, sessions = sessions.len(), "cluster rows written");
        Ok(())
    }

    /// The mirror's rows of `conns`.
    fn rows(&self, conns: impl Iterator<Item = u64>) -> Rows {
        let (mut sessions, mut members) = (Vec::new(), Vec::new());
        for conn in conns {
            let Some(identity) = self.mirror.sessions.get(&conn) else {
                continue;
            };
            sessions.push((conn, identity.clone()));
            for room in self.mirror.rooms.get(&conn).into_iter().flatten() {
                members.push((conn, room.clone()));
            }
        }
        (sessions, members)
    }

    /// Renews this node's lease; then, once connected for a lease, removes
    /// the nodes whose lease ran out and tells everyone.
    fn renew(&mut self) -> Result<(), StoreError> {
        let node = self.node.clone();
        let renewed = self.client().execute(
            "UPDATE cluster_nodes SET seen = now() WHERE id = $1",
            &[&node],
        )?;
        if renewed == 0 {
            // Another node took this one for dead: be here again, whole.
            tracing::warn!(node, "this node's lease had been ended; rejoining");
            return self.write_all();
        }
        if self.since.elapsed() < self.lease {
            return Ok(());
        }
        let lease_ms = self.lease.as_secs_f64() * 1000.0;
        let mut tx = self.client().transaction()?;
        let gone: Vec<String> = tx
            .query(
                "DELETE FROM cluster_nodes \
                 WHERE seen < now() - $1::float8 * interval '1 millisecond' RETURNING id",
                &[&lease_ms],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        tx.execute("DELETE FROM cluster_members WHERE node = ANY($1)", &[&gone])?;
        tx.execute(
            "DELETE FROM cluster_sessions WHERE node = ANY($1)",
            &[&gone],
        )?;
        let notices: Vec<String> = gone
            .iter()
            .map(|n| serde_json::to_string(&Wire::Gone { n: n.clone() }).expect("encodes"))
            .collect();
        tx.execute(
            "SELECT pg_notify($1, x) FROM unnest($2::text[]) AS x",
            &[&CHANNEL, &notices],
        )?;
        tx.commit()?;
        tracing::warn!(?gone, "nodes past their lease removed");
        Ok(())
    }

    /// The hub ended: remove this node's rows and say it is gone.
    fn leave(&mut self) {
        let node = self.node.clone();
        let Some(client) = self.client.as_mut() else {
            return;
        };
        let gone = serde_json::to_string(&Wire::Gone { n: node.clone() }).expect("encodes");
        let left = client.transaction().and_then(|mut tx| {
            tx.execute("DELETE FROM cluster_members WHERE node = $1", &[&node])?;
            tx.execute("DELETE FROM cluster_sessions WHERE node = $1", &[&node])?;
            tx.execute("DELETE FROM cluster_nodes WHERE id = $1", &[&node])?;
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &gone])?;
            tx.commit()
        });
        if let Err(e) = left {
            tracing::warn!(error = %e, "could not leave the cluster; the lease will end it");
        }
    }
}

/// Inserts session and member rows of `node` (a statement each).
fn insert_rows(
    tx: &mut postgres::Transaction<'_>,
    node: &str,
    sessions: &[(u64, IdentityRow)],
    members: &[(u64, String)],
) -> Result<(), StoreError> {
    if !sessions.is_empty() {
        let conn: Vec<i64> = sessions.iter().map(|(c, _)| *c as i64).collect();
        let id: Vec<&str> = sessions.iter().map(|(_, i)| i.id.as_str()).collect();
        let hash: Vec<&[u8]> = sessions.iter().map(|(_, i)| &i.token_hash[..]).collect();
        let name: Vec<&str> = sessions.iter().map(|(_, i)| i.name.as_str()).collect();
        let seen: Vec<i64> = sessions.iter().map(|(_, i)| i.seen_ms as i64).collect();
        tx.execute(
            "INSERT INTO cluster_sessions (node, conn, identity, token_hash, name, seen_ms) \
             SELECT $1, * FROM unnest($2::int8[], $3::text[], $4::bytea[], $5::text[], $6::int8[])",
            &[&node, &conn, &id, &hash, &name, &seen],
        )?;
    }
    if !members.is_empty() {
        let conn: Vec<i64> = members.iter().map(|(c, _)| *c as i64).collect();
        let room: Vec<&str> = members.iter().map(|(_, r)| r.as_str()).collect();
        tx.execute(
            "INSERT INTO cluster_members (node, conn, room) \
             SELECT $1, * FROM unnest($2::int8[], $3::text[]) ON CONFLICT DO NOTHING",
            &[&node, &conn, &room],
        )?;
    }
    Ok(())
}

/// `event` of node `n` as a notice.
fn notice(n: &str, event: &Event) -> String {
    let n = n.to_owned();
    let wire = match event {
        Event::Hello { conn, identity } => Wire::Hello {
            n,
            c: *conn,
            i: identity.into(),
        },
        Event::Join { conn, room } => Wire::Join {
            n,
            c: *conn,
            r: room.clone(),
        },
        Event::Leave { conn, room } => Wire::Leave {
            n,
            c: *conn,
            r: room.clone(),
        },
        Event::Bye { conn } => Wire::Bye { n, c: *conn },
        Event::Typing { room, name } => Wire::Typing {
            n,
            r: room.clone(),
            u: name.clone(),
        },
        Event::Identity(row) => Wire::Identity { n, i: row.into() },
    };
    serde_json::to_string(&wire).expect("encodes")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> IdentityRow {
        IdentityRow {
            id: "abc".into(),
            token_hash: [7; 32],
            name: "Zoë \"q\"".into(),
            seen_ms: 42,
        }
    }

    #[test]
    fn every_event_reads_back_as_the_same_change_on_another_node_and_not_on_its_own() {
        let events = [
            Event::Hello {
                conn: 3,
                identity: row(),
            },
            Event::Join {
                conn: 3,
                room: "general".into(),
            },
            Event::Leave {
                conn: 3,
                room: "general".into(),
            },
            Event::Bye { conn: 3 },
            Event::Typing {
                room: "general".into(),
                name: "Zoë".into(),
            },
            Event::Identity(row()),
        ];
        let (n, conn) = ("a".to_string(), 3);
        let expected = [
            Remote::Hello {
                node: n.clone(),
                conn,
                identity: row(),
            },
            Remote::Join {
                node: n.clone(),
                conn,
                room: "general".into(),
            },
            Remote::Leave {
                node: n.clone(),
                conn,
                room: "general".into(),
            },
            Remote::Bye {
                node: n.clone(),
                conn,
            },
            Remote::Typing {
                room: "general".into(),
                name: "Zoë".into(),
            },
            Remote::Identity(row()),
        ];
        for (event, remote) in events.iter().zip(expected) {
            let payload = notice("a", event);
            assert!(payload.len() < 8000);
            assert_eq!(parse(&payload, "b"), Some(Ok(remote)));
            assert_eq!(parse(&payload, "a"), None, "a node skips its own");
        }
        let reset = serde_json::to_string(&Wire::Reset { n: "a".into() }).unwrap();
        assert_eq!(parse(&reset, "b"), Some(Err(())));
        assert_eq!(parse(&reset, "a"), None);
        assert_eq!(parse("{\"k\":\"nonsense\"}", "b"), None);
        let bad_hash = r#"{"k":"identity","n":"a","i":{"id":"x","t":"zz","name":"q","s":1}}"#;
        assert_eq!(parse(bad_hash, "b"), None);
    }
}
