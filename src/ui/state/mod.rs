//! The chat's reactive model: what the page shows, and how it changes.
//!
//! [`Chat`] is a bundle of signals provided as context; components read it
//! and call its user actions ([`actions`]); server frames change it through
//! [`Chat::apply`] ([`apply`]). It knows nothing of sockets: it speaks to the
//! connection only through a [`Link`], which the browser's socket driver
//! (`ui::socket`) installs. On the server there is none (nothing is sent),
//! and the tests install one that records. Everything here compiles on both
//! sides, so the server renders the same initial state the browser hydrates.
//!
//! - [`room`]: a joined room, its entries and our pending messages.
//! - [`actions`]: what the user does (name, rooms, posting, typing, history).
//! - [`apply`]: what each server frame does.
//! - [`search`]: search, and opening a message in context.

mod actions;
mod apply;
mod changes;
mod moderation;
mod room;
mod search;
#[cfg(test)]
mod tests;

use super::{first_room, PageData};
use crate::protocol::{ClientFrame, ErrorCode, MyRoom, Visibility, GENERAL_ROOM};
use leptos::prelude::*;

pub use moderation::AuditView;
pub use room::{Entry, Pending, Room};
pub use search::{Found, Target};

/// Typing notices are sent at most this often (ms).
pub const TYPING_EVERY_MS: f64 = 3_000.0;
/// How long "x is typing…" shows after a notice (ms).
pub const TYPING_SHOWN_MS: f64 = 5_000.0;

/// The room rule, said for people.
pub const ROOM_RULE: &str =
    "Room names use a–z, 0–9, - and _, start with a letter or digit, and are at most 32 long.";

/// The connection as the user sees it.
#[derive(Debug, Clone, Copy, PartialEq)]
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
    /// *1.2*: the session ended (close code 4004: signed out here or
    /// everywhere, or the password changed): no automatic retry.
    SignedOut,
}

/// Browser notifications of mentions, as the page offers them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alerts {
    /// No Notification API (and on the server): nothing is offered.
    Unsupported,
    /// Offered, not asked for (or turned off).
    Off,
    /// Asked for and allowed: a mention in a hidden tab notifies.
    On,
    /// The browser refused the permission.
    Denied,
}

/// A message that mentions us, for the browser's notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Mention {
    /// Its room.
    pub room: String,
    /// Its author.
    pub user: String,
    /// Its text.
    pub text: String,
}

/// The way out of the model: what it asks of the connection.
#[derive(Debug, Clone, Copy)]
pub struct Link {
    /// Queues a frame on the open socket; false when there is none.
    pub send: Callback<ClientFrame, bool>,
    /// A name was chosen: say hello with it, connecting if need be.
    pub hello: Callback<()>,
    /// Drop the connection, if any, and open a new one now.
    pub reconnect: Callback<()>,
    /// A message of another member mentions us (the browser may notify).
    pub notify: Callback<Mention>,
}

