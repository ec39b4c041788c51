//! What the user does: choose a name, join and leave rooms, post, retry,
//! type, page back. Each checks what the server would before sending.

use super::{normalize_room, now_ms, Chat, Conn, Pending, Room, ROOM_RULE, TYPING_EVERY_MS};
use crate::protocol::{
    is_valid_room, sanitize_text, validate_name, Attachment, ClientFrame, Visibility, GENERAL_ROOM,
    HISTORY_DEFAULT_LIMIT,
};
use leptos::prelude::*;

impl Chat {
    /// The name form was submitted: checks the name as the server would,
    /// then says hello with it (connecting if need be). False when refused here.
    pub fn submit_name(&self, raw: &str) -> bool {
        match validate_name(raw) {
            Err(e) => {
                self.name_error.set(Some(e.message));
                false
            }
            Ok(name) => {
                self.name_error.set(None);
                self.wanted_name.set(name.to_owned());
                if let Some(link) = self.link.get_value() {
                    link.hello.run(());
                }
                true
            }
        }
    }

    /// "Change name": shows the name field again; the next hello renames.
    pub fn change_name(&self) {
        if let Some(me) = self.me.get_untracked() {
            self.wanted_name.set(me);
        }
        self.me.set(None);
    }

    /// "Retry now" (or "Use it here"): connects at once.
    pub fn retry_now(&self) {
        if let Some(link) = self.link.get_value() {
            link.reconnect.run(());
        }
    }

    /// Shows a room and clears its unread count.
    pub fn switch(&self, name: &str) {
        // The room left from view was read: its divider goes.
        if let Some(left) = self
            .room(&self.current.get_untracked())
            .filter(|r| *r.name != *name)
        {
            left.divider.set(None);
        }
        if let Some(room) = self.room(name) {
            room.unread.set(0);
            room.mentioned.set(false);
            self.target.set(None);
            self.current.set(name.to_owned());
        }
    }

    /// Joins (or creates) a room typed in the room box; an already joined
    /// room is just shown. The rule is checked here before anything is sent.
    pub fn join(&self, raw: &str) -> bool {
        let name = normalize_room(raw);
        if !is_valid_room(&name) {
            self.room_error.set(Some(ROOM_RULE.to_owned()));
            return false;
        }
        self.room_error.set(None);
        if self.room(&name).is_none() {
            self.add_room(&name);
            // Offline (or not yet welcomed), `welcome` joins every room.
            if self.conn.get_untracked() == Conn::Online {
                self.pending_join.set_value(Some(name.clone()));
                self.send_join(&name);
            }
        }
        self.switch(&name);
        true
    }

    /// *1.2*: makes a room (private or public) and invites `invites`
    /// (names, comma-separated) once it is made. False when refused here.
    pub fn create(&self, raw: &str, private: bool, invites: &str) -> bool {
        let name = normalize_room(raw);
        if !is_valid_room(&name) {
            self.room_error.set(Some(ROOM_RULE.to_owned()));
            return false;
        }
        self.room_error.set(None);
        let visibility = match private {
            true => Visibility::Private,
            false => Visibility::Public,
        };
        if !self.send(ClientFrame::Create {
            room: name.clone(),
            visibility,
        }) {
            self.notice
                .set(Some("not connected: try again in a moment".to_owned()));
            return false;
        }
        if self.room(&name).is_none() {
            self.add_room(&name);
        }
        // Queued behind `create`: the server answers them in order.
        for user in invites.split(',').map(str::trim).filter(|u| !u.is_empty()) {
            self.invite(&name, user);
        }
        self.switch(&name);
        true
    }

    /// *1.2*: lets `user` join the private room `room`.
    pub fn invite(&self, room: &str, user: &str) {
        self.send(ClientFrame::Invite {
            room: room.to_owned(),
            user: user.to_owned(),
        });
    }

    /// *1.2*: opens the direct message with `user` (the server names it).
    pub fn dm(&self, user: &str) {
        self.send(ClientFrame::Dm {
            user: user.to_owned(),
        });
    }

    /// *1.2*: joins one of our rooms (an invitation, a direct message)
    /// by the name the server gave it.
    pub fn open(&self, name: &str) {
        if self.room(name).is_none() {
            self.add_room(name);
            if self.conn.get_untracked() == Conn::Online {
                self.send_join(name);
            }
        }
        self.switch(name);
    }

    /// Asks for a joined room's messages after the last one seen.
    pub(super) fn send_join(&self, name: &str) {
        let after = self
            .room(name)
            .map(|r| r.last_id.get_value())
            .filter(|&id| id > 0);
        self.send(ClientFrame::Join {
            room: name.to_owned(),
            after,
        });
    }

    /// Leaves a room (not `general`, the lobby every user stays in).
    pub fn leave(&self, name: &str) {
        if name == GENERAL_ROOM {
            return;
        }
        self.send(ClientFrame::Leave {
            room: name.to_owned(),
        });
        self.rooms
            .update(|rooms| rooms.retain(|r| &*r.name != name));
        if self.current.get_untracked() == name {
            self.switch(GENERAL_ROOM);
        }
    }

