//! The chat's reactive state, and how each server frame changes it.
//!
//! [`Chat`] is a bundle of signals provided as context; components read it,
//! user actions call its methods, and the socket (`socket`, browser only)
//! feeds it server frames through [`Chat::apply`]. Everything here compiles on
//! both sides, so the server renders the same initial state the browser
//! hydrates.

use super::{first_room, PageData};
use crate::protocol::{
    is_valid_room, sanitize_text, validate_name, ChatMessage, ClientFrame, ErrorCode,
    PresenceState, ServerFrame, GENERAL_ROOM, HISTORY_DEFAULT_LIMIT,
};
use futures::channel::mpsc::UnboundedSender;
use leptos::prelude::*;
use std::sync::Arc;

/// Most entries a room keeps in memory; older ones are dropped and can be
/// loaded again with "Load older messages".
const MAX_ENTRIES: usize = 500;
/// Typing notices are sent at most this often (ms).
pub const TYPING_EVERY_MS: f64 = 3_000.0;
/// How long "x is typing…" shows after a notice (ms).
pub const TYPING_SHOWN_MS: f64 = 5_000.0;

/// The connection as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub enum Conn {
    /// No accepted name yet: waiting for the user to choose one.
    Idle,
    /// Opening the socket, or waiting for `welcome`.
    Connecting,
    /// Welcomed by the server.
    Online,
    /// The socket closed; the next attempt is at `until` (ms since the epoch).
    Waiting {
        /// When the next attempt starts.
        until: f64,
    },
    /// Another tab took this identity over (close code 4000): no automatic retry.
    Replaced,
}

/// One line of a room's message list.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    /// A chat message.
    Message(ChatMessage),
    /// "alice joined", "alice left".
    Notice {
        /// Unique within the page, for keyed rendering.
        seq: u64,
        /// The notice.
        text: String,
    },
}

impl Entry {
    /// A key unique within a room's list.
    pub fn key(&self) -> String {
        match self {
            Entry::Message(m) => format!("m{}", m.id),
            Entry::Notice { seq, .. } => format!("n{seq}"),
        }
    }
}

/// A message of ours that the server has not confirmed yet.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// Matches the server's echo or error to this message.
    pub nonce: String,
    /// The sanitized text.
    pub text: String,
    /// The connection generation it was last sent on; `None`: not sent yet.
    pub sent_on: Option<u64>,
    /// Why the server refused it; it waits for "Retry" or "Discard".
    pub error: Option<String>,
}

/// A joined room.
#[derive(Debug, Clone)]
pub struct Room {
    /// Its name.
    pub name: Arc<str>,
    /// Messages and notices, oldest first.
    pub entries: RwSignal<Vec<Entry>>,
    /// Our messages not yet confirmed, in the order typed.
    pub pending: RwSignal<Vec<Pending>>,
    /// Live members, sorted.
    pub members: RwSignal<Vec<String>>,
    /// Who is typing, and until when (ms since the epoch).
    pub typing: RwSignal<Vec<(String, f64)>>,
    /// Messages arrived while another room was in view.
    pub unread: RwSignal<u32>,
    /// True once the server answered `join` on the current connection.
    pub ready: RwSignal<bool>,
    /// The largest message id seen: `join` asks for what follows it.
    pub last_id: StoredValue<u64>,
    /// True when messages older than the first shown exist.
    pub has_older: RwSignal<bool>,
}

impl PartialEq for Room {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name && self.entries == other.entries
    }
}

impl Room {
    fn new(name: &str) -> Room {
        Room {
            name: Arc::from(name),
            entries: RwSignal::new(Vec::new()),
            pending: RwSignal::new(Vec::new()),
            members: RwSignal::new(Vec::new()),
            typing: RwSignal::new(Vec::new()),
            unread: RwSignal::new(0),
            ready: RwSignal::new(false),
            last_id: StoredValue::new(0),
            has_older: RwSignal::new(false),
        }
    }

    /// Appends the messages newer than any seen; returns how many were new.
    fn append(&self, messages: Vec<ChatMessage>) -> usize {
        let mut last = self.last_id.get_value();
        let fresh: Vec<Entry> = messages
            .into_iter()
            .filter(|m| {
                let new = m.id > last;
                last = last.max(m.id);
                new
            })
            .map(Entry::Message)
            .collect();
        self.last_id.set_value(last);
        let n = fresh.len();
        if n > 0 {
            self.entries.update(|e| {
                e.extend(fresh);
                if e.len() > MAX_ENTRIES {
                    e.drain(..e.len() - MAX_ENTRIES);
                    self.has_older.set(true);
                }
            });
        }
        n
    }

