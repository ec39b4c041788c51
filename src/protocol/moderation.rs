//! *1.2* (section 4): moderation: a room's settings, the audit log's
//! entries, and the bounds of what moderators may ask.

use serde::{Deserialize, Serialize};

/// Longest slow-mode interval, in seconds.
pub const MAX_SLOW_MODE_SECS: u32 = 3600;
/// Longest room topic, in characters.
pub const MAX_TOPIC_CHARS: usize = 200;
/// *Extension*: longest ban reason, in characters.
pub const MAX_REASON_CHARS: usize = 200;
/// *Extension*: longest timed ban or mute, in minutes (a year).
pub const MAX_SANCTION_MINUTES: u32 = 525_600;
/// *Extension*: audit entries in one `audit` reply.
pub const AUDIT_PAGE: usize = 50;

/// A room's settings, as `room_updated` and `joined` give them.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RoomSettings {
    /// Seconds a plain member waits between two `send`s (absent: 0, none).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub slow_mode_secs: u32,
    /// Only moderators and owners post (absent: false).
    #[serde(default, skip_serializing_if = "super::is_false")]
    pub read_only: bool,
    /// The room's topic (plain text, at most [`MAX_TOPIC_CHARS`]; absent:
    /// none).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub topic: String,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl RoomSettings {
    /// True for a room nobody changed (nothing to say in `joined`).
    pub fn is_default(&self) -> bool {
        *self == RoomSettings::default()
    }
}

/// What a moderator did, as the audit log names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuditAction {
    /// `kick`.
    Kick,
    /// `ban` (of a room, or of the server).
    Ban,
    /// `unban`.
    Unban,
    /// `mute`.
    Mute,
    /// `unmute`.
    Unmute,
    /// `room_settings`.
    RoomSettings,
    /// `purge`.
    Purge,
    /// `delete` of someone else's message.
    Delete,
}

impl AuditAction {
    /// Its name (the store's text, the wire's word).
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::Kick => "kick",
            AuditAction::Ban => "ban",
            AuditAction::Unban => "unban",
            AuditAction::Mute => "mute",
            AuditAction::Unmute => "unmute",
            AuditAction::RoomSettings => "room_settings",
            AuditAction::Purge => "purge",
            AuditAction::Delete => "delete",
        }
    }

    /// From the store's text (`None`: a newer server's action).
    pub fn parse(s: &str) -> Option<AuditAction> {
        Some(match s {
            "kick" => AuditAction::Kick,
            "ban" => AuditAction::Ban,
            "unban" => AuditAction::Unban,
            "mute" => AuditAction::Mute,
            "unmute" => AuditAction::Unmute,
            "room_settings" => AuditAction::RoomSettings,
            "purge" => AuditAction::Purge,
            "delete" => AuditAction::Delete,
            _ => return None,
        })
    }
}

/// One moderator action, as `audit` gives it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Its place in the log (`before` pages back from it).
    pub id: u64,
    /// When (ms since the epoch).
    pub ts: u64,
    /// Who did it (a display name, as it was).
    pub by: String,
    /// What.
    pub action: AuditAction,
    /// Which room (absent: the whole server).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub room: Option<String>,
    /// To whom (a display name, as it was).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The reason given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// What else: a timed sanction's minutes, a purge's count, a message
    /// id, the settings set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Checks a topic: at most [`MAX_TOPIC_CHARS`] characters, no control
/// characters (it is plain text: the page escapes it like a message).
pub fn check_topic(topic: &str) -> Result<String, super::ProtocolError> {
    let topic = topic.trim();
    if topic.chars().count() > MAX_TOPIC_CHARS || topic.chars().any(char::is_control) {
        return Err(super::ProtocolError::bad_request(&format!(
            "a topic is at most {MAX_TOPIC_CHARS} characters, on one line"
        )));
    }
    Ok(topic.to_owned())
}

/// Checks a reason: at most [`MAX_REASON_CHARS`] characters, one line.
pub fn check_reason(reason: Option<&str>) -> Result<Option<String>, super::ProtocolError> {
    let Some(reason) = reason.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(super::ProtocolError::bad_request(&format!(
            "a reason is at most {MAX_REASON_CHARS} characters, on one line"
        )));
    }
    Ok(Some(reason.to_owned()))
}

/// Checks a sanction's `minutes` (1 to [`MAX_SANCTION_MINUTES`]).
pub fn check_minutes(minutes: Option<u32>) -> Result<Option<u32>, super::ProtocolError> {
    match minutes {
        Some(m) if !(1..=MAX_SANCTION_MINUTES).contains(&m) => {
            Err(super::ProtocolError::bad_request(&format!(
                "minutes must be 1 to {MAX_SANCTION_MINUTES}"
            )))
        }
        m => Ok(m),
    }
}
