//! Rooms: join, leave, history, typing, the page's snapshot, and broadcast.
//!
//! A room is created by its first `join`. The hub adds it at once and asks
//! the group-commit thread to store it ([`Job::CreateRoom`]), so the only
//! writer of the database stays that thread; a message to the room is
//! queued behind the creation, and storing a message creates its room anyway.

use super::access::Act;
use super::identity::{addr_key, limit_bucket, Client};
use super::members::MemberKey;
use super::{ConnId, Hub, Reply};
use crate::protocol::{
    is_dm_room, validate_room_ref, ChatMessage, ErrorCode, PresenceState, ProtocolError, RoomRole,
    ServerFrame, CLOSE_STORE_FAILED, GENERAL_ROOM, HISTORY_DEFAULT_LIMIT,
};
use crate::server::outbox::{Outbox, Slot};
use crate::server::payload::encode_json;
use crate::server::payload::Payload;
use crate::store::access::AccessChange;
use crate::store::access::{RoomKind, Standing};
use crate::store::group_commit::Job;
use crate::store::pg::cluster::Event;
use crate::store::pool::Kind;
use crate::store::{now_ms, StoreError, StoreReader};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Typing notices forwarded per connection: 2 a second, bursts of 4; the rest are dropped.
const TYPING_RATE: f64 = 2.0;
/// See [`TYPING_RATE`].
pub(super) const TYPING_BURST: f64 = 4.0;

/// How many different recent posters a room remembers.
pub(super) const POSTERS_KEPT: usize = 8;

impl Room {
    /// `user` posted in the room: among its recent posters now (the newest).
    pub(super) fn posted_by(&mut self, user: &str) {
        if let Some(at) = self.posters.iter().position(|p| **p == *user) {
            let known = self.posters.remove(at).expect("found");
            self.posters.push_back(known);
            return;
        }
        if self.posters.len() == POSTERS_KEPT {
            self.posters.pop_front();
        }
        self.posters.push_back(Arc::from(user));
    }
}

/// One room's live members.
#[derive(Debug, Default)]
pub(super) struct Room {
    /// Members by connection: their outbound side.
    pub(super) members: HashMap<ConnId, Outbox>,
    /// *1.1*: connections watching the room without being members: they
    /// get its messages and nothing else (see [`super::watch`]).
    pub(super) watchers: HashMap<ConnId, Outbox>,
    /// The names of its members on every node, in member order, with how
    /// many sessions hold each (see [`super::members`]).
    pub(super) order: BTreeMap<MemberKey, u32>,
    /// A catch-up read is out (several nodes): what is committed meanwhile
    /// waits for it ([`Hub::catch_up`]).
    pub(super) catching: bool,
    /// The id a catch-up must reach: raised while one is out.
    pub(super) catch_to: u64,
    /// The names of the last different people who posted (newest last, at
    /// most [`POSTERS_KEPT`]): how `welcome` ranks rooms (see
    /// [`super::directory`]).
    pub(super) posters: std::collections::VecDeque<Arc<str>>,
    /// The last `member_count` sent, or 0 while the room is in presence mode.
    pub(super) count_sent: usize,
    /// The id of the last message broadcast (0 before the first).
    pub(super) last_id: u64,
    /// When the room was last active (ms): its newest message, its
    /// creation, or its last member leaving. See [`super::directory`].
    pub(super) active_ms: u64,
    /// *1.2*: who may see it ([`super::access`]); a room made without
    /// knowing is private (hidden) until told.
    pub(super) kind: RoomKind,
    /// *1.2*: each identity's standing in it, connected or not.
    pub(super) standings: HashMap<Arc<str>, Standing>,
    /// *1.2*: a direct message's two identities.
    pub(super) dm_pair: Vec<Arc<str>>,
    /// *1.2*: its owners and moderators (of `standings`, kept apart so
    /// that `joined` lists them without reading every standing).
    pub(super) staff: HashMap<Arc<str>, RoomRole>,
    /// *1.2* (section 4): bans and mutes in it, by identity
    /// ([`super::moderation`]).
    pub(super) sanctions: HashMap<Arc<str>, super::sanctions::Held>,
    /// *1.2*: its settings (slow mode, read-only, topic).
    pub(super) settings: crate::protocol::RoomSettings,
    /// *1.2*: slow mode: when each plain member last posted (ms).
    pub(super) last_post: HashMap<Arc<str>, u64>,
}

