//! What each server frame does to the model, and the end of a connection.

use super::{Chat, Conn, Entry, Mention, TYPING_SHOWN_MS};
use crate::protocol::{
    is_dm_room, ChatMessage, ErrorCode, MyRoom, PresenceState, RoomRole, ServerFrame, Visibility,
    GENERAL_ROOM,
};
use crate::ui::mentions::mentions;
use leptos::prelude::*;

impl Chat {
    /// The connection ended: every room must be joined again, and what was
    /// sent on it and not confirmed is in doubt.
    pub fn disconnected(&self) {
        self.session.update_value(|s| *s += 1);
        self.rooms.with_untracked(|rooms| {
            for r in rooms {
                r.ready.set(false);
                r.typing.set(Vec::new());
                r.members_loading.set_value(false);
            }
        });
    }

    /// Applies one frame from the server.
    pub fn apply(&self, frame: ServerFrame, now: f64) {
        match frame {
            ServerFrame::Welcome {
                user, rooms, mine, ..
            } => {
                self.me.set(Some(user.name.clone()));
                self.admin.set(user.role == "admin");
                self.wanted_name.set(user.name);
                self.name_error.set(None);
                self.known_rooms.set(rooms);
                // *1.2*: the rooms we belong to follow us to every device.
                for m in mine.iter().filter(|m| m.role.is_some()) {
                    if self.room(&m.room).is_none() {
                        self.add_room(&m.room);
                    }
                }
                self.mine.set(mine);
                self.conn.set(Conn::Online);
                self.was_online.set(true);
                for name in self.room_names() {
                    self.send_join(&name);
                }
            }
            ServerFrame::Joined {
                room,
                members,
                member_count,
                messages,
                missed,
                last_read,
                role,
                visibility,
                dm,
                staff,
                settings,
            } => {
                // A direct message we began (`dm`) is shown as it opens.
                let opened = dm.is_some() && self.room(&room).is_none();
                if opened {
                    self.add_room(&room);
                }
                if let Some(r) = self.room(&room) {
                    r.set_members(members, member_count);
                    r.staff.set(staff);
                    r.settings.set(settings);
                }
                if let Some(visibility) = visibility {
                    self.upsert_mine(MyRoom {
                        room: room.clone(),
                        visibility,
                        role,
                        dm,
                    });
                }
                self.on_joined(&room, messages, missed);
                self.left_off(&room, last_read);
                if opened {
                    self.switch(&room);
                }
            }
            ServerFrame::Members { room, names, more } => {
                if let Some(r) = self.room(&room) {
                    r.more_members(names, more);
                }
            }
            ServerFrame::MemberCount { room, count } => {
                if let Some(r) = self.room(&room) {
                    r.member_count.set(count);
                }
            }
            // Before a name (1.1): the room in view, live, as a watcher.
            ServerFrame::Watching {
                room,
                messages,
                member_count,
            } => {
                if let Some(r) = self.room(&room) {
                    r.member_count.set(member_count);
                    r.append(messages);
                    r.ready.set(true);
                }
            }
            ServerFrame::Results {
                query,
                messages,
                next,
            } => self.on_results(&query, messages, next),
            ServerFrame::Left { room, reason } => {
                if let Some(reason) = reason {
                    self.on_removed(&room, &reason);
                }
                self.on_left(&room)
            }
            ServerFrame::RoomUpdated { room, settings } => {
                if let Some(r) = self.room(&room) {
                    r.settings.set(settings);
                }
            }
            ServerFrame::Audit { entries, more } => self.on_audit(entries, more),
            ServerFrame::Moderated {
                action,
                user,
                count,
                ..
            } => self.on_moderated(action, &user, count),
            ServerFrame::Invited { room, by, dm, user } => self.on_invited(room, by, dm, user),
            ServerFrame::Role { room, user, role } => {
                if let Some(r) = self.room(&room) {
                    r.staff.update(|staff| {
                        staff.retain(|(name, _)| *name != user);
                        if role != RoomRole::Member {
                            staff.push((user, role));
                        }
                    });
                }
            }
            ServerFrame::Rooms { .. } | ServerFrame::Pong | ServerFrame::Unwatched { .. } => {}
            ServerFrame::Message(message) => self.on_message(message),
            frame @ (ServerFrame::Edited { .. }
            | ServerFrame::Deleted { .. }
            | ServerFrame::Reaction { .. }) => self.on_change(frame),
            ServerFrame::Presence { room, user, state } => {
                let Some(r) = self.room(&room) else { return };
                let verb = match state {
                    PresenceState::Joined => {
                        r.member_joined(&user);
                        "joined"
                    }
                    PresenceState::Left => {
                        r.member_left(&user);
                        "left"
                    }
                };
                let seq = self.next_seq();
                r.push_live(vec![Entry::Notice {
                    seq,
                    text: format!("{user} {verb}"),
                }]);
            }
            ServerFrame::Typing { room, user } => {
                if let Some(r) = self.room(&room) {
                    r.typing.update(|t| {
                        t.retain(|(x, _)| *x != user);
                        t.push((user, now + TYPING_SHOWN_MS));
                    });
                }
            }
            ServerFrame::History { room, messages } => {
                let Some(r) = self.room(&room) else { return };
                let first = r.first_id().unwrap_or(u64::MAX);
                let older: Vec<Entry> = messages
                    .into_iter()
                    .filter(|m| m.id < first)
                    .map(Entry::Message)
                    .collect();
                let more = older.first().is_some_and(|x| match x {
                    Entry::Message(m) => m.id > 1,
                    Entry::Notice { .. } => false,
                });
                r.has_older.set(more);
                r.entries.update(|e| {
                    e.splice(0..0, older);
                });
                self.seek();
            }
            ServerFrame::Error {
                code,
                message,
                nonce,
                ..
            } => self.on_error(code, message, nonce),
        }
    }

