//! A person's own data, as both stores keep it: what their archive reads
//! ([`PersonalQuery`], a page at a time, each page found by an index on
//! the person, so its cost is the page's whatever the rooms hold), and what
//! deleting their account changes ([`erase_statements`], in one
//! transaction of the commit thread). The SQL of both stores is here,
//! written once with PostgreSQL's `$n` placeholders (SQLite reads `?n`).

use super::StoreError;
use serde_json::{Map, Value};

/// Rows a page holds at most.
pub const PAGE: usize = 500;

/// The name a deleted account's kept messages and reactions show
/// (`CHAT_DELETED_USER_MESSAGES=keep`).
pub const DELETED_USER: &str = "deleted user";

/// One part of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// The messages they posted (not deleted), by room then id.
    Messages,
    /// Their reactions, by room, message and emoji.
    Reactions,
    /// Where they stopped reading each room.
    ReadMarks,
    /// Their standings in rooms (private rooms' members, moderators, owners).
    Rooms,
    /// Their uploads (what the store knows of each; the bytes are served
    /// at `/files/{id}` to whoever may read them).
    Uploads,
    /// The rooms where they have messages (not in the archive: what a
    /// deletion purges).
    Posted,
}

impl Part {
    /// Every part, in the archive's order (messages last: the longest).
    pub const ALL: [Part; 5] = [
        Part::Rooms,
        Part::ReadMarks,
        Part::Uploads,
        Part::Reactions,
        Part::Messages,
    ];

    /// Its key in the archive.
    pub fn key(self) -> &'static str {
        match self {
            Part::Messages => "messages",
            Part::Reactions => "reactions",
            Part::ReadMarks => "read_marks",
            Part::Rooms => "rooms",
            Part::Uploads => "uploads",
            Part::Posted => "posted",
        }
    }

    /// Its query (`$1` the identity, then the cursor's columns), the
    /// number of cursor columns that lead each row, and the names of the
    /// columns after them.
    fn sql(self) -> (&'static str, usize, &'static [&'static str]) {
        match self {
            Part::Messages => (
                "SELECT m.room_id, m.id, r.name, m.id, m.text, m.ts, m.edited_ts, m.reply_to
                 FROM messages m JOIN rooms r ON r.id = m.room_id
                 WHERE m.author = $1 AND CAST(m.deleted AS INTEGER) = 0
                   AND (m.room_id > $2 OR (m.room_id = $2 AND m.id > $3))
                 ORDER BY m.room_id, m.id LIMIT 500",
                2,
                &["room", "id", "text", "ts", "edited_ts", "reply_to"],
            ),
            Part::Reactions => (
                "SELECT x.room_id, x.msg_id, x.emoji, r.name, x.msg_id, x.emoji
                 FROM reactions x JOIN rooms r ON r.id = x.room_id
                 WHERE x.identity = $1 AND (x.room_id > $2 OR (x.room_id = $2
                   AND (x.msg_id > $3 OR (x.msg_id = $3 AND x.emoji > $4))))
                 ORDER BY x.room_id, x.msg_id, x.emoji LIMIT 500",
                3,
                &["room", "id", "emoji"],
            ),
            Part::ReadMarks => (
                "SELECT m.room_id, r.name, m.last_read
                 FROM read_marks m JOIN rooms r ON r.id = m.room_id
                 WHERE m.identity = $1 AND m.room_id > $2
                 ORDER BY m.room_id LIMIT 500",
                1,
                &["room", "last_read"],
            ),
            Part::Rooms => (
                "SELECT room, room, standing, since_ms FROM room_members
                 WHERE identity = $1 AND room > $2 ORDER BY room LIMIT 500",
                1,
                &["room", "standing", "since_ms"],
            ),
            Part::Uploads => (
                "SELECT id, id, name, size, mime, width, height, created_ms, room, message
                 FROM uploads WHERE identity = $1 AND id > $2 ORDER BY id LIMIT 500",
                1,
                &[
                    "id",
                    "name",
                    "size",
                    "mime",
                    "width",
                    "height",
                    "created_ms",
                    "room",
                    "message",
                ],
            ),
            Part::Posted => (
                "SELECT r.id, r.name FROM rooms r
                 WHERE r.id > $2 AND EXISTS (SELECT 1 FROM messages m
                   WHERE m.author = $1 AND m.room_id = r.id AND CAST(m.deleted AS INTEGER) = 0)
                 ORDER BY r.id LIMIT 500",
                1,
                &["room"],
            ),
        }
    }
}

