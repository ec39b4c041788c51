//! Several nodes on one PostgreSQL database: the other nodes' sessions, as
//! this hub knows them, and what it tells them of its own.
//!
//! Every welcomed connection, join, leave, typing notice and identity change
//! here goes to the [`Publisher`] as an [`Event`]; every such change on
//! another node comes back through the listening thread as a [`Remote`],
//! in commit order. A remote member counts in member lists, `member_count`
//! and presence like a local one but receives nothing from this node (its
//! own node delivers to it). A remote session holds its identity here
//! too, so its name stays taken; a `hello` proving that identity on this
//! node takes it over, and the other node closes its connection (4000)
//! when it hears of it. When a node dies, the first node to see its lease
//! run out ends its sessions for everyone ([`Remote::Gone`]).

use super::{Hub, ServerFrame};
use crate::protocol::{PresenceState, CLOSE_REPLACED};
use crate::store::now_ms;
use crate::store::pg::cluster::{Event, Publisher, Remote, Snapshot};
use crate::store::pg::Notice;
use crate::store::{IdentityChange, IdentityRow};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// A connection on another node, by node id and its connection number there.
type RemoteId = (Arc<str>, u64);

/// This node's part in a cluster.
#[derive(Debug)]
pub(super) struct Cluster {
    /// Where this node's changes go.
    publisher: Publisher,
    /// The other nodes' welcomed connections.
    sessions: HashMap<RemoteId, RemoteSession>,
}

impl Cluster {
    pub(super) fn new(publisher: Publisher) -> Cluster {
        Cluster {
            publisher,
            sessions: HashMap::new(),
        }
    }
}

/// A welcomed connection on another node.
#[derive(Debug)]
struct RemoteSession {
    /// Its identity's id.
    identity: Arc<str>,
    /// Its display name.
    name: Arc<str>,
    /// The rooms it joined.
    rooms: HashSet<Arc<str>>,
}

impl Hub {
    /// Tells the other nodes of `event` (nothing without a cluster).
    pub(super) fn publish(&self, event: Event) {
        if let Some(cluster) = &self.cluster {
            cluster.publisher.send(event);
        }
    }

    /// Tells the other nodes of identity changes not told otherwise: an
    /// identity a connection here holds went out with its `hello`.
    /// Alone (no cluster) this does nothing, and copies nothing.
    pub(super) fn publish_identities(&self, changes: &[IdentityChange]) {
        if self.cluster.is_none() {
            return;
        }
        for change in changes {
            let IdentityChange::Save(row) = change else {
                continue; // each node forgets by the same lease rule
            };
            let held_here = self
                .registry
                .get(&row.id)
                .is_some_and(|i| !i.conns.is_empty());
            if !held_here {
                self.publish(Event::Identity(row.clone()));
            }
        }
    }

    /// What the listening thread heard.
    pub(super) fn on_notice(&mut self, notice: Notice) {
        match notice {
            Notice::Stored { room, upto } => self.catch_up(&room, upto),
            Notice::Resync(snapshot) => {
                self.catch_up_all();
                self.resync_standings();
                self.on_remote(Remote::Snapshot(snapshot));
            }
            Notice::Cluster(remote) => self.on_remote(remote),
            // Handed to the fallback transport by the listener's callback
            // (`server::App::new`), never to the hub.
            Notice::Live(_) => {}
        }
    }

    fn on_remote(&mut self, remote: Remote) {
        if self.cluster.is_none() {
            return;
        }
        match remote {
            Remote::Hello {
                node,
                conn,
                identity,
            } => self.remote_hello((Arc::from(node), conn), identity),
            Remote::Join { node, conn, room } => self.remote_join(&(Arc::from(node), conn), &room),
            Remote::Leave { node, conn, room } => {
                self.remote_leave(&(Arc::from(node), conn), &room)
            }
            Remote::Bye { node, conn } => self.remote_bye(&(Arc::from(node), conn)),
            Remote::Typing { room, name } => {
                let frame = ServerFrame::Typing {
                    room: room.clone(),
                    user: name,
                };
                self.broadcast(&room, &frame, None);
            }
            Remote::Identity(row) => self.registry.merge_remote(row),
            Remote::SessionsEnded(ended) => self.end_sessions(&super::accounts::ending_of(ended)),
            Remote::Account { identity, role } => self.registry.set_account(&identity, role),
            Remote::Erased(identity) => self.registry.forget_now(&identity),
            Remote::Access(event) => self.remote_access(event),
            Remote::Changed { room, from, to } => self.remote_changed(&room, from, to),
            Remote::Moderation(change) => self.enact(&change),
            Remote::Gone(node) => {
                let gone: Vec<RemoteId> = self
                    .remote_sessions()
                    .filter(|(n, _)| **n == *node)
                    .collect();
                tracing::info!(node, sessions = gone.len(), "a node is gone");
                for id in gone {
                    self.remote_bye(&id);
                }
            }
            Remote::Snapshot(snapshot) => self.remote_snapshot(snapshot),
        }
    }

