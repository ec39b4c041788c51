//! *1.2* (section 3) on PostgreSQL: [`ChangeSql`] over the writer's
//! transaction (the room's row lock orders every node's changes), and the
//! reads of reactions and of the change log.

use crate::store::changes::{
    self, ChangeRequest, ChangeSql, Changed, Extra, Kind, LogRow, Logged, ReactionRow, Refusal,
    Target,
};
use crate::store::{as_u64, LogQuery, NewMessage, StoreError};
use postgres::{Client, Row, Transaction};
use std::collections::HashMap;

/// The section 3 columns of a message read.
pub(super) const EXTRA: &str = "m.edited_ts, m.deleted, m.reply_to, m.reply_user, m.reply_text";

/// [`EXTRA`]'s columns of `r`, from column `at` on.
pub(super) fn extra(r: &Row, at: usize) -> Extra {
    Extra {
        edited_ts: r.get(at),
        deleted: r.get(at + 1),
        reply_to: r.get(at + 2),
        reply_user: r.get(at + 3),
        reply_text: r.get(at + 4),
    }
}

/// The reactions on messages `from..=to` of `room`.
pub(super) fn reactions(
    conn: &mut Client,
    room: &str,
    from: u64,
    to: u64,
    viewer: Option<&str>,
) -> Result<Vec<ReactionRow>, StoreError> {
    let rows = conn.query(
        "SELECT x.msg_id, x.emoji, count(*), coalesce(bool_or(x.identity = $4), false), \
                min(x.rev) AS first \
         FROM reactions x JOIN rooms r ON r.id = x.room_id \
         WHERE r.name = $1 AND x.msg_id BETWEEN $2 AND $3 \
         GROUP BY x.msg_id, x.emoji ORDER BY x.msg_id, first",
        &[
            &room,
            &(from as i64),
            &(to.min(i64::MAX as u64) as i64),
            &viewer,
        ],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let count: i64 = r.get(2);
            (
                as_u64(r.get(0)),
                r.get(1),
                u32::try_from(count).unwrap_or(u32::MAX),
                r.get(3),
            )
        })
        .collect())
}

/// Rows of `room`'s change log (with an edited message's text and time).
pub(super) fn log(
    conn: &mut Client,
    room: &str,
    query: LogQuery,
) -> Result<Vec<Logged>, StoreError> {
    let (filter, a, b, limit) = match query {
        LogQuery::After { id, limit } => ("c.at_id >= $2 AND c.msg_id <= $3", id, id, limit),
        LogQuery::Revs { from, to } => ("c.rev BETWEEN $2 AND $3", from, to, usize::MAX),
    };
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = conn.query(
        &format!(
            "SELECT c.rev, c.msg_id, c.at_id, c.kind, c.emoji, c.\"user\", c.count, \
                    m.text, m.edited_ts, m.deleted \
             FROM changes c JOIN rooms r ON r.id = c.room_id \
             LEFT JOIN messages m ON m.room_id = c.room_id AND m.id = c.msg_id \
             WHERE r.name = $1 AND {filter} ORDER BY c.rev LIMIT $4"
        ),
        &[
            &room,
            &(a.min(i64::MAX as u64) as i64),
            &(b.min(i64::MAX as u64) as i64),
            &limit,
        ],
    )?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            let kind = Kind::from_code(r.get::<_, i16>(3).into())?;
            let text: Option<String> = r.get(7);
            let edited: Option<i64> = r.get(8);
            let deleted: Option<bool> = r.get(9);
            let current = match (text, edited, deleted) {
                (Some(text), Some(at), Some(false)) => Some((text, as_u64(at))),
                _ => None,
            };
            let row = LogRow {
                rev: as_u64(r.get(0)),
                id: as_u64(r.get(1)),
                at_id: as_u64(r.get(2)),
                kind,
                emoji: r.get(4),
                user: r.get(5),
                count: u32::try_from(r.get::<_, i32>(6)).unwrap_or(0),
            };
            Some((row, current))
        })
        .collect())
}

/// The writer's transaction, as [`changes::apply`] uses it.
struct Sql<'a, 'b>(&'a mut Transaction<'b>);

impl ChangeSql for Sql<'_, '_> {
    fn room(&mut self, room: &str) -> Result<Option<(i64, u64, u64)>, StoreError> {
        let row = self.0.query_opt(
            "SELECT id, last_id, last_rev FROM rooms WHERE name = $1 FOR UPDATE",
            &[&room],
        )?;
        Ok(row.map(|r| (r.get(0), as_u64(r.get(1)), as_u64(r.get(2)))))
    }

    fn target(&mut self, room_id: i64, id: u64) -> Result<Option<Target>, StoreError> {
        let row = self.0.query_opt(
            "SELECT author, ts, deleted FROM messages WHERE room_id = $1 AND id = $2",
            &[&room_id, &(id as i64)],
        )?;
        Ok(row.map(|r| Target {
            author: r.get(0),
            ts: as_u64(r.get(1)),
            deleted: r.get(2),
        }))
    }

    fn edit(&mut self, room_id: i64, id: u64, text: &str, at: u64) -> Result<(), StoreError> {
        self.0.execute(
            "UPDATE messages SET text = $3, edited_ts = $4 WHERE room_id = $1 AND id = $2",
            &[&room_id, &(id as i64), &text, &(at as i64)],
        )?;
        Ok(())
    }

