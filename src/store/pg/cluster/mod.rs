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

//!
//! - [`wire`]: the notices as sent (JSON) and read back.
//! - [`link`]: the publishing thread: this node's rows, its lease, dead nodes.

use super::{as_u64, StoreError};
use crate::store::IdentityRow;
use link::Link;
use postgres::Client;
use std::sync::mpsc::Sender;
use std::time::Duration;

mod link;
mod wire;

pub(super) use wire::parse;

/// The channel of cluster notices (JSON, see [`wire`]).
pub const CHANNEL: &str = "chat_cluster";

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
    /// *1.2*: sessions ended (nothing is written: the store already holds it).
    SessionsEnded(Ended),
    /// *1.2*: an identity has an account with this role now (its name is
    /// never swept; the store holds the account).
    Account {
        /// The identity.
        identity: String,
        /// Its role.
        role: crate::store::accounts::Role,
    },
    /// An account was deleted: every node forgets its identity (its name
    /// is free everywhere; the store deletes it).
    Erased(String),
    /// *1.2*: a standing in a room changed (the store holds it).
    Access(crate::store::access::AccessEvent),
    /// *1.2*: changes `from..=to` of `room`'s change log were committed
    /// (the store holds them: other nodes read them from there).
    Changed {
        /// The room.
        room: String,
        /// First rev.
        from: u64,
        /// Last rev.
        to: u64,
    },
    /// *1.2* (section 4): a moderator's decision (a ban, a mute, a
    /// setting, a kick), enacted on every node.
    Moderation(crate::store::moderation::ModerationChange),
}

/// *1.2*: sessions that ended: their connections close on every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ended {
    /// The account's identity id.
    pub identity: String,
    /// The one session that ended; `None`: all of them but `except`.
    pub hash: Option<[u8; 32]>,
    /// The session kept when all the others ended.
    pub except: Option<[u8; 32]>,
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
    /// Sessions ended on another node.
    SessionsEnded(Ended),
    /// An identity became an account, or its role changed, on another node.
    Account {
        /// The identity.
        identity: String,
        /// Its role.
        role: crate::store::accounts::Role,
    },
    /// An account was deleted on another node.
    Erased(String),
    /// *1.2*: a standing in a room changed on another node.
    Access(crate::store::access::AccessEvent),
    /// *1.2*: another node committed changes `from..=to` of `room`.
    Changed {
        /// The room.
        room: String,
        /// First rev.
        from: u64,
        /// Last rev.
        to: u64,
    },
    /// *1.2*: another node's moderator decided this.
    Moderation(crate::store::moderation::ModerationChange),
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
    let mut link = Link::new(url, node, lease);
    let thread = std::thread::Builder::new()
        .name("pg-cluster".into())
        .spawn(move || link.run(rx))?;
    Ok((Publisher { events }, thread))
}