    /// The id of the oldest message shown.
    fn first_id(&self) -> Option<u64> {
        self.entries.with_untracked(|e| {
            e.iter().find_map(|x| match x {
                Entry::Message(m) => Some(m.id),
                Entry::Notice { .. } => None,
            })
        })
    }
}

/// The whole client state; cheap to copy (every field is a handle).
#[derive(Debug, Clone, Copy)]
#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
pub struct Chat {
    /// The connection state.
    pub conn: RwSignal<Conn>,
    /// True once a `welcome` was received: later closes are reconnects.
    pub was_online: RwSignal<bool>,
    /// Our name, once the server accepted it.
    pub me: RwSignal<Option<String>>,
    /// The name field's value.
    pub wanted_name: RwSignal<String>,
    /// Why the name was refused (local check, `bad_name`, `name_taken`).
    pub name_error: RwSignal<Option<String>>,
    /// Every room the server listed in `welcome`.
    pub known_rooms: RwSignal<Vec<String>>,
    /// Joined rooms, in the order joined.
    pub rooms: RwSignal<Vec<Room>>,
    /// The room in view.
    pub current: RwSignal<String>,
    /// Why the last join was refused (local rule check, `bad_room`, `too_many_rooms`).
    pub room_error: RwSignal<Option<String>>,
    /// A server error that belongs to no field or message (shown in a
    /// dismissible banner).
    pub notice: RwSignal<Option<String>>,
    /// True once the page is hydrated (JavaScript runs): shows JS-only
    /// controls and local times.
    pub hydrated: RwSignal<bool>,
    /// The member panel is open (narrow screens).
    pub show_members: RwSignal<bool>,
    /// The time now (ms since the epoch), ticking every second in the browser.
    pub now: RwSignal<f64>,
    /// The open socket's outgoing queue.
    pub link: StoredValue<Option<UnboundedSender<String>>>,
    /// Counts connections; frames of an older one are ignored.
    pub generation: StoredValue<u64>,
    /// The identity's token from `welcome`.
    pub token: StoredValue<Option<String>>,
    /// When a frame was last sent (ms), for the idle ping.
    pub last_sent: StoredValue<f64>,
    /// When a frame was last received (ms), to notice a dead connection.
    pub last_received: StoredValue<f64>,
    /// When a typing notice was last sent (ms).
    last_typing: StoredValue<f64>,
    /// Failed connection attempts since the last `welcome` (for backoff).
    pub attempts: StoredValue<u32>,
    /// Numbers nonces and notices.
    seq: StoredValue<u64>,
    /// A room we asked to join and have no answer for: a `bad_room` or
    /// `too_many_rooms` error is about it.
    pending_join: StoredValue<Option<String>>,
}

/// The time now, in ms since the epoch (0 on the server, where nothing ticks).
pub fn now_ms() -> f64 {
    #[cfg(feature = "hydrate")]
    {
        js_sys::Date::now()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        0.0
    }
}

/// Lower-cases and trims what was typed in the room box.
pub fn normalize_room(raw: &str) -> String {
    raw.trim().to_ascii_lowercase()
}

/// The room rule, said for people.
pub const ROOM_RULE: &str =
    "Room names use a–z, 0–9, - and _, start with a letter or digit, and are at most 32 long.";

#[cfg_attr(not(feature = "hydrate"), allow(dead_code))]
impl Chat {
    /// The state the server renders the page with, and the browser hydrates from.
    pub fn new(data: &PageData) -> Chat {
        let room = Room::new(&first_room(data));
        room.append(data.messages.clone());
        room.members.set(data.members.clone());
        room.has_older
            .set(data.messages.first().is_some_and(|m| m.id > 1));
        let name_error = data.error.as_ref().and_then(|e| {
            matches!(e.code, ErrorCode::BadName | ErrorCode::NameTaken).then(|| e.message.clone())
        });
        Chat {
            conn: RwSignal::new(Conn::Idle),
            was_online: RwSignal::new(false),
            me: RwSignal::new(None),
            wanted_name: RwSignal::new(data.name.clone()),
            name_error: RwSignal::new(name_error),
            known_rooms: RwSignal::new(vec![GENERAL_ROOM.to_owned()]),
            current: RwSignal::new(room.name.to_string()),
            rooms: RwSignal::new(vec![room]),
            room_error: RwSignal::new(None),
            notice: RwSignal::new(None),
            hydrated: RwSignal::new(false),
            show_members: RwSignal::new(false),
            now: RwSignal::new(0.0),
            link: StoredValue::new(None),
            generation: StoredValue::new(0),
            token: StoredValue::new(None),
            last_sent: StoredValue::new(0.0),
            last_received: StoredValue::new(0.0),
            last_typing: StoredValue::new(0.0),
            attempts: StoredValue::new(0),
            seq: StoredValue::new(0),
            pending_join: StoredValue::new(None),
        }
    }

