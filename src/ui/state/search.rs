//! Search (the `search` extension) and opening a message in context: the
//! room comes into view and pages back until the message and a few before
//! it are loaded; the view then scrolls to it and marks it.

use super::Chat;
use crate::protocol::{ChatMessage, ClientFrame, ErrorCode, HISTORY_MAX_LIMIT};
use leptos::prelude::*;

/// Messages before the one opened that are loaded with it (when they exist).
const CONTEXT: u64 = 5;
/// Most history pages an opening may ask for (of `HISTORY_MAX_LIMIT`): a
/// message further back is not opened (the notice says so).
const MAX_SEEK_PAGES: u32 = 50;

/// The search panel: the query, what was found, whether more is coming.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Found {
    /// The query these results are for.
    pub query: String,
    /// The matches so far, newest first.
    pub messages: Vec<ChatMessage>,
    /// The cursor of the next page, when there is one.
    pub next: Option<String>,
    /// True while a page is asked for.
    pub loading: bool,
    /// Why the search was refused (too short, too many searches, …).
    pub error: Option<String>,
}

/// A message to show in context: its room and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// Its room.
    pub room: String,
    /// Its id.
    pub id: u64,
    /// True for a search result (marked); false for the first unread
    /// message (the divider above it shows the place).
    pub mark: bool,
}

impl Chat {
    /// Searches every room for `query`; an empty query closes the panel.
    pub fn search(&self, query: &str) {
        let query = query.trim().to_owned();
        if query.is_empty() {
            self.found.set(None);
            return;
        }
        let error = self
            .me
            .with_untracked(Option::is_none)
            .then(|| "Choose a name to search.".to_owned());
        let asked = error.is_none()
            && self.send(ClientFrame::Search {
                query: query.clone(),
                room: None,
                before: None,
                limit: None,
            });
        let error =
            error.or_else(|| (!asked).then(|| "Not connected; try again in a moment.".into()));
        self.found.set(Some(Found {
            query,
            loading: asked,
            error,
            ..Found::default()
        }));
    }

    /// "More results": the next page of the search shown.
    pub fn more_results(&self) {
        let Some((query, next)) = self.found.with_untracked(|f| {
            f.as_ref()
                .filter(|f| !f.loading)
                .and_then(|f| Some((f.query.clone(), f.next.clone()?)))
        }) else {
            return;
        };
        let asked = self.send(ClientFrame::Search {
            query,
            room: None,
            before: Some(next),
            limit: None,
        });
        if asked {
            self.found
                .update(|f| f.iter_mut().for_each(|f| f.loading = true));
        }
    }

    /// `results`: a page for the search shown (a late page of an earlier
    /// search is dropped).
    pub(super) fn on_results(&self, query: &str, messages: Vec<ChatMessage>, next: Option<String>) {
        self.found.update(|found| {
            if let Some(f) = found.as_mut().filter(|f| f.loading && f.query == query) {
                f.messages.extend(messages);
                f.next = next;
                f.loading = false;
                f.error = None;
            }
        });
    }

    /// An error while a search page was asked for is that search's.
    pub(super) fn search_error(&self, code: ErrorCode, message: &str) -> bool {
        let searching = self
            .found
            .with_untracked(|f| f.as_ref().is_some_and(|f| f.loading));
        let ours = matches!(
            code,
            ErrorCode::BadRequest | ErrorCode::RateLimited | ErrorCode::Unavailable
        );
        if searching && ours {
            self.found.update(|f| {
                if let Some(f) = f.as_mut() {
                    f.loading = false;
                    f.error = Some(message.to_owned());
                }
            });
        }
        searching && ours
    }

    /// Opens a message in context: its room in view (joined if need be),
    /// older pages loaded until it is there, then scrolled to and marked.
    pub fn open_message(&self, room: &str, id: u64) {
        if self.room(room).is_some() {
            self.switch(room);
        } else if !self.join(room) {
            return;
        }
        self.show_in_context(room, id, true);
    }

    /// Scrolls `room` (in view) to message `id`, loading older pages first.
    fn show_in_context(&self, room: &str, id: u64, mark: bool) {
        self.target.set(Some(Target {
            room: room.to_owned(),
            id,
            mark,
        }));
        self.seek_pages.set_value(0);
        self.seek();
    }

    /// The first `joined` of a room on this page, with where we stopped
    /// reading it (`last_read`): when newer messages exist, the divider
    /// goes above the first, and a room in view opens there.
    pub(super) fn left_off(&self, room: &str, last_read: Option<u64>) {
        let Some(r) = self.room(room) else { return };
        if r.joined_once.get_value() {
            return;
        }
        r.joined_once.set_value(true);
        let Some(read) = last_read else { return };
        r.read_sent.set_value(read);
        if r.last_id.get_value() <= read {
            return;
        }
        r.divider.set(Some(read));
        if self.current.get_untracked() == room {
            self.show_in_context(room, read + 1, false);
        }
    }

    /// Tells the server we read the room in view up to its newest message
    /// (called every second while the page is visible; only a change is sent).
    pub fn mark_read(&self) {
        let Some(r) = self.room(&self.current.get_untracked()) else {
            return;
        };
        let newest = r.last_id.get_value();
        if r.ready.get_untracked() && newest > r.read_sent.get_value() {
            let room = r.name.to_string();
            if self.send(ClientFrame::Read { room, id: newest }) {
                r.read_sent.set_value(newest);
            }
        }
    }

    /// Asks for the page before the oldest shown while the target (and
    /// [`CONTEXT`] before it) is not loaded yet; called again by each
    /// `joined` and `history` of its room.
    pub(super) fn seek(&self) {
        let Some(Target { room, id, .. }) = self.target.get_untracked() else {
            return;
        };
        let Some(r) = self.room(&room).filter(|r| r.ready.get_untracked()) else {
            return;
        };
        let Some(first) = r.first_id() else { return };
        // Loaded, or nothing older is left (a message past retention).
        if first <= id.saturating_sub(CONTEXT).max(1) || !r.has_older.get_untracked() {
            return;
        }
        if self.seek_pages.get_value() >= MAX_SEEK_PAGES {
            self.notice
                .set(Some("That message is too far back to open here.".into()));
            self.target.set(None);
            return;
        }
        self.seek_pages.update_value(|n| *n += 1);
        self.send(ClientFrame::History {
            room,
            before: Some(first),
            limit: Some(i64::from(HISTORY_MAX_LIMIT)),
        });
    }
}
