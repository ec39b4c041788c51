//! The SQLite store (the default): one file in the data directory, WAL mode
//! (readers never wait for the writer), migrations tracked in `user_version`.
//!
//! [`open`] creates the data directory and database, applies the
//! [migrations](MIGRATIONS) and returns the two halves: a [`SqliteReader`]
//! for the hub and a [`SqliteWriter`] for the group-commit thread, each with
//! its own connection.

use super::{now_ms, NewMessage, StoreError, StoreOptions, StoreReader, StoreWriter, SyncMode};
use crate::protocol::ChatMessage;
use crate::render::render_html;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use std::collections::HashMap;
use std::path::Path;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "chat.sqlite3";

/// Schema migrations, in order; `PRAGMA user_version` records how many ran.
pub const MIGRATIONS: &[&str] = &[include_str!("migrations/0001_init.sql")];

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Failed(e.to_string())
    }
}

/// Opens (creating if need be) the store under `options.data_dir` and brings
/// its schema up to date.
pub fn open(options: &StoreOptions) -> Result<(SqliteReader, SqliteWriter), StoreError> {
    let dir = &options.data_dir;
    let path = dir.join(DB_FILE);
    let open_err = |path: &Path, cause: String| StoreError::Open {
        path: path.to_owned(),
        cause,
    };
    std::fs::create_dir_all(dir).map_err(|e| open_err(dir, e.to_string()))?;
    let mut writer = connect(&path, options).map_err(|e| open_err(&path, e.to_string()))?;
    migrate(&mut writer).map_err(|e| open_err(&path, format!("migration failed: {e}")))?;
    let reader = connect(&path, options).map_err(|e| open_err(&path, e.to_string()))?;
    Ok((
        SqliteReader { conn: reader },
        SqliteWriter {
            conn: writer,
            rooms: HashMap::new(),
        },
    ))
}

fn connect(path: &Path, options: &StoreOptions) -> rusqlite::Result<Connection> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(options.busy_timeout)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(rusqlite::Error::InvalidParameterName(format!(
            "journal_mode is {mode}, WAL is needed"
        )));
    }
    let sync = match options.sync {
        SyncMode::Full => "FULL",
        SyncMode::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(conn)
}

/// Applies the migrations not yet applied, each in its own transaction.
fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let applied = usize::try_from(applied).unwrap_or(0);
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
        tracing::info!(version = i + 1, "applied store migration");
    }
    Ok(())
}

/// SQL selecting each room's row id, name and newest message id (0 when
/// empty); callers append a `WHERE` or `ORDER BY`.
macro_rules! rooms_with_last_id {
    () => {
        "SELECT r.id, r.name, COALESCE((SELECT MAX(id) FROM messages m WHERE m.room_id = r.id), 0) FROM rooms r"
    };
}

/// SQLite integers are i64; ids and timestamps are never negative.
fn as_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Read side, used by the hub.
pub struct SqliteReader {
    /// Its own connection (WAL: reads never wait for the writer).
    conn: Connection,
}