    fn delete(&mut self, room_id: i64, id: u64) -> Result<(), StoreError> {
        self.0.execute(
            "UPDATE messages SET deleted = true, text = '', \"user\" = '', nonce = NULL, \
               edited_ts = NULL, reply_user = NULL, reply_text = NULL \
             WHERE room_id = $1 AND id = $2",
            &[&room_id, &(id as i64)],
        )?;
        self.0.execute(
            "DELETE FROM reactions WHERE room_id = $1 AND msg_id = $2",
            &[&room_id, &(id as i64)],
        )?;
        // *1.2* (section 5): its files go with it.
        use crate::store::files::{gone_statements, Gone};
        for sql in gone_statements(Gone::Message, '$') {
            self.0.execute(&sql, &[&room_id, &(id as i64)])?;
        }
        Ok(())
    }

    fn emoji_count(
        &mut self,
        room_id: i64,
        id: u64,
        emoji: &str,
    ) -> Result<(usize, bool), StoreError> {
        let r = self.0.query_one(
            "SELECT count(DISTINCT emoji), coalesce(bool_or(emoji = $3), false) FROM reactions \
             WHERE room_id = $1 AND msg_id = $2",
            &[&room_id, &(id as i64), &emoji],
        )?;
        Ok((r.get::<_, i64>(0) as usize, r.get(1)))
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
            self.0.execute(
                "INSERT INTO reactions (room_id, msg_id, emoji, identity, \"user\", rev) \
                 VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
                &[&room_id, &(id as i64), &emoji, &by, &name, &(rev as i64)],
            )?
        } else {
            self.0.execute(
                "DELETE FROM reactions \
                 WHERE room_id = $1 AND msg_id = $2 AND emoji = $3 AND identity = $4",
                &[&room_id, &(id as i64), &emoji, &by],
            )?
        };
        Ok(n > 0)
    }

    fn reaction_count(&mut self, room_id: i64, id: u64, emoji: &str) -> Result<u32, StoreError> {
        let r = self.0.query_one(
            "SELECT count(*) FROM reactions WHERE room_id = $1 AND msg_id = $2 AND emoji = $3",
            &[&room_id, &(id as i64), &emoji],
        )?;
        Ok(u32::try_from(r.get::<_, i64>(0)).unwrap_or(u32::MAX))
    }

    fn log(&mut self, room_id: i64, row: &LogRow) -> Result<(), StoreError> {
        self.0.execute(
            "INSERT INTO changes (room_id, rev, msg_id, at_id, kind, emoji, \"user\", count) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            &[
                &room_id,
                &(row.rev as i64),
                &(row.id as i64),
                &(row.at_id as i64),
                &row.kind.code(),
                &row.emoji,
                &row.user,
                &(row.count.min(i32::MAX as u32) as i32),
            ],
        )?;
        self.0.execute(
            "UPDATE rooms SET last_rev = $2 WHERE id = $1",
            &[&room_id, &(row.rev as i64)],
        )?;
        Ok(())
    }

    fn authored(
        &mut self,
        room_id: i64,
        author: &str,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError> {
        let rows = self.0.query(
            "SELECT id FROM messages WHERE room_id = $1 AND author = $2 AND NOT deleted ORDER BY id LIMIT $3",
            &[&room_id, &author, &(limit as i64)],
        )?;
        Ok(rows.iter().map(|r| as_u64(r.get(0))).collect())
    }
}

/// Applies `batch` in one transaction (a refused change writes nothing; a
/// store failure fails them all).
pub(super) fn change(conn: &mut Client, batch: &[ChangeRequest]) -> Vec<Result<Changed, Refusal>> {
    let mut attempt = || -> Result<Vec<Result<Changed, Refusal>>, StoreError> {
        let mut tx = conn.transaction()?;
        let results = changes::apply_batch(&mut Sql(&mut tx), batch)?;
        tx.commit()?;
        Ok(results)
    };
    changes::outcomes(attempt(), batch)
}

/// What replies answer, by (room row id, id): (name, first characters).
type Snapshots = HashMap<(i64, u64), (String, String)>;

/// What each reply of `batch` answers, by (room row id, id): (name,
/// first characters) of those not gone. One query.
pub(super) fn reply_snapshots(
    tx: &mut Transaction<'_>,
    batch: &[NewMessage],
    rooms: &HashMap<String, (i64, u64)>,
) -> Result<Snapshots, StoreError> {
    let (room_ids, ids): (Vec<i64>, Vec<i64>) = batch
        .iter()
        .filter_map(|m| Some((rooms.get(m.room.as_str())?.0, m.reply_to? as i64)))
        .unzip();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows = tx.query(
        "SELECT m.room_id, m.id, m.\"user\", m.text FROM messages m \
         JOIN unnest($1::bigint[], $2::bigint[]) AS k(room_id, id) \
           ON m.room_id = k.room_id AND m.id = k.id \
         WHERE NOT m.deleted",
        &[&room_ids, &ids],
    )?;
    Ok(rows
        .iter()
        .map(|r| {
            let text: String = r.get(3);
            (
                (r.get(0), as_u64(r.get(1))),
                (r.get(2), crate::protocol::excerpt(&text)),
            )
        })
        .collect())
}
