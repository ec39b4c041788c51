//! *1.2* (section 5): uploaded files, as the store keeps them: who uploaded
//! each, what it is (the type sniffed from its bytes, an image's size), and
//! the message it was posted with. The bytes themselves are in the files
//! directory (`server::files`), named by the id. Written through the commit
//! thread inside account changes
//! ([`AccountChange::File`](super::accounts::AccountChange::File)); read
//! by id through the readers. The SQL of both stores is here (SQLite
//! migration 11, PostgreSQL schema 11).
//!
//! Who may fetch a file is decided by the hub's one authorization point,
//! from the row's room (or, not posted yet, its uploader).

use super::{as_u64, StoreError};
use crate::protocol::{Attachment, ChatMessage};

/// One uploaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadRow {
    /// 128 random bits in hex: the file's name in the files directory and
    /// in its URL (unguessable, but never a permission).
    pub id: String,
    /// The identity that uploaded it.
    pub identity: String,
    /// Its name as given (any Unicode; made safe where it is shown or sent).
    pub name: String,
    /// Bytes stored (an image's after re-encoding).
    pub size: u64,
    /// The type sniffed from the bytes (`application/octet-stream` when
    /// nothing was recognised), never the client's.
    pub mime: String,
    /// An image's width and height in pixels, orientation applied.
    pub dimensions: Option<(u32, u32)>,
    /// Whether a thumbnail was made (`<id>.thumb` beside it).
    pub thumb: bool,
    /// When it was uploaded (ms).
    pub created_ms: u64,
    /// The room and message it was posted with (`None`: not yet).
    pub posted: Option<(String, u64)>,
}

impl UploadRow {
    /// Whether it is one of the images shown inline (re-encoded on upload).
    pub fn is_image(&self) -> bool {
        self.dimensions.is_some()
    }

    /// Its wire form (the upload's answer, a message's attachment).
    pub fn attachment(&self) -> Attachment {
        let url = format!("/files/{}", self.id);
        Attachment {
            id: self.id.clone(),
            name: self.name.clone(),
            size: self.size,
            mime: self.mime.clone(),
            thumb_url: self.thumb.then(|| format!("{url}/thumb")),
            url,
            width: self.dimensions.map(|d| d.0),
            height: self.dimensions.map(|d| d.1),
        }
    }
}

/// Puts `rows` (ordered by message) on `messages` (ordered by id), each
/// message's in the order they were uploaded.
pub fn attach(messages: &mut [ChatMessage], rows: Vec<UploadRow>) {
    let mut rows = rows.into_iter().peekable();
    for m in messages.iter_mut() {
        while let Some(row) = rows.peek() {
            let Some((_, id)) = row.posted else {
                rows.next();
                continue;
            };
            if id < m.id {
                rows.next();
                continue;
            }
            if id > m.id {
                break;
            }
            let row = rows.next().expect("peeked");
            if !m.deleted {
                m.attachments.push(row.attachment());
            }
        }
    }
}

/// Why attachments were refused.
fn refused(id: &str) -> StoreError {
    StoreError::Refused(format!(
        "{id:?} is not an upload of yours that can be attached (unknown, another's, or posted before)"
    ))
}

/// What a claim of uploads checks and writes, the same in both stores.
struct Claim<'a> {
    /// The message's author.
    author: Option<&'a str>,
    /// The uploads.
    ids: &'a [String],
    /// The message's room.
    room: &'a str,
    /// The message's id.
    message: u64,
}

impl Claim<'_> {
    /// What storing `msg` as message `id` claims.
    fn of(msg: &super::NewMessage, id: u64) -> Claim<'_> {
        Claim {
            author: msg.author.as_deref(),
            ids: &msg.attachments,
            room: &msg.room,
            message: id,
        }
    }

    /// `row`, as found for `id`, if it is the author's and not posted.
    fn check(&self, id: &str, row: Option<UploadRow>) -> Result<UploadRow, StoreError> {
        match row {
            Some(row) if Some(row.identity.as_str()) == self.author && row.posted.is_none() => {
                Ok(row)
            }
            _ => Err(refused(id)),
        }
    }

    /// The change that records them as posted.
    fn change(&self) -> FileChange {
        FileChange::Attach {
            ids: self.ids.to_vec(),
            identity: self.author.unwrap_or_default().to_owned(),
            room: self.room.to_owned(),
            message: self.message,
        }
    }
}

