//! *1.2* (section 2): **the one authorization point.** [`decide`] alone
//! says who may do what in which room, from the room's kind, the asker's
//! standing in it (invited, member, moderator, owner) and server role, and
//! an API token's rooms; every path asks it through [`Hub::authorize`]:
//! `join`, `watch`, `history`, `members`, `typing`, `read`, `search` (its
//! rooms, and the private rooms its query may read), `rooms` and `welcome`,
//! the page and `/r/<room>`, the form, the HTTP API, `create`, `invite`,
//! `set_role`, `dm`, and every frame fanned out to a room
//! ([`Hub::may_receive`]), from this node or another.
//!
//! As Zulip's `has_message_access` and Revolt's
//! `calculate_channel_permissions`: a room one may not see is answered as a
//! room that does not exist ([`Denied::Hidden`]); what a visible room does
//! not allow is `forbidden`; and anything unknown (no room, no identity, a
//! standing or kind this server does not understand) denies.
//!
//! The standings themselves live here too, both ways (each room's, each
//! identity's), kept in memory like identities and written through the
//! commit thread ([`crate::store::access`]).

use super::rooms::Room;
use super::{ConnId, Hub};
use crate::protocol::{MyRoom, ProtocolError, RoomRole, Visibility, MAX_STAFF_LISTED};
use crate::store::access::{AccessChange, AccessEvent, MemberRow, RoomKind, Standing};
use crate::store::accounts::Role;
use crate::store::group_commit::Job;
use crate::store::pg::cluster::Event;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// What is asked of a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Act {
    /// Know it exists (`welcome`, `rooms`, `create`'s `room_exists`).
    See,
    /// Join it (a member from then on).
    Join,
    /// Read its messages, members, presence, typing (`watch`, `history`,
    /// `members`, the page, search, every live frame).
    Read,
    /// Post to it (`send`, the form, the HTTP API), say one is typing,
    /// mark it read.
    Post,
    /// Invite someone to it.
    Invite,
    /// Change a member's role.
    SetRole,
}

/// Who asks.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Viewer<'a> {
    /// Its identity, if it has one yet.
    pub(super) identity: Option<&'a str>,
    /// A server admin (an account the admin command line made one).
    pub(super) admin: bool,
    /// An API token's rooms, when it is limited to some.
    pub(super) token_rooms: Option<&'a [String]>,
}

/// Why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Denied {
    /// The room does not exist for the asker: answered as a missing room.
    Hidden,
    /// The room is visible but this is not allowed (`forbidden`).
    Forbidden(&'static str),
}

impl RoomKind {
    /// The protocol's word for it.
    pub(super) fn visibility(self) -> Visibility {
        match self {
            RoomKind::Public => Visibility::Public,
            RoomKind::Private | RoomKind::Dm => Visibility::Private,
        }
    }
}

/// **The decision.** `room` is `None` when no room has the name. Allowed:
/// the asker's role there (`None` for a non-member of a public room);
/// server admins act as owners in every room but direct messages.
pub(super) fn decide(
    viewer: &Viewer,
    room_name: &str,
    room: Option<&Room>,
    act: Act,
) -> Result<Option<RoomRole>, Denied> {
    let Some(room) = room else {
        return Err(Denied::Hidden);
    };
    let standing = viewer
        .identity
        .and_then(|id| room.standings.get(id))
        .copied();
    let admin = viewer.admin && room.kind != RoomKind::Dm;
    let role = match admin {
        true => Some(RoomRole::Owner),
        false => standing.and_then(Standing::role),
    };
    let public = room.kind == RoomKind::Public;
    if !(public || admin || standing.is_some()) {
        return Err(Denied::Hidden);
    }
    let token_allows = viewer
        .token_rooms
        .is_none_or(|rooms| rooms.iter().any(|r| r == room_name));
    if !token_allows && act != Act::See {
        return Err(Denied::Forbidden("this API token may not use this room"));
    }
    match act {
        Act::See | Act::Join => Ok(role),
        Act::Read | Act::Post if public || role.is_some() => Ok(role),
        Act::Read | Act::Post => Err(Denied::Forbidden(
            "you are invited to this room: join it first",
        )),
        Act::Invite if public => Err(Denied::Forbidden("a public room needs no invitation")),
        Act::Invite | Act::SetRole if room.kind == RoomKind::Dm => {
            Err(Denied::Forbidden("a direct message is for its two people"))
        }
        Act::Invite if role >= Some(RoomRole::Moderator) => Ok(role),
        Act::Invite => Err(Denied::Forbidden(
            "only the room's owners and moderators invite",
        )),
        Act::SetRole if role == Some(RoomRole::Owner) => Ok(role),
        Act::SetRole => Err(Denied::Forbidden("only the room's owners change roles")),
    }
}

