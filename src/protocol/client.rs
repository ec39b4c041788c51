//! Frames from a client to the server, and how one is read.

use super::{
    ErrorCode, ProtocolError, RoomRole, Visibility, HISTORY_MAX_LIMIT, MEMBERS_MAX_LIMIT,
    SEARCH_MAX_LIMIT,
};
use serde::{Deserialize, Serialize};

/// A frame from a client to the server.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientFrame {
    /// Claim a display name, or reclaim an identity with an earlier token.
    Hello {
        /// The display name wanted. *1.2*: a signed-in connection may leave
        /// it out (or empty): the account's name is used. Without a session
        /// it is needed (`bad_request` when missing, as in 1.0).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// The token of an earlier `welcome`, to reclaim that identity.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        token: Option<String>,
    },
    /// Join (and if need be create) a room.
    Join {
        /// Room name.
        room: String,
        /// Replay every message with an id larger than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<u64>,
    },
    /// Leave a room.
    Leave {
        /// Room name.
        room: String,
    },
    /// Post a message to a joined room.
    Send {
        /// Room name.
        room: String,
        /// The text as typed.
        text: String,
        /// Client-chosen correlation string, echoed on the message and on errors.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        nonce: Option<String>,
        /// *1.2*: the id of the message (same room) this one answers.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reply_to: Option<u64>,
        /// *1.2* (section 5): upload ids (at most
        /// [`MAX_ATTACHMENTS`](super::MAX_ATTACHMENTS), the sender's own,
        /// not posted before).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        attachments: Vec<String>,
    },
    /// *1.2*: change the text of one's own message.
    Edit {
        /// Room name.
        room: String,
        /// The message's id.
        id: u64,
        /// The new text (checked as `send`'s).
        text: String,
    },
    /// *1.2*: delete a message (one's own; a moderator's or owner's: any).
    Delete {
        /// Room name.
        room: String,
        /// The message's id.
        id: u64,
    },
    /// *1.2*: react to a message with an emoji.
    React {
        /// Room name.
        room: String,
        /// The message's id.
        id: u64,
        /// One emoji.
        emoji: String,
    },
    /// *1.2*: take one's reaction back.
    Unreact {
        /// Room name.
        room: String,
        /// The message's id.
        id: u64,
        /// The emoji.
        emoji: String,
    },
    /// The user is typing in a joined room.
    Typing {
        /// Room name.
        room: String,
    },
    /// Scroll-back in a joined room.
    History {
        /// Room name.
        room: String,
        /// Only messages with an id smaller than this.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
        /// How many messages, 1..=100 (default 50).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// *1.1*: the next page of a joined room's members, in member order
    /// (case-insensitive, then exact).
    Members {
        /// Room name.
        room: String,
        /// Only names strictly after this one in member order.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// How many names, 1..=500 (default 100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// *Extension*: a page of the rooms that exist, by name (`welcome`
    /// lists only the most active).
    Rooms {
        /// Only rooms whose names sort strictly after this one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        after: Option<String>,
        /// How many names, 1..=500 (default 100).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// *1.1*: receive a room's messages live without a name or membership
    /// (allowed before `hello`).
    Watch {
        /// Room name.
        room: String,
    },
    /// *1.1*: stop watching a room.
    Unwatch {
        /// Room name.
        room: String,
    },
    /// *Extension*: this identity has read `room` up to `id` (kept for its
    /// next visit: `joined`'s `last_read`). No reply.
    Read {
        /// Room name (joined).
        room: String,
        /// The newest id read.
        id: u64,
    },
    /// *Extension*: full-text search of the messages of every room (or
    /// one), newest first; answered with `results`.
    Search {
        /// The words to find (1 to 200 characters; at least one word).
        query: String,
        /// Only this room.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// The `next` of the previous page, for the one after it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
        /// How many messages, 1..=50 (default 20).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<i64>,
    },
    /// *1.2*: create a room, public or private; the creator is its owner.
    Create {
        /// Room name.
        room: String,
        /// Who may see it.
        visibility: Visibility,
    },
    /// *1.2*: let `user` (a display name) join a private room.
    Invite {
        /// Room name.
        room: String,
        /// Whom.
        user: String,
    },
    /// *1.2*: change a member's role (the owner's request).
    SetRole {
        /// Room name.
        room: String,
        /// Whose (a display name).
        user: String,
        /// The new role.
        role: RoomRole,
    },
    /// *1.2*: the direct-message room of this identity and `user`.
    Dm {
        /// The other person (a display name).
        user: String,
    },
    /// *1.2* (section 4): `user` leaves the room at once (a moderator's,
    /// owner's or admin's request; so are the ones below).
    Kick {
        /// Room name.
        room: String,
        /// Whom (a display name).
        user: String,
    },
    /// *1.2*: as `kick`, and `user` may not come back until the ban ends;
    /// without `room`, an admin's ban from the whole server.
    Ban {
        /// Room name (absent: the server).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Whom (a display name).
        user: String,
        /// How long (absent: until `unban`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        minutes: Option<u32>,
        /// Why (shown in the audit log).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<String>,
    },
    /// *1.2*: ends a ban.
    Unban {
        /// Room name (absent: the server).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Whom (a display name).
        user: String,
    },
    /// *1.2*: `user` may read but not post, react or type for `minutes`.
    Mute {
        /// Room name.
        room: String,
        /// Whom (a display name).
        user: String,
        /// How long.
        minutes: u32,
    },
    /// *1.2*: ends a mute.
    Unmute {
        /// Room name.
        room: String,
        /// Whom (a display name).
        user: String,
    },
    /// *1.2*: change a room's settings (each one given).
    RoomSettings {
        /// Room name.
        room: String,
        /// Slow mode, 0..=3600 seconds (0: off).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        slow_mode_secs: Option<u32>,
        /// Read-only: only moderators and owners post.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        read_only: Option<bool>,
        /// The topic (empty: none).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<String>,
    },
    /// *1.2*: delete every message of `user` in the room.
    Purge {
        /// Room name.
        room: String,
        /// Whose (a display name).
        user: String,
    },
    /// *1.2*: a page of the audit log, newest first.
    Audit {
        /// Only this room (absent: every room; admins only).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        room: Option<String>,
        /// Entries older than this id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<u64>,
    },
    /// Application-level heartbeat.
    Ping,
}

impl ClientFrame {
    /// Parses one text frame. Structural problems (not JSON, unknown `type`,
    /// missing or mistyped field, `limit` out of range) are `bad_request`.
    pub fn parse(text: &str) -> Result<ClientFrame, ProtocolError> {
        let frame: ClientFrame = serde_json::from_str(text).map_err(|e| ProtocolError {
            code: ErrorCode::BadRequest,
            message: format!("malformed frame: {e}"),
            nonce: nonce_of(text),
            retry_after_ms: None,
        })?;
        let (limit, max, what) = match &frame {
            ClientFrame::History { limit, .. } => (limit, HISTORY_MAX_LIMIT, "history"),
            ClientFrame::Members { limit, .. } => (limit, MEMBERS_MAX_LIMIT, "members"),
            ClientFrame::Rooms { limit, .. } => (limit, MEMBERS_MAX_LIMIT, "rooms"),
            ClientFrame::Search { limit, .. } => (limit, SEARCH_MAX_LIMIT, "search"),
            _ => return Ok(frame),
        };
        match limit {
            Some(limit) if !(1..=i64::from(max)).contains(limit) => Err(ProtocolError::new(
                ErrorCode::BadRequest,
                format!("{what} limit must be 1 to {max}"),
            )),
            _ => Ok(frame),
        }
    }

    /// The `nonce` this request carries, if any.
    pub fn nonce(&self) -> Option<&str> {
        match self {
            ClientFrame::Send { nonce, .. } => nonce.as_deref(),
            _ => None,
        }
    }
}

/// Best effort: the string `nonce` of a frame that failed to parse as a request.
fn nonce_of(text: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct NonceOnly {
        nonce: Option<String>,
    }
    serde_json::from_str::<NonceOnly>(text).ok()?.nonce
}
