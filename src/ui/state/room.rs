//! A joined room as the page holds it: its entries, our pending messages,
//! members and typing.

use crate::protocol::{member_key, ChatMessage, RoomRole};
use leptos::prelude::*;
use std::sync::Arc;

/// Most entries a room keeps in memory; older ones are dropped and can be
/// loaded again with "Load older messages".
const MAX_ENTRIES: usize = 500;

/// One line of a room's message list (nearly all of them messages: a
/// box each would only add an allocation).
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)]
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
    /// A key unique within the page: the list reuses the row of an equal
    /// key, so a message's key names its room (switching rooms showed
    /// another room's rows for equal ids).
    pub fn key(&self) -> String {
        match self {
            Entry::Message(m) => format!("{}/{}", m.room, m.id),
            Entry::Notice { seq, .. } => format!("n{seq}"),
        }
    }

    /// What its row shows that can change (*1.2*: an edit, a deletion,
    /// reactions): part of the list's key, so a changed row is drawn again.
    pub fn version(&self) -> (u64, bool, Vec<(String, u32, bool)>) {
        match self {
            Entry::Message(m) => (
                m.edited_ts.unwrap_or(0),
                m.deleted,
                m.reactions
                    .iter()
                    .map(|r| (r.emoji.clone(), r.count, r.mine))
                    .collect(),
            ),
            Entry::Notice { .. } => (0, false, Vec::new()),
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
    /// *1.2*: the message it answers.
    pub reply_to: Option<u64>,
    /// *1.2* (section 5): the files posted with it.
    pub attachments: Vec<crate::protocol::Attachment>,
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
    /// Live members known to the page, in member order ([`member_key`]):
    /// all of them, or (in a large room) the pages loaded so far.
    pub members: RwSignal<Vec<String>>,
    /// How many members the room has (1.1 `member_count`).
    pub member_count: RwSignal<usize>,
    /// True when members after the last one in `members` exist.
    pub members_more: RwSignal<bool>,
    /// True while a `members` request is out (one at a time).
    pub members_loading: StoredValue<bool>,
    /// Who is typing, and until when (ms since the epoch).
    pub typing: RwSignal<Vec<(String, f64)>>,
    /// Messages arrived while another room was in view.
    pub unread: RwSignal<u32>,
    /// True when one of the unread messages mentions us (the badge says so).
    pub mentioned: RwSignal<bool>,
    /// Where we stopped reading on an earlier visit: "New since you left"
    /// sits above the first message after this id (until the room is left
    /// from view).
    pub divider: RwSignal<Option<u64>>,
    /// The newest id we told the server we read (`read`).
    pub read_sent: StoredValue<u64>,
    /// True once the server answered a `join` of this room on this page.
    pub joined_once: StoredValue<bool>,
    /// True once the server answered `join` on the current connection.
    pub ready: RwSignal<bool>,
    /// The largest message id seen: `join` asks for what follows it.
    pub last_id: StoredValue<u64>,
    /// True when messages older than the first shown exist.
    pub has_older: RwSignal<bool>,
    /// *1.2*: its owners and moderators, for the member list's badges.
    pub staff: RwSignal<Vec<(String, RoomRole)>>,
    /// *1.2* (section 4): the room's settings (its topic shown in the
    /// header), from `joined` and `room_updated`.
    pub settings: RwSignal<crate::protocol::RoomSettings>,
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
            member_count: RwSignal::new(0),
            members_more: RwSignal::new(false),
            members_loading: StoredValue::new(false),
            typing: RwSignal::new(Vec::new()),
            unread: RwSignal::new(0),
            mentioned: RwSignal::new(false),
            divider: RwSignal::new(None),
            read_sent: StoredValue::new(0),
            joined_once: StoredValue::new(false),
            ready: RwSignal::new(false),
            last_id: StoredValue::new(0),
            has_older: RwSignal::new(false),
            staff: RwSignal::new(Vec::new()),
            settings: RwSignal::new(Default::default()),
        }
    }

    /// The first page of members and their count (`joined`, or the page).
    pub(super) fn set_members(&self, members: Vec<String>, count: usize) {
        self.members_more.set(count > members.len());
        self.member_count.set(count.max(members.len()));
        self.members.set(members);
        self.members_loading.set_value(false);
    }

    /// The next page of members (`members` reply): only names after the
    /// last one shown are taken, so a page is never shown twice.
    pub(super) fn more_members(&self, names: Vec<String>, more: bool) {
        self.members.update(|m| {
            let last = m.last().cloned();
            m.extend(names.into_iter().filter(|n| {
                last.as_deref()
                    .is_none_or(|l| member_key(n) > member_key(l))
            }));
        });
        self.members_more.set(more);
        self.members_loading.set_value(false);
    }

    /// `user` joined (`presence`): counted, and listed when the list reaches
    /// that far (a name past a partial list's end comes with a later page).
    pub(super) fn member_joined(&self, user: &str) {
        let partial = self.members_more.get_untracked();
        let mut added = false;
        self.members.update(|m| {
            match m.binary_search_by(|x| member_key(x).cmp(&member_key(user))) {
                Ok(_) => {}
                Err(at) if at < m.len() || !partial => {
                    m.insert(at, user.to_owned());
                    added = true;
                }
                Err(_) => added = true,
            }
        });
        if added {
            self.member_count.update(|c| *c += 1);
        }
    }

    /// `user` left (`presence`).
    pub(super) fn member_left(&self, user: &str) {
        self.members.update(|m| m.retain(|x| x != user));
        self.member_count.update(|c| *c = c.saturating_sub(1));
        self.typing.update(|t| t.retain(|(x, _)| x != user));
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
            self.push_live(fresh);
        }
        n
    }

    /// Appends live entries (messages, notices), keeping the newest
    /// [`MAX_ENTRIES`]: a busy room never grows the page without bound.
    pub(super) fn push_live(&self, fresh: Vec<Entry>) {
        self.entries.update(|e| {
            e.extend(fresh);
            if e.len() > MAX_ENTRIES {
                let dropped = e.drain(..e.len() - MAX_ENTRIES);
                if dropped.into_iter().any(|x| matches!(x, Entry::Message(_))) {
                    self.has_older.set(true);
                }
            }
        });
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