/// A room as the server-rendered page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Snapshot {
    /// The most recent messages (as many as a `join` gets), oldest first.
    pub(crate) messages: Vec<ChatMessage>,
    /// Display names of the first live members in member order (a `joined`
    /// reply's worth).
    pub(crate) members: Vec<String>,
    /// How many live members there are.
    pub(crate) member_count: usize,
    /// The rooms a `welcome` would list (the sidebar's links).
    pub(crate) rooms: Vec<String>,
    /// *1.2*: the viewer's rooms, as `welcome.mine` lists them.
    pub(crate) mine: Vec<crate::protocol::MyRoom>,
}

/// Fills a reply's slot with its frame; when the read failed, with the
/// `error`, and the connection is closed (1011): the client reconnects and
/// resumes with `after`, losing nothing, instead of holding a membership
/// whose replay it never got.
pub(super) fn fill_or_close(slot: Slot, outbox: &Outbox, result: Result<Payload, ProtocolError>) {
    fill_all_or_close(slot, outbox, result.map(|frame| vec![frame]));
}

/// As [`fill_or_close`], with several frames (*1.2*: `joined` and the
/// changes it replays).
pub(super) fn fill_all_or_close(
    slot: Slot,
    outbox: &Outbox,
    result: Result<Vec<Payload>, ProtocolError>,
) {
    match result {
        Ok(frames) => slot.fill(&frames),
        Err(e) => {
            slot.send(&e.into_frame());
            outbox.close(CLOSE_STORE_FAILED, "the store could not be read; reconnect");
        }
    }
}

/// Every stored room with its newest id, and `general` even in a new store.
pub(super) fn load(reader: &dyn StoreReader) -> Result<HashMap<Arc<str>, Room>, StoreError> {
    let mut rooms: HashMap<Arc<str>, Room> = reader
        .rooms()?
        .into_iter()
        .map(|row| {
            let room = Room {
                last_id: row.last_id,
                active_ms: row.active_ms,
                kind: row.kind,
                ..Room::default()
            };
            (Arc::from(row.name), room)
        })
        .collect();
    rooms
        .entry(Arc::from(GENERAL_ROOM))
        .or_insert_with(|| Room {
            kind: RoomKind::Public,
            ..Room::default()
        });
    Ok(rooms)
}

/// An upper bound of a message's JSON: escaping at most doubles a
/// character (the only control characters a text keeps are newlines and
/// tabs).
pub(super) fn json_bound(m: &ChatMessage) -> usize {
    2 * (m.text.len() + m.html.len() + m.user.len() + m.room.len())
        + m.nonce.as_ref().map_or(0, |n| 2 * n.len())
        + 100
}

/// Drops the oldest of `messages` (oldest first) until their frames surely
/// fit in `budget` bytes, always keeping the newest; true when any went.
pub(super) fn fit(messages: &mut Vec<ChatMessage>, budget: usize) -> bool {
    let mut total = 0;
    let keep = messages
        .iter()
        .rev()
        .take_while(|m| {
            total += json_bound(m);
            total <= budget
        })
        .count()
        .max(1)
        .min(messages.len());
    let cut = messages.len() - keep;
    messages.drain(..cut);
    cut > 0
}

impl Hub {
    /// Most bytes of messages in one `joined` or `history` reply: a quarter
    /// of a member's outbound bound, so a reply never closes a member.
    pub(super) fn reply_budget(&self) -> usize {
        self.config.outbound_bytes / 4
    }

    /// Checks that `conn` has joined `room` and may still `act` there
    /// ([`Hub::authorize`]); anything else is `not_in_room`, as for a room
    /// that does not exist (version 1's answer on these paths).
    pub(super) fn joined_room(&self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        self.joined_to(conn, room, Act::Read)
    }

