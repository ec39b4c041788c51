//! Wire protocol v1 with the 1.1 additions: the one definition of every
//! frame, shared by the server and the browser, plus the validation rules
//! both sides apply.
//!
//! The contract is `README.md` § Protocol (the project's copy of
//! `shared/protocol-v1.md` and `shared/protocol-v1.1.md`; 1.1 parts are
//! marked *1.1*). Every frame is a JSON object with a `type` field.
//! Compatible extensions made here are marked *extension* and documented in
//! the README.

use serde::{Deserialize, Serialize};

mod changes;
mod client;
mod error;
mod files;
mod message;
mod moderation;
mod read;

pub use client::ClientFrame;
pub use error::{ErrorCode, ProtocolError};
pub use files::{Attachment, MAX_ATTACHMENTS, MAX_FILE_NAME_CHARS};
pub use message::ChatMessage;

#[cfg(feature = "ssr")]
pub use changes::validate_emoji;
pub use changes::{
    apply_reaction, excerpt, Reaction, ReplyTo, MAX_EMOJI_BYTES, MAX_REACTIONS, REPLY_EXCERPT_CHARS,
};
pub use moderation::{
    check_minutes, check_reason, check_topic, AuditAction, AuditEntry, RoomSettings, AUDIT_PAGE,
    MAX_REASON_CHARS, MAX_SANCTION_MINUTES, MAX_SLOW_MODE_SECS, MAX_TOPIC_CHARS,
};

/// Largest WebSocket frame or message the server accepts (16 KiB); larger
/// frames close the connection with code 1009.
pub const MAX_FRAME_BYTES: usize = 16 * 1024;
/// Longest display name, in characters, after trimming.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest message text, in characters, after sanitizing.
pub const MAX_TEXT_CHARS: usize = 2000;
/// *1.1*: the longest `nonce` a `send` may carry, in characters.
pub const MAX_NONCE_CHARS: usize = 128;
/// Longest room name, in bytes (room names are ASCII).
pub const MAX_ROOM_LEN: usize = 32;
/// `history` `limit` when the client gives none.
pub const HISTORY_DEFAULT_LIMIT: u32 = 50;
/// Largest `history` `limit`.
pub const HISTORY_MAX_LIMIT: u32 = 100;
/// `members` `limit` when the client gives none (*1.1*).
pub const MEMBERS_DEFAULT_LIMIT: u32 = 100;
/// Largest `members` `limit` (*1.1*).
pub const MEMBERS_MAX_LIMIT: u32 = 500;
/// *Extension*: `search` `limit` when the client gives none.
pub const SEARCH_DEFAULT_LIMIT: u32 = 20;
/// *Extension*: largest `search` `limit`.
pub const SEARCH_MAX_LIMIT: u32 = 50;
/// *Extension*: longest `search` query, in characters.
pub const MAX_QUERY_CHARS: usize = 200;
/// *1.2*: most owners and moderators a `joined` lists.
pub const MAX_STAFF_LISTED: usize = 50;
/// The room that always exists.
pub const GENERAL_ROOM: &str = "general";
/// *1.2*: the first character of a direct-message room's name (no one can
/// type it as a room name).
pub const DM_PREFIX: char = '@';

/// Close code for a server shutting down (RFC 6455 "going away").
pub const CLOSE_GOING_AWAY: u16 = 1001;
/// Close code for a frame over [`MAX_FRAME_BYTES`] (RFC 6455 "message too big").
pub const CLOSE_TOO_BIG: u16 = 1009;
/// Close code sent when a newer connection reclaims this identity with its token (*extension*).
pub const CLOSE_REPLACED: u16 = 4000;
/// The server could not read what a reply needed (a store failure):
/// reconnect and resume with `after` (1011, "internal error").
pub const CLOSE_STORE_FAILED: u16 = 1011;
/// Close code sent to a client whose outbound queue overflowed (*extension*).
pub const CLOSE_TOO_SLOW: u16 = 4001;
/// Close code sent to a client that stopped answering pings (*extension*).
pub const CLOSE_PING_TIMEOUT: u16 = 4002;
/// Close code sent to a connection not welcomed within the hello timeout
/// (10 s) of opening (*extension*).
pub const CLOSE_HELLO_TIMEOUT: u16 = 4003;
/// *1.2*: close code when the connection's session ended (signed out,
/// signed out everywhere, or the password changed).
pub const CLOSE_SESSION_ENDED: u16 = 4004;
/// *1.2*: close code when an admin banned the identity from the server.
pub const CLOSE_BANNED: u16 = 4005;

