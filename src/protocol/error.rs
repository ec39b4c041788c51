//! Refusals: the `error` frame's codes, and the error every check returns.

use super::{ServerFrame, MAX_NONCE_CHARS};
use serde::{Deserialize, Serialize};

/// Error codes of `error` frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// A frame other than `hello`/`ping` before a successful `hello`.
    HelloRequired,
    /// The name is empty, too long or has control characters.
    BadName,
    /// Another live connection holds the name.
    NameTaken,
    /// The room name does not match `^[a-z0-9][a-z0-9_-]{0,31}$`.
    BadRoom,
    /// The text is empty or longer than 2000 characters after sanitizing.
    BadText,
    /// The room is not joined on this connection.
    NotInRoom,
    /// Not JSON, unknown type, missing field, bad `limit`, binary frame.
    BadRequest,
    /// Too many `send` frames.
    RateLimited,
    /// *Extension*: the connection already joined the maximum number of rooms.
    TooManyRooms,
    /// *1.1*: `watch` (or a form post, a page) names a room that does not exist.
    NoSuchRoom,
    /// *Extension*: the server could not store the message; nothing was posted.
    Unavailable,
    /// *1.2*: the server takes no guests (`CHAT_GUESTS=off`): sign in first.
    AccountRequired,
    /// *1.2*: not allowed (a plain member's `invite`, an API token
    /// limited to other rooms).
    Forbidden,
    /// *1.2*: `create` of a name a room (perhaps a private one) has.
    RoomExists,
    /// *1.2*: banned from this room, or from the server.
    Banned,
    /// *1.2*: muted in this room for now.
    Muted,
    /// *1.2*: within the room's slow-mode interval (`retry_after_ms`).
    SlowMode,
    /// *1.2*: only moderators and owners post in this room.
    ReadOnly,
}

impl ErrorCode {
    /// Its name on the wire (`bad_text`, …), as serde writes it.
    pub fn name(self) -> String {
        serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default()
    }
}

/// A refused request: the `error` frame to send back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError {
    /// The code.
    pub code: ErrorCode,
    /// Human-readable explanation.
    pub message: String,
    /// The request's nonce.
    pub nonce: Option<String>,
    /// *1.2*: `slow_mode`'s wait.
    pub retry_after_ms: Option<u64>,
}

impl ProtocolError {
    /// An error without a nonce.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            code,
            message: message.into(),
            nonce: None,
            retry_after_ms: None,
        }
    }

    /// *1.2* `banned`, from `room` (`None`: the server).
    pub fn banned(room: Option<&str>) -> Self {
        match room {
            Some(room) => Self::new(ErrorCode::Banned, format!("you are banned from {room:?}")),
            None => Self::new(ErrorCode::Banned, "you are banned from this server"),
        }
    }

    /// *1.2* `muted` in `room`.
    pub fn muted(room: &str) -> Self {
        Self::new(
            ErrorCode::Muted,
            format!("you are muted in {room:?} for now: you may read but not post"),
        )
    }

    /// *1.2* `read_only`: only moderators and owners post in `room`.
    pub fn read_only(room: &str) -> Self {
        Self::new(
            ErrorCode::ReadOnly,
            format!("{room:?} is read-only: only its moderators and owners post"),
        )
    }

    /// *1.2* `slow_mode`: the next `send` in `room` is allowed in `wait_ms`.
    pub fn slow_mode(room: &str, secs: u32, wait_ms: u64) -> Self {
        let mut e = Self::new(
            ErrorCode::SlowMode,
            format!("{room:?} is in slow mode: one message every {secs} s"),
        );
        e.retry_after_ms = Some(wait_ms);
        e
    }

    /// *1.2* `forbidden`, saying why.
    pub fn forbidden(why: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, why)
    }

    /// *1.2* `account_required`: guests are off; sign in first.
    pub fn account_required() -> Self {
        Self::new(
            ErrorCode::AccountRequired,
            "this chat is for signed-in accounts: sign in or make an account first",
        )
    }

    /// `name_taken`: someone else holds `name`.
    pub fn name_taken(name: &str) -> Self {
        Self::new(ErrorCode::NameTaken, format!("the name {name:?} is in use"))
    }

    /// `rate_limited`, saying the limit.
    pub fn rate_limited(rate: f64, burst: f64) -> Self {
        Self::new(
            ErrorCode::RateLimited,
            format!("slow down: at most {rate} messages a second (bursts of {burst})"),
        )
    }

    /// `rate_limited` for new identities from one address.
    pub fn rate_limited_new_names(per_min: f64, burst: f64, whence: &str) -> Self {
        Self::new(
            ErrorCode::RateLimited,
            format!(
                "too many new names {whence}: at most {per_min} a minute (bursts of {burst}); \
                 use your existing name, or try again later"
            ),
        )
    }

    /// `no_such_room` (*1.1*) for a well-formed name that no room has.
    pub fn no_such_room(room: &str) -> Self {
        Self::new(ErrorCode::NoSuchRoom, format!("there is no room {room:?}"))
    }

    /// *1.2* `room_exists`: `create` of a name in use.
    pub fn room_exists(room: &str) -> Self {
        Self::new(
            ErrorCode::RoomExists,
            format!("there is already a room {room:?}"),
        )
    }

    /// `not_in_room`: the room is not joined on this connection.
    pub fn not_in_room(room: &str) -> Self {
        Self::new(ErrorCode::NotInRoom, format!("join {room:?} first"))
    }

    /// `hello_required`: anything but `hello` or `ping` before a name.
    pub fn hello_required() -> Self {
        Self::new(ErrorCode::HelloRequired, "say hello with a name first")
    }

    /// `too_many_rooms` for a connection at its cap of `max` rooms.
    pub fn too_many_rooms(max: usize) -> Self {
        Self::new(
            ErrorCode::TooManyRooms,
            format!("a connection can join at most {max} rooms"),
        )
    }

    /// `too_many_rooms` for a server at its cap of rooms in all.
    pub fn no_more_rooms() -> Self {
        Self::new(
            ErrorCode::TooManyRooms,
            "the server has no room for more rooms",
        )
    }

    /// `unavailable`, saying why.
    pub fn unavailable(why: &str) -> Self {
        Self::new(ErrorCode::Unavailable, why)
    }

    /// `bad_request`, saying why.
    pub fn bad_request(why: &str) -> Self {
        Self::new(ErrorCode::BadRequest, why)
    }

    /// The same error carrying the request's nonce.
    pub fn with_nonce(mut self, nonce: Option<&str>) -> Self {
        self.nonce = nonce.map(str::to_owned);
        self
    }

    /// The `error` frame. Its nonce echoes at most [`MAX_NONCE_CHARS`]
    /// characters of the request's (a refused nonce may be longer), so an
    /// error is small whatever was sent.
    pub fn into_frame(self) -> ServerFrame {
        ServerFrame::Error {
            code: self.code,
            message: self.message,
            nonce: self
                .nonce
                .map(|n| n.chars().take(MAX_NONCE_CHARS).collect()),
            retry_after_ms: self.retry_after_ms,
        }
    }
}
