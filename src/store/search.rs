//! Full-text search of messages, on both stores: SQLite's FTS5 (an index
//! kept by triggers, migration 0004) and PostgreSQL's text search (a GIN
//! index on `to_tsvector('simple', text)`, schema version 3).
//!
//! A query is its words (runs of letters and digits; everything else,
//! quotes and operators included, only separates them): a message matches
//! when it has every word, the last one also as a prefix when it has at
//! least [`MIN_PREFIX_CHARS`] characters (`hel` finds "hello"), without
//! regard to case. Results come newest first, in the order the messages
//! were stored in (`seq`, store migration 5 / schema version 4); a page
//! ends with a [`Cursor`] for the next, older one.
//!
//! **Bounded cost.** The index is read in that order and a search stops at
//! its page, so a word every message has costs a page, not a sort of every
//! match; a short prefix (`a*`, which would merge the lists of every word
//! starting with it) is not a prefix; and each search runs under a time
//! budget ([`Search::budget`]): on SQLite a progress handler interrupts
//! it, and what it found by then is a page with a `next`
//! ([`Found::stopped`]); on PostgreSQL a statement timeout.

use crate::protocol::ChatMessage;
use std::time::Duration;

/// Most words a query keeps (the rest are ignored).
pub const MAX_TERMS: usize = 8;

/// The last word is also a prefix only from this many characters on:
/// `a*` would merge the index's lists of every word starting with "a".
pub const MIN_PREFIX_CHARS: usize = 3;

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
    /// How long the search may take; past it, what was found is the page.
    pub budget: Duration,
    /// *1.2*: the private rooms (and direct messages) the searcher may
    /// read: the query itself leaves every other one out, so a page is
    /// never cut before what it may not show is removed.
    pub readable: Vec<String>,
}

/// What a search found.
#[derive(Debug, Clone, Default)]
pub struct Found {
    /// The matches, newest first.
    pub hits: Vec<Hit>,
    /// The budget ran out before the page was full: there may be more
    /// (after the last hit, when there is one).
    pub stopped: bool,
}

/// A place in the results' order: the message's `seq`, newest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// The message's place in the order messages were stored in.
    pub seq: i64,
}

impl Cursor {
    /// The opaque form clients pass back.
    pub fn encode(&self) -> String {
        self.seq.to_string()
    }

