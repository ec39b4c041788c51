//! *1.2*: every identity's standing in every room (invited, member,
//! moderator, owner), kept both ways (each room's, each identity's) in
//! memory like identities, written through the commit thread
//! ([`crate::store::access`]) and told to the other nodes; what a standing
//! allows is decided in [`super::access`] alone.

use super::rooms::Room;
use super::{ConnId, Hub};
use crate::protocol::{MyRoom, ProtocolError, RoomRole, MAX_STAFF_LISTED};
use crate::store::access::{AccessChange, AccessEvent, MemberRow, RoomKind, Standing};
use crate::store::group_commit::Job;
use crate::store::pg::cluster::Event;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Every standing, by identity (each room holds its own by identity).
#[derive(Debug, Default)]
pub(super) struct Mine {
    /// The rooms each identity has a standing in.
    by_identity: HashMap<Arc<str>, HashSet<Arc<str>>>,
    /// While a resync's read is out: the (room, identity) standings changed
    /// here meanwhile, which the read may not hold (kept as they are).
    touched: Option<HashSet<(Arc<str>, Arc<str>)>>,
}

impl Mine {
    /// Notes a change of `identity`'s standing in `room` (for a resync).
    fn touch(&mut self, room: &Arc<str>, identity: &Arc<str>) {
        if let Some(touched) = &mut self.touched {
            touched.insert((room.clone(), identity.clone()));
        }
    }

    /// The rooms `identity` has a standing in.
    pub(super) fn rooms_of(&self, identity: &str) -> impl Iterator<Item = &Arc<str>> {
        self.by_identity.get(identity).into_iter().flatten()
    }
}

impl Room {
    /// Sets a standing, and keeps the room's staff with it.
    pub(super) fn put_standing(&mut self, identity: Arc<str>, standing: Standing) {
        match standing.role() {
            Some(role @ (RoomRole::Owner | RoomRole::Moderator)) => {
                self.staff.insert(identity.clone(), role);
            }
            _ => drop(self.staff.remove(&identity)),
        }
        self.standings.insert(identity, standing);
    }

    /// Ends a standing (and a place in the staff); what it was.
    pub(super) fn drop_standing(&mut self, identity: &str) -> Option<Standing> {
        self.staff.remove(identity);
        self.standings.remove(identity)
    }
}

impl Hub {
    /// The rooms `identity` has a standing in, as `welcome` lists them.
    pub(super) fn my_rooms(&self, identity: &str) -> Vec<MyRoom> {
        let mut mine: Vec<MyRoom> = self
            .mine
            .rooms_of(identity)
            .filter_map(|name| {
                let r = self.rooms.get(name)?;
                let standing = r.standings.get(identity)?;
                Some(MyRoom {
                    room: name.to_string(),
                    visibility: r.kind.visibility(),
                    role: standing.role(),
                    dm: self.dm_partner(r, identity),
                })
            })
            .collect();
        mine.sort_unstable_by(|a, b| a.room.cmp(&b.room));
        mine
    }

    /// A direct message's other person's name now (for `identity`).
    pub(super) fn dm_partner(&self, room: &Room, identity: &str) -> Option<String> {
        if room.kind != RoomKind::Dm {
            return None;
        }
        let other = room.dm_pair.iter().find(|id| &***id != identity)?;
        Some(self.registry.get(other)?.name.to_string())
    }

    /// The owners and moderators of `room` by their names now, owners
    /// first (at most [`MAX_STAFF_LISTED`]).
    pub(super) fn staff(&self, room: &Room) -> Vec<(String, RoomRole)> {
        // Its own map: a join must not read every standing of a large room.
        let mut staff: Vec<(String, RoomRole)> = room
            .staff
            .iter()
            .filter_map(|(id, &role)| Some((self.registry.get(id)?.name.to_string(), role)))
            .collect();
        staff.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        staff.truncate(MAX_STAFF_LISTED);
        staff
    }