    /// A joined room by name (not tracked).
    pub fn room(&self, name: &str) -> Option<Room> {
        self.rooms
            .with_untracked(|rooms| rooms.iter().find(|r| &*r.name == name).cloned())
    }

    /// The room in view (tracked).
    pub fn current_room(&self) -> Option<Room> {
        let current = self.current.get();
        self.rooms
            .with(|rooms| rooms.iter().find(|r| *r.name == current).cloned())
    }

    /// Unread messages in every room (tracked): the page title shows it.
    pub fn unread_total(&self) -> u32 {
        self.rooms
            .with(|rooms| rooms.iter().map(|r| r.unread.get()).sum())
    }

    /// Names of the joined rooms, in order.
    pub fn room_names(&self) -> Vec<String> {
        self.rooms
            .with_untracked(|rooms| rooms.iter().map(|r| r.name.to_string()).collect())
    }

    fn next_seq(&self) -> u64 {
        self.seq.update_value(|s| *s += 1);
        self.seq.get_value()
    }

    /// Queues a frame on the open socket; false when there is none.
    pub fn send(&self, frame: &ClientFrame) -> bool {
        let Ok(json) = serde_json::to_string(frame) else {
            return false;
        };
        let sent = self.link.with_value(|link| {
            link.as_ref()
                .is_some_and(|tx| tx.unbounded_send(json).is_ok())
        });
        if sent {
            self.last_sent.set_value(now_ms());
        }
        sent
    }

