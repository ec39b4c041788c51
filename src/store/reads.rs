//! Read marks (`read`, extension): where each identity stopped reading
//! each room, so that a page opened later shows "New since you left"
//! above the first message after it. Written by the commit thread in
//! batches (nobody waits: a mark lost to a full queue only moves the
//! divider down), read with a room's `join`; a mark is only ever raised.
//! The SQL of both stores is here.

use super::StoreError;

/// An identity has read `room` up to `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadMark {
    /// The identity's id.
    pub identity: String,
    /// The room's name.
    pub room: String,
    /// The newest message id it has seen there.
    pub id: u64,
}

/// Raises each mark in SQLite (one transaction).
pub fn save_sqlite(conn: &mut rusqlite::Connection, marks: &[ReadMark]) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for m in marks {
        tx.prepare_cached(
            "INSERT INTO read_marks (identity, room_id, last_read)
             SELECT ?1, id, ?3 FROM rooms WHERE name = ?2
             ON CONFLICT (identity, room_id)
             DO UPDATE SET last_read = max(last_read, excluded.last_read)",
        )?
        .execute(rusqlite::params![m.identity, m.room, m.id as i64])?;
    }
    Ok(tx.commit()?)
}

/// An identity's mark in a room, from SQLite.
pub fn load_sqlite(
    conn: &rusqlite::Connection,
    identity: &str,
    room: &str,
) -> Result<Option<u64>, StoreError> {
    use rusqlite::OptionalExtension;
    let mark: Option<i64> = conn
        .prepare_cached(
            "SELECT k.last_read FROM read_marks k JOIN rooms r ON r.id = k.room_id
             WHERE k.identity = ?1 AND r.name = ?2",
        )?
        .query_row([identity, room], |r| r.get(0))
        .optional()?;
    Ok(mark.map(super::as_u64))
}

/// Raises each mark in PostgreSQL (one transaction).
pub fn save_pg(client: &mut postgres::Client, marks: &[ReadMark]) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    for m in marks {
        tx.execute(
            "INSERT INTO read_marks (identity, room_id, last_read) \
             SELECT $1, id, $3 FROM rooms WHERE name = $2 \
             ON CONFLICT (identity, room_id) \
             DO UPDATE SET last_read = GREATEST(read_marks.last_read, EXCLUDED.last_read)",
            &[&m.identity, &m.room, &(m.id as i64)],
        )?;
    }
    Ok(tx.commit()?)
}

/// An identity's mark in a room, from PostgreSQL.
pub fn load_pg(
    client: &mut postgres::Client,
    identity: &str,
    room: &str,
) -> Result<Option<u64>, StoreError> {
    let row = client.query_opt(
        "SELECT k.last_read FROM read_marks k JOIN rooms r ON r.id = k.room_id \
         WHERE k.identity = $1 AND r.name = $2",
        &[&identity, &room],
    )?;
    Ok(row.map(|r| super::as_u64(r.get(0))))
}
