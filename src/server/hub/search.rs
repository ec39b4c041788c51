//! `search` (*extension*): full-text search of the stored messages of
//! every room or one ([`crate::store::search`]), paged newest first, with a
//! rate limit of its own (each search reads the index).

use super::rooms::json_bound;
use super::{ConnId, Hub};
use crate::protocol::{
    validate_room, ErrorCode, ProtocolError, ServerFrame, MAX_QUERY_CHARS, SEARCH_DEFAULT_LIMIT,
};
use crate::store::search::{terms, Cursor, Search};

/// What a client asks: the `search` frame's fields.
pub(super) struct Asked {
    /// The words.
    pub(super) query: String,
    /// Only this room.
    pub(super) room: Option<String>,
    /// The previous page's `next`.
    pub(super) before: Option<String>,
    /// Page size (checked by the parser).
    pub(super) limit: Option<i64>,
}

impl Hub {
    /// Answers `search` with `results`: a page of matches, and `next` when
    /// there may be more. A page is cut short (and `next` says where it
    /// stopped) when its frame would not surely fit the reply budget.
    pub(super) async fn on_search(
        &mut self,
        conn: ConnId,
        asked: Asked,
    ) -> Result<(), ProtocolError> {
        let chars = asked.query.trim().chars().count();
        if chars == 0 || chars > MAX_QUERY_CHARS {
            return Err(ProtocolError::bad_request(&format!(
                "a search is 1 to {MAX_QUERY_CHARS} characters"
            )));
        }
        let terms = terms(&asked.query);
        if terms.is_empty() {
            return Err(ProtocolError::bad_request(
                "a search needs a word (letters or digits)",
            ));
        }
        if let Some(room) = &asked.room {
            validate_room(room)?;
            if !self.rooms.contains_key(room.as_str()) {
                return Err(ProtocolError::no_such_room(room));
            }
        }
        let before = match asked.before.as_deref() {
            None => None,
            Some(c) => Some(Cursor::decode(c).ok_or_else(|| {
                ProtocolError::bad_request("`before` must be the `next` of an earlier `results`")
            })?),
        };
        let (rate, burst) = (self.config.search_rate_per_sec, self.config.search_burst);
        if !self.session(conn)?.searches.take(rate, burst) {
            return Err(ProtocolError::new(
                ErrorCode::RateLimited,
                format!("slow down: at most {rate} searches a second (bursts of {burst})"),
            ));
        }
        let limit = asked
            .limit
            .map_or(SEARCH_DEFAULT_LIMIT as usize, |l| l as usize);
        let search = Search {
            terms,
            room: asked.room,
            before,
            limit,
        };
        let hits = self.read(move |reader| reader.search(&search)).await?;
        let (budget, full) = (self.reply_budget(), hits.len() >= limit);
        let (mut used, mut messages, mut last) = (0, Vec::with_capacity(hits.len()), None);
        let mut cut = false;
        for hit in hits {
            used += json_bound(&hit.message);
            if used > budget && !messages.is_empty() {
                cut = true;
                break;
            }
            last = Some(hit.cursor);
            messages.push(hit.message);
        }
        let next = if full || cut {
            last.map(|c| c.encode())
        } else {
            None
        };
        self.session(conn)?.outbox.send(&ServerFrame::Results {
            query: asked.query,
            messages,
            next,
        });
        Ok(())
    }
}