/// Checks that each of `msg`'s attachments is its author's and not
/// posted, and records them as posted with `msg` as message `id`: their
/// attachments, in the order given (none when it has none), or
/// [`StoreError::Refused`] with nothing changed. Inside the transaction
/// that stores the message (SQLite's is immediate: no other writer comes
/// between the check and the update).
pub(super) fn claim_sqlite(
    tx: &rusqlite::Transaction,
    msg: &super::NewMessage,
    id: u64,
) -> Result<Vec<Attachment>, StoreError> {
    let claim = Claim::of(msg, id);
    if claim.ids.is_empty() {
        return Ok(Vec::new());
    }
    let mut found = Vec::with_capacity(claim.ids.len());
    for upload in claim.ids {
        let row = read_sqlite(tx, &FileQuery::ById(upload.clone()))?.pop();
        found.push(claim.check(upload, row)?);
    }
    save_sqlite(tx, &claim.change())?;
    Ok(found.iter().map(UploadRow::attachment).collect())
}

/// [`claim_sqlite`] in PostgreSQL: the rows are locked (`FOR UPDATE`) so
/// that two nodes cannot post one upload twice.
pub(super) fn claim_pg(
    tx: &mut postgres::Transaction,
    msg: &super::NewMessage,
    id: u64,
) -> Result<Vec<Attachment>, StoreError> {
    let claim = Claim::of(msg, id);
    if claim.ids.is_empty() {
        return Ok(Vec::new());
    }
    let sql = format!("SELECT {COLUMNS} FROM uploads WHERE id = $1 FOR UPDATE");
    let mut found = Vec::with_capacity(claim.ids.len());
    for upload in claim.ids {
        let row = match tx.query(&sql, &[upload])?.first() {
            Some(r) => Some(row_of(
                |i| Ok(r.try_get::<_, Option<i64>>(i)?),
                |i| Ok(r.try_get::<_, Option<String>>(i)?),
            )?),
            None => None,
        };
        found.push(claim.check(upload, row)?);
    }
    save_pg(tx, &claim.change())?;
    Ok(found.iter().map(UploadRow::attachment).collect())
}

/// A change to the uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileChange {
    /// A new upload, if its identity's files then take at most `quota`
    /// bytes in all; otherwise [`StoreError::Refused`] (with
    /// [`over_quota`]'s words) and nothing changes. The check and the
    /// insert are one transaction, and with PostgreSQL under a lock per
    /// identity: uploads through several nodes at once cannot together
    /// pass the quota.
    Save {
        /// The upload.
        row: UploadRow,
        /// Most bytes its identity may keep.
        quota: u64,
    },
    /// Uploads posted with a message: each must be `identity`'s and not
    /// posted before, or nothing changes (the change fails).
    Attach {
        /// The uploads.
        ids: Vec<String>,
        /// Whose they must be.
        identity: String,
        /// The room of the message.
        room: String,
        /// The message's id.
        message: u64,
    },
    /// Uploads that are gone: their rows, and their ids into
    /// `files_gone` (the bytes are removed after this is stored).
    Remove(Vec<String>),
    /// Gone files whose bytes were removed: out of `files_gone`.
    Swept(Vec<String>),
}

/// Why an upload does not fit in its identity's `quota` (`used` bytes
/// kept, `size` more asked for).
pub fn over_quota(quota: u64, used: u64, size: u64) -> String {
    format!(
        "your files may take {} MiB in all: {used} bytes are used, this one is {size} bytes",
        quota >> 20
    )
}

/// [`FileChange::Save`]'s check, once `used` is read.
fn fits(row: &UploadRow, quota: u64, used: u64) -> Result<(), StoreError> {
    match used.saturating_add(row.size) > quota {
        true => Err(StoreError::Refused(over_quota(quota, used, row.size))),
        false => Ok(()),
    }
}