/// *1.2*: who may see a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Everyone (as every room in version 1).
    Public,
    /// Its members and the identities invited to it; nobody else.
    Private,
}

/// *1.2*: a member's role in a room, weakest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoomRole {
    /// Reads and posts.
    Member,
    /// Also invites (and, later, moderates).
    Moderator,
    /// Also changes roles; the creator.
    Owner,
}

impl RoomRole {
    /// Its name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            RoomRole::Member => "member",
            RoomRole::Moderator => "moderator",
            RoomRole::Owner => "owner",
        }
    }
}

/// *Extension* (1.2): a room this identity belongs to or is invited to, as
/// `welcome` lists it (`mine`) and an `invited` frame implies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MyRoom {
    /// Room name.
    pub room: String,
    /// Who may see it.
    pub visibility: Visibility,
    /// The identity's role; absent while only invited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RoomRole>,
    /// A direct message's other person (their display name now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dm: Option<String>,
}

/// A user as the server describes it in `welcome`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Stable opaque id of the identity (kept across reconnects with the token).
    pub id: String,
    /// Current display name.
    pub name: String,
    /// *1.2*: true when the identity is an account (signed in).
    #[serde(default)]
    pub account: bool,
    /// *1.2*: `admin`, `user`, or `guest` (no account).
    #[serde(default = "guest")]
    pub role: String,
}

/// The role of an identity with no account.
fn guest() -> String {
    "guest".to_owned()
}

/// `presence` state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PresenceState {
    /// The user joined the room.
    Joined,
    /// The user left the room (or disconnected).
    Left,
}