    /// How many rooms `identity` is a member of, and is invited to.
    pub(super) fn standing_counts(&self, identity: &str) -> (usize, usize) {
        let (mut member, mut invited) = (0, 0);
        for name in self.mine.rooms_of(identity) {
            match self.rooms.get(name).and_then(|r| r.standings.get(identity)) {
                Some(Standing::Invited) => invited += 1,
                Some(Standing::Member(_)) => member += 1,
                None => {}
            }
        }
        (member, invited)
    }

    /// Refuses `too_many_rooms` when `identity` already belongs to the
    /// most rooms it may (`CHAT_MAX_ROOMS_PER_IDENTITY`).
    pub(super) fn may_belong(&self, identity: &str, whose: &str) -> Result<(), ProtocolError> {
        let max = self.config.max_rooms_per_identity;
        if self.standing_counts(identity).0 >= max {
            return Err(ProtocolError::new(
                crate::protocol::ErrorCode::TooManyRooms,
                format!("{whose} may belong to at most {max} rooms: leave one first"),
            ));
        }
        Ok(())
    }

    /// Sets `identity`'s standing in `room` here, in the store, and on
    /// every node (`by`: who invited, told to the identity's connections
    /// there).
    pub(super) fn set_standing(
        &mut self,
        room: &Arc<str>,
        identity: &Arc<str>,
        standing: Standing,
        by: Option<&str>,
    ) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        if r.standings.get(identity) == Some(&standing) {
            return;
        }
        r.put_standing(identity.clone(), standing);
        let kind = r.kind;
        self.mine.touch(room, identity);
        self.mine
            .by_identity
            .entry(identity.clone())
            .or_default()
            .insert(room.clone());
        let row = MemberRow {
            room: room.to_string(),
            identity: identity.to_string(),
            standing,
        };
        // Nobody waits; a full queue loses the copy, not the standing here.
        if self.queue(Job::Access(AccessChange::Set(row))).is_err() {
            tracing::warn!(room = %room, "a standing was not stored: the queue is full");
        }
        self.publish(Event::Access(AccessEvent {
            room: room.to_string(),
            kind,
            identity: identity.to_string(),
            standing: Some(standing),
            by: by.map(str::to_owned),
        }));
    }

    /// Ends `identity`'s standing in `room` here, in the store and on
    /// every node; its connections here leave the room and stop watching
    /// it if they may no longer read it (they get `left`).
    pub(super) fn end_standing(&mut self, room: &Arc<str>, identity: &Arc<str>) {
        let Some(r) = self.rooms.get_mut(room) else {
            return;
        };
        if r.drop_standing(identity).is_none() {
            return;
        }
        let kind = r.kind;
        self.mine.touch(room, identity);
        self.forget_mine(room, identity);
        let change = AccessChange::Remove {
            room: room.to_string(),
            identity: identity.to_string(),
        };
        if self.queue(Job::Access(change)).is_err() {
            tracing::warn!(room = %room, "a standing's end was not stored: the queue is full");
        }
        self.publish(Event::Access(AccessEvent {
            room: room.to_string(),
            kind,
            identity: identity.to_string(),
            standing: None,
            by: None,
        }));
        self.evict(room, identity);
    }

    fn forget_mine(&mut self, room: &Arc<str>, identity: &Arc<str>) {
        if let Some(rooms) = self.mine.by_identity.get_mut(identity) {
            rooms.remove(room);
            if rooms.is_empty() {
                self.mine.by_identity.remove(identity);
            }
        }
    }

    /// `identity`'s connections here leave `room` (each told `left`), and
    /// stop watching it when they may no longer read it.
    pub(super) fn evict(&mut self, room: &Arc<str>, identity: &Arc<str>) {
        self.evict_for(room, identity, None);
    }

    /// [`Hub::evict`], saying why in `left` (*1.2*: `kicked`, `banned`).
    pub(super) fn evict_for(&mut self, room: &Arc<str>, identity: &Arc<str>, reason: Option<&str>) {
        let conns: Vec<ConnId> = self
            .registry
            .get(identity)
            .map(|i| i.conns.clone())
            .unwrap_or_default();
        for conn in conns {
            let joined = self
                .sessions
                .get(&conn)
                .is_some_and(|s| s.rooms.contains(room));
            if joined {
                self.leave_room(conn, room);
                self.publish(Event::Leave {
                    conn,
                    room: room.to_string(),
                });
                if let Some(s) = self.sessions.get(&conn) {
                    s.outbox.send(&crate::protocol::ServerFrame::Left {
                        room: room.to_string(),
                        reason: reason.map(str::to_owned),
                    });
                }
            }
            let readable = self
                .rooms
                .get(room)
                .is_some_and(|r| self.may_receive(room, r, conn));
            if !readable {
                if let Some(s) = self.sessions.get_mut(&conn) {
                    s.watching.remove(room);
                }
                if let Some(r) = self.rooms.get_mut(room) {
                    r.watchers.remove(&conn);
                }
            }
        }
    }

    /// Loads the stored standings (at start).
    pub(super) fn load_standings(&mut self, rows: Vec<MemberRow>) {
        for row in rows {
            let Some(room) = self
                .rooms
                .get_key_value(row.room.as_str())
                .map(|(k, _)| k.clone())
            else {
                continue;
            };
            let r = self.rooms.get_mut(&room).expect("found above");
            let identity: Arc<str> = Arc::from(row.identity.as_str());
            if r.kind == RoomKind::Dm && r.dm_pair.len() < 2 {
                r.dm_pair.push(identity.clone());
            }
            r.put_standing(identity.clone(), row.standing);
            self.mine
                .by_identity
                .entry(identity)
                .or_default()
                .insert(room);
        }
    }

    /// *Several nodes*: the link to the others was lost and is back (a
    /// resync), so changes may have been missed: every room's kind and
    /// every standing are read again, once the commit thread has stored
    /// what was queued before (a probe's answer), and a standing changed
    /// here while the read was out is kept as it is (the read may predate
    /// it). An identity that lost its standing meanwhile is evicted here as
    /// if told.
    pub(super) fn resync_standings(&mut self) {
        let (stored, queued) = tokio::sync::oneshot::channel();
        if self.queue(Job::Probe(stored)).is_err() {
            tracing::warn!("standings not read again: the commit queue is full");
            return;
        }
        self.mine.touched.get_or_insert_with(HashSet::new);
        // In the hub's unit tests reads run in place: nothing to wait for.
        let wait = super::offload::beside();
        let read = move |r: &dyn crate::store::StoreReader| {
            if wait {
                let _ = queued.blocking_recv();
            }
            let decided = r.moderation(crate::store::now_ms())?;
            Ok((r.rooms()?, r.memberships()?, decided))
        };
        self.read_then(None, read, |hub, read| {
            let touched = hub.mine.touched.take().unwrap_or_default();
            let Ok((rooms, rows, decided)) = read else {
                return; // the next resync reads again
            };
            for row in rooms {
                match hub.rooms.get_mut(row.name.as_str()) {
                    Some(r) => r.kind = row.kind,
                    None => {
                        let made = Room {
                            kind: row.kind,
                            last_id: row.last_id,
                            active_ms: row.active_ms,
                            ..Room::default()
                        };
                        hub.rooms.insert(Arc::from(row.name.as_str()), made);
                    }
                }
            }
            let kept: Vec<(Arc<str>, Arc<str>, Standing)> = touched
                .iter()
                .filter_map(|(room, id)| {
                    let s = *hub.rooms.get(room)?.standings.get(id)?;
                    Some((room.clone(), id.clone(), s))
                })
                .collect();
            let before: Vec<(Arc<str>, Arc<str>)> = hub
                .rooms
                .iter_mut()
                .flat_map(|(name, r)| {
                    r.dm_pair.clear();
                    r.staff.clear();
                    std::mem::take(&mut r.standings)
                        .into_keys()
                        .map(|id| (name.clone(), id))
                        .collect::<Vec<_>>()
                })
                .collect();
            hub.mine.by_identity.clear();
            let untouched = rows.into_iter().filter(|row| {
                let key = (
                    Arc::from(row.room.as_str()),
                    Arc::from(row.identity.as_str()),
                );
                !touched.contains(&key)
            });
            hub.load_standings(untouched.collect());
            for (room, identity, standing) in kept {
                if let Some(r) = hub.rooms.get_mut(&room) {
                    if r.kind == RoomKind::Dm && r.dm_pair.len() < 2 {
                        r.dm_pair.push(identity.clone());
                    }
                    r.put_standing(identity.clone(), standing);
                    hub.mine
                        .by_identity
                        .entry(identity)
                        .or_default()
                        .insert(room);
                }
            }
            for (room, identity) in before {
                let kept = hub
                    .rooms
                    .get(&room)
                    .is_some_and(|r| r.standings.contains_key(&identity));
                if !kept {
                    hub.evict(&room, &identity);
                }
            }
            // *1.2* (section 4): bans, mutes and settings read again too.
            hub.load_moderation(decided);
        });
    }

    /// An identity was forgotten (its lease ran out): its standings go too.
    pub(super) fn forget_standings(&mut self, identity: &str) {
        let Some(rooms) = self.mine.by_identity.remove(identity) else {
            return;
        };
        for room in rooms {
            if let Some(r) = self.rooms.get_mut(&room) {
                r.drop_standing(identity);
            }
        }
        let _ = self.queue(Job::Access(AccessChange::Forget(identity.to_owned())));
    }

    /// Another node changed a standing: the same here, and the identity's
    /// connections here told of an invitation (or evicted, when it ended).
    pub(super) fn remote_access(&mut self, event: AccessEvent) {
        let key = match self.rooms.get_key_value(event.room.as_str()) {
            Some((key, _)) => key.clone(),
            None => {
                let key: Arc<str> = Arc::from(event.room.as_str());
                let made = Room {
                    kind: event.kind,
                    active_ms: crate::store::now_ms(),
                    ..Room::default()
                };
                self.rooms.insert(key.clone(), made);
                key
            }
        };
        let identity: Arc<str> = Arc::from(event.identity.as_str());
        self.mine.touch(&key, &identity);
        let r = self.rooms.get_mut(&key).expect("made above");
        match event.standing {
            Some(standing) => {
                if r.kind == RoomKind::Dm && r.dm_pair.len() < 2 && !r.dm_pair.contains(&identity) {
                    r.dm_pair.push(identity.clone());
                }
                r.put_standing(identity.clone(), standing);
                self.mine
                    .by_identity
                    .entry(identity.clone())
                    .or_default()
                    .insert(key.clone());
                if let Some(by) = event.by {
                    self.tell_invited(&key, &identity, &by);
                }
            }
            None => {
                r.drop_standing(&identity);
                self.forget_mine(&key, &identity);
                self.evict(&key, &identity);
            }
        }
    }

    /// Tells `identity`'s connections here that `by` invited it to `room`
    /// (or began a direct message with it).
    pub(super) fn tell_invited(&self, room: &Arc<str>, identity: &str, by: &str) {
        let Some(r) = self.rooms.get(room) else {
            return;
        };
        let frame = crate::protocol::ServerFrame::Invited {
            room: room.to_string(),
            by: by.to_owned(),
            dm: r.kind == RoomKind::Dm,
            user: None,
        };
        for conn in self
            .registry
            .get(identity)
            .map(|i| i.conns.clone())
            .unwrap_or_default()
        {
            if let Some(s) = self.sessions.get(&conn) {
                s.outbox.send(&frame);
            }
        }
    }
}
