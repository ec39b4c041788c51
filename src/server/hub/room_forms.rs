//! *1.2*: the page's forms for rooms, so that browsers without JavaScript
//! can do what the socket does: make a room (public or private, inviting
//! people), invite someone, join a room one is invited to, and open a
//! direct message. They speak
//! as the identity the request proves (its session, else its identity
//! cookie) and go through the same authorization point and limits as the
//! socket's requests.

use super::access::Act;
use super::{Client, Hub, Reply};
use crate::protocol::{validate_room, validate_room_ref, ProtocolError, RoomRole};
use crate::store::access::{RoomKind, Standing};

/// What a room form asks.
#[derive(Debug, Clone)]
pub(crate) enum RoomForm {
    /// Make `room`, its asker the owner, and invite `invite` (names,
    /// comma-separated).
    Create {
        /// Its name.
        room: String,
        /// Private (else public).
        private: bool,
        /// Whom to invite.
        invite: String,
    },
    /// Let `user` join the private `room`.
    Invite {
        /// The room.
        room: String,
        /// Whom (a display name).
        user: String,
    },
    /// Become a member of `room` (an invitation, or a public room).
    Join {
        /// The room.
        room: String,
    },
    /// Open the direct message with `user`.
    Dm {
        /// Whom (a display name).
        user: String,
    },
}

impl Hub {
    /// Answers a room form with the room to show next, or why not.
    pub(super) fn on_room_form(&mut self, client: Client, form: RoomForm, reply: Reply<String>) {
        let _ = reply.send(self.room_form(&client, form));
    }

    fn room_form(&mut self, client: &Client, form: RoomForm) -> Result<String, ProtocolError> {
        if !self.config.guests && client.account.is_none() {
            return Err(ProtocolError::account_required());
        }
        let identity = self.identity_of(client).ok_or_else(|| {
            ProtocolError::bad_request("choose a name first (post a message, or sign in)")
        })?;
        let by = self
            .registry
            .get(&identity)
            .map_or_else(String::new, |i| i.name.to_string());
        match form {
            RoomForm::Create {
                room,
                private,
                invite,
            } => {
                let room = room.trim().to_ascii_lowercase();
                validate_room(&room)?;
                if self.rooms.contains_key(room.as_str()) {
                    return Err(ProtocolError::room_exists(&room));
                }
                self.may_belong(&identity, "you")?;
                let kind = match private {
                    true => RoomKind::Private,
                    false => RoomKind::Public,
                };
                let key = self.make_room(identity.clone(), client.addr, &room, kind)?;
                self.set_standing(&key, &identity, Standing::Member(RoomRole::Owner), None);
                for user in invite.split(',').map(str::trim).filter(|u| !u.is_empty()) {
                    self.invite_as(Some(&identity), &by, &room, user)?;
                }
                Ok(room)
            }
            RoomForm::Invite { room, user } => {
                self.invite_as(Some(&identity), &by, &room, user.trim())?;
                Ok(room)
            }
            RoomForm::Dm { user } => self.open_dm(&identity, &by, user.trim()),
            RoomForm::Join { room } => {
                validate_room_ref(&room)?;
                self.authorize(&self.viewer_of(Some(&identity)), &room, Act::Join)?;
                let key = self.room_key(&room).expect("authorized");
                let standing = self.rooms[&key].standings.get(&identity).copied();
                if !matches!(standing, Some(Standing::Member(_))) {
                    self.may_belong(&identity, "you")?;
                    let member = Standing::Member(RoomRole::Member);
                    self.set_standing(&key, &identity, member, None);
                }
                Ok(room)
            }
        }
    }
}