    /// [`Hub::joined_room`] for `act`.
    pub(super) fn joined_to(
        &self,
        conn: ConnId,
        room: &str,
        act: Act,
    ) -> Result<(), ProtocolError> {
        validate_room_ref(room)?;
        let joined = self
            .sessions
            .get(&conn)
            .is_some_and(|s| s.rooms.contains(room));
        match self.authorize(&self.viewer(conn), room, act) {
            Ok(_) if joined => Ok(()),
            // *1.2*: what a joined room refuses says why (`forbidden`, and
            // section 4's `banned`, `muted`, `read_only`).
            Err(e)
                if joined
                    && matches!(
                        e.code,
                        ErrorCode::Forbidden
                            | ErrorCode::Banned
                            | ErrorCode::Muted
                            | ErrorCode::ReadOnly
                    ) =>
            {
                Err(e)
            }
            _ => Err(ProtocolError::not_in_room(room)),
        }
    }

    pub(super) fn on_join(
        &mut self,
        conn: ConnId,
        room: &str,
        after: Option<u64>,
    ) -> Result<(), ProtocolError> {
        validate_room_ref(room)?;
        let exists = self.rooms.contains_key(room);
        if exists || is_dm_room(room) {
            self.authorize(&self.viewer(conn), room, Act::Join)?;
        }
        let already = self.session(conn)?.rooms.contains(room);
        let cap = self.config.max_rooms_per_conn;
        if !already && self.session(conn)?.rooms.len() >= cap {
            return Err(ProtocolError::too_many_rooms(cap));
        }
        let identity = self.session(conn)?.identity.clone().expect("after hello");
        let standing = self
            .rooms
            .get(room)
            .and_then(|r| r.standings.get(&identity));
        let member = matches!(standing, Some(Standing::Member(_)));
        if !member {
            self.may_belong(&identity, "you")?;
        }
        // A member already gets the room's live messages: its `join` is
        // answered with the members alone, and nothing is read.
        let ticket = match already {
            true => None,
            false => self.admit_read()?,
        };
        let room_key = match exists {
            true => self.room_key(room).expect("exists"),
            false => self.create_room(conn, room, RoomKind::Public)?,
        };
        if !member {
            // The creator owns it; anyone else joining is a member.
            let role = match exists {
                true => RoomRole::Member,
                false => RoomRole::Owner,
            };
            self.set_standing(&room_key, &identity, Standing::Member(role), None);
        }
        let (role, visibility, dm, staff) = {
            let r = &self.rooms[&room_key];
            let role = self.authorize(&self.viewer(conn), room, Act::Join)?;
            (
                role,
                r.kind.visibility(),
                self.dm_partner(r, &identity),
                self.staff(r),
            )
        };
        let upto = self.rooms[&room_key].last_id;
        let me = self.sessions.get_mut(&conn).expect("checked above");
        let (name, outbox, identity) = (me.name.clone(), me.outbox.clone(), me.identity.clone());
        let mut new_name = false;
        if !already {
            // A member from now on: what the room broadcasts from here
            // waits in its queue behind the reply's slot.
            me.rooms.insert(room_key.clone());
            let r = self.rooms.get_mut(&room_key).expect("room exists");
            new_name = r.add_member(conn, &name, outbox.clone());
            self.watch_follows_membership(conn, &room_key, true);
        }
        let r = &self.rooms[&room_key];
        let (members, _) = r.page(None, self.config.member_page);
        let member_count = r.count();
        if already {
            outbox.send(&ServerFrame::Joined {
                room: room.to_owned(),
                members,
                member_count,
                messages: Vec::new(),
                missed: false,
                last_read: None,
                role,
                visibility: Some(visibility),
                dm,
                staff,
                settings: r.settings.clone(),
            });
        } else {
            let slot = outbox.reserve();
            let (replay_cap, recent, budget) = (
                self.config.replay_cap,
                self.config.join_recent,
                self.reply_budget(),
            );
            let room = room.to_owned();
            let settings = r.settings.clone();
            let read = move |reader: &dyn StoreReader| {
                // An `after` beyond the newest id comes from another
                // history (a restored store): the client starts over from
                // the recent messages, told by `missed`, rather than wait
                // for ids it saw.
                let beyond = after.is_some_and(|after| after > upto);
                let after = after.filter(|_| !beyond);
                let viewer = identity.as_deref();
                // *1.2*: what changed since, to the messages it holds; past
                // the cap, it starts over from the recent messages (`missed`).
                let (changed, changes_missed) = match after {
                    Some(after) => super::changes::replay(reader, &room, after)?,
                    None => (Vec::new(), false),
                };
                let after = after.filter(|_| !changes_missed);
                let (mut messages, mut missed) = match after {
                    Some(after) => {
                        let replay = reader.after(&room, after, replay_cap, upto, viewer)?;
                        (replay.messages, replay.missed)
                    }
                    None => (reader.before(&room, None, recent, upto, viewer)?, false),
                };
                let changed = if changes_missed { Vec::new() } else { changed };
                missed |= changes_missed;
                let last_read = match &identity {
                    Some(identity) => reader.last_read(identity, &room)?,
                    None => None,
                };
                // Cut to the reply budget, the newest kept: like a replay
                // past its cap, older ones are then paged back with `history`.
                missed |= fit(&mut messages, budget) && after.is_some();
                missed |= beyond;
                let joined = encode_json(&ServerFrame::Joined {
                    room,
                    members,
                    member_count,
                    messages,
                    missed,
                    last_read,
                    role,
                    visibility: Some(visibility),
                    dm,
                    staff,
                    settings,
                });
                Ok(std::iter::once(joined).chain(changed).collect::<Vec<_>>())
            };
            self.read_apart(ticket, Kind::Plain, read, move |result| {
                fill_all_or_close(slot, &outbox, result)
            });
        }
        if !already {
            self.publish(Event::Join {
                conn,
                room: room.to_owned(),
            });
        }
        if new_name {
            self.announce(&room_key, &name, PresenceState::Joined, Some(conn));
        }
        Ok(())
    }

