//! The history store: the seam between the hub and where messages live.
//!
//! The hub asks the store to assign ids and keep messages; the store is the
//! single authority on per-room ids (1, 2, 3, …, never reused). The default
//! implementation today is [`memory::MemoryStore`].

pub mod memory;

use crate::protocol::ChatMessage;
use std::fmt;

/// A message accepted by the hub, before the store gives it an id.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Room name (already validated).
    pub room: String,
    /// Author's display name.
    pub user: String,
    /// Sanitized text.
    pub text: String,
    /// Rendered safe HTML.
    pub html: String,
    /// Server time in ms since the Unix epoch.
    pub ts: u64,
}

/// A replay for `join` with `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// The messages after the requested id, oldest first.
    pub messages: Vec<ChatMessage>,
    /// True when some messages after the requested id are not included
    /// (beyond the replay cap, or no longer kept).
    pub missed: bool,
}

/// Why the store could not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The backing storage failed; the operation had no effect.
    Unavailable(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "store unavailable: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Where rooms and messages are kept. Called only from the hub task.
pub trait HistoryStore: Send + 'static {
    /// Every known room, sorted by name.
    fn rooms(&self) -> Vec<String>;
    /// Makes sure `room` exists.
    fn ensure_room(&mut self, room: &str) -> Result<(), StoreError>;
    /// Keeps a message and returns it with its new id (no nonce).
    fn append(&mut self, msg: NewMessage) -> Result<ChatMessage, StoreError>;
    /// The newest `limit` messages of `room`, oldest first.
    fn recent(&self, room: &str, limit: usize) -> Result<Vec<ChatMessage>, StoreError>;
    /// The messages of `room` with an id larger than `after`, oldest first,
    /// at most `cap` of them (the newest ones when there are more).
    fn after(&self, room: &str, after: u64, cap: usize) -> Result<Replay, StoreError>;
    /// Up to `limit` messages with an id smaller than `before` (or the newest
    /// when `before` is `None`), oldest first.
    fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ChatMessage>, StoreError>;
}