/// Every standing, by identity (each room holds its own by identity).
#[derive(Debug, Default)]
pub(super) struct Mine {
    /// The rooms each identity has a standing in.
    by_identity: HashMap<Arc<str>, HashSet<Arc<str>>>,
}

impl Mine {
    /// The rooms `identity` has a standing in.
    pub(super) fn rooms_of(&self, identity: &str) -> impl Iterator<Item = &Arc<str>> {
        self.by_identity.get(identity).into_iter().flatten()
    }
}

impl Hub {
    /// The viewer a connection is (before `hello`: nobody).
    pub(super) fn viewer(&self, conn: ConnId) -> Viewer<'_> {
        let Some(session) = self.sessions.get(&conn) else {
            return Viewer::default();
        };
        let mut viewer = self.viewer_of(session.identity.as_deref());
        viewer.token_rooms = session
            .client
            .account
            .as_ref()
            .and_then(|signed| signed.rooms.as_deref());
        viewer
    }

    /// The identity a page or form request speaks as: its session's
    /// account, else the identity its cookie's token proves; `None`: nobody
    /// yet (a visitor sees public rooms only).
    pub(super) fn identity_of(&self, client: &super::Client) -> Option<Arc<str>> {
        if let Some(signed) = &client.account {
            return Some(signed.identity.clone());
        }
        let token = client.cookie.as_deref()?;
        self.registry.by_token(token).map(|i| i.id.clone())
    }

    /// The viewer an identity is (its server role read now, so a role
    /// granted or revoked counts at once).
    pub(super) fn viewer_of<'a>(&self, identity: Option<&'a str>) -> Viewer<'a> {
        let admin = identity
            .and_then(|id| self.registry.get(id))
            .is_some_and(|i| i.account == Some(Role::Admin));
        Viewer {
            identity,
            admin,
            token_rooms: None,
        }
    }

    /// [`decide`] as the protocol answers it: a hidden room is
    /// `no_such_room`, as a missing one.
    pub(super) fn authorize(
        &self,
        viewer: &Viewer,
        room: &str,
        act: Act,
    ) -> Result<Option<RoomRole>, ProtocolError> {
        decide(viewer, room, self.rooms.get(room), act).map_err(|denied| match denied {
            Denied::Hidden => ProtocolError::no_such_room(room),
            Denied::Forbidden(why) => ProtocolError::forbidden(why),
        })
    }

    /// Whether live frames of `room` may go to `conn`: checked for every
    /// recipient of a room that is not public (a public room's are all
    /// readers: nothing to check on the hot path).
    pub(super) fn may_receive(&self, room_name: &str, room: &Room, conn: ConnId) -> bool {
        let viewer = self.viewer(conn);
        decide(&viewer, room_name, Some(room), Act::Read).is_ok()
    }

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
        let mut staff: Vec<(String, RoomRole)> = room
            .standings
            .iter()
            .filter_map(|(id, s)| match s.role()? {
                RoomRole::Member => None,
                role => Some((self.registry.get(id)?.name.to_string(), role)),
            })
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
        r.standings.insert(identity.clone(), standing);
        let kind = r.kind;
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
        if r.standings.remove(identity).is_none() {
            return;
        }
        let kind = r.kind;
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
            r.standings.insert(identity.clone(), row.standing);
            self.mine
                .by_identity
                .entry(identity)
                .or_default()
                .insert(room);
        }
    }

    /// *Several nodes*: the link to the others was lost and is back (a
    /// resync), so changes may have been missed: every room's kind and
    /// every standing are read again; an identity that lost its standing
    /// meanwhile is evicted here as if told.
    pub(super) fn resync_standings(&mut self) {
        let read = |r: &dyn crate::store::StoreReader| Ok((r.rooms()?, r.memberships()?));
        self.read_then(None, read, |hub, read| {
            let Ok((rooms, rows)) = read else {
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
            let before: Vec<(Arc<str>, Arc<str>)> = hub
                .rooms
                .iter_mut()
                .flat_map(|(name, r)| {
                    r.dm_pair.clear();
                    std::mem::take(&mut r.standings)
                        .into_keys()
                        .map(|id| (name.clone(), id))
                        .collect::<Vec<_>>()
                })
                .collect();
            hub.mine = Mine::default();
            hub.load_standings(rows);
            for (room, identity) in before {
                let kept = hub
                    .rooms
                    .get(&room)
                    .is_some_and(|r| r.standings.contains_key(&identity));
                if !kept {
                    hub.evict(&room, &identity);
                }
            }
        });
    }

    /// An identity was forgotten (its lease ran out): its standings go too.
    pub(super) fn forget_standings(&mut self, identity: &str) {
        let Some(rooms) = self.mine.by_identity.remove(identity) else {
            return;
        };
        for room in rooms {
            if let Some(r) = self.rooms.get_mut(&room) {
                r.standings.remove(identity);
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
        let r = self.rooms.get_mut(&key).expect("made above");
        match event.standing {
            Some(standing) => {
                if r.kind == RoomKind::Dm && r.dm_pair.len() < 2 && !r.dm_pair.contains(&identity) {
                    r.dm_pair.push(identity.clone());
                }
                r.standings.insert(identity.clone(), standing);
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
                r.standings.remove(&identity);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn room(kind: RoomKind, standings: &[(&str, Standing)]) -> Room {
        let mut r = Room {
            kind,
            ..Room::default()
        };
        for (id, s) in standings {
            r.standings.insert(Arc::from(*id), *s);
        }
        r
    }

    fn who(identity: &str) -> Viewer<'_> {
        Viewer {
            identity: Some(identity),
            ..Viewer::default()
        }
    }

    const OWNER: Standing = Standing::Member(RoomRole::Owner);
    const MEMBER: Standing = Standing::Member(RoomRole::Member);
    const MODERATOR: Standing = Standing::Member(RoomRole::Moderator);

    #[test]
    fn a_private_room_is_hidden_from_everyone_without_a_standing_and_unknown_denies() {
        let r = room(RoomKind::Private, &[("o", OWNER), ("i", Standing::Invited)]);
        for act in [
            Act::See,
            Act::Join,
            Act::Read,
            Act::Post,
            Act::Invite,
            Act::SetRole,
        ] {
            assert_eq!(decide(&who("x"), "p", Some(&r), act), Err(Denied::Hidden));
            assert_eq!(
                decide(&Viewer::default(), "p", Some(&r), act),
                Err(Denied::Hidden)
            );
            assert_eq!(decide(&who("o"), "p", None, act), Err(Denied::Hidden));
        }
        // Invited: may see and join; reading waits for the join.
        assert_eq!(decide(&who("i"), "p", Some(&r), Act::Join), Ok(None));
        assert!(matches!(
            decide(&who("i"), "p", Some(&r), Act::Read),
            Err(Denied::Forbidden(_))
        ));
        assert_eq!(
            decide(&who("o"), "p", Some(&r), Act::Read),
            Ok(Some(RoomRole::Owner))
        );
    }

    #[test]
    fn roles_decide_invites_and_role_changes_and_admins_act_as_owners_but_in_direct_messages() {
        let r = room(
            RoomKind::Private,
            &[("o", OWNER), ("m", MODERATOR), ("p", MEMBER)],
        );
        let allowed = |v: &Viewer, act| decide(v, "r", Some(&r), act).is_ok();
        assert!(allowed(&who("o"), Act::Invite) && allowed(&who("o"), Act::SetRole));
        assert!(allowed(&who("m"), Act::Invite) && !allowed(&who("m"), Act::SetRole));
        assert!(!allowed(&who("p"), Act::Invite) && !allowed(&who("p"), Act::SetRole));
        assert!(allowed(&who("p"), Act::Post));
        let admin = Viewer {
            admin: true,
            ..who("a")
        };
        assert_eq!(
            decide(&admin, "r", Some(&r), Act::SetRole),
            Ok(Some(RoomRole::Owner))
        );
        let dm = room(RoomKind::Dm, &[("o", MEMBER), ("p", MEMBER)]);
        assert_eq!(
            decide(&admin, "@x", Some(&dm), Act::Read),
            Err(Denied::Hidden)
        );
        assert!(matches!(
            decide(&who("o"), "@x", Some(&dm), Act::Invite),
            Err(Denied::Forbidden(_))
        ));
    }

    #[test]
    fn a_public_room_is_read_by_anyone_and_a_token_keeps_to_its_rooms() {
        let r = room(RoomKind::Public, &[]);
        assert_eq!(
            decide(&Viewer::default(), "g", Some(&r), Act::Read),
            Ok(None)
        );
        assert!(matches!(
            decide(&who("x"), "g", Some(&r), Act::Invite),
            Err(Denied::Forbidden(_))
        ));
        let rooms = vec!["ops".to_owned()];
        let token = Viewer {
            token_rooms: Some(&rooms),
            ..who("x")
        };
        assert!(matches!(
            decide(&token, "g", Some(&r), Act::Post),
            Err(Denied::Forbidden(_))
        ));
        assert_eq!(decide(&token, "ops", Some(&r), Act::Post), Ok(None));
    }
}