    fn on_joined(&self, room: &str, messages: Vec<ChatMessage>, missed: bool) {
        let Some(r) = self.room(room) else { return };
        if self.pending_join.with_value(|p| p.as_deref() == Some(room)) {
            self.pending_join.set_value(None);
        }
        if missed {
            // More was missed than the server replays: start over from the replay.
            r.entries.set(Vec::new());
            r.last_id.set_value(0);
        }
        if r.entries.with_untracked(Vec::is_empty) {
            r.has_older.set(messages.first().is_some_and(|m| m.id > 1));
        }
        // Our messages in the replay resolve what they were pending as; the
        // rest is sent again with the same nonce by `flush` below.
        for m in &messages {
            self.resolve_pending(&r, m);
        }
        r.append(messages);
        r.ready.set(true);
        self.flush(&r);
        self.seek();
    }

    /// *1.2*: we left a room here or on another device (or declined an
    /// invitation): it goes from the sidebar.
    fn on_left(&self, room: &str) {
        self.mine.update(|mine| mine.retain(|m| m.room != room));
        if room == GENERAL_ROOM || self.room(room).is_none() {
            return;
        }
        self.rooms
            .update(|rooms| rooms.retain(|r| &*r.name != room));
        if self.current.get_untracked() == room {
            self.switch(GENERAL_ROOM);
        }
    }

    /// *1.2*: an invitation (listed until joined), a direct message someone
    /// began (joined at once), or the answer to our own `invite`.
    fn on_invited(&self, room: String, by: String, dm: bool, user: Option<String>) {
        if let Some(user) = user {
            self.notice
                .set(Some(format!("{user} may now join #{room}")));
            return;
        }
        if dm {
            self.upsert_mine(MyRoom {
                room: room.clone(),
                visibility: Visibility::Private,
                role: Some(RoomRole::Member),
                dm: Some(by),
            });
            if self.room(&room).is_none() {
                self.add_room(&room);
                self.send_join(&room);
            }
            return;
        }
        if self.my_room(&room).is_none() {
            self.upsert_mine(MyRoom {
                room: room.clone(),
                visibility: Visibility::Private,
                role: None,
                dm: None,
            });
        }
        self.notice
            .set(Some(format!("{by} invited you to #{room}")));
    }

    fn on_message(&self, message: ChatMessage) {
        let Some(r) = self.room(&message.room) else {
            return;
        };
        self.resolve_pending(&r, &message);
        r.typing.update(|t| t.retain(|(x, _)| *x != message.user));
        let (theirs, to_me) = self.me.with_untracked(|me| match me.as_deref() {
            // *1.2*: a direct message, and a reply to us, notify as a
            // mention does.
            Some(me) => (
                me != message.user,
                mentions(&message.text, me)
                    || is_dm_room(&message.room)
                    || message.reply_to.as_ref().is_some_and(|r| r.user == me),
            ),
            None => (true, false),
        });
        let mention = (theirs && to_me).then(|| Mention {
            room: message.room.clone(),
            user: message.user.clone(),
            text: message.text.clone(),
        });
        if r.append(vec![message]) == 0 || !theirs {
            return;
        }
        if self.current.get_untracked() != *r.name {
            r.unread.update(|n| *n += 1);
            if mention.is_some() {
                r.mentioned.set(true);
            }
        }
        if let (Some(mention), Some(link)) = (mention, self.link.get_value()) {
            link.notify.run(mention);
        }
    }

    /// A message of ours with the nonce of a pending one confirms it. Only
    /// our own: a nonce seen on another member's message resolves nothing.
    fn resolve_pending(&self, r: &super::Room, message: &ChatMessage) {
        let Some(nonce) = &message.nonce else { return };
        let mine = self
            .me
            .with_untracked(|me| me.as_deref() == Some(message.user.as_str()));
        if mine
            && r.pending
                .with_untracked(|p| p.iter().any(|x| x.nonce == *nonce))
        {
            r.pending.update(|p| p.retain(|x| x.nonce != *nonce));
        }
    }

    fn on_error(&self, code: ErrorCode, message: String, nonce: Option<String>) {
        if let Some(nonce) = nonce {
            let found = self.rooms.with_untracked(|rooms| {
                rooms.iter().any(|r| {
                    let mut hit = false;
                    r.pending.update(|p| {
                        for x in p.iter_mut().filter(|x| x.nonce == nonce) {
                            x.error = Some(message.clone());
                            hit = true;
                        }
                    });
                    hit
                })
            });
            if found {
                return;
            }
        }
        if self.search_error(code, &message) {
            return;
        }
        match code {
            ErrorCode::BadName | ErrorCode::NameTaken => {
                let text = if code == ErrorCode::NameTaken {
                    format!("{message}: it belongs to someone else. Please choose another name.")
                } else {
                    message
                };
                self.name_error.set(Some(text));
                self.me.set(None);
                self.conn.set(Conn::Idle);
            }
            ErrorCode::BadRoom | ErrorCode::TooManyRooms => {
                self.room_error.set(Some(message));
                if let Some(room) = self.pending_join.get_value() {
                    self.pending_join.set_value(None);
                    self.rooms.update(|rooms| rooms.retain(|r| *r.name != room));
                    if self.current.get_untracked() == room {
                        self.switch(GENERAL_ROOM);
                    }
                }
            }
            _ => self.notice.set(Some(message)),
        }
    }
}