    /// `hello` with the wanted name and our token.
    pub fn send_hello(&self) -> bool {
        self.send(&ClientFrame::Hello {
            name: self.wanted_name.get_untracked().trim().to_owned(),
            token: self.token.get_value(),
        })
    }

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
                #[cfg(feature = "hydrate")]
                super::socket::hello_or_connect(*self);
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
        #[cfg(feature = "hydrate")]
        super::socket::connect(*self);
    }

    /// Shows a room and clears its unread count.
    pub fn switch(&self, name: &str) {
        if let Some(room) = self.room(name) {
            room.unread.set(0);
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
            self.rooms.update(|rooms| rooms.push(Room::new(&name)));
            // Offline (or not yet welcomed), `welcome` joins every room.
            if self.conn.get_untracked() == Conn::Online {
                self.pending_join.set_value(Some(name.clone()));
                self.send_join(&name);
            }
            self.rooms_changed();
        }
        self.switch(&name);
        true
    }

    /// Asks for a joined room's messages after the last one seen.
    fn send_join(&self, name: &str) {
        let after = self
            .room(name)
            .map(|r| r.last_id.get_value())
            .filter(|&id| id > 0);
        self.send(&ClientFrame::Join {
            room: name.to_owned(),
            after,
        });
    }

    /// Leaves a room (not `general`, the lobby every user stays in).
    pub fn leave(&self, name: &str) {
        if name == GENERAL_ROOM {
            return;
        }
        self.send(&ClientFrame::Leave {
            room: name.to_owned(),
        });
        self.rooms
            .update(|rooms| rooms.retain(|r| &*r.name != name));
        if self.current.get_untracked() == name {
            self.switch(GENERAL_ROOM);
        }
        self.rooms_changed();
    }

    fn rooms_changed(&self) {
        #[cfg(feature = "hydrate")]
        super::socket::save_rooms(&self.room_names());
    }

    /// Posts to the room in view. The text is checked as the server would;
    /// the message shows as pending until the server echoes it, and waits
    /// for the connection when offline.
    pub fn post(&self, raw: &str) -> Result<(), String> {
        let text = sanitize_text(raw).map_err(|e| e.message)?;
        let Some(room) = self.room(&self.current.get_untracked()) else {
            return Err("join a room first".to_owned());
        };
        let nonce = format!("{}-{}", self.nonce_prefix(), self.next_seq());
        room.pending.update(|p| {
            p.push(Pending {
                nonce,
                text,
                sent_on: None,
                error: None,
            })
        });
        // The message ends this bout of typing: the next keystroke says so again.
        self.last_typing.set_value(0.0);
        self.flush(&room);
        Ok(())
    }

    /// Random per page, so nonces of two tabs never collide.
    fn nonce_prefix(&self) -> String {
        #[cfg(feature = "hydrate")]
        {
            format!("{:x}", (js_sys::Math::random() * 4_294_967_296.0) as u64)
        }
        #[cfg(not(feature = "hydrate"))]
        {
            String::from("ssr")
        }
    }

    /// Sends a room's pending messages not yet sent on this connection,
    /// once the room is joined on it.
    fn flush(&self, room: &Room) {
        if self.conn.get_untracked() != Conn::Online || !room.ready.get_untracked() {
            return;
        }
        let generation = self.generation.get_value();
        let mut out = Vec::new();
        room.pending.update(|pending| {
            for p in pending.iter_mut() {
                if p.error.is_none() && p.sent_on != Some(generation) {
                    p.sent_on = Some(generation);
                    out.push(ClientFrame::Send {
                        room: room.name.to_string(),
                        text: p.text.clone(),
                        nonce: Some(p.nonce.clone()),
                    });
                }
            }
        });
        for frame in &out {
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
            self.send(&ClientFrame::Typing {
                room: room.name.to_string(),
            });
        }
    }

    /// "Load older messages": the page before the oldest shown.
    pub fn load_older(&self) {
        if let Some(room) = self.room(&self.current.get_untracked()) {
            self.send(&ClientFrame::History {
                room: room.name.to_string(),
                before: room.first_id(),
                limit: Some(i64::from(HISTORY_DEFAULT_LIMIT)),
            });
        }
    }

    /// The socket closed: every room must be joined again.
    pub fn disconnected(&self) {
        self.link.set_value(None);
        self.rooms.with_untracked(|rooms| {
            for r in rooms {
                r.ready.set(false);
                r.typing.set(Vec::new());
            }
        });
    }

    /// Applies one frame from the server.
    pub fn apply(&self, frame: ServerFrame, now: f64) {
        match frame {
            ServerFrame::Welcome { user, token, rooms } => {
                self.token.set_value(Some(token));
                self.me.set(Some(user.name.clone()));
                self.wanted_name.set(user.name);
                self.name_error.set(None);
                self.known_rooms.set(rooms);
                self.conn.set(Conn::Online);
                self.was_online.set(true);
                self.attempts.set_value(0);
                for name in self.room_names() {
                    self.send_join(&name);
                }
            }
            ServerFrame::Joined {
                room,
                members,
                messages,
                missed,
            } => self.on_joined(&room, members, messages, missed),
            ServerFrame::Left { .. } | ServerFrame::Pong => {}
            ServerFrame::Message(message) => self.on_message(message),
            ServerFrame::Presence { room, user, state } => {
                let Some(r) = self.room(&room) else { return };
                let verb = match state {
                    PresenceState::Joined => {
                        r.members.update(|m| {
                            if let Err(at) = m.binary_search(&user) {
                                m.insert(at, user.clone());
                            }
                        });
                        "joined"
                    }
                    PresenceState::Left => {
                        r.members.update(|m| m.retain(|x| *x != user));
                        r.typing.update(|t| t.retain(|(x, _)| *x != user));
                        "left"
                    }
                };
                let seq = self.next_seq();
                r.entries.update(|e| {
                    e.push(Entry::Notice {
                        seq,
                        text: format!("{user} {verb}"),
                    })
                });
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
            }
            ServerFrame::Error {
                code,
                message,
                nonce,
            } => self.on_error(code, message, nonce),
        }
    }

    fn on_joined(
        &self,
        room: &str,
        members: Vec<String>,
        messages: Vec<ChatMessage>,
        missed: bool,
    ) {
        let Some(r) = self.room(room) else { return };
        if self.pending_join.with_value(|p| p.as_deref() == Some(room)) {
            self.pending_join.set_value(None);
        }
        r.members.set(members);
        if missed {
            // More was missed than the server replays: start over from the replay.
            r.entries.set(Vec::new());
            r.last_id.set_value(0);
        }
        let before = r.last_id.get_value();
        // Our messages in the replay: those sent on a lost connection whose
        // echo never came are matched here by text, so they are not sent twice.
        let me = self.me.get_untracked().unwrap_or_default();
        let mut mine: Vec<String> = messages
            .iter()
            .filter(|m| m.id > before && m.user == me)
            .map(|m| m.text.clone())
            .collect();
        if r.entries.with_untracked(Vec::is_empty) {
            r.has_older.set(messages.first().is_some_and(|m| m.id > 1));
        }
        r.append(messages);
        let generation = self.generation.get_value();
        r.pending.update(|pending| {
            pending.retain(|p| {
                let in_doubt = p.sent_on.is_some_and(|g| g < generation);
                match mine.iter().position(|t| *t == p.text) {
                    Some(at) if in_doubt => {
                        mine.remove(at);
                        false
                    }
                    _ => true,
                }
            })
        });
        r.ready.set(true);
        self.flush(&r);
    }

    fn on_message(&self, message: ChatMessage) {
        let Some(r) = self.room(&message.room) else {
            return;
        };
        if let Some(nonce) = &message.nonce {
            r.pending.update(|p| p.retain(|x| x.nonce != *nonce));
        }
        r.typing.update(|t| t.retain(|(x, _)| *x != message.user));
        let theirs = self
            .me
            .with_untracked(|me| me.as_deref() != Some(&message.user));
        if r.append(vec![message]) > 0 && theirs && self.current.get_untracked() != *r.name {
            r.unread.update(|n| *n += 1);
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
        match code {
            ErrorCode::BadName | ErrorCode::NameTaken => {
                let text = if code == ErrorCode::NameTaken {
                    format!("{message}: someone online is using it. Please choose another name.")
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
                    self.rooms_changed();
                }
            }
            _ => self.notice.set(Some(message)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::UserInfo;

    fn message(id: u64, user: &str, text: &str, nonce: Option<&str>) -> ChatMessage {
        ChatMessage {
            room: GENERAL_ROOM.into(),
            id,
            user: user.into(),
            text: text.into(),
            html: text.into(),
            ts: 0,
            nonce: nonce.map(str::to_owned),
        }
    }

    fn texts(room: &Room) -> Vec<String> {
        room.entries.with_untracked(|e| {
            e.iter()
                .map(|x| match x {
                    Entry::Message(m) => m.text.clone(),
                    Entry::Notice { text, .. } => format!("[{text}]"),
                })
                .collect()
        })
    }

    /// A page rendered with messages 1 and 2, then welcomed as `me`.
    fn online() -> (Owner, Chat) {
        let owner = Owner::new();
        let chat = owner.with(|| {
            let chat = Chat::new(&PageData {
                room: GENERAL_ROOM.into(),
                messages: vec![message(1, "a", "one", None), message(2, "b", "two", None)],
                ..PageData::default()
            });
            chat.apply(
                ServerFrame::Welcome {
                    user: UserInfo {
                        id: "i".into(),
                        name: "me".into(),
                    },
                    token: "t".into(),
                    rooms: vec![GENERAL_ROOM.into()],
                },
                0.0,
            );
            chat
        });
        (owner, chat)
    }

    fn error(code: ErrorCode, message: &str, nonce: Option<String>) -> ServerFrame {
        ServerFrame::Error {
            code,
            message: message.into(),
            nonce,
        }
    }

    fn joined(chat: &Chat, messages: Vec<ChatMessage>) {
        chat.apply(
            ServerFrame::Joined {
                room: GENERAL_ROOM.into(),
                members: vec!["me".into()],
                messages,
                missed: false,
            },
            0.0,
        );
    }

    #[test]
    fn a_replay_after_a_reconnect_shows_each_message_once() {
        let (owner, chat) = online();
        owner.with(|| {
            let room = chat.room(GENERAL_ROOM).unwrap();
            // The replay overlaps what the page already shows.
            joined(
                &chat,
                vec![message(2, "b", "two", None), message(3, "c", "three", None)],
            );
            chat.apply(ServerFrame::Message(message(3, "c", "three", None)), 0.0);
            chat.apply(ServerFrame::Message(message(4, "c", "four", None)), 0.0);
            assert_eq!(texts(&room), ["one", "two", "three", "four"]);
            assert_eq!(room.last_id.get_value(), 4);
        });
    }

    #[test]
    fn our_messages_wait_offline_and_are_matched_by_nonce_or_in_the_replay() {
        let (owner, chat) = online();
        owner.with(|| {
            let room = chat.room(GENERAL_ROOM).unwrap();
            joined(&chat, vec![]);
            chat.post("sent and echoed").unwrap();
            chat.post("in flight at the drop").unwrap();
            let nonce = room.pending.with_untracked(|p| p[0].nonce.clone());
            chat.apply(
                ServerFrame::Message(message(3, "me", "sent and echoed", Some(&nonce))),
                0.0,
            );
            assert_eq!(room.pending.with_untracked(Vec::len), 1);

            // The connection drops; a message typed offline waits unsent.
            chat.disconnected();
            chat.conn.set(Conn::Waiting { until: 0.0 });
            chat.generation.update_value(|g| *g += 1);
            chat.post("typed offline").unwrap();
            assert_eq!(
                room.pending.with_untracked(|p| p[1].sent_on),
                None,
                "not sent while offline"
            );

            // Back: the in-flight one was stored (it is in the replay), so it
            // is not sent again; the offline one is sent now.
            chat.conn.set(Conn::Online);
            joined(&chat, vec![message(4, "me", "in flight at the drop", None)]);
            let left: Vec<(String, Option<u64>)> = room
                .pending
                .with_untracked(|p| p.iter().map(|x| (x.text.clone(), x.sent_on)).collect());
            assert_eq!(
                left,
                [(
                    "typed offline".to_owned(),
                    Some(chat.generation.get_value())
                )]
            );
            assert_eq!(
                texts(&room),
                ["one", "two", "sent and echoed", "in flight at the drop"]
            );
        });
    }

    #[test]
    fn errors_land_where_they_belong() {
        let (owner, chat) = online();
        owner.with(|| {
            let room = chat.room(GENERAL_ROOM).unwrap();
            joined(&chat, vec![]);
            chat.post("too fast").unwrap();
            let nonce = room.pending.with_untracked(|p| p[0].nonce.clone());
            chat.apply(error(ErrorCode::RateLimited, "slow down", Some(nonce)), 0.0);
            assert_eq!(
                room.pending.with_untracked(|p| p[0].error.clone()),
                Some("slow down".into())
            );

            // A refused join takes the room away again and explains why.
            assert!(chat.join("other"));
            assert_eq!(chat.current.get_untracked(), "other");
            chat.apply(
                error(ErrorCode::TooManyRooms, "at most 50 rooms", None),
                0.0,
            );
            assert!(chat.room("other").is_none());
            assert_eq!(chat.current.get_untracked(), GENERAL_ROOM);
            assert_eq!(
                chat.room_error.get_untracked(),
                Some("at most 50 rooms".into())
            );

            // The rule is checked before anything is sent.
            assert!(!chat.join("<script>"));
            assert_eq!(chat.room_error.get_untracked(), Some(ROOM_RULE.into()));

            chat.apply(
                error(ErrorCode::NameTaken, "the name \"me\" is in use", None),
                0.0,
            );
            assert_eq!(chat.me.get_untracked(), None);
            assert!(chat
                .name_error
                .get_untracked()
                .unwrap()
                .contains("choose another"));

            chat.apply(error(ErrorCode::BadRequest, "malformed", None), 0.0);
            assert_eq!(chat.notice.get_untracked(), Some("malformed".into()));
        });
    }

    #[test]
    fn presence_and_typing_update_the_room() {
        let (owner, chat) = online();
        owner.with(|| {
            let room = chat.room(GENERAL_ROOM).unwrap();
            joined(&chat, vec![]);
            let presence = |state| ServerFrame::Presence {
                room: GENERAL_ROOM.into(),
                user: "zed".into(),
                state,
            };
            chat.apply(presence(PresenceState::Joined), 0.0);
            chat.apply(
                ServerFrame::Typing {
                    room: GENERAL_ROOM.into(),
                    user: "zed".into(),
                },
                1_000.0,
            );
            assert_eq!(room.members.get_untracked(), ["me", "zed"]);
            assert_eq!(room.typing.get_untracked(), [("zed".to_owned(), 6_000.0)]);
            chat.apply(presence(PresenceState::Left), 2_000.0);
            assert_eq!(room.members.get_untracked(), ["me"]);
            assert!(room.typing.get_untracked().is_empty());
            assert_eq!(texts(&room), ["one", "two", "[zed joined]", "[zed left]"]);
        });
    }
}
