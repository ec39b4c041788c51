//! `search` (*extension*): full-text search of the stored messages of
//! every room or one ([`crate::store::search`]), paged newest first, with a
//! rate limit of its own (each search reads the index).

use super::access::Act;
use super::identity::{addr_key, limit_bucket};
use super::rooms::json_bound;
use super::{ConnId, Hub};
use crate::protocol::{
    validate_room_ref, ErrorCode, ProtocolError, ServerFrame, MAX_QUERY_CHARS, SEARCH_DEFAULT_LIMIT,
};
use crate::server::payload::encode_json;
use crate::server::stats;
use crate::store::access::RoomKind;
use crate::store::pool::Kind;
use crate::store::search::{terms, Cursor, Found, Search};
use crate::store::StoreReader;

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
    pub(super) fn on_search(&mut self, conn: ConnId, asked: Asked) -> Result<(), ProtocolError> {
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
        let viewer = self.viewer(conn);
        if let Some(room) = &asked.room {
            validate_room_ref(room)?;
            self.authorize(&viewer, room, Act::Read)?;
        }
        // *1.2*: the rooms besides the public ones the query may read,
        // decided here and applied in the query (never after a page is cut).
        let readable: Vec<String> = match viewer.admin {
            true => self
                .rooms
                .iter()
                .filter(|(name, r)| {
                    r.kind != RoomKind::Public && self.authorize(&viewer, name, Act::Read).is_ok()
                })
                .map(|(name, _)| name.to_string())
                .collect(),
            false => viewer
                .identity
                .into_iter()
                .flat_map(|id| self.mine.rooms_of(id))
                .filter(|name| {
                    self.rooms
                        .get(*name)
                        .is_some_and(|r| r.kind != RoomKind::Public)
                        && self.authorize(&viewer, name, Act::Read).is_ok()
                })
                .map(|name| name.to_string())
                .collect(),
        };
        let before = match asked.before.as_deref() {
            None => None,
            Some(c) => Some(Cursor::decode(c).ok_or_else(|| {
                ProtocolError::bad_request("`before` must be the `next` of an earlier `results`")
            })?),
        };
        self.take_search(conn)?;
        let limit = asked
            .limit
            .map_or(SEARCH_DEFAULT_LIMIT as usize, |l| l as usize);
        let search = Search {
            terms,
            room: asked.room,
            before,
            limit,
            budget: self.config.search_budget,
            readable,
        };
        let ticket = self.admit_read()?;
        let (budget, query) = (self.reply_budget(), asked.query);
        let session = self.session(conn)?;
        let (outbox, identity) = (session.outbox.clone(), session.identity.clone());
        let read = move |reader: &dyn StoreReader| {
            let mut found = reader.search(&search)?;
            // *1.2*: each hit's reactions and files (at most a page of small reads).
            for hit in &mut found.hits {
                let m = &mut hit.message;
                let rows = reader.reactions(&m.room, m.id, m.id, identity.as_deref())?;
                crate::store::changes::attach(std::slice::from_mut(m), rows);
                // *1.2* (section 5): and its files.
                let room = m.room.clone();
                reader.attach_files(&room, m.id, m.id, std::slice::from_mut(m))?;
            }
            if found.stopped && found.hits.is_empty() {
                return Ok(Err(ProtocolError::new(
                    ErrorCode::Unavailable,
                    "this search takes too long: add a word, or search one room",
                )));
            }
            Ok(Ok(encode_json(&page(found, limit, budget, query))))
        };
        // Not held in order with the live frames: a search may wait for
        // its place (the search readers), and the room's messages must not
        // wait behind it. `results` names its query.
        self.read_apart(ticket, Kind::Search, read, move |result| {
            match result.and_then(|page| page) {
                Ok(frame) => outbox.push(&[frame]),
                Err(e) => {
                    stats::refused_frame(e.code);
                    outbox.send(&e.into_frame());
                }
            }
        });
        Ok(())
    }
}

impl Hub {
    /// Takes a search from every budget it counts against: the
    /// connection's, its identity's (however many connections it has), its
    /// address's, and the whole server's; nothing is taken unless all allow it.
    fn take_search(&mut self, conn: ConnId) -> Result<(), ProtocolError> {
        let c = &self.config;
        let (rate, burst) = (c.search_rate_per_sec, c.search_burst);
        let (addr_rate, addr_burst) = (c.search_addr_rate_per_sec, c.search_addr_burst);
        let (all_rate, all_burst) = (c.search_server_rate_per_sec, c.search_server_burst);
        let session = self.sessions.get_mut(&conn).expect("checked by the caller");
        let (identity, addr) = (session.identity.clone(), addr_key(session.client.addr));
        let refused = |what: &str, rate: f64, burst: f64| {
            Err(ProtocolError::new(
                ErrorCode::RateLimited,
                format!("slow down: at most {rate} searches a second {what} (bursts of {burst})"),
            ))
        };
        if !session.searches.ready(rate, burst) {
            return refused("per connection", rate, burst);
        }
        let id = identity.expect("after hello");
        if !limit_bucket(&mut self.search_by_identity, id.clone(), rate, burst).ready(rate, burst) {
            return refused("per person", rate, burst);
        }
        let by_addr = limit_bucket(&mut self.search_by_addr, addr, addr_rate, addr_burst);
        if !by_addr.ready(addr_rate, addr_burst) {
            return refused("from one address", addr_rate, addr_burst);
        }
        if !self.search_all.ready(all_rate, all_burst) {
            return refused("on this server", all_rate, all_burst);
        }
        self.search_all.take(all_rate, all_burst);
        limit_bucket(&mut self.search_by_addr, addr, addr_rate, addr_burst)
            .take(addr_rate, addr_burst);
        limit_bucket(&mut self.search_by_identity, id, rate, burst).take(rate, burst);
        self.session(conn)?.searches.take(rate, burst);
        Ok(())
    }
}

/// The `results` frame of what was `found`: cut short (`next` says where
/// it stopped) when its frame would not surely fit in `budget` bytes;
/// `next` also when the page is full or the search's time ran out (there
/// may be more).
fn page(found: Found, limit: usize, budget: usize, query: String) -> ServerFrame {
    let Found { hits, stopped } = found;
    let full = hits.len() >= limit || stopped;
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
    ServerFrame::Results {
        query,
        messages,
        next,
    }
}