/// Why an [`FileChange::Attach`] failed.
pub const NOT_ATTACHABLE: &str = "an attachment is not an upload of yours, or was posted before";

const COLUMNS: &str =
    "id, identity, name, size, mime, width, height, thumb, created_ms, room, message";

/// A row from its columns in [`COLUMNS`] order.
fn row_of(
    get: impl Fn(usize) -> Result<Option<i64>, StoreError>,
    text: impl Fn(usize) -> Result<Option<String>, StoreError>,
) -> Result<UploadRow, StoreError> {
    let dim =
        |i| -> Result<Option<u32>, StoreError> { Ok(get(i)?.and_then(|v| u32::try_from(v).ok())) };
    let need = |i| -> Result<String, StoreError> {
        text(i)?.ok_or_else(|| StoreError::Failed(format!("uploads column {i} is NULL")))
    };
    let dimensions = match (dim(5)?, dim(6)?) {
        (Some(w), Some(h)) => Some((w, h)),
        _ => None,
    };
    let posted = match (text(9)?, get(10)?) {
        (Some(room), Some(message)) => Some((room, as_u64(message))),
        _ => None,
    };
    Ok(UploadRow {
        id: need(0)?,
        identity: need(1)?,
        name: need(2)?,
        size: as_u64(get(3)?.unwrap_or(0)),
        mime: need(4)?,
        dimensions,
        thumb: get(7)?.unwrap_or(0) != 0,
        created_ms: as_u64(get(8)?.unwrap_or(0)),
        posted,
    })
}

/// Which uploads go with their messages (see [`gone_statements`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gone {
    /// Those of message `2` of the room with row id `1` (a deletion).
    Message,
    /// Those of the room with row id `1` older than its oldest message
    /// left (retention).
    Expired,
    /// Upload `1` (never posted).
    Id,
}

impl Gone {
    /// The condition on `uploads`, with `?n` or `$n` placeholders as
    /// `mark` says.
    fn filter(self, mark: char) -> String {
        let room = format!("room = (SELECT name FROM rooms WHERE id = {mark}1)");
        match self {
            Gone::Message => format!("{room} AND message = {mark}2"),
            Gone::Expired => format!(
                "{room} AND message < (SELECT COALESCE(MIN(id), \
                 (SELECT last_id + 1 FROM rooms WHERE id = {mark}1)) \
                 FROM messages WHERE room_id = {mark}1)"
            ),
            Gone::Id => format!("id = {mark}1"),
        }
    }
}

/// Statements that let the uploads `which` names go (with `?n` or `$n`
/// placeholders as `mark` says): their ids into `files_gone`, for the
/// sweeper to remove the bytes, then the rows. Run in the transaction that
/// deletes or expires the messages.
pub fn gone_statements(which: Gone, mark: char) -> [String; 2] {
    let filter = which.filter(mark);
    [
        format!("INSERT INTO files_gone (id) SELECT id FROM uploads WHERE {filter} ON CONFLICT DO NOTHING"),
        format!("DELETE FROM uploads WHERE {filter}"),
    ]
}

/// The reads of uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileQuery {
    /// One upload by id.
    ById(String),
    /// Uploads not posted and made before this (ms), oldest first, at most
    /// so many.
    Unposted {
        /// Made before this (ms).
        before_ms: u64,
        /// At most this many.
        limit: usize,
    },
    /// The uploads of a room's messages from `from` to `to` (inclusive).
    OfMessages {
        /// The room.
        room: String,
        /// The first message id.
        from: u64,
        /// The last message id.
        to: u64,
    },
}

/// At most 1000 gone files at a time (a sweep takes what is left next time).
const GONE: &str = "SELECT id FROM files_gone ORDER BY id LIMIT 1000";

/// Ids of files whose bytes are to be removed, in SQLite.
pub(super) fn read_gone_sqlite(conn: &rusqlite::Connection) -> Result<Vec<String>, StoreError> {
    let mut stmt = conn.prepare_cached(GONE)?;
    let ids = stmt.query_map([], |r| r.get(0))?;
    Ok(ids.collect::<Result<_, _>>()?)
}

