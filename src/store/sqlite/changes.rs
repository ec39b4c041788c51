//! *1.2* (section 3) on SQLite: [`ChangeSql`] over the writer's
//! transaction, and the reads of reactions and of the change log.

use crate::store::changes::{
    self, ChangeRequest, ChangeSql, Changed, Extra, Kind, LogRow, Logged, ReactionRow, Refusal,
    Target,
};
use crate::store::{as_u64, LogQuery, StoreError};
use rusqlite::{params, Connection, OptionalExtension, Row};

/// The section 3 columns of a message read, selected as
/// `m.edited_ts, m.deleted, m.reply_to, m.reply_user, m.reply_text`
/// from column `at` on.
pub(super) const EXTRA: &str = "m.edited_ts, m.deleted, m.reply_to, m.reply_user, m.reply_text";

/// [`EXTRA`]'s columns of `r`, from column `at` on.
pub(super) fn extra(r: &Row, at: usize) -> rusqlite::Result<Extra> {
    Ok(Extra {
        edited_ts: r.get(at)?,
        deleted: r.get::<_, i64>(at + 1)? != 0,
        reply_to: r.get(at + 2)?,
        reply_user: r.get(at + 3)?,
        reply_text: r.get(at + 4)?,
    })
}

/// The reactions on messages `from..=to` of `room`, by message and then
/// first reaction; `mine` for `viewer`.
pub(super) fn reactions(
    conn: &Connection,
    room: &str,
    from: u64,
    to: u64,
    viewer: Option<&str>,
) -> Result<Vec<ReactionRow>, StoreError> {
    let mut stmt = conn.prepare_cached(
        "SELECT x.msg_id, x.emoji, count(*), max(x.identity = ?4), min(x.rev) FROM reactions x
         WHERE x.room_id = (SELECT id FROM rooms WHERE name = ?1) AND x.msg_id BETWEEN ?2 AND ?3
         GROUP BY x.msg_id, x.emoji ORDER BY x.msg_id, 5",
    )?;
    let rows = stmt.query_map(
        params![room, from as i64, to.min(i64::MAX as u64) as i64, viewer],
        |r| {
            Ok((
                as_u64(r.get(0)?),
                r.get(1)?,
                u32::try_from(r.get::<_, i64>(2)?).unwrap_or(u32::MAX),
                r.get::<_, Option<i64>>(3)?.unwrap_or(0) != 0,
            ))
        },
    )?;
    Ok(rows.collect::<Result<_, _>>()?)
}

/// Rows of `room`'s change log (with an edited message's text and time).
pub(super) fn log(
    conn: &Connection,
    room: &str,
    query: LogQuery,
) -> Result<Vec<Logged>, StoreError> {
    let (sql, a, b, limit) = match query {
        LogQuery::After { id, limit } => ("c.at_id >= ?2 AND c.msg_id <= ?3", id, id, limit),
        LogQuery::Revs { from, to } => ("c.rev BETWEEN ?2 AND ?3", from, to, usize::MAX),
    };
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT c.rev, c.msg_id, c.at_id, c.kind, c.emoji, c.user, c.count,
                m.text, m.edited_ts, m.deleted
         FROM changes c JOIN rooms r ON r.id = c.room_id
         LEFT JOIN messages m ON m.room_id = c.room_id AND m.id = c.msg_id
         WHERE r.name = ?1 AND {sql} ORDER BY c.rev LIMIT ?4"
    ))?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = stmt.query_map(
        params![
            room,
            a.min(i64::MAX as u64) as i64,
            b.min(i64::MAX as u64) as i64,
            limit
        ],
        |r| {
            let kind: i64 = r.get(3)?;
            let text: Option<String> = r.get(7)?;
            let edited: Option<i64> = r.get(8)?;
            let deleted = r.get::<_, Option<i64>>(9)?.unwrap_or(1) != 0;
            let current = match (text, edited, deleted) {
                (Some(text), Some(at), false) => Some((text, as_u64(at))),
                _ => None,
            };
            Ok(Kind::from_code(kind).map(|kind| {
                let row = LogRow {
                    rev: as_u64(r.get(0).unwrap_or(0)),
                    id: as_u64(r.get(1).unwrap_or(0)),
                    at_id: as_u64(r.get(2).unwrap_or(0)),
                    kind,
                    emoji: r.get(4).unwrap_or_default(),
                    user: r.get(5).unwrap_or_default(),
                    count: u32::try_from(r.get::<_, i64>(6).unwrap_or(0)).unwrap_or(0),
                };
                (row, current)
            }))
        },
    )?;
    let mut out = Vec::new();
    for row in rows {
        out.extend(row?);
    }
    Ok(out)
}

/// The writer's transaction, as [`changes::apply`] uses it.
struct Sql<'a>(&'a rusqlite::Transaction<'a>);

