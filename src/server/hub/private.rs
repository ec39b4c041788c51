//! *1.2* (section 2): the requests that make rooms private and say who
//! belongs: `create`, `invite`, `set_role`, `dm`. Each asks the one
//! authorization point ([`super::access`]) first; a room the asker cannot
//! see is `no_such_room`, never `forbidden`.

use super::access::Act;
use super::names;
use super::{ConnId, Hub};
use crate::protocol::{
    validate_room, validate_room_ref, ErrorCode, ProtocolError, RoomRole, ServerFrame, Visibility,
    DM_PREFIX,
};
use crate::store::access::{AccessChange, RoomKind, Standing};
use crate::store::group_commit::Job;
use crate::store::now_ms;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// The name of the direct-message room of two identities: the same for
/// the pair whichever asks, and no one else's (96 bits of a hash of both
/// ids); [`DM_PREFIX`] keeps it apart from every name one can type.
pub(super) fn dm_room(a: &str, b: &str) -> String {
    let (first, second) = if a <= b { (a, b) } else { (b, a) };
    let digest = Sha256::digest(format!("dm\0{first}\0{second}").as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("{DM_PREFIX}{hex}")
}

impl Hub {
    /// `create`: a new room of that visibility, its creator the owner,
    /// answered as `join` is. A name in use (by a room the asker may not
    /// see, too) is `room_exists`.
    pub(super) fn on_create(
        &mut self,
        conn: ConnId,
        room: &str,
        visibility: Visibility,
    ) -> Result<(), ProtocolError> {
        validate_room(room)?;
        if self.rooms.contains_key(room) {
            return Err(ProtocolError::room_exists(room));
        }
        let identity = self.me(conn)?;
        self.may_belong(&identity, "you")?;
        let cap = self.config.max_rooms_per_conn;
        if self.session(conn)?.rooms.len() >= cap {
            return Err(ProtocolError::too_many_rooms(cap));
        }
        let kind = match visibility {
            Visibility::Public => RoomKind::Public,
            Visibility::Private => RoomKind::Private,
        };
        let key = self.create_room(conn, room, kind)?;
        self.set_standing(&key, &identity, Standing::Member(RoomRole::Owner), None);
        self.on_join(conn, room, None)
    }

    /// `invite`: `user` may now join the private room; told with
    /// `invited` where connected (on every node). The inviter hears
    /// `invited` naming `user` (*extension*).
    pub(super) fn on_invite(
        &mut self,
        conn: ConnId,
        room: &str,
        user: &str,
    ) -> Result<(), ProtocolError> {
        validate_room_ref(room)?;
        // The connection's own limits (an API token's rooms) first.
        self.authorize(&self.viewer(conn), room, Act::Invite)?;
        let by = self.session(conn)?.name.to_string();
        let identity = self.me(conn)?;
        let invited = self.invite_as(Some(&identity), &by, room, user)?;
        self.session(conn)?.outbox.send(&ServerFrame::Invited {
            room: room.to_owned(),
            by,
            dm: false,
            user: Some(invited),
        });
        Ok(())
    }

    /// `invite` as `identity` (named `by`), from a connection or the
    /// page's form: the invited identity's name now.
    pub(super) fn invite_as(
        &mut self,
        identity: Option<&str>,
        by: &str,
        room: &str,
        user: &str,
    ) -> Result<String, ProtocolError> {
        validate_room_ref(room)?;
        self.authorize(&self.viewer_of(identity), room, Act::Invite)?;
        let target = self.named(user)?;
        let key = self.room_key(room).expect("authorized");
        let already = self.rooms[&key].standings.contains_key(&target);
        if !already {
            let (_, invited) = self.standing_counts(&target);
            let max = self.config.max_invites_per_identity;
            if invited >= max {
                return Err(ProtocolError::new(
                    ErrorCode::TooManyRooms,
                    format!("{user} has {max} invitations waiting: they must answer some first"),
                ));
            }
            let max = self.config.max_private_members;
            if self.rooms[&key].standings.len() >= max {
                return Err(ProtocolError::new(
                    ErrorCode::TooManyRooms,
                    format!("a private room has at most {max} members and invited people"),
                ));
            }
            self.set_standing(&key, &target, Standing::Invited, Some(by));
            self.tell_invited(&key, &target, by);
        }
        Ok(self
            .registry
            .get(&target)
            .map_or_else(|| user.to_owned(), |i| i.name.to_string()))
    }

    /// `set_role`: the owner (or an admin) makes a member an owner,
    /// moderator or member; every member connected here hears `role`.
    pub(super) fn on_set_role(
        &mut self,
        conn: ConnId,
        room: &str,
        user: &str,
        role: RoomRole,
    ) -> Result<(), ProtocolError> {
        validate_room_ref(room)?;
        self.authorize(&self.viewer(conn), room, Act::SetRole)?;
        let target = self.named(user)?;
        let key = self.room_key(room).expect("authorized");
        if !matches!(
            self.rooms[&key].standings.get(&target),
            Some(Standing::Member(_))
        ) {
            return Err(ProtocolError::bad_request(&format!(
                "{user} is not a member of {room:?}"
            )));
        }
        if self.me(conn)? == target {
            return Err(ProtocolError::forbidden(
                "you cannot change your own role: another owner can",
            ));
        }
        self.set_standing(&key, &target, Standing::Member(role), None);
        let name = self
            .registry
            .get(&target)
            .map_or_else(String::new, |i| i.name.to_string());
        let frame = ServerFrame::Role {
            room: room.to_owned(),
            user: name,
            role,
        };
        self.broadcast(room, &frame, None);
        if !self.session(conn)?.rooms.contains(room) {
            self.session(conn)?.outbox.send(&frame);
        }
        Ok(())
    }

    /// `dm`: the direct-message room of the asker and `user` (made the
    /// first time, both members at once), joined; the other is told with
    /// `invited` {`dm`: true} where connected.
    pub(super) fn on_dm(&mut self, conn: ConnId, user: &str) -> Result<(), ProtocolError> {
        let me = self.me(conn)?;
        let by = self.session(conn)?.name.to_string();
        let room = self.open_dm(&me, &by, user)?;
        self.on_join(conn, &room, None)
    }

    /// The direct-message room of `me` (named `by`) and `user`, made the
    /// first time, both members; the other told. From `dm` and the page's
    /// form.
    pub(super) fn open_dm(
        &mut self,
        me: &Arc<str>,
        by: &str,
        user: &str,
    ) -> Result<String, ProtocolError> {
        let me = me.clone();
        let target = self.named(user)?;
        if target == me {
            return Err(ProtocolError::bad_request(
                "a direct message is with someone else",
            ));
        }
        let room = dm_room(&me, &target);
        let member = |hub: &Hub, id: &str| {
            hub.rooms
                .get(room.as_str())
                .and_then(|r| r.standings.get(id))
                .is_some_and(|s| matches!(s, Standing::Member(_)))
        };
        if !member(self, &me) {
            self.may_belong(&me, "you")?;
        }
        let told = !member(self, &target);
        if told {
            self.may_belong(&target, user)?;
        }
        let key = match self.room_key(&room) {
            Some(key) => key,
            None => {
                if self.rooms.len() >= self.config.max_rooms_total {
                    return Err(ProtocolError::no_more_rooms());
                }
                let create = AccessChange::Create {
                    room: room.clone(),
                    kind: RoomKind::Dm,
                    members: Vec::new(),
                };
                self.queue(Job::Access(create))?;
                let key: Arc<str> = Arc::from(room.as_str());
                let made = super::Room {
                    kind: RoomKind::Dm,
                    active_ms: now_ms(),
                    dm_pair: vec![me.clone(), target.clone()],
                    ..super::Room::default()
                };
                self.rooms.insert(key.clone(), made);
                key
            }
        };
        let member_role = Standing::Member(RoomRole::Member);
        self.set_standing(&key, &me, member_role, None);
        if told {
            self.set_standing(&key, &target, member_role, Some(by));
            self.tell_invited(&key, &target, by);
        }
        Ok(room)
    }

    /// The identity of `conn` (after `hello`).
    pub(super) fn me(&mut self, conn: ConnId) -> Result<Arc<str>, ProtocolError> {
        self.session(conn)?
            .identity
            .clone()
            .ok_or_else(ProtocolError::hello_required)
    }

    /// The identity that owns the display name `user` now.
    pub(super) fn named(&self, user: &str) -> Result<Arc<str>, ProtocolError> {
        let name = names::check(user)?;
        self.registry
            .owner(&name, now_ms())
            .map(|i| i.id.clone())
            .ok_or_else(|| ProtocolError::bad_request(&format!("nobody here is called {user:?}")))
    }
}

#[cfg(test)]
mod tests {
    use super::dm_room;
    use crate::protocol::is_dm_room;

    #[test]
    fn a_pair_has_one_direct_message_room_whoever_asks_and_nobody_can_type_its_name() {
        assert_eq!(dm_room("a1", "b2"), dm_room("b2", "a1"));
        assert_ne!(dm_room("a1", "b2"), dm_room("a1", "c3"));
        let room = dm_room("a1", "b2");
        assert!(is_dm_room(&room) && room.len() == 25, "{room}");
        assert!(crate::protocol::validate_room(&room).is_err());
    }
}