    /// The key of `room`, creating it of `kind` (in memory now, in the
    /// store through the commit thread) if the server has room for it. `conn`'s identity
    /// may create [`Config::new_rooms_per_min`] rooms a minute, and its
    /// address [`Config::new_rooms_addr_per_min`]: budgets a reconnect
    /// does not renew (one per connection did).
    ///
    /// [`Config::new_rooms_per_min`]: crate::server::config::Config::new_rooms_per_min
    /// [`Config::new_rooms_addr_per_min`]: crate::server::config::Config::new_rooms_addr_per_min
    pub(super) fn create_room(
        &mut self,
        conn: ConnId,
        room: &str,
        kind: RoomKind,
    ) -> Result<Arc<str>, ProtocolError> {
        if let Some(key) = self.room_key(room) {
            return Ok(key);
        }
        // An API token keeps to its rooms: it makes no others.
        if let Some(rooms) = self.viewer(conn).token_rooms {
            if !rooms.iter().any(|r| r == room) {
                return Err(ProtocolError::forbidden(
                    "this API token may not use this room",
                ));
            }
        }
        let session = self.session(conn)?;
        let (identity, addr) = (session.identity.clone(), session.client.addr);
        self.make_room(identity.expect("after hello"), addr, room, kind)
    }

    /// Makes `room` of `kind` for `identity` at `addr`, within the server's
    /// cap and their budgets of new rooms (see [`Hub::create_room`]).
    pub(super) fn make_room(
        &mut self,
        identity: Arc<str>,
        addr: std::net::IpAddr,
        room: &str,
        kind: RoomKind,
    ) -> Result<Arc<str>, ProtocolError> {
        if self.rooms.len() >= self.config.max_rooms_total {
            return Err(ProtocolError::no_more_rooms());
        }
        let (per_min, addr_per_min) = (
            self.config.new_rooms_per_min,
            self.config.new_rooms_addr_per_min,
        );
        let addr = addr_key(addr);
        let refused = |per_min: f64, whence: &str| {
            Err(ProtocolError::new(
                ErrorCode::RateLimited,
                format!(
                    "too many new rooms {whence}: at most {per_min} a minute; join an existing one"
                ),
            ))
        };
        let (rate, addr_rate) = (per_min / 60.0, addr_per_min / 60.0);
        if !limit_bucket(&mut self.rooms_by_identity, identity.clone(), rate, per_min)
            .ready(rate, per_min)
        {
            return refused(per_min, "by you");
        }
        if !limit_bucket(&mut self.rooms_by_addr, addr, addr_rate, addr_per_min)
            .ready(addr_rate, addr_per_min)
        {
            return refused(addr_per_min, "from your address");
        }
        // The room and its kind in one transaction (its standings follow).
        let create = AccessChange::Create {
            room: room.to_owned(),
            kind,
            members: Vec::new(),
        };
        self.queue(Job::Access(create))?;
        limit_bucket(&mut self.rooms_by_identity, identity, rate, per_min).take(rate, per_min);
        limit_bucket(&mut self.rooms_by_addr, addr, addr_rate, addr_per_min)
            .take(addr_rate, addr_per_min);
        let key: Arc<str> = Arc::from(room);
        let created = Room {
            active_ms: now_ms(),
            kind,
            ..Room::default()
        };
        self.rooms.insert(key.clone(), created);
        Ok(key)
    }