/// A frame from the server to a client.
///
/// Written in serde's internally tagged form; read back by a hand-written
/// `Deserialize` (through one flat struct, which is far smaller in WASM than
/// serde's derived reader for tagged enums) to the same value.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerFrame {
    /// Reply to `hello`.
    Welcome {
        /// The identity.
        user: UserInfo,
        /// Secret that reclaims the identity on a later `hello`.
        token: String,
        /// Rooms that exist: every one while there are at most
        /// `CHAT_WELCOME_ROOMS` (100), else that many with the most recent
        /// activity (*extension*: `rooms` pages through all of them).
        /// Sorted by name. *1.2*: public rooms, and the private rooms one
        /// is a member of or invited to.
        rooms: Vec<String>,
        /// *Extension* (1.2): every room this identity belongs to or is
        /// invited to, by name: its sidebar on every device.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        mine: Vec<MyRoom>,
    },
    /// Reply to `join`.
    Joined {
        /// Room name.
        room: String,
        /// Display names of the members in member order, the joiner
        /// included: all of them, or (*1.1*) the first page when there are
        /// more than the member page size.
        members: Vec<String>,
        /// *1.1*: how many members the room has, the joiner included.
        member_count: usize,
        /// Recent messages (or those after `after`), oldest first.
        messages: Vec<ChatMessage>,
        /// *Extension*: true when `after` asked for more than the replay cap
        /// and older messages were left out (use `history` to page back).
        #[serde(default, skip_serializing_if = "is_false")]
        missed: bool,
        /// *Extension*: the newest id this identity said it read here
        /// (`read`), on the connection's first `join` of the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        last_read: Option<u64>,
        /// *1.2*: the joiner's role in the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        role: Option<RoomRole>,
        /// *1.2*: who may see the room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        visibility: Option<Visibility>,
        /// *Extension* (1.2): a direct message's other person (their name).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        dm: Option<String>,
        /// *Extension* (1.2): the room's owners and moderators (at most
        /// [`MAX_STAFF_LISTED`]), as `[name, role]`, for the member list's
        /// badges; `role` frames follow changes.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        staff: Vec<(String, RoomRole)>,
        /// *1.2* (section 4): the room's settings (fields at their default
        /// are left out).
        #[serde(flatten)]
        settings: RoomSettings,
    },
    /// *1.2*: this identity may now join `room` (an invitation, or a direct
    /// message someone started).
    Invited {
        /// Room name.
        room: String,
        /// Who invited (a display name).
        by: String,
        /// True for a direct message (already a member).
        #[serde(default, skip_serializing_if = "is_false")]
        dm: bool,
        /// *Extension*: in the inviter's own copy (its answer), whom it
        /// invited; absent in the invitation itself.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        user: Option<String>,
    },
    /// *Extension* (1.2): a member's role changed (`set_role`), to the
    /// room's members and the one who asked.
    Role {
        /// Room name.
        room: String,
        /// Whose (a display name).
        user: String,
        /// The role now.
        role: RoomRole,
    },
    /// Reply to `leave`.
    Left {
        /// Room name.
        room: String,
        /// *1.2*: why, when the server made the connection leave:
        /// `kicked` or `banned` (absent for a `leave`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// *1.2*: a room's settings changed (to its members and watchers).
    RoomUpdated {
        /// Room name.
        room: String,
        /// The settings now (a field left out has its default).
        #[serde(flatten)]
        settings: RoomSettings,
    },
    /// *1.2*: reply to `audit`: newest first.
    Audit {
        /// The entries.
        entries: Vec<AuditEntry>,
        /// True when older entries remain (ask with `before`).
        more: bool,
    },
    /// *Extension* (1.2): a moderator's request was carried out: the
    /// asker's answer to `kick`, `ban`, `unban`, `mute`, `unmute`, `purge`.
    Moderated {
        /// What was done.
        action: AuditAction,
        /// Room name (absent: the server).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// To whom (a display name).
        user: String,
        /// A purge's count of messages deleted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u64>,
    },
    /// *1.1*: reply to `watch`; the room's messages follow live.
    Watching {
        /// Room name.
        room: String,
        /// Recent messages (as in `joined`), oldest first.
        messages: Vec<ChatMessage>,
        /// How many members the room has (watchers are not members).
        member_count: usize,
    },
    /// *1.1*: reply to `unwatch`.
    Unwatched {
        /// Room name.
        room: String,
    },
    /// A chat message.
    Message(ChatMessage),
    /// *1.2*: a message's text was edited.
    Edited {
        /// Room name.
        room: String,
        /// The message's id.
        id: u64,
        /// The new text.
        text: String,
        /// It rendered into safe HTML.
        html: String,
        /// When (ms since the epoch).
        edited_ts: u64,
    },
    /// *1.2*: a message was deleted.
    Deleted {
        /// Room name.
        room: String,
        /// The message's id.
        id: u64,
    },
    /// *1.2*: someone reacted to a message, or took a reaction back.
    Reaction {
        /// Room name.
        room: String,
        /// The message's id.
        id: u64,
        /// The emoji.
        emoji: String,
        /// Who (a display name).
        user: String,
        /// True: added; false: taken back.
        on: bool,
        /// *Extension*: how many reactions with this emoji the message has
        /// now (so a frame seen twice changes nothing).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        count: Option<u32>,
    },
    /// Another member joined or left.
    Presence {
        /// Room name.
        room: String,
        /// Display name.
        user: String,
        /// Joined or left.
        state: PresenceState,
    },
    /// Another member is typing.
    Typing {
        /// Room name.
        room: String,
        /// Display name.
        user: String,
    },
    /// Reply to `history`.
    History {
        /// Room name.
        room: String,
        /// The page, oldest first.
        messages: Vec<ChatMessage>,
    },
    /// *1.1*: reply to `members`.
    Members {
        /// Room name.
        room: String,
        /// The page of names, in member order.
        names: Vec<String>,
        /// True when names follow the last one.
        more: bool,
    },
    /// *Extension*: reply to `rooms`.
    Rooms {
        /// The page of room names, sorted.
        rooms: Vec<String>,
        /// True when rooms follow the last one.
        more: bool,
    },
    /// *1.1*: the member count of a room above the presence threshold
    /// (instead of `presence`), at most once a second and only on change.
    MemberCount {
        /// Room name.
        room: String,
        /// Members now.
        count: usize,
    },
    /// *Extension*: reply to `search`.
    Results {
        /// The query, as asked.
        query: String,
        /// The page of matching messages, newest first.
        messages: Vec<ChatMessage>,
        /// Pass as `before` for the next (older) page; absent on the last.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    /// Reply to `ping`.
    Pong,
    /// A request was refused.
    Error {
        /// Machine-readable reason.
        code: ErrorCode,
        /// Human-readable reason.
        message: String,
        /// The refused request's nonce.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
        /// *1.2*: for `slow_mode`, how long until a `send` is accepted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_ms: Option<u64>,
    },
}

pub(crate) fn is_false(b: &bool) -> bool {
    !*b
}

impl ServerFrame {
    /// Serializes the frame to its JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server frames always serialize")
    }
}