impl StoreReader for SqliteReader {
    fn rooms(&self) -> Result<Vec<(String, u64)>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached(concat!(rooms_with_last_id!(), " ORDER BY r.name"))?;
        let rows = stmt.query_map([], |r| Ok((r.get(1)?, as_u64(r.get(2)?))))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn range(&self, room: &str, from: u64, to: u64) -> Result<Vec<ChatMessage>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.id, m.user, m.text, m.ts FROM messages m
             WHERE m.room_id = (SELECT id FROM rooms WHERE name = ?1) AND m.id BETWEEN ?2 AND ?3
             ORDER BY m.id",
        )?;
        let rows = stmt.query_map(params![room, from as i64, to as i64], |r| {
            let text: String = r.get(2)?;
            Ok(ChatMessage {
                room: room.to_owned(),
                id: as_u64(r.get(0)?),
                user: r.get(1)?,
                html: render_html(&text),
                text,
                ts: as_u64(r.get(3)?),
                nonce: None,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const INSERT_MESSAGE: &str =
    "INSERT INTO messages (room_id, id, user, text, ts) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Write side: owns per-room id counters; lives on the group-commit thread.
pub struct SqliteWriter {
    /// Its own connection.
    conn: Connection,
    /// Room name → (row id, newest message id), loaded on first use.
    rooms: HashMap<String, (i64, u64)>,
}

impl StoreWriter for SqliteWriter {
    fn create_room(&mut self, room: &str) -> Result<(), StoreError> {
        Ok(insert_room(&self.conn, room)?)
    }

    /// No counter moves unless the commit succeeds, so no id is skipped.
    fn append(&mut self, batch: &[NewMessage]) -> Vec<Result<ChatMessage, StoreError>> {
        // Fast path: the whole batch in one go. Only if an insert fails is it
        // redone with a savepoint per message, to keep the others.
        let outcome = match self.try_append(batch, false) {
            Err(StoreError::Failed(_)) => self.try_append(batch, true),
            other => other,
        };
        match outcome {
            Ok(results) => results,
            Err(e) => {
                tracing::error!(error = %e, messages = batch.len(), "commit failed");
                batch.iter().map(|_| Err(e.clone())).collect()
            }
        }
    }
}

impl SqliteWriter {
    /// One transaction over `batch`; with `isolate`, each insert under a
    /// savepoint so that a failing one is left out, else any failure fails all.
    fn try_append(
        &mut self,
        batch: &[NewMessage],
        isolate: bool,
    ) -> Result<Vec<Result<ChatMessage, StoreError>>, StoreError> {
        let mut staged: HashMap<&str, (i64, u64)> = HashMap::new();
        let mut results = Vec::with_capacity(batch.len());
        // IMMEDIATE: the write lock is taken at BEGIN, where SQLite waits for
        // another writer (a backup, the sqlite3 shell) through the busy
        // timeout. A deferred transaction that reads first gets SQLITE_BUSY
        // at once when it upgrades, and the batch would be refused.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for msg in batch {
            let room = msg.room.as_str();
            let (room_id, last) = match staged.get(room).or_else(|| self.rooms.get(room)) {
                Some(&known) => known,
                None => load_room(&tx, room)?,
            };
            let id = last + 1;
            if isolate {
                tx.execute_batch("SAVEPOINT one")?;
            }
            let inserted = tx.prepare_cached(INSERT_MESSAGE).and_then(|mut s| {
                s.execute(params![
                    room_id,
                    id as i64,
                    msg.user,
                    msg.text,
                    msg.ts as i64
                ])
            });
            match inserted {
                Err(e) if !isolate => return Err(e.into()),
                Ok(_) => {
                    if isolate {
                        tx.execute_batch("RELEASE one")?;
                    }
                    staged.insert(room, (room_id, id));
                    results.push(Ok(ChatMessage {
                        room: msg.room.clone(),
                        id,
                        user: msg.user.clone(),
                        text: msg.text.clone(),
                        html: msg.html.clone(),
                        ts: msg.ts,
                        nonce: None,
                    }));
                }
                Err(e) => {
                    tx.execute_batch("ROLLBACK TO one; RELEASE one")?;
                    staged.insert(room, (room_id, last));
                    tracing::error!(room, error = %e, "message not stored");
                    results.push(Err(StoreError::from(e)));
                }
            }
        }
        tx.commit()?;
        for (room, known) in staged {
            self.rooms.insert(room.to_owned(), known);
        }
        Ok(results)
    }
}

/// Looks a room up (creating it if it is missing) with its newest message id.
fn load_room(conn: &Connection, room: &str) -> Result<(i64, u64), StoreError> {
    let find = |conn: &Connection| {
        conn.prepare_cached(concat!(rooms_with_last_id!(), " WHERE r.name = ?1"))?
            .query_row([room], |r| Ok((r.get(0)?, as_u64(r.get(2)?))))
            .optional()
    };
    if let Some(found) = find(conn)? {
        return Ok(found);
    }
    insert_room(conn, room)?;
    find(conn)?.ok_or_else(|| StoreError::Failed(format!("room {room} vanished")))
}

/// Creates `room` if it does not exist.
fn insert_room(conn: &Connection, room: &str) -> rusqlite::Result<()> {
    conn.prepare_cached("INSERT OR IGNORE INTO rooms (name, created_ms) VALUES (?1, ?2)")?
        .execute(params![room, now_ms() as i64])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Replay;
    use std::time::Duration;

    pub(crate) fn temp_store() -> (tempfile::TempDir, SqliteReader, SqliteWriter) {
        let dir = tempfile::tempdir().unwrap();
        let (r, w) = open(&StoreOptions {
            data_dir: dir.path().join("nested/data"),
            sync: SyncMode::Normal,
            busy_timeout: Duration::from_secs(1),
        })
        .unwrap();
        (dir, r, w)
    }

    fn msg(room: &str, text: &str) -> NewMessage {
        NewMessage {
            room: room.into(),
            user: "u".into(),
            text: text.into(),
            html: render_html(text),
            ts: 7,
        }
    }

    #[test]
    fn a_new_data_dir_gets_the_schema_and_general() {
        let (dir, r, _w) = temp_store();
        assert!(dir.path().join("nested/data").join(DB_FILE).exists());
        assert_eq!(
            r.rooms().unwrap(),
            [(crate::protocol::GENERAL_ROOM.to_owned(), 0)]
        );
        let version: i64 = r
            .conn
            .pragma_query_value(None, "user_version", |x| x.get(0))
            .unwrap();
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    #[test]
    fn ids_are_per_room_consecutive_and_reads_are_cut_at_upto() {
        let (_dir, r, mut w) = temp_store();
        w.create_room("a").unwrap();
        let batch: Vec<_> = (0..5)
            .map(|i| msg(if i % 2 == 0 { "a" } else { "general" }, "<x>"))
            .collect();
        let ids: Vec<(String, u64)> = w
            .append(&batch)
            .into_iter()
            .map(|m| m.map(|m| (m.room, m.id)).unwrap())
            .collect();
        assert_eq!(
            ids,
            [
                ("a".into(), 1),
                ("general".into(), 1),
                ("a".into(), 2),
                ("general".into(), 2),
                ("a".into(), 3)
            ]
        );
        let page = r.before("a", None, 50, 2).unwrap();
        assert_eq!(page.iter().map(|m| m.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(page[0].html, "&lt;x&gt;");
        let replay = r.after("a", 0, 2, 3).unwrap();
        assert_eq!(
            (
                replay.messages.iter().map(|m| m.id).collect::<Vec<_>>(),
                replay.missed
            ),
            (vec![2, 3], true)
        );
        assert_eq!(r.after("a", 3, 10, 3).unwrap(), Replay::default());
        assert_eq!(r.before("a", Some(1), 10, 3).unwrap(), []);
    }

    #[test]
    fn a_failing_insert_is_left_out_and_its_id_is_not_skipped() {
        let (_dir, r, mut w) = temp_store();
        r.conn
            .execute_batch(
                "CREATE TRIGGER boom BEFORE INSERT ON messages WHEN NEW.text = 'boom'
                 BEGIN SELECT RAISE(ABORT, 'simulated failure'); END;",
            )
            .unwrap();
        let results = w.append(&[
            msg("general", "one"),
            msg("general", "boom"),
            msg("general", "two"),
        ]);
        assert_eq!(results[0].as_ref().unwrap().id, 1);
        assert!(results[1].is_err());
        assert_eq!(results[2].as_ref().unwrap().id, 2);
        assert_eq!(r.rooms().unwrap(), [("general".to_owned(), 2)]);
    }
}
