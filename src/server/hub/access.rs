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
//! The standings themselves are kept in [`super::standings`].

use super::rooms::Room;
use super::sanctions::Held;
use super::{ConnId, Hub};
use crate::protocol::{ProtocolError, RoomRole, Visibility};
use crate::store::access::{RoomKind, Standing};
use crate::store::accounts::Role;
use crate::store::moderation::SanctionKind;
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
    /// *1.2* (section 3): delete anyone's message (moderators, owners,
    /// admins; in a direct message nobody moderates); (section 4) kick,
    /// ban, mute, purge, change the room's settings.
    Moderate,
    /// *1.2* (section 4): react, unreact, say one is typing (what a mute
    /// stops besides posting; a read-only room allows it).
    React,
    /// *1.2* (section 4): read the room's audit log (owners, admins).
    Audit,
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
    /// *1.2* (section 4): banned from the whole server (by an admin).
    pub(super) banned: bool,
}

/// Why not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Denied {
    /// The room does not exist for the asker: answered as a missing room.
    Hidden,
    /// The room is visible but this is not allowed (`forbidden`).
    Forbidden(&'static str),
    /// *1.2*: banned from the room (or the server): `banned`.
    Banned,
    /// *1.2*: muted in the room: `muted`.
    Muted,
    /// *1.2*: a read-only room, and the asker does not moderate it.
    ReadOnly,
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
    // *1.2* (section 4): what moderators decided. A room stays visible to
    // those banned from it (they are told `banned`); the server's ban
    // stops everything.
    if act != Act::See && !admin {
        let held = |kind| {
            viewer
                .identity
                .and_then(|id| room.sanctions.get(id))
                .is_some_and(|held: &Held| held.holds(kind, crate::store::now_ms()))
        };
        if viewer.banned || held(SanctionKind::Ban) {
            return Err(Denied::Banned);
        }
        if matches!(act, Act::Post | Act::React) && held(SanctionKind::Mute) {
            return Err(Denied::Muted);
        }
        if act == Act::Post && room.settings.read_only && role < Some(RoomRole::Moderator) {
            return Err(Denied::ReadOnly);
        }
    }
    let token_allows = viewer
        .token_rooms
        .is_none_or(|rooms| rooms.iter().any(|r| r == room_name));
    if !token_allows && act != Act::See {
        return Err(Denied::Forbidden("this API token may not use this room"));
    }
    match act {
        Act::See | Act::Join => Ok(role),
        Act::Read | Act::Post | Act::React if public || role.is_some() => Ok(role),
        Act::Read | Act::Post | Act::React => Err(Denied::Forbidden(
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
        Act::Moderate if room.kind == RoomKind::Dm => {
            Err(Denied::Forbidden("a direct message has no moderators"))
        }
        Act::Moderate if role >= Some(RoomRole::Moderator) => Ok(role),
        Act::Moderate => Err(Denied::Forbidden(
            "only the room's owners and moderators moderate it",
        )),
        Act::Audit if room.kind == RoomKind::Dm => {
            Err(Denied::Forbidden("a direct message has no audit log"))
        }
        Act::Audit if role == Some(RoomRole::Owner) => Ok(role),
        Act::Audit => Err(Denied::Forbidden(
            "only the room's owners and admins read its audit log",
        )),
        Act::SetRole => Err(Denied::Forbidden("only the room's owners change roles")),
    }
}

/// *1.2* (section 4): whether `actor` (its role in the room; an admin)
/// may kick, ban, mute or purge `target` (its role; an admin): only
/// someone of a higher rank (member < moderator < owner < admin), so
/// nobody sanctions themselves, an equal or a superior.
pub(super) fn outranks(
    actor: Option<RoomRole>,
    actor_admin: bool,
    target: Option<RoomRole>,
    target_admin: bool,
) -> Result<(), Denied> {
    let rank = |role: Option<RoomRole>, admin: bool| match (admin, role) {
        (true, _) => 4,
        (false, Some(RoomRole::Owner)) => 3,
        (false, Some(RoomRole::Moderator)) => 2,
        (false, _) => 1,
    };
    if rank(actor, actor_admin) > rank(target, target_admin) {
        Ok(())
    } else {
        Err(Denied::Forbidden(
            "you may only moderate people below your own role",
        ))
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
        let banned = identity.is_some_and(|id| self.server_banned(id));
        Viewer {
            identity,
            admin: admin && !banned,
            token_rooms: None,
            banned,
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
            Denied::Banned if viewer.banned => ProtocolError::banned(None),
            Denied::Banned => ProtocolError::banned(Some(room)),
            Denied::Muted => ProtocolError::muted(room),
            Denied::ReadOnly => ProtocolError::read_only(room),
        })
    }

    /// Whether live frames of `room` may go to `conn`: checked for every
    /// recipient of a room that is not public (a public room's are all
    /// readers: nothing to check on the hot path).
    pub(super) fn may_receive(&self, room_name: &str, room: &Room, conn: ConnId) -> bool {
        let viewer = self.viewer(conn);
        decide(&viewer, room_name, Some(room), Act::Read).is_ok()
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
            r.put_standing(Arc::from(*id), *s);
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
    fn a_ban_a_mute_and_a_read_only_room_stop_what_section_4_says_and_nothing_else() {
        use crate::store::moderation::Sanction;
        let mut r = room(RoomKind::Public, &[("m", MODERATOR), ("p", MEMBER)]);
        let mut held = |who: &str, kind, until_ms| {
            let s = Sanction {
                room: Some("g".into()),
                identity: who.into(),
                kind,
                until_ms,
            };
            let h = r.sanctions.entry(Arc::from(who)).or_default();
            h.set(&s);
        };
        held("b", SanctionKind::Ban, None);
        held("u", SanctionKind::Mute, None);
        held("x", SanctionKind::Ban, Some(1));
        let d = |r: &Room, id: &str, act| decide(&who(id), "g", Some(r), act);
        for act in [Act::Join, Act::Read, Act::Post, Act::React] {
            assert_eq!(d(&r, "b", act), Err(Denied::Banned), "{act:?}");
        }
        assert_eq!(d(&r, "b", Act::See), Ok(None));
        assert_eq!(d(&r, "u", Act::Post), Err(Denied::Muted));
        assert_eq!(d(&r, "u", Act::React), Err(Denied::Muted));
        assert_eq!(d(&r, "u", Act::Read), Ok(None));
        // A ban that ended (at 1 ms) stops nothing.
        assert_eq!(d(&r, "x", Act::Post), Ok(None));
        r.settings.read_only = true;
        assert_eq!(d(&r, "p", Act::Post), Err(Denied::ReadOnly));
        assert_eq!(d(&r, "p", Act::React), Ok(Some(RoomRole::Member)));
        assert_eq!(d(&r, "m", Act::Post), Ok(Some(RoomRole::Moderator)));
        // The server's ban stops everything but knowing a public room.
        let banned = Viewer {
            banned: true,
            ..who("m")
        };
        assert_eq!(
            decide(&banned, "g", Some(&r), Act::Read),
            Err(Denied::Banned)
        );
    }

    #[test]
    fn only_a_higher_rank_moderates_and_admins_outrank_owners() {
        use RoomRole::*;
        let ok = |a, aa, t, ta| outranks(a, aa, t, ta).is_ok();
        assert!(ok(Some(Moderator), false, Some(Member), false));
        assert!(ok(Some(Moderator), false, None, false));
        assert!(!ok(Some(Moderator), false, Some(Moderator), false));
        assert!(!ok(Some(Moderator), false, Some(Owner), false));
        assert!(ok(Some(Owner), false, Some(Moderator), false));
        assert!(!ok(Some(Owner), false, Some(Owner), false));
        assert!(ok(Some(Owner), true, Some(Owner), false));
        assert!(!ok(Some(Owner), true, None, true));
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