/// Validates a display name: trimmed, 1..=32 characters, no control characters.
/// Returns the trimmed name.
pub fn validate_name(raw: &str) -> Result<&str, ProtocolError> {
    let name = raw.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > MAX_NAME_CHARS {
        return Err(ProtocolError::new(
            ErrorCode::BadName,
            format!("a name is 1 to {MAX_NAME_CHARS} characters"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ProtocolError::new(
            ErrorCode::BadName,
            "a name cannot contain control characters",
        ));
    }
    Ok(name)
}

/// *1.1*: checks a `send`'s nonce: at most [`MAX_NONCE_CHARS`] characters,
/// none of them a control character.
/// An empty nonce counts as none.
pub fn validate_nonce(nonce: Option<&str>) -> Result<Option<&str>, ProtocolError> {
    match nonce {
        Some(n) if n.chars().count() > MAX_NONCE_CHARS => Err(ProtocolError::bad_request(
            &format!("a nonce is at most {MAX_NONCE_CHARS} characters"),
        )),
        Some(n) if n.chars().any(char::is_control) => Err(ProtocolError::bad_request(
            "a nonce has no control characters",
        )),
        Some("") | None => Ok(None),
        Some(n) => Ok(Some(n)),
    }
}

/// *1.1*: a name's place in member order: case-insensitive, then exact.
/// Sorting by this key (or comparing two keys) gives the server's order.
pub fn member_key(name: &str) -> (String, &str) {
    (name.to_lowercase(), name)
}

/// True when `room` matches `^[a-z0-9][a-z0-9_-]{0,31}$`.
pub fn is_valid_room(room: &str) -> bool {
    let bytes = room.as_bytes();
    let first_ok = matches!(bytes.first(), Some(b'a'..=b'z' | b'0'..=b'9'));
    first_ok
        && bytes.len() <= MAX_ROOM_LEN
        && bytes[1..]
            .iter()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
}

/// *1.2*: true for the name of a direct-message room: [`DM_PREFIX`] and 1
/// to 31 of `a-z0-9` (made by the server, never typed).
pub fn is_dm_room(room: &str) -> bool {
    room.strip_prefix(DM_PREFIX).is_some_and(|rest| {
        !rest.is_empty()
            && rest.len() < MAX_ROOM_LEN
            && rest.bytes().all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9'))
    })
}

/// *1.2*: checks the name of a room a request refers to: a room name
/// ([`validate_room`]) or a direct message's ([`is_dm_room`]).
pub fn validate_room_ref(room: &str) -> Result<(), ProtocolError> {
    if is_dm_room(room) {
        return Ok(());
    }
    validate_room(room)
}

/// Checks a room name, as [`is_valid_room`], with the `bad_room` error.
pub fn validate_room(room: &str) -> Result<(), ProtocolError> {
    if is_valid_room(room) {
        Ok(())
    } else {
        Err(ProtocolError::new(
            ErrorCode::BadRoom,
            "a room name is 1 to 32 of a-z, 0-9, '_' and '-', starting with a letter or digit",
        ))
    }
}

/// Sanitizes message text: removes control characters other than newline and
/// tab, trims surrounding whitespace, and checks 1..=2000 characters.
pub fn sanitize_text(raw: &str) -> Result<String, ProtocolError> {
    let kept: String = raw
        .chars()
        .filter(|&c| c == '\n' || c == '\t' || !c.is_control())
        .collect();
    let text = kept.trim();
    let chars = text.chars().count();
    if chars == 0 || chars > MAX_TEXT_CHARS {
        return Err(ProtocolError::new(
            ErrorCode::BadText,
            format!("a message is 1 to {MAX_TEXT_CHARS} characters"),
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests;