    /// The key of the room named `room`, if there is one.
    pub(super) fn room_key(&self, room: &str) -> Option<Arc<str>> {
        self.rooms.get_key_value(room).map(|(k, _)| k.clone())
    }

    /// *1.2*: `leave` ends the identity's membership (or declines its
    /// invitation): every connection of it leaves the room, here and on
    /// every node. A room it has no standing in, and this connection did
    /// not join, is `not_in_room`.
    pub(super) fn on_leave(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        validate_room_ref(room)?;
        let identity = self.session(conn)?.identity.clone().expect("after hello");
        let joined = self.session(conn)?.rooms.contains(room);
        let key = self.room_key(room);
        let standing = key
            .as_ref()
            .and_then(|k| self.rooms[k].standings.get(&identity));
        let Some(key) = key.filter(|_| joined || standing.is_some()) else {
            return Err(ProtocolError::not_in_room(room));
        };
        if standing.is_some() {
            // Every connection of it that joined leaves, told `left`.
            self.end_standing(&key, &identity);
        }
        let still = self.session(conn)?.rooms.contains(room);
        if still {
            self.leave_room(conn, room);
            self.publish(Event::Leave {
                conn,
                room: room.to_owned(),
            });
        }
        if still || !joined {
            self.session(conn)?.outbox.send(&ServerFrame::Left {
                room: room.to_owned(),
                reason: None,
            });
        }
        Ok(())
    }

    /// Takes `conn` out of `room` and tells the others.
    pub(super) fn leave_room(&mut self, conn: ConnId, room: &str) {
        let Some(session) = self.sessions.get_mut(&conn) else {
            return;
        };
        session.rooms.remove(room);
        let name = session.name.clone();
        let Some(key) = self.rooms.get_key_value(room).map(|(k, _)| k.clone()) else {
            return;
        };
        let Some(r) = self.rooms.get_mut(&key) else {
            return;
        };
        let gone = r.remove_member(conn, &name);
        self.watch_follows_membership(conn, &key, false);
        self.member_left(&key, &name, gone);
    }

    /// A member named `name` (on this node or another) left `room`: an
    /// emptied room is active now; `presence` when the name is gone.
    pub(super) fn member_left(&mut self, room: &Arc<str>, name: &str, gone: bool) {
        if let Some(r) = self.rooms.get_mut(room) {
            if r.count() == 0 {
                r.active_ms = now_ms();
            }
        }
        if gone {
            self.announce(room, name, PresenceState::Left, None);
        }
    }