    /// Reads [`Cursor::encode`]'s form (a positive number in digits);
    /// `None` for anything else.
    pub fn decode(s: &str) -> Option<Cursor> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let seq: i64 = s.parse().ok()?;
        (seq > 0).then_some(Cursor { seq })
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

/// Whether the last of `terms` is matched as a prefix too.
fn last_is_prefix(terms: &[String]) -> bool {
    terms
        .last()
        .is_some_and(|t| t.chars().count() >= MIN_PREFIX_CHARS)
}

/// The FTS5 `MATCH` expression: every word quoted (so nothing typed is
/// syntax), the last one a prefix when it is long enough.
pub fn fts5_match(terms: &[String]) -> String {
    let quoted: Vec<String> = terms
        .iter()
        .map(|t| format!("\"{}\"", t.replace('"', "\"\"")))
        .collect();
    let star = if last_is_prefix(terms) { "*" } else { "" };
    format!("{}{star}", quoted.join(" "))
}

/// The `to_tsquery('simple', …)` text: words joined by `&`, the last one a
/// prefix when it is long enough. Words hold only letters and digits, so
/// nothing is syntax.
pub fn tsquery(terms: &[String]) -> String {
    let star = if last_is_prefix(terms) { ":*" } else { "" };
    format!("{}{star}", terms.join(" & "))
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
    /// `message`, stored as `seq`.
    pub fn new(seq: i64, message: ChatMessage) -> Hit {
        Hit {
            cursor: Cursor { seq },
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
        // A prefix from MIN_PREFIX_CHARS characters on, not one before.
        assert_eq!(fts5_match(&terms("x he")), "\"x\" \"he\"");
        assert_eq!(tsquery(&terms("x he")), "x & he");
        assert_eq!(tsquery(&terms("x héé")), "x & héé:*");
    }

    #[test]
    fn the_sqlite_index_follows_inserts_and_expiry_and_pages_newest_first() {
        use crate::render::render_html;
        use crate::store::{StoreReader, StoreWriter};
        let (_dir, r, mut w) = crate::store::temp_store();
        let at = |room: &str, ts: u64, text: &str| crate::store::NewMessage {
            room: room.into(),
            user: "ada".into(),
            text: text.into(),
            html: render_html(text),
            ts,
            author: None,
            nonce: None,
            reply_to: None,
            attachments: Vec::new(),
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
                budget: std::time::Duration::from_secs(10),
                readable: Vec::new(),
            };
            r.search(&search).unwrap().hits
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

    fn message(text: &str) -> crate::store::NewMessage {
        crate::store::NewMessage {
            room: "general".into(),
            user: "ada".into(),
            text: text.into(),
            html: text.into(),
            ts: 1,
            author: None,
            nonce: None,
            reply_to: None,
            attachments: Vec::new(),
        }
    }

    fn search(q: &str, budget: std::time::Duration) -> Search {
        Search {
            terms: terms(q),
            room: None,
            before: None,
            limit: 20,
            budget,
            readable: Vec::new(),
        }
    }

    #[test]
    fn a_word_shorter_than_three_characters_is_no_prefix() {
        use crate::store::{StoreReader, StoreWriter};
        let (_dir, r, mut w) = crate::store::temp_store();
        w.append(&[
            message("apple"),
            message("a pear"),
            message("ab"),
            message("abc"),
        ]);
        let found = |q: &str| -> Vec<String> {
            let found = r.search(&search(q, std::time::Duration::from_secs(10)));
            found
                .unwrap()
                .hits
                .into_iter()
                .map(|h| h.message.text)
                .collect()
        };
        assert_eq!(found("a"), ["a pear"], "the word a, not every word with a");
        assert_eq!(found("ab"), ["ab"]);
        assert_eq!(found("abc"), ["abc"]);
        assert_eq!(found("app"), ["apple"], "three characters are a prefix");
    }

    #[test]
    fn a_search_past_its_budget_stops_with_what_it_found_and_says_so() {
        use crate::store::{StoreReader, StoreWriter};
        let (_dir, r, mut w) = crate::store::temp_store();
        let batch: Vec<_> = (0..20_000)
            .map(|i| message(&format!("word{i} common")))
            .collect();
        w.append(&batch);
        w.create_room("side").unwrap();
        // A word every message of general has, searched in a room that has
        // none: every match is read and passed over, which no budget of 0
        // allows. (FTS5 intersects the lists of two words within one step
        // of SQLite's machine, where no deadline is checked: that cost is
        // bounded by the index's size, measured in the README.)
        let in_side = |budget| Search {
            room: Some("side".into()),
            ..search("common", budget)
        };
        let found = r.search(&in_side(std::time::Duration::ZERO)).unwrap();
        assert!(found.stopped && found.hits.is_empty(), "{found:?}");
        let found = r
            .search(&in_side(std::time::Duration::from_secs(10)))
            .unwrap();
        assert!(!found.stopped && found.hits.is_empty());
        // A page of a word every message has: newest first, within any budget.
        let page = r
            .search(&search("common", std::time::Duration::from_secs(10)))
            .unwrap();
        assert_eq!(page.hits.len(), 20);
        assert_eq!(page.hits[0].message.text, "word19999 common");
        assert_eq!(page.hits[0].cursor.seq, 20_000);
        assert!(!page.stopped);
    }

    #[test]
    fn a_cursor_reads_back_only_its_own_form() {
        let c = Cursor { seq: 42 };
        assert_eq!(Cursor::decode(&c.encode()), Some(c));
        for bad in ["", "0", "-1", "+1", "1.2", "a", "99999999999999999999"] {
            assert_eq!(Cursor::decode(bad), None, "{bad}");
        }
    }
}