/// Where a page ends: its last row's leading columns (integers or text).
pub type Cursor = Vec<Value>;

/// A page of one part of `identity`'s data after `after` (empty: from the
/// start; else the previous page's [`Page::next`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PersonalQuery {
    /// Whose (an identity id).
    pub identity: String,
    /// Which part.
    pub part: Part,
    /// After which row.
    pub after: Cursor,
}

/// One page of a part: its rows as JSON objects, and where the next
/// starts (`None`: this was the last).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    /// The rows.
    pub rows: Vec<Value>,
    /// The next page's cursor.
    pub next: Option<Cursor>,
}

/// The cursor's values to bind: the given one, or before every row.
fn start(query: &PersonalQuery, width: usize) -> Vec<Value> {
    if query.after.len() == width {
        return query.after.clone();
    }
    match query.part {
        Part::Rooms | Part::Uploads => vec![Value::from("")],
        Part::ReadMarks | Part::Posted => vec![Value::from(0)],
        Part::Messages => vec![Value::from(0), Value::from(0)],
        Part::Reactions => vec![Value::from(0), Value::from(0), Value::from("")],
    }
}

/// Rows (each a list of column values) made into a page.
fn page(rows: Vec<Vec<Value>>, width: usize, names: &[&str]) -> Page {
    let next = (rows.len() == PAGE).then(|| rows[PAGE - 1][..width].to_vec());
    let rows = rows
        .into_iter()
        .map(|row| {
            let fields: Map<String, Value> = names
                .iter()
                .map(|n| n.to_string())
                .zip(row.into_iter().skip(width))
                .collect();
            Value::Object(fields)
        })
        .collect();
    Page { rows, next }
}

/// A page read from SQLite.
pub fn read_sqlite(conn: &rusqlite::Connection, query: &PersonalQuery) -> Result<Page, StoreError> {
    use rusqlite::types::{ToSqlOutput, Value as Sql, ValueRef};
    let (sql, width, names) = query.part.sql();
    let bind: Vec<ToSqlOutput> = std::iter::once(Value::from(query.identity.clone()))
        .chain(start(query, width))
        .map(|v| match v {
            Value::Number(n) => ToSqlOutput::Owned(Sql::Integer(n.as_i64().unwrap_or(0))),
            Value::String(s) => ToSqlOutput::Owned(Sql::Text(s)),
            _ => ToSqlOutput::Owned(Sql::Null),
        })
        .collect();
    let mut stmt = conn.prepare_cached(&sql.replace('$', "?"))?;
    let mut rows = stmt.query(rusqlite::params_from_iter(bind))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(width + names.len());
        for i in 0..width + names.len() {
            values.push(match row.get_ref(i)? {
                ValueRef::Integer(n) => Value::from(n),
                ValueRef::Text(t) => Value::from(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Real(f) => Value::from(f),
                ValueRef::Null | ValueRef::Blob(_) => Value::Null,
            });
        }
        out.push(values);
    }
    Ok(page(out, width, names))
}