impl ChangeSql for Sql<'_> {
    fn room(&mut self, room: &str) -> Result<Option<(i64, u64, u64)>, StoreError> {
        Ok(self
            .0
            .prepare_cached("SELECT id, last_id, last_rev FROM rooms WHERE name = ?1")?
            .query_row([room], |r| {
                Ok((r.get(0)?, as_u64(r.get(1)?), as_u64(r.get(2)?)))
            })
            .optional()?)
    }

    fn target(&mut self, room_id: i64, id: u64) -> Result<Option<Target>, StoreError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT author, ts, deleted FROM messages WHERE room_id = ?1 AND id = ?2",
            )?
            .query_row(params![room_id, id as i64], |r| {
                Ok(Target {
                    author: r.get(0)?,
                    ts: as_u64(r.get(1)?),
                    deleted: r.get::<_, i64>(2)? != 0,
                })
            })
            .optional()?)
    }

    fn edit(&mut self, room_id: i64, id: u64, text: &str, at: u64) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "UPDATE messages SET text = ?3, edited_ts = ?4 WHERE room_id = ?1 AND id = ?2",
            )?
            .execute(params![room_id, id as i64, text, at as i64])?;
        Ok(())
    }

    fn delete(&mut self, room_id: i64, id: u64) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "UPDATE messages SET deleted = 1, text = '', user = '', nonce = NULL,
                   edited_ts = NULL, reply_user = NULL, reply_text = NULL
                 WHERE room_id = ?1 AND id = ?2",
            )?
            .execute(params![room_id, id as i64])?;
        self.0
            .prepare_cached("DELETE FROM reactions WHERE room_id = ?1 AND msg_id = ?2")?
            .execute(params![room_id, id as i64])?;
        // *1.2* (section 5): its files go with it.
        use crate::store::files::{gone_statements, Gone};
        for sql in gone_statements(Gone::Message, '?') {
            self.0
                .prepare_cached(&sql)?
                .execute(params![room_id, id as i64])?;
        }
        Ok(())
    }

    fn emoji_count(
        &mut self,
        room_id: i64,
        id: u64,
        emoji: &str,
    ) -> Result<(usize, bool), StoreError> {
        Ok(self
            .0
            .prepare_cached(
                "SELECT count(DISTINCT emoji), coalesce(max(emoji = ?3), 0) FROM reactions
                 WHERE room_id = ?1 AND msg_id = ?2",
            )?
            .query_row(params![room_id, id as i64, emoji], |r| {
                Ok((r.get::<_, i64>(0)? as usize, r.get::<_, i64>(1)? != 0))
            })?)
    }

    fn set_reaction(
        &mut self,
        room_id: i64,
        id: u64,
        emoji: &str,
        by: &str,
        name: &str,
        rev: u64,
        on: bool,
    ) -> Result<bool, StoreError> {
        let n = if on {
            self.0
                .prepare_cached(
                    "INSERT OR IGNORE INTO reactions (room_id, msg_id, emoji, identity, user, rev)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![room_id, id as i64, emoji, by, name, rev as i64])?
        } else {
            self.0
                .prepare_cached(
                    "DELETE FROM reactions
                     WHERE room_id = ?1 AND msg_id = ?2 AND emoji = ?3 AND identity = ?4",
                )?
                .execute(params![room_id, id as i64, emoji, by])?
        };
        Ok(n > 0)
    }

    fn reaction_count(&mut self, room_id: i64, id: u64, emoji: &str) -> Result<u32, StoreError> {
        let n: i64 = self
            .0
            .prepare_cached(
                "SELECT count(*) FROM reactions WHERE room_id = ?1 AND msg_id = ?2 AND emoji = ?3",
            )?
            .query_row(params![room_id, id as i64, emoji], |r| r.get(0))?;
        Ok(u32::try_from(n).unwrap_or(u32::MAX))
    }

    fn log(&mut self, room_id: i64, row: &LogRow) -> Result<(), StoreError> {
        self.0
            .prepare_cached(
                "INSERT INTO changes (room_id, rev, msg_id, at_id, kind, emoji, user, count)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                room_id,
                row.rev as i64,
                row.id as i64,
                row.at_id as i64,
                row.kind.code(),
                row.emoji,
                row.user,
                row.count
            ])?;
        self.0
            .prepare_cached("UPDATE rooms SET last_rev = ?2 WHERE id = ?1")?
            .execute(params![room_id, row.rev as i64])?;
        Ok(())
    }

    fn authored(
        &mut self,
        room_id: i64,
        author: &str,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let mut stmt = self.0.prepare_cached(
            "SELECT id FROM messages WHERE room_id = ?1 AND author = ?2 AND deleted = 0 ORDER BY id LIMIT ?3",
        )?;
        let ids = stmt.query_map(params![room_id, author, limit as i64], |r| {
            r.get::<_, i64>(0)
        })?;
        let mut out = Vec::new();
        for id in ids {
            out.push(as_u64(id?));
        }
        Ok(out)
    }
}

/// Applies `batch` in one transaction (a refused change writes nothing; a
/// store failure fails them all).
pub(super) fn change(
    conn: &mut Connection,
    batch: &[ChangeRequest],
) -> Vec<Result<Changed, Refusal>> {
    let mut attempt = || -> Result<Vec<Result<Changed, Refusal>>, StoreError> {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let results = changes::apply_batch(&mut Sql(&tx), batch)?;
        tx.commit()?;
        Ok(results)
    };
    changes::outcomes(attempt(), batch)
}

/// What `reply_to` answers in room row `room_id`, for the reply's row:
/// (name, first characters), or `None` when it is gone.
pub(super) fn reply_snapshot(
    tx: &Connection,
    room_id: i64,
    id: u64,
) -> rusqlite::Result<Option<(String, String)>> {
    tx.prepare_cached(
        "SELECT user, text FROM messages WHERE room_id = ?1 AND id = ?2 AND deleted = 0",
    )?
    .query_row(params![room_id, id as i64], |r| {
        Ok((r.get(0)?, crate::protocol::excerpt(&r.get::<_, String>(1)?)))
    })
    .optional()
}
