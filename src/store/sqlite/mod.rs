//! The SQLite store (the default): one file in the data directory, WAL mode
//! (readers never wait for the writer), migrations tracked in `user_version`.
//!
//! [`open`] creates the data directory and database, applies the
//! [migrations](MIGRATIONS) and returns the two halves: a [`SqliteReader`]
//! for the hub and a [`SqliteWriter`] for the group-commit thread, each with
//! its own connection.

use super::access::{MemberRow, RoomKind};
use super::accounts::{self, AccountChange, AccountQuery, AccountRow, Role, SessionRow};
use super::files::{FileQuery, UploadRow};
use super::grants::{GrantQuery, Grants};
use super::reads::ReadMark;
use super::search::{self, Found, Hit, Search};
use super::{
    now_ms, IdentityChange, IdentityRow, NewMessage, RoomRow, StoreError, StoreOptions,
    StoreReader, StoreWriter, Stored, SyncMode, NONCE_WINDOW_MS,
};
use crate::protocol::ChatMessage;
use crate::store::changes::{finish, ChangeRequest, Changed, Logged, ReactionRow, Refusal};
use crate::store::{as_u64, newer_store, read_back, LogQuery};
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};

mod changes;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// The size the WAL is cut back to after a checkpoint.
pub const WAL_LIMIT_BYTES: i64 = 16 * 1024 * 1024;

/// SQLite VM steps between checks of a search's deadline (a few µs each).
const PROGRESS_STEPS: std::ffi::c_int = 1000;

/// Messages removed per statement by [`StoreWriter::expire`].
const EXPIRE_CHUNK: usize = 1000;

/// The database file's name inside the data directory.
pub const DB_FILE: &str = "chat.sqlite3";

/// Schema migrations, in order; `PRAGMA user_version` records how many ran.
pub const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_init.sql"),
    include_str!("../migrations/0002_identities_nonces.sql"),
    include_str!("../migrations/0003_counters_probe.sql"),
    include_str!("../migrations/0004_search_reads.sql"),
    include_str!("../migrations/0005_search_order.sql"),
    include_str!("../migrations/0006_accounts.sql"),
    include_str!("../migrations/0007_grants.sql"),
    include_str!("../migrations/0008_room_access.sql"),
    include_str!("../migrations/0009_changes.sql"),
    include_str!("../migrations/0010_moderation.sql"),
    include_str!("../migrations/0011_files.sql"),
    include_str!("../migrations/0012_personal.sql"),
];

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
    let lock = lock_dir(dir).map_err(|cause| open_err(dir, cause))?;
    let mut writer = connect(&path, options).map_err(|e| open_err(&path, e.to_string()))?;
    let version: i64 = writer
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .map_err(|e| open_err(&path, e.to_string()))?;
    if version > MIGRATIONS.len() as i64 {
        let known = MIGRATIONS.len();
        return Err(open_err(&path, newer_store(version as usize, known)));
    }
    migrate(&mut writer).map_err(|e| open_err(&path, format!("migration failed: {e}")))?;
    let reader = connect(&path, options).map_err(|e| open_err(&path, e.to_string()))?;
    Ok((
        SqliteReader::new(reader, &path, options).map_err(|e| open_err(&path, e.to_string()))?,
        SqliteWriter {
            conn: writer,
            rooms: HashMap::new(),
            _lock: lock,
        },
    ))
}

/// The lock file in the data directory: held (`flock`, exclusive) by the
/// one server using the directory, for as long as its writer lives. Two
/// servers on one database would each number messages from their own cache.
pub const LOCK_FILE: &str = "chat.lock";