/// A page read from PostgreSQL.
pub fn read_pg(client: &mut postgres::Client, query: &PersonalQuery) -> Result<Page, StoreError> {
    use postgres::types::{ToSql, Type};
    let (sql, width, names) = query.part.sql();
    let mut ints: Vec<i64> = Vec::new();
    let mut texts: Vec<String> = vec![query.identity.clone()];
    let mut order = vec![(false, 0)];
    for v in start(query, width) {
        match v {
            Value::String(s) => {
                order.push((false, texts.len()));
                texts.push(s);
            }
            other => {
                order.push((true, ints.len()));
                ints.push(other.as_i64().unwrap_or(0));
            }
        }
    }
    let params: Vec<&(dyn ToSql + Sync)> = order
        .iter()
        .map(|&(int, i)| {
            if int {
                &ints[i] as &(dyn ToSql + Sync)
            } else {
                &texts[i] as &(dyn ToSql + Sync)
            }
        })
        .collect();
    let mut out = Vec::new();
    for row in client.query(sql, &params)? {
        let mut values = Vec::with_capacity(row.len());
        for (i, column) in row.columns().iter().enumerate() {
            let t = column.type_();
            values.push(if *t == Type::INT8 {
                row.try_get::<_, Option<i64>>(i)?
                    .map_or(Value::Null, Value::from)
            } else if *t == Type::INT4 {
                row.try_get::<_, Option<i32>>(i)?
                    .map_or(Value::Null, Value::from)
            } else if *t == Type::INT2 {
                row.try_get::<_, Option<i16>>(i)?
                    .map_or(Value::Null, Value::from)
            } else if *t == Type::BOOL {
                row.try_get::<_, Option<bool>>(i)?
                    .map_or(Value::Null, Value::from)
            } else {
                row.try_get::<_, Option<String>>(i)?
                    .map_or(Value::Null, Value::from)
            });
        }
        out.push(values);
    }
    Ok(page(out, width, names))
}

/// What deleting `$1`'s account changes, in order. Sessions, tokens, the
/// account, read marks and standings go; the uploads' rows go and their
/// bytes are left to the sweeper (as a deleted message's); the identity
/// goes, so its name is free. Its messages are no one's any more: those
/// not deleted show `$2` (the deleted user's name). With
/// `CHAT_DELETED_USER_MESSAGES=remove` the hub has purged them first, so
/// only one posted meanwhile is left to show it.
pub fn erase_statements(pg: bool) -> Vec<&'static str> {
    let mut out = vec![
        "DELETE FROM sessions WHERE identity = $1",
        "DELETE FROM api_tokens WHERE identity = $1",
        "DELETE FROM accounts WHERE identity = $1",
        "DELETE FROM read_marks WHERE identity = $1",
        "DELETE FROM room_members WHERE identity = $1",
        "INSERT INTO files_gone (id) SELECT id FROM uploads WHERE identity = $1 ON CONFLICT DO NOTHING",
        "DELETE FROM uploads WHERE identity = $1",
        "DELETE FROM identities WHERE id = $1",
    ];
    if pg {
        out.push("DELETE FROM name_keys WHERE identity = $1");
    }
    out.push(
        r#"UPDATE messages SET "user" = $2 WHERE author = $1 AND CAST(deleted AS INTEGER) = 0"#,
    );
    out.push("UPDATE messages SET author = NULL, nonce = NULL WHERE author = $1");
    out.push(r#"UPDATE reactions SET "user" = $2 WHERE identity = $1"#);
    out
}

/// Applies the deletion of `identity`'s account in SQLite's open transaction.
pub fn erase_sqlite(tx: &rusqlite::Transaction, identity: &str) -> Result<(), StoreError> {
    for sql in erase_statements(false) {
        let sql = sql.replace('$', "?");
        if sql.contains("?2") {
            tx.prepare_cached(&sql)?.execute([identity, DELETED_USER])?;
        } else {
            tx.prepare_cached(&sql)?.execute([identity])?;
        }
    }
    Ok(())
}

/// Applies the deletion of `identity`'s account in PostgreSQL's open transaction.
pub fn erase_pg(tx: &mut postgres::Transaction, identity: &str) -> Result<(), StoreError> {
    for sql in erase_statements(true) {
        if sql.contains("$2") {
            tx.execute(sql, &[&identity, &DELETED_USER])?;
        } else {
            tx.execute(sql, &[&identity])?;
        }
    }
    Ok(())
}