/// Ids of files whose bytes are to be removed, in PostgreSQL.
pub(super) fn read_gone_pg(client: &mut postgres::Client) -> Result<Vec<String>, StoreError> {
    let rows = client.query(GONE, &[])?;
    rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
}

/// The SQL of `query`, with `$n` or `?n` placeholders as `mark` says.
fn query_sql(query: &FileQuery, mark: char) -> String {
    match query {
        FileQuery::ById(_) => format!("SELECT {COLUMNS} FROM uploads WHERE id = {mark}1"),
        FileQuery::Unposted { limit, .. } => format!(
            "SELECT {COLUMNS} FROM uploads WHERE room IS NULL AND created_ms < {mark}1 \
             ORDER BY created_ms LIMIT {limit}"
        ),
        FileQuery::OfMessages { .. } => format!(
            "SELECT {COLUMNS} FROM uploads WHERE room = {mark}1 AND message BETWEEN {mark}2 AND {mark}3 \
             ORDER BY message, created_ms"
        ),
    }
}

/// Answers `query` from SQLite.
pub(super) fn read_sqlite(
    conn: &rusqlite::Connection,
    query: &FileQuery,
) -> Result<Vec<UploadRow>, StoreError> {
    let mut stmt = conn.prepare_cached(&query_sql(query, '?'))?;
    let mut rows = match query {
        FileQuery::ById(id) => stmt.query([id])?,
        FileQuery::Unposted { before_ms, .. } => stmt.query([*before_ms as i64])?,
        FileQuery::OfMessages { room, from, to } => {
            stmt.query(rusqlite::params![room, *from as i64, *to as i64])?
        }
    };
    let mut found = Vec::new();
    while let Some(r) = rows.next()? {
        found.push(row_of(
            |i| Ok(r.get::<_, Option<i64>>(i)?),
            |i| Ok(r.get::<_, Option<String>>(i)?),
        )?);
    }
    Ok(found)
}

/// Answers `query` from PostgreSQL.
pub(super) fn read_pg(
    client: &mut postgres::Client,
    query: &FileQuery,
) -> Result<Vec<UploadRow>, StoreError> {
    let sql = query_sql(query, '$');
    let rows = match query {
        FileQuery::ById(id) => client.query(&sql, &[id])?,
        FileQuery::Unposted { before_ms, .. } => client.query(&sql, &[&(*before_ms as i64)])?,
        FileQuery::OfMessages { room, from, to } => {
            client.query(&sql, &[room, &(*from as i64), &(*to as i64)])?
        }
    };
    rows.iter()
        .map(|r| {
            row_of(
                |i| Ok(r.try_get::<_, Option<i64>>(i)?),
                |i| Ok(r.try_get::<_, Option<String>>(i)?),
            )
        })
        .collect()
}

/// The bytes of files an identity keeps (a CAST: PostgreSQL's SUM of
/// BIGINT is NUMERIC).
/// The first key of the advisory lock one identity's uploads are stored
/// under in PostgreSQL (the second is its hash): a value no other lock of
/// the chat uses ("up").
const UPLOAD_LOCK: i32 = 0x7570;

const USAGE: &str = "SELECT CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM uploads WHERE identity = ";

/// The bytes of files `identity` keeps, in SQLite.
pub(super) fn read_usage_sqlite(
    conn: &rusqlite::Connection,
    identity: &str,
) -> Result<u64, StoreError> {
    let sql = format!("{USAGE}?1");
    let used: i64 = conn
        .prepare_cached(&sql)?
        .query_row([identity], |r| r.get(0))?;
    Ok(as_u64(used))
}

/// The bytes of files `identity` keeps, in PostgreSQL.
pub(super) fn read_usage_pg(
    client: &mut postgres::Client,
    identity: &str,
) -> Result<u64, StoreError> {
    let used: i64 = client
        .query_one(&format!("{USAGE}$1"), &[&identity])?
        .try_get(0)?;
    Ok(as_u64(used))
}