    /// Answers the page's snapshot of an existing room: its members and
    /// the rooms now, its recent messages read beside the hub.
    /// *1.2*: only as `client` may see it ([`Hub::authorize`]): a hidden
    /// room is `no_such_room` (the page's 404); an invited one shows no
    /// messages and no members until joined.
    pub(super) fn on_snapshot(&mut self, room: &str, client: &Client, reply: Reply<Snapshot>) {
        let asked = || -> Result<_, ProtocolError> {
            validate_room_ref(room)?;
            let identity = self.identity_of(client);
            let viewer = self.viewer_of(identity.as_deref());
            let readable = match self.authorize(&viewer, room, Act::Read) {
                Ok(_) => true,
                Err(e) if e.code == ErrorCode::Forbidden => {
                    self.authorize(&viewer, room, Act::Join)?;
                    false
                }
                Err(e) => return Err(e),
            };
            let r = &self.rooms[room];
            let ticket = self.admit_read()?;
            let (members, _) = match readable {
                true => r.page(None, self.config.member_page),
                false => (Vec::new(), false),
            };
            let snapshot = Snapshot {
                messages: Vec::new(),
                members,
                member_count: if readable { r.count() } else { 0 },
                rooms: self.welcome_rooms(identity.as_deref()),
                mine: identity
                    .as_ref()
                    .map(|id| self.my_rooms(id))
                    .unwrap_or_default(),
            };
            let upto = if readable { r.last_id } else { 0 };
            Ok((ticket, upto, snapshot, identity))
        };
        let (ticket, upto, mut snapshot, identity) = match asked() {
            Ok(asked) => asked,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let (name, recent) = (room.to_owned(), self.config.join_recent);
        let read = move |reader: &dyn StoreReader| {
            reader.before(&name, None, recent, upto, identity.as_deref())
        };
        self.read_apart(ticket, Kind::Plain, read, move |messages| {
            let _ = reply.send(messages.map(|messages| {
                snapshot.messages = messages;
                snapshot
            }));
        });
    }

    pub(super) fn on_typing(&mut self, conn: ConnId, room: &str) -> Result<(), ProtocolError> {
        self.joined_to(conn, room, Act::React)?;
        let session = self.session(conn)?;
        if !session.typing.take(TYPING_RATE, TYPING_BURST) {
            return Ok(());
        }
        let user = session.name.to_string();
        self.publish(Event::Typing {
            room: room.to_owned(),
            name: user.clone(),
        });
        self.broadcast(
            room,
            &ServerFrame::Typing {
                room: room.to_owned(),
                user,
            },
            Some(conn),
        );
        Ok(())
    }

    pub(super) fn on_history(
        &mut self,
        conn: ConnId,
        room: &str,
        before: Option<u64>,
        limit: Option<i64>,
    ) -> Result<(), ProtocolError> {
        self.joined_room(conn, room)?;
        let ticket = self.admit_read()?;
        let limit = limit.map_or(HISTORY_DEFAULT_LIMIT as usize, |l| l as usize);
        let upto = self.rooms.get(room).map_or(0, |r| r.last_id);
        let (name, budget) = (room.to_owned(), self.reply_budget());
        let session = self.session(conn)?;
        let (outbox, identity) = (session.outbox.clone(), session.identity.clone());
        // In order with what the connection asked before and is sent after.
        let slot = outbox.reserve();
        let read = move |reader: &dyn StoreReader| {
            let mut messages = reader.before(&name, before, limit, upto, identity.as_deref())?;
            // The newest kept: the client pages on from the oldest it got.
            fit(&mut messages, budget);
            let room = name;
            Ok(encode_json(&ServerFrame::History { room, messages }))
        };
        self.read_apart(ticket, Kind::Plain, read, move |result| {
            fill_or_close(slot, &outbox, result)
        });
        Ok(())
    }

    /// Encodes `frame` once and queues it for every member of `room` but `except`.
    pub(super) fn broadcast(&self, room: &str, frame: &ServerFrame, except: Option<ConnId>) {
        self.deliver(room, &[encode_json(frame)], except);
    }

    /// Queues encoded messages for every member and watcher of `room`.
    pub(super) fn deliver_messages(&self, room: &str, frames: &[Payload]) {
        self.deliver(room, frames, None);
        if let Some(r) = self.rooms.get(room) {
            let public = r.kind == RoomKind::Public;
            for (&watcher, outbox) in &r.watchers {
                if public || self.may_receive(room, r, watcher) {
                    outbox.push(frames);
                }
            }
        }
    }

    /// Queues encoded `frames` (a reference each) for every member of
    /// `room` but `except`. In a room that is not public, each recipient
    /// is asked of the authorization point first (a public room's members
    /// may all read it: nothing is checked on the hot path).
    pub(super) fn deliver(&self, room: &str, frames: &[Payload], except: Option<ConnId>) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let public = r.kind == RoomKind::Public;
        for (&member, outbox) in &r.members {
            if Some(member) != except && (public || self.may_receive(room, r, member)) {
                outbox.push(frames);
            }
        }
    }
}