/// Takes the data directory's lock, or says who holds it.
fn lock_dir(dir: &Path) -> Result<std::fs::File, String> {
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(
            "another chat server is using this data directory (its lock file chat.lock is held); \
             stop it, or give this one its own --data-dir"
                .to_owned(),
        ),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
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
    // The WAL is checkpointed every 1,000 pages (SQLite's default) and cut
    // back to this size after each checkpoint, instead of keeping its peak.
    conn.pragma_update(None, "journal_size_limit", WAL_LIMIT_BYTES)?;
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

/// Read side, used by the hub.
pub struct SqliteReader {
    /// Its own connection (WAL: reads never wait for the writer).
    conn: Connection,
    /// The database file, for [`StoreReader::another`].
    path: std::path::PathBuf,
    /// How it was opened, for [`StoreReader::another`].
    options: StoreOptions,
    /// When the running search must stop (see [`Deadline`]).
    deadline: Arc<Deadline>,
}

/// A search's deadline, read by the reader's progress handler (installed
/// once, as it needs the connection mutably): ns after [`Deadline::epoch`],
/// 0 while no search runs.
#[derive(Debug, Default)]
struct Deadline(AtomicU64);

impl Deadline {
    /// The instant deadlines count from (the first use).
    fn epoch() -> Instant {
        static EPOCH: OnceLock<Instant> = OnceLock::new();
        *EPOCH.get_or_init(Instant::now)
    }

    /// Sets the deadline `budget` from now.
    fn arm(&self, budget: std::time::Duration) {
        let at = (Instant::now() + budget).duration_since(Self::epoch());
        self.0
            .store((at.as_nanos() as u64).max(1), Ordering::Relaxed);
    }

    /// No deadline.
    fn disarm(&self) {
        self.0.store(0, Ordering::Relaxed);
    }

    /// True when a deadline is set and has passed.
    fn passed(&self) -> bool {
        let at = self.0.load(Ordering::Relaxed);
        at != 0 && Instant::now().duration_since(Self::epoch()).as_nanos() as u64 > at
    }
}

impl SqliteReader {
    /// A reader on `conn`, its progress handler installed.
    fn new(
        mut conn: Connection,
        path: &Path,
        options: &StoreOptions,
    ) -> rusqlite::Result<SqliteReader> {
        let deadline = Arc::new(Deadline::default());
        let watch = deadline.clone();
        conn.progress_handler(PROGRESS_STEPS, Some(move || watch.passed()))?;
        Ok(SqliteReader {
            conn,
            path: path.to_owned(),
            options: options.clone(),
            deadline,
        })
    }
}

impl StoreReader for SqliteReader {
    fn another(&self) -> Result<Box<dyn StoreReader>, StoreError> {
        let reader = connect(&self.path, &self.options)
            .and_then(|conn| SqliteReader::new(conn, &self.path, &self.options))
            .map_err(|e| StoreError::Open {
                path: self.path.clone(),
                cause: e.to_string(),
            })?;
        Ok(Box::new(reader))
    }

    fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT r.name, r.last_id, MAX(r.created_ms, COALESCE(m.ts, 0)), r.kind \
             FROM rooms r LEFT JOIN messages m ON m.room_id = r.id AND m.id = r.last_id \
             ORDER BY r.name",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(RoomRow {
                name: r.get(0)?,
                last_id: as_u64(r.get(1)?),
                active_ms: as_u64(r.get(2)?),
                kind: RoomKind::from_code(r.get(3)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn memberships(&self) -> Result<Vec<MemberRow>, StoreError> {
        super::access::load_sqlite(&self.conn)
    }

    fn moderation(&self, now_ms: u64) -> Result<super::moderation::Decided, StoreError> {
        super::moderation::load_sqlite(&self.conn, now_ms)
    }

    fn audit(
        &self,
        query: &super::moderation::AuditQuery,
    ) -> Result<Vec<super::moderation::AuditRecord>, StoreError> {
        super::moderation::audit_sqlite(&self.conn, query)
    }

    fn identities(&self) -> Result<Vec<IdentityRow>, StoreError> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT id, token_hash, name, seen_ms FROM identities")?;
        let rows = stmt.query_map([], |r| {
            let hash: Vec<u8> = r.get(1)?;
            Ok(IdentityRow {
                id: r.get(0)?,
                token_hash: hash.try_into().unwrap_or([0; 32]),
                name: r.get(2)?,
                seen_ms: as_u64(r.get(3)?),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn last_read(&self, identity: &str, room: &str) -> Result<Option<u64>, StoreError> {
        super::reads::load_sqlite(&self.conn, identity, room)
    }

    fn account(&self, query: &AccountQuery) -> Result<Option<AccountRow>, StoreError> {
        accounts::account_sqlite(&self.conn, query)
    }

    fn account_roles(&self) -> Result<Vec<(String, Role)>, StoreError> {
        accounts::roles_sqlite(&self.conn)
    }

    fn session(&self, hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError> {
        accounts::session_sqlite(&self.conn, hash)
    }

    fn sessions_of(&self, identity: &str) -> Result<Vec<SessionRow>, StoreError> {
        accounts::sessions_of_sqlite(&self.conn, identity)
    }

    fn sign_in_failures(&self, key: &str, now_ms: u64, window_ms: u64) -> Result<u32, StoreError> {
        accounts::failures_sqlite(&self.conn, key, now_ms, window_ms)
    }

    fn grants(&self, query: &GrantQuery) -> Result<Grants, StoreError> {
        super::grants::read_sqlite(&self.conn, query)
    }

    fn uploads(&self, query: &FileQuery) -> Result<Vec<UploadRow>, StoreError> {
        super::files::read_sqlite(&self.conn, query)
    }

    fn personal(
        &self,
        query: &super::personal::PersonalQuery,
    ) -> Result<super::personal::Page, StoreError> {
        super::personal::read_sqlite(&self.conn, query)
    }

    fn upload_usage(&self, identity: &str) -> Result<u64, StoreError> {
        super::files::read_usage_sqlite(&self.conn, identity)
    }

    fn files_gone(&self) -> Result<Vec<String>, StoreError> {
        super::files::read_gone_sqlite(&self.conn)
    }

    fn search(&self, search: &Search) -> Result<Found, StoreError> {
        // The index first (CROSS JOIN keeps that order), read newest first
        // by its rowid (`seq`): the page's LIMIT stops the scan.
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT r.name, m.id, m.user, m.text, m.ts, m.nonce, f.rowid, {}
                 FROM messages_fts f
                 CROSS JOIN messages m ON m.seq = f.rowid
                 CROSS JOIN rooms r ON r.id = m.room_id
                 WHERE messages_fts MATCH ?1 AND f.rowid < ?3 AND (?2 IS NULL OR r.name = ?2)
                   AND (r.kind = 0 OR instr(?5, ' ' || r.name || ' ') > 0) AND m.deleted = 0
                 ORDER BY f.rowid DESC LIMIT ?4",
            changes::EXTRA
        ))?;
        self.deadline.arm(search.budget);
        let before = search.before.map_or(i64::MAX, |c| c.seq);
        let params = params![
            search::fts5_match(&search.terms),
            search.room,
            before,
            search.limit as i64,
            format!(" {} ", search.readable.join(" ")),
        ];
        let mut found = Found::default();
        let outcome = stmt.query(params).and_then(|mut rows| {
            while let Some(r) = rows.next()? {
                let message = read_back(
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                );
                let message = finish(message, changes::extra(r, 7)?);
                found.hits.push(Hit::new(r.get(6)?, message));
            }
            Ok(())
        });
        self.deadline.disarm();
        match outcome {
            Ok(()) => Ok(found),
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == rusqlite::ErrorCode::OperationInterrupted =>
            {
                found.stopped = true;
                Ok(found)
            }
            Err(e) => Err(e.into()),
        }
    }

    fn range(&self, room: &str, from: u64, to: u64) -> Result<Vec<ChatMessage>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT m.id, m.user, m.text, m.ts, m.nonce, {} FROM messages m
             WHERE m.room_id = (SELECT id FROM rooms WHERE name = ?1) AND m.id BETWEEN ?2 AND ?3
             ORDER BY m.id",
            changes::EXTRA
        ))?;
        let to = to.min(i64::MAX as u64);
        let rows = stmt.query_map(params![room, from as i64, to as i64], |r| {
            let message = read_back(
                room.to_owned(),
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
            );
            Ok(finish(message, changes::extra(r, 5)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn reactions(
        &self,
        room: &str,
        from: u64,
        to: u64,
        viewer: Option<&str>,
    ) -> Result<Vec<ReactionRow>, StoreError> {
        changes::reactions(&self.conn, room, from, to, viewer)
    }

    fn change_log(&self, room: &str, query: LogQuery) -> Result<Vec<Logged>, StoreError> {
        changes::log(&self.conn, room, query)
    }
}

const INSERT_MESSAGE: &str =
    "INSERT INTO messages (room_id, id, user, text, ts, author, nonce, seq,
                           reply_to, reply_user, reply_text)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, (SELECT COALESCE(MAX(seq), 0) + 1 FROM messages),
             ?8, ?9, ?10)";

/// The newest message of `author` with `nonce` in a room since a time.
/// `INDEXED BY`: without it SQLite may walk the room's rows backwards by
/// the primary key to satisfy `ORDER BY id DESC`, a scan of the whole room
/// per send (`make bench`, 1,000 members at saturation: 1,293 messages/s and
/// 0.77 CPU-µs per delivery without it; 5,029 and 0.196 with it).
const FIND_REPEAT: &str = "SELECT id, user, text, ts FROM messages INDEXED BY messages_by_nonce
     WHERE room_id = ?1 AND author = ?2 AND nonce = ?3 AND ts >= ?4
     ORDER BY id DESC LIMIT 1";

/// Write side: owns per-room id counters; lives on the group-commit thread.
pub struct SqliteWriter {
    /// Its own connection.
    conn: Connection,
    /// Room name → (row id, newest message id), loaded on first use.
    rooms: HashMap<String, (i64, u64)>,
    /// The data directory's lock, released when the writer is dropped.
    _lock: std::fs::File,
}

impl StoreWriter for SqliteWriter {
    fn create_room(&mut self, room: &str) -> Result<(), StoreError> {
        Ok(insert_room(&self.conn, room)?)
    }

    fn delete_room(&mut self, room: &str) -> Result<(), StoreError> {
        // A room whose messages expired keeps its counter, and so its row.
        self.conn
            .execute("DELETE FROM rooms WHERE name = ?1 AND last_id = 0", [room])?;
        self.conn
            .execute(crate::store::access::ORPHANS[0], [room])?;
        self.rooms.remove(room);
        Ok(())
    }

    fn save_reads(&mut self, marks: &[ReadMark]) -> Result<(), StoreError> {
        super::reads::save_sqlite(&mut self.conn, marks)
    }

    fn save_accounts(&mut self, changes: &[AccountChange]) -> Result<(), StoreError> {
        accounts::save_sqlite(&mut self.conn, changes)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO probe (id, at_ms) VALUES (1, ?1)")?
            .execute([now_ms() as i64])?;
        Ok(())
    }

    fn expire(&mut self, before_ms: u64, max_rows: usize) -> Result<usize, StoreError> {
        // Oldest first, room by room, in chunks through the primary key:
        // no index on `ts` is needed (ids grow with time within a room),
        // and one call never holds the writer long.
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let rooms: Vec<i64> = tx
            .prepare_cached("SELECT id FROM rooms")?
            .query_map([], |r| r.get(0))?
            .collect::<Result<_, _>>()?;
        let mut removed = 0;
        for room_id in rooms {
            while removed < max_rows {
                let chunk = (max_rows - removed).min(EXPIRE_CHUNK) as i64;
                let n = tx
                    .prepare_cached(
                        "DELETE FROM messages WHERE room_id = ?1 AND id IN \
                         (SELECT id FROM messages WHERE room_id = ?1 AND ts < ?2 \
                          ORDER BY id LIMIT ?3)",
                    )?
                    .execute(params![room_id, before_ms as i64, chunk])?;
                removed += n;
                if (n as i64) < chunk {
                    break;
                }
            }
            // *1.2*: the reactions and logged changes of what went.
            for table in ["reactions", "changes"] {
                tx.prepare_cached(&format!(
                    "DELETE FROM {table} WHERE room_id = ?1 AND msg_id < \
                     (SELECT COALESCE(MIN(id), (SELECT last_id + 1 FROM rooms WHERE id = ?1)) \
                      FROM messages WHERE room_id = ?1)"
                ))?
                .execute([room_id])?;
            }
            // *1.2* (section 5): and their files.
            for sql in super::files::gone_statements(super::files::Gone::Expired, '?') {
                tx.prepare_cached(&sql)?.execute([room_id])?;
            }
        }
        tx.commit()?;
        Ok(removed)
    }

    fn change(&mut self, batch: &[ChangeRequest]) -> Vec<Result<Changed, Refusal>> {
        changes::change(&mut self.conn, batch)
    }

    /// No counter moves unless the commit succeeds, so no id is skipped.
    fn append(&mut self, batch: &[NewMessage]) -> Vec<Result<Stored, StoreError>> {
        super::append_or_isolate(batch, |isolate| self.try_append(batch, isolate))
    }

    fn save_identities(&mut self, changes: &[IdentityChange]) -> Result<(), StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        for change in changes {
            match change {
                IdentityChange::Save(row) => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO identities (id, token_hash, name, seen_ms)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![
                        row.id,
                        &row.token_hash[..],
                        row.name,
                        row.seen_ms as i64
                    ])?;
                }
                // An account's identity is never forgotten, whatever a
                // node's memory says (it may not have heard of the account).
                IdentityChange::Forget(id) => {
                    let forgot = tx
                        .prepare_cached(
                            "DELETE FROM identities WHERE id = ?1 \
                             AND NOT EXISTS (SELECT 1 FROM accounts WHERE identity = ?1)",
                        )?
                        .execute([id])?;
                    if forgot > 0 {
                        tx.prepare_cached("DELETE FROM read_marks WHERE identity = ?1")?
                            .execute([id])?;
                    }
                }
            }
        }
        Ok(tx.commit()?)
    }
}

/// The message `msg` repeats, if its author posted its nonce in the room
/// within [`NONCE_WINDOW_MS`] of its time.
fn find_repeat(
    tx: &Connection,
    room_id: i64,
    msg: &NewMessage,
) -> rusqlite::Result<Option<ChatMessage>> {
    let (Some(author), Some(nonce)) = (&msg.author, &msg.nonce) else {
        return Ok(None);
    };
    let since = msg.ts.saturating_sub(NONCE_WINDOW_MS) as i64;
    tx.prepare_cached(FIND_REPEAT)?
        .query_row(params![room_id, author, nonce, since], |r| {
            let nonce = Some(nonce.clone());
            Ok(read_back(
                msg.room.clone(),
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                nonce,
            ))
        })
        .optional()
}

impl SqliteWriter {
    /// One transaction over `batch`; with `isolate`, each insert under a
    /// savepoint so that a failing one is left out, else any failure fails all.
    fn try_append(
        &mut self,
        batch: &[NewMessage],
        isolate: bool,
    ) -> Result<Vec<Result<Stored, StoreError>>, StoreError> {
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
            if let Some(message) = find_repeat(&tx, room_id, msg)? {
                results.push(Ok(Stored {
                    message,
                    repeat: true,
                }));
                continue;
            }
            let id = last + 1;
            if isolate {
                tx.execute_batch("SAVEPOINT one")?;
            }
            // *1.2* (section 5): the attachments are the author's, and now posted.
            let attachments = super::files::claim_sqlite(&tx, msg, id);
            let attachments = match attachments {
                Ok(attachments) => attachments,
                Err(refusal @ StoreError::Refused(_)) => {
                    if isolate {
                        tx.execute_batch("RELEASE one")?;
                    }
                    results.push(Err(refusal));
                    continue;
                }
                Err(e) => return Err(e),
            };
            let reply = match msg.reply_to {
                Some(to) => changes::reply_snapshot(&tx, room_id, to)?,
                None => None,
            };
            let (reply_user, reply_text) = reply.clone().unzip();
            let inserted = tx.prepare_cached(INSERT_MESSAGE).and_then(|mut s| {
                s.execute(params![
                    room_id,
                    id as i64,
                    msg.user,
                    msg.text,
                    msg.ts as i64,
                    msg.author,
                    msg.nonce,
                    msg.reply_to.map(|r| r as i64),
                    reply_user,
                    reply_text
                ])
            });
            match inserted {
                Err(e) if !isolate => return Err(e.into()),
                Ok(_) => {
                    if isolate {
                        tx.execute_batch("RELEASE one")?;
                    }
                    staged.insert(room, (room_id, id));
                    let mut message = msg.stored_with(id, reply);
                    message.attachments = attachments;
                    results.push(Ok(Stored {
                        message,
                        repeat: false,
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
        for &(room_id, last) in staged.values() {
            tx.prepare_cached("UPDATE rooms SET last_id = ?2 WHERE id = ?1")?
                .execute(params![room_id, last as i64])?;
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
        conn.prepare_cached("SELECT id, last_id FROM rooms WHERE name = ?1")?
            .query_row([room], |r| Ok((r.get(0)?, as_u64(r.get(1)?))))
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
mod tests;