    fn remote_sessions(&self) -> impl Iterator<Item = RemoteId> + '_ {
        self.cluster.iter().flat_map(|c| c.sessions.keys().cloned())
    }

    fn remote_hello(&mut self, id: RemoteId, identity: IdentityRow) {
        let key: Arc<str> = Arc::from(identity.id.as_str());
        let name: Arc<str> = Arc::from(identity.name.as_str());
        self.registry.merge_remote(identity);
        // A guest's identity moved to the other node: its connection here
        // ends. An account is signed in on any number of devices and nodes.
        let account = self.registry.get(&key).is_some_and(|i| i.account.is_some());
        let local = match self.registry.get(&key) {
            Some(identity) if !account => identity.conns.clone(),
            _ => Vec::new(),
        };
        for local in local {
            if let Some(s) = self.sessions.get(&local) {
                s.outbox
                    .close(CLOSE_REPLACED, "replaced by a newer connection");
            }
            self.remove_session(local);
        }
        // The same identity on yet another node: that one will close it.
        self.registry.hold_remote(&key, id.clone(), account);
        let cluster = self.cluster.as_mut().expect("checked by on_remote");
        cluster.sessions.entry(id).or_insert(RemoteSession {
            identity: key,
            name,
            rooms: HashSet::new(),
        });
    }

    fn remote_join(&mut self, id: &RemoteId, room: &str) {
        let cluster = self.cluster.as_mut().expect("checked by on_remote");
        let Some(session) = cluster.sessions.get_mut(id) else {
            return;
        };
        let key = match self.rooms.get_key_value(room) {
            Some((key, _)) => key.clone(),
            None => {
                // Made on the other node: known here from now on; hidden
                // (private) until its kind is told (unknown means no).
                let key: Arc<str> = Arc::from(room);
                let made = super::Room {
                    active_ms: now_ms(),
                    ..super::Room::default()
                };
                self.rooms.insert(key.clone(), made);
                key
            }
        };
        if !session.rooms.insert(key.clone()) {
            return;
        }
        let name = session.name.clone();
        let r = self.rooms.get_mut(&key).expect("made above");
        if r.add_name(&name) {
            self.announce(&key, &name, PresenceState::Joined, None);
        }
    }

    fn remote_leave(&mut self, id: &RemoteId, room: &str) {
        let cluster = self.cluster.as_mut().expect("checked by on_remote");
        let Some(session) = cluster.sessions.get_mut(id) else {
            return;
        };
        let Some(key) = session.rooms.take(room) else {
            return;
        };
        let name = session.name.clone();
        self.remote_left(&key, &name);
    }

    /// A remote member named `name` left `room`.
    fn remote_left(&mut self, room: &Arc<str>, name: &str) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        let gone = r.remove_name(name);
        self.member_left(room, name, gone);
    }

    fn remote_bye(&mut self, id: &RemoteId) {
        let cluster = self.cluster.as_mut().expect("checked by on_remote");
        let Some(session) = cluster.sessions.remove(id) else {
            return;
        };
        for room in &session.rooms {
            self.remote_left(room, &session.name);
        }
        self.registry
            .release_remote(&session.identity, id, now_ms());
    }

    /// The other nodes' sessions are these: what is known here and not in
    /// `snapshot` ended; what is new began.
    fn remote_snapshot(&mut self, snapshot: Snapshot) {
        let mut wanted: HashMap<RemoteId, (IdentityRow, HashSet<String>)> = HashMap::new();
        for (node, conn, identity) in snapshot.sessions {
            wanted.insert((Arc::from(node), conn), (identity, HashSet::new()));
        }
        for (node, conn, room) in snapshot.members {
            if let Some((_, rooms)) = wanted.get_mut(&(Arc::from(node), conn)) {
                rooms.insert(room);
            }
        }
        let ended: Vec<RemoteId> = self
            .remote_sessions()
            .filter(|id| !wanted.contains_key(id))
            .collect();
        for id in ended {
            self.remote_bye(&id);
        }
        for (id, (identity, rooms)) in wanted {
            let known = self
                .cluster
                .as_ref()
                .and_then(|c| c.sessions.get(&id))
                .map(|s| s.rooms.clone());
            match known {
                None => self.remote_hello(id.clone(), identity),
                Some(had) => {
                    for room in had.iter().filter(|r| !rooms.contains(&***r)) {
                        self.remote_leave(&id, room);
                    }
                }
            }
            for room in &rooms {
                self.remote_join(&id, room);
            }
        }
    }
}
