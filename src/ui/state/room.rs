//! A joined room as the page holds it: its entries, our pending messages,
//! members and typing.

use crate::protocol::ChatMessage;
use leptos::prelude::*;
use std::sync::Arc;

/// Most entries a room keeps in memory; older ones are dropped and can be
/// loaded again with "Load older messages".
const MAX_ENTRIES: usize = 500;

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
    /// The connection ([`super::Chat::session`]) it was last sent on; `None`: not sent yet.
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
    pub(super) fn new(name: &str) -> Room {
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
    pub(super) fn append(&self, messages: Vec<ChatMessage>) -> usize {
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
    pub(super) fn first_id(&self) -> Option<u64> {
        self.entries.with_untracked(|e| {
            e.iter().find_map(|x| match x {
                Entry::Message(m) => Some(m.id),
                Entry::Notice { .. } => None,
            })
        })
    }
}
