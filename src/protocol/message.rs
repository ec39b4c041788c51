//! A chat message, as every frame and read carries it.

use super::{is_false, Attachment, Reaction, ReplyTo};
use serde::{Deserialize, Serialize};

/// One chat message, as broadcast and as returned by `joined` and `history`.
///
/// *1.2*: a deleted message keeps its place as `{room, id, ts, deleted:
/// true}`: its `user`, `text` and `html` are empty, and left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// Room the message was posted to.
    pub room: String,
    /// Per-room id: 1, 2, 3, … with no gaps, never reused.
    pub id: u64,
    /// Display name of the author.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    /// Sanitized text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub text: String,
    /// `text` rendered by the server into safe HTML.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub html: String,
    /// Server time, milliseconds since the Unix epoch.
    pub ts: u64,
    /// The sender's nonce, when it gave one: on every copy (*1.1*: live,
    /// in `joined` replays and in `history`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// *1.2*: when its text was last edited (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_ts: Option<u64>,
    /// *1.2*: true when it was deleted (only `room`, `id`, `ts` remain).
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// *1.2*: its reactions, in the order they were first made.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reactions: Vec<Reaction>,
    /// *1.2*: what it answers, as that was when it was posted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<ReplyTo>,
    /// *1.2* (section 5): the files posted with it, in the order sent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
}

impl ChatMessage {
    /// The message as later reads give it once deleted.
    pub fn deleted_form(room: String, id: u64, ts: u64) -> ChatMessage {
        ChatMessage {
            room,
            id,
            ts,
            deleted: true,
            ..ChatMessage::default()
        }
    }
}
