//! Full-text search of messages, on both stores: SQLite's FTS5 (an index
//! kept by triggers, migration 0004) and PostgreSQL's text search (a GIN
//! index on `to_tsvector('simple', text)`, schema version 3).
//!
//! A query is its words (runs of letters and digits; everything else,
//! quotes and operators included, only separates them): a message matches
//! when it has every word, the last one also as a prefix (`hel` finds
//! "hello"), without regard to case. Results come newest first; a page
//! ends with a [`Cursor`] for the next, older one.

use crate::protocol::ChatMessage;

/// Most words a query keeps (the rest are ignored).
pub const MAX_TERMS: usize = 8;

/// A search: its words, an optional room, where the page starts, how many.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// The words, lower-cased (at least one).
    pub terms: Vec<String>,
    /// Only this room's messages (`None`: every room).
    pub room: Option<String>,
    /// Only messages older than this one (the previous page's last).
    pub before: Option<Cursor>,
    /// At most this many.
    pub limit: usize,
}

/// A place in the results' order (newest first: `ts`, then room, then id).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The message's time.
    pub ts: u64,
    /// Its room's key in the store.
    pub room_id: i64,
    /// Its id in the room.
    pub id: u64,
}

impl Cursor {
    /// The opaque form clients pass back (`ts.room.id`).
    pub fn encode(&self) -> String {
        format!("{}.{}.{}", self.ts, self.room_id, self.id)
    }

    /// Reads [`Cursor::encode`]'s form; `None` for anything else.
    pub fn decode(s: &str) -> Option<Cursor> {
        let mut parts = s.split('.');
        let cursor = Cursor {
            ts: parts.next()?.parse().ok()?,
            room_id: parts.next()?.parse().ok()?,
            id: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(cursor)
    }
}

/// The words of `query`, lower-cased, at most [`MAX_TERMS`].
pub fn terms(query: &str) -> Vec<String> {
    query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .take(MAX_TERMS)
        .map(str::to_lowercase)
        .collect()
}

/// The FTS5 `MATCH` expression: every word quoted (so nothing typed is
/// syntax), the last one a prefix.
pub fn fts5_match(terms: &[String]) -> String {
    let quoted: Vec<String> = terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    format!("{}*", quoted.join(" "))
}

/// The `to_tsquery('simple', …)` text: words joined by `&`, the last one a
/// prefix. Words hold only letters and digits, so nothing is syntax.
pub fn tsquery(terms: &[String]) -> String {
    format!("{}:*", terms.join(" & "))
}

/// One match: the message, and its place in the order.
#[derive(Debug, Clone)]
pub struct Hit {
    /// Where it is in the order.
    pub cursor: Cursor,
    /// The message.
    pub message: ChatMessage,
}

impl Hit {
    /// `message`, of the room stored as `room_id`.
    pub fn new(room_id: i64, message: ChatMessage) -> Hit {
        Hit {
            cursor: Cursor {
                ts: message.ts,
                room_id,
                id: message.id,
            },
            message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_kept_and_everything_else_only_separates_them() {
        assert_eq!(
            terms("Hello, \"World\" OR x*"),
            ["hello", "world", "or", "x"]
        );
        assert_eq!(terms("  ---  "), Vec::<String>::new());
        assert_eq!(terms("a b c d e f g h i j").len(), MAX_TERMS);
        assert_eq!(fts5_match(&terms("near(x) hel")), "\"near\" \"x\" \"hel\"*");
        assert_eq!(tsquery(&terms("café hel")), "café & hel:*");
    }

    #[test]
    fn the_sqlite_index_follows_inserts_and_expiry_and_pages_newest_first() {
        use crate::render::render_html;
        use crate::store::{open, StoreOptions, StoreReader, StoreWriter, SyncMode};
        let dir = tempfile::tempdir().unwrap();
        let (r, mut w) = open(&StoreOptions {
            data_dir: dir.path().to_owned(),
            sync: SyncMode::Normal,
            busy_timeout: std::time::Duration::from_secs(1),
            database_url: None,
        })
        .unwrap();
        let at = |room: &str, ts: u64, text: &str| crate::store::NewMessage {
            room: room.into(),
            user: "ada".into(),
            text: text.into(),
            html: render_html(text),
            ts,
            author: None,
            nonce: None,
        };
        w.create_room("side").unwrap();
        for m in [
            at("general", 10, "apple pie"),
            at("general", 20, "banana split"),
            at("side", 30, "Apple juice"),
            at("general", 40, "**APPLE** tart"),
            at("side", 50, "pineapple"),
        ] {
            w.append(&[m])[0].as_ref().unwrap();
        }
        let find = |q: &str, room: Option<&str>, before: Option<Cursor>, limit: usize| {
            let search = Search {
                terms: terms(q),
                room: room.map(str::to_owned),
                before,
                limit,
            };
            r.search(&search).unwrap()
        };
        let texts =
            |hits: &[Hit]| -> Vec<String> { hits.iter().map(|h| h.message.text.clone()).collect() };
        let all = find("apple", None, None, 10);
        assert_eq!(texts(&all), ["**APPLE** tart", "Apple juice", "apple pie"]);
        assert_eq!(all[0].message.html, "<strong>APPLE</strong> tart");
        assert_eq!(
            (all[1].message.room.as_str(), all[1].message.id),
            ("side", 1)
        );
        // Pages: the cursor of a page's last goes on from there.
        let first = find("apple", None, None, 2);
        let rest = find("apple", None, Some(first[1].cursor), 2);
        assert_eq!(texts(&rest), ["apple pie"]);
        assert_eq!(
            texts(&find("apple", Some("side"), None, 10)),
            ["Apple juice"]
        );
        assert_eq!(texts(&find("app", None, None, 10)).len(), 3);
        assert_eq!(texts(&find("pie APPLE", None, None, 10)), ["apple pie"]);
        assert_eq!(
            texts(&find("\"apple\" OR NOT -x*", None, None, 10)),
            Vec::<String>::new()
        );
        // Removed by retention: gone from the index too.
        w.expire(35, 100).unwrap();
        assert_eq!(texts(&find("apple", None, None, 10)), ["**APPLE** tart"]);
    }

    #[test]
    fn a_cursor_reads_back_only_its_own_form() {
        let c = Cursor {
            ts: 1_700_000_000_000,
            room_id: 3,
            id: 42,
        };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "1.2", "1.2.3.4", "a.b.c", "-1.2.3", "1.2.-3"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