    /// Posts to the room in view. The text is checked as the server would;
    /// the message shows as pending until the server echoes it, and waits
    /// for the connection when offline. After a reconnect whatever is still
    /// pending is sent again with the same nonce: the server posts a nonce
    /// once (protocol 1.1), so each message is posted exactly once.
    pub fn post(&self, raw: &str) -> Result<(), String> {
        self.post_with(raw, Vec::new())
    }

    /// [`Chat::post`] with files (*1.2*, section 5): then the text may be empty.
    pub fn post_with(&self, raw: &str, attachments: Vec<Attachment>) -> Result<(), String> {
        let text = match raw.trim().is_empty() && !attachments.is_empty() {
            true => String::new(),
            false => sanitize_text(raw).map_err(|e| e.message)?,
        };
        let Some(room) = self.room(&self.current.get_untracked()) else {
            return Err("join a room first".to_owned());
        };
        let nonce = new_nonce(self.next_seq());
        room.pending.update(|p| {
            p.push(Pending {
                nonce,
                text,
                sent_on: None,
                error: None,
                reply_to: self.replying.get_untracked().map(|r| r.id),
                attachments,
            })
        });
        self.replying.set(None);
        // The message ends this bout of typing: the next keystroke says so again.
        self.last_typing.set_value(0.0);
        self.flush(&room);
        Ok(())
    }

    /// Sends a room's pending messages not yet sent on this connection,
    /// once the room is joined on it.
    pub(super) fn flush(&self, room: &Room) {
        if self.conn.get_untracked() != Conn::Online || !room.ready.get_untracked() {
            return;
        }
        let session = self.session.get_value();
        let mut out = Vec::new();
        room.pending.update(|pending| {
            for p in pending.iter_mut() {
                if p.error.is_none() && p.sent_on != Some(session) {
                    p.sent_on = Some(session);
                    out.push(ClientFrame::Send {
                        room: room.name.to_string(),
                        text: p.text.clone(),
                        nonce: Some(p.nonce.clone()),
                        reply_to: p.reply_to,
                        attachments: p.attachments.iter().map(|a| a.id.clone()).collect(),
                    });
                }
            }
        });
        for frame in out {
            self.send(frame);
        }
    }

    /// "Retry" on a refused message.
    pub fn retry(&self, room: &str, nonce: &str) {
        if let Some(room) = self.room(room) {
            room.pending.update(|p| {
                for x in p.iter_mut().filter(|x| x.nonce == nonce) {
                    x.error = None;
                    x.sent_on = None;
                }
            });
            self.flush(&room);
        }
    }

    /// "Discard" on a refused message.
    pub fn discard(&self, room: &str, nonce: &str) {
        if let Some(room) = self.room(room) {
            room.pending.update(|p| p.retain(|x| x.nonce != nonce));
        }
    }

    /// The user typed in the composer: a typing notice, at most every 3 s.
    pub fn typing(&self) {
        let now = now_ms();
        let Some(room) = self.room(&self.current.get_untracked()) else {
            return;
        };
        if self.conn.get_untracked() == Conn::Online
            && room.ready.get_untracked()
            && now - self.last_typing.get_value() >= TYPING_EVERY_MS
        {
            self.last_typing.set_value(now);
            self.send(ClientFrame::Typing {
                room: room.name.to_string(),
            });
        }
    }

    /// The next page of the room in view's members (scrolling the member
    /// panel, or its "More members" button); one request at a time.
    pub fn load_more_members(&self) {
        let Some(room) = self.room(&self.current.get_untracked()) else {
            return;
        };
        if !room.members_more.get_untracked() || room.members_loading.get_value() {
            return;
        }
        let after = room.members.with_untracked(|m| m.last().cloned());
        if self.send(ClientFrame::Members {
            room: room.name.to_string(),
            after,
            limit: None,
        }) {
            room.members_loading.set_value(true);
        }
    }

    /// "Load older messages": the page before the oldest shown.
    pub fn load_older(&self) {
        if let Some(room) = self.room(&self.current.get_untracked()) {
            self.send(ClientFrame::History {
                room: room.name.to_string(),
                before: room.first_id(),
                limit: Some(i64::from(HISTORY_DEFAULT_LIMIT)),
            });
        }
    }
}

/// A nonce no one can guess: 128 bits from the browser's CSPRNG (`crypto.
/// getRandomValues`), as hex. Another member learns it only from the
/// message it is resolved by. On the server (never sent) a counter.
fn new_nonce(seq: u64) -> String {
    #[cfg(feature = "hydrate")]
    {
        let mut bytes = [0u8; 16];
        let filled = web_sys::window()
            .and_then(|w| w.crypto().ok())
            .is_some_and(|c| c.get_random_values_with_u8_array(&mut bytes).is_ok());
        if filled {
            return bytes.iter().map(|b| format!("{b:02x}")).collect();
        }
        // No Web Crypto (very old browsers): still unique on this page.
        format!(
            "{:x}-{seq}",
            (js_sys::Math::random() * 4_294_967_296.0) as u64
        )
    }
    #[cfg(not(feature = "hydrate"))]
    {
        format!("ssr-{seq}")
    }
}