/// The columns of a new row, in [`COLUMNS`] order.
fn columns(u: &UploadRow) -> (Option<i64>, Option<i64>, Option<String>, Option<i64>) {
    let (w, h) = match u.dimensions {
        Some((w, h)) => (Some(i64::from(w)), Some(i64::from(h))),
        None => (None, None),
    };
    let (room, message) = match &u.posted {
        Some((room, m)) => (Some(room.clone()), Some(*m as i64)),
        None => (None, None),
    };
    (w, h, room, message)
}

/// Applies one change in a SQLite transaction.
pub(super) fn save_sqlite(
    tx: &rusqlite::Transaction,
    change: &FileChange,
) -> Result<(), StoreError> {
    use rusqlite::params;
    match change {
        FileChange::Save { row: u, quota } => {
            // SQLite's transaction is immediate: no other writer comes
            // between the sum and the insert.
            fits(u, *quota, read_usage_sqlite(tx, &u.identity)?)?;
            let (w, h, room, message) = columns(u);
            tx.prepare_cached(&format!(
                "INSERT INTO uploads ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
            ))?
            .execute(params![
                u.id,
                u.identity,
                u.name,
                u.size as i64,
                u.mime,
                w,
                h,
                i64::from(u.thumb),
                u.created_ms as i64,
                room,
                message
            ])?;
        }
        FileChange::Attach {
            ids,
            identity,
            room,
            message,
        } => {
            let mut stmt = tx.prepare_cached(
                "UPDATE uploads SET room = ?1, message = ?2 \
                 WHERE id = ?3 AND identity = ?4 AND room IS NULL",
            )?;
            for id in ids {
                if stmt.execute(params![room, *message as i64, id, identity])? != 1 {
                    return Err(StoreError::Failed(NOT_ATTACHABLE.into()));
                }
            }
        }
        FileChange::Remove(ids) => {
            for sql in gone_statements(Gone::Id, '?') {
                let mut stmt = tx.prepare_cached(&sql)?;
                for id in ids {
                    stmt.execute([id])?;
                }
            }
        }
        FileChange::Swept(ids) => {
            let mut stmt = tx.prepare_cached("DELETE FROM files_gone WHERE id = ?1")?;
            for id in ids {
                stmt.execute([id])?;
            }
        }
    }
    Ok(())
}

/// Applies one change in a PostgreSQL transaction.
pub(super) fn save_pg(
    tx: &mut postgres::Transaction,
    change: &FileChange,
) -> Result<(), StoreError> {
    match change {
        FileChange::Save { row: u, quota } => {
            // One identity's uploads are stored one at a time, whichever
            // node they come through (the lock is held to the commit), so
            // the sum read next holds every upload committed before.
            tx.execute(
                "SELECT pg_advisory_xact_lock($1, hashtext($2))",
                &[&UPLOAD_LOCK, &u.identity],
            )?;
            let used: i64 = tx
                .query_one(&format!("{USAGE}$1"), &[&u.identity])?
                .try_get(0)?;
            fits(u, *quota, as_u64(used))?;
            let (w, h, room, message) = columns(u);
            tx.execute(
                &format!(
                    "INSERT INTO uploads ({COLUMNS}) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
                ),
                &[
                    &u.id,
                    &u.identity,
                    &u.name,
                    &(u.size as i64),
                    &u.mime,
                    &w,
                    &h,
                    &i64::from(u.thumb),
                    &(u.created_ms as i64),
                    &room,
                    &message,
                ],
            )?;
        }
        FileChange::Attach {
            ids,
            identity,
            room,
            message,
        } => {
            for id in ids {
                let changed = tx.execute(
                    "UPDATE uploads SET room = $1, message = $2 \
                     WHERE id = $3 AND identity = $4 AND room IS NULL",
                    &[room, &(*message as i64), id, identity],
                )?;
                if changed != 1 {
                    return Err(StoreError::Failed(NOT_ATTACHABLE.into()));
                }
            }
        }
        FileChange::Remove(ids) => {
            for sql in gone_statements(Gone::Id, '$') {
                for id in ids {
                    tx.execute(&sql, &[id])?;
                }
            }
        }
        FileChange::Swept(ids) => {
            for id in ids {
                tx.execute("DELETE FROM files_gone WHERE id = $1", &[id])?;
            }
        }
    }
    Ok(())
}