/// The whole client model; cheap to copy (every field is a handle).
#[derive(Debug, Clone, Copy)]
pub struct Chat {
    /// The connection state.
    pub conn: RwSignal<Conn>,
    /// True once a `welcome` was received: later closes are reconnects.
    pub was_online: RwSignal<bool>,
    /// *1.2*: the connection goes over HTTP (Server-Sent Events and POSTs)
    /// because WebSocket is blocked here.
    pub fallback: RwSignal<bool>,
    /// Our name, once the server accepted it.
    pub me: RwSignal<Option<String>>,
    /// The name field's value.
    pub wanted_name: RwSignal<String>,
    /// *1.2*: the page was rendered for a signed-in account: the socket
    /// is that account (its cookie), and says hello with the account's
    /// name, never with a name this browser kept from before.
    pub signed_in: bool,
    /// Why the name was refused (local check, `bad_name`, `name_taken`).
    pub name_error: RwSignal<Option<String>>,
    /// Every room the server listed in `welcome`.
    pub known_rooms: RwSignal<Vec<String>>,
    /// *1.2*: our rooms as the server keeps them (`welcome.mine`, then
    /// `joined`, `invited`, `left`): private ones, direct messages,
    /// invitations.
    pub mine: RwSignal<Vec<MyRoom>>,
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
    /// Browser notifications of mentions (set by the browser's driver).
    pub alerts: RwSignal<Alerts>,
    /// The search panel (`None`: closed).
    pub found: RwSignal<Option<Found>>,
    /// The message opened in context (scrolled to and marked).
    pub target: RwSignal<Option<Target>>,
    /// *1.2*: the message the next one answers (the composer shows it).
    pub replying: RwSignal<Option<crate::protocol::ReplyTo>>,
    /// *1.2*: the message being edited in place (room, id).
    pub editing: RwSignal<Option<(String, u64)>>,
    /// *1.2*: we are a server admin (from `welcome`).
    pub admin: RwSignal<bool>,
    /// *1.2* (section 4): the audit log as last read, while it is open.
    pub audit: RwSignal<Option<AuditView>>,
    /// *1.2* (section 5): files uploaded or on their way, for the next message.
    pub uploads: RwSignal<Vec<crate::ui::uploads::Upload>>,
    /// History pages asked for to reach [`Chat::target`].
    seek_pages: StoredValue<u32>,
    /// The connection, once a driver installed one.
    pub link: StoredValue<Option<Link>>,
    /// Counts connections that ended: a pending message sent on an earlier
    /// one is in doubt (it may or may not have been stored).
    pub session: StoredValue<u64>,
    /// When a typing notice was last sent (ms).
    last_typing: StoredValue<f64>,
    /// Numbers nonces and notices.
    seq: StoredValue<u64>,
    /// A room we asked to join and have no answer for: a `bad_room` or
    /// `too_many_rooms` error is about it.
    pending_join: StoredValue<Option<String>>,
    /// The owner the model was made under: a room's signals are made
    /// under it, not under whatever component's handler joined the room
    /// (a dialog's, disposed when it closes, took the room's signals with it).
    owner: StoredValue<Option<Owner>>,
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

impl Chat {
    /// The state the server renders the page with, and the browser hydrates from.
    pub fn new(data: &PageData) -> Chat {
        let room = Room::new(&first_room(data));
        room.append(data.messages.clone());
        room.set_members(data.members.clone(), data.member_count);
        room.has_older
            .set(data.messages.first().is_some_and(|m| m.id > 1));
        let name_error = data.error.as_ref().and_then(|e| {
            matches!(e.code, ErrorCode::BadName | ErrorCode::NameTaken).then(|| e.message.clone())
        });
        Chat {
            conn: RwSignal::new(Conn::Idle),
            was_online: RwSignal::new(false),
            fallback: RwSignal::new(false),
            me: RwSignal::new(None),
            wanted_name: RwSignal::new(data.name.clone()),
            signed_in: data.account.is_some(),
            name_error: RwSignal::new(name_error),
            known_rooms: RwSignal::new(if data.rooms.is_empty() {
                vec![GENERAL_ROOM.to_owned()]
            } else {
                data.rooms.clone()
            }),
            mine: RwSignal::new(data.mine.clone()),
            current: RwSignal::new(room.name.to_string()),
            rooms: RwSignal::new(vec![room]),
            room_error: RwSignal::new(None),
            notice: RwSignal::new(None),
            hydrated: RwSignal::new(false),
            show_members: RwSignal::new(false),
            now: RwSignal::new(0.0),
            alerts: RwSignal::new(Alerts::Unsupported),
            found: RwSignal::new(None),
            admin: RwSignal::new(false),
            audit: RwSignal::new(None),
            target: RwSignal::new(None),
            replying: RwSignal::new(None),
            editing: RwSignal::new(None),
            uploads: RwSignal::new(Vec::new()),
            seek_pages: StoredValue::new(0),
            link: StoredValue::new(None),
            session: StoredValue::new(0),
            last_typing: StoredValue::new(0.0),
            seq: StoredValue::new(0),
            pending_join: StoredValue::new(None),
            owner: StoredValue::new(Owner::current()),
        }
    }

    /// Adds a room (its signals made under the model's owner).
    pub(super) fn add_room(&self, name: &str) {
        let room = match self.owner.get_value() {
            Some(owner) => owner.with(|| Room::new(name)),
            None => Room::new(name),
        };
        self.rooms.update(|rooms| rooms.push(room));
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

    /// Names of the joined rooms, in order (not tracked).
    pub fn room_names(&self) -> Vec<String> {
        self.rooms
            .with_untracked(|rooms| rooms.iter().map(|r| r.name.to_string()).collect())
    }

    /// *1.2*: what we know of one of our rooms (tracked).
    pub fn my_room(&self, name: &str) -> Option<MyRoom> {
        self.mine
            .with(|mine| mine.iter().find(|m| m.room == name).cloned())
    }

    /// *1.2*: true for a private room or a direct message (tracked).
    pub fn is_private(&self, name: &str) -> bool {
        self.my_room(name)
            .is_some_and(|m| m.visibility == Visibility::Private)
    }

    /// *1.2*: adds or replaces what we know of one of our rooms.
    pub(super) fn upsert_mine(&self, room: MyRoom) {
        self.mine.update(|mine| {
            mine.retain(|m| m.room != room.room);
            mine.push(room);
            mine.sort_by(|a, b| a.room.cmp(&b.room));
        });
    }

    /// A number no other upload of this page has.
    pub fn next_upload_key(&self) -> u64 {
        self.next_seq()
    }

    fn next_seq(&self) -> u64 {
        self.seq.update_value(|s| *s += 1);
        self.seq.get_value()
    }

    /// Queues a frame on the connection; false when there is none.
    pub fn send(&self, frame: ClientFrame) -> bool {
        self.link
            .get_value()
            .is_some_and(|link| link.send.run(frame))
    }
}
