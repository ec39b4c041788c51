//! The PostgreSQL store (`CHAT_DATABASE_URL`), through the synchronous
//! `postgres` client (rust-postgres): the store traits are synchronous (the
//! writer owns a thread, reads run on tokio's blocking pool), so the async
//! client would only be wrapped back.
//!
//! Ids are given out under the room's row lock: each batch's transaction
//! takes `SELECT … FOR UPDATE` on the rooms it writes, inserts, and advances
//! `rooms.last_id`, so writers on several nodes keep every room's ids 1, 2,
//! 3, … with no gap. No counter is cached between batches, since another
//! node may have written in between.
//!
//! A connection that broke (the database restarted) is made again before
//! the next statement; the statement that met the break fails, and its
//! sender gets `unavailable` with nothing written.

use super::access::{MemberRow, RoomKind};
use super::accounts::{self, AccountChange, AccountQuery, AccountRow, Role, SessionRow};
use super::files::{FileQuery, UploadRow};
use super::grants::{GrantQuery, Grants};
use super::search::{self, Found, Hit, Search};
use super::{
    now_ms, IdentityChange, IdentityRow, NewMessage, RoomRow, StoreError, StoreOptions,
    StoreReader, StoreWriter, Stored, SyncMode, NONCE_WINDOW_MS,
};
use crate::protocol::ChatMessage;
use crate::store::changes::{finish, ChangeRequest, Changed, Logged, ReactionRow, Refusal};
use crate::store::{as_u64, read_back, LogQuery};
use postgres::{Client, NoTls, Transaction};
use std::cell::RefCell;

mod batch;
mod changes;
pub mod cluster;
mod handoff;
mod listen;

pub use handoff::{Handoff, LiveNotice, Posted};
pub use listen::{listen, Notice};

/// The schema's versions in order: version N is `SCHEMAS[N - 1]`, and
/// `chat_schema` records the newest applied.
const SCHEMAS: &[&str] = &[
    include_str!("schema.sql"),
    // 2: the tables nodes share besides messages ([`cluster`]).
    include_str!("cluster.sql"),
    // 3: full-text search (`store::search`) and read marks (`store::reads`).
    include_str!("search_reads.sql"),
    // 4: the order search reads in.
    include_str!("search_order.sql"),
    // 5: accounts, sessions and failed sign-ins (`store::accounts`).
    include_str!("accounts.sql"),
    // 6: invites and API tokens (`store::grants`).
    include_str!("grants.sql"),
    // 7: who may see each room, and memberships (`store::access`).
    include_str!("room_access.sql"),
    // 8: messages that change (`store::changes`).
    include_str!("changes.sql"),
    // 9: bans, mutes, room settings and the audit log (`store::moderation`).
    include_str!("moderation.sql"),
    // 10: fallback sessions and the POSTs handed between nodes ([`Handoff`]).
    include_str!("live.sql"),
    // 11: uploaded files (protocol 1.2 section 5).
    include_str!("files.sql"),
    // 12: a person's messages and reactions by author (`store::personal`).
    include_str!("personal.sql"),
];
/// The newest schema version this server knows.
pub const SCHEMA_VERSION: i32 = SCHEMAS.len() as i32;
/// The advisory lock nodes take while they check and apply the schema.
const SCHEMA_LOCK: i64 = 0x6368_6174; // "chat"
/// The channel of the notices a commit sends: `node \t last id \t room`.
const CHANNEL: &str = "chat_messages";

/// Messages removed per statement by [`StoreWriter::expire`].
const EXPIRE_CHUNK: i64 = 1000;

impl From<postgres::Error> for StoreError {
    fn from(e: postgres::Error) -> Self {
        StoreError::Failed(e.to_string())
    }
}

/// A connection to `url`, made again when it broke.
struct Conn {
    /// Where to connect.
    url: String,
    /// Session settings applied on every (re)connection.
    settings: String,
    /// The live connection, if any.
    client: Option<Client>,
}

impl Conn {
    fn new(url: &str, options: &StoreOptions) -> Result<Conn, StoreError> {
        let commit = match options.sync {
            SyncMode::Full => "on",
            SyncMode::Normal => "off",
        };
        let mut conn = Conn {
            url: url.to_owned(),
            settings: format!(
                "SET synchronous_commit = {commit}; SET lock_timeout = {}",
                options.busy_timeout.as_millis()
            ),
            client: None,
        };
        conn.get()?;
        Ok(conn)
    }

    /// True when the connection it had is closed (broken, or none).
    fn broken(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    /// The connection, made (again) if there is none or it closed.
    fn get(&mut self) -> Result<&mut Client, StoreError> {
        if self.client.as_ref().is_none_or(Client::is_closed) {
            let mut client = Client::connect(&self.url, NoTls).map_err(|e| StoreError::Open {
                path: "CHAT_DATABASE_URL".into(),
                cause: e.to_string(),
            })?;
            client.batch_execute(&self.settings)?;
            self.client = Some(client);
        }
        Ok(self.client.as_mut().expect("just connected"))
    }
}

impl Drop for Conn {
    /// The synchronous client's drop blocks on its own runtime, which
    /// panics on a tokio worker (where the hub, owning the reader, ends):
    /// such a drop is done on a plain thread.
    fn drop(&mut self) {
        if let Some(client) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("pg-close".into())
                    .spawn(move || drop(client));
            }
        }
    }
}

/// Connects to `url`, applies the schema if the database has none, and
/// returns the two halves, each with its own connection.
///
/// `node` names this server in its notices (see [`listen`]).
pub fn open(
    url: &str,
    options: &StoreOptions,
    node: &str,
) -> Result<(PgReader, PgWriter), StoreError> {
    let mut writer = Conn::new(url, options)?;
    migrate(writer.get()?)?;
    let reader = Conn::new(url, options)?;
    Ok((
        PgReader {
            conn: RefCell::new(reader),
        },
        PgWriter {
            conn: writer,
            node: node.to_owned(),
        },
    ))
}

/// Applies the schema under an advisory lock: safe when nodes start together.
fn migrate(client: &mut Client) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])?;
    tx.batch_execute("CREATE TABLE IF NOT EXISTS chat_schema (version INTEGER NOT NULL)")?;
    let version: Option<i32> = tx
        .query_opt("SELECT version FROM chat_schema", &[])?
        .map(|row| row.get(0));
    let applied = version.unwrap_or(0);
    for (i, sql) in SCHEMAS.iter().enumerate().skip(applied.max(0) as usize) {
        let next = i as i32 + 1;
        tx.batch_execute(sql)?;
        tx.execute("DELETE FROM chat_schema", &[])?;
        tx.execute("INSERT INTO chat_schema (version) VALUES ($1)", &[&next])?;
        tracing::info!("applied the PostgreSQL schema's version {next}");
    }
    if let Some(found) = version.filter(|&v| v > SCHEMA_VERSION) {
        return Err(StoreError::Open {
            path: "CHAT_DATABASE_URL".into(),
            cause: super::newer_store(found as usize, SCHEMA_VERSION as usize),
        });
    }
    Ok(tx.commit()?)
}

/// Read side, used by the hub (behind its mutex, on the blocking pool).
pub struct PgReader {
    /// Its own connection (the traits read through `&self`).
    conn: RefCell<Conn>,
}

impl PgReader {
    /// Runs `read`; when it failed because the connection was broken (the
    /// database restarted, a network cut), once more on a new one. Each
    /// reader finds out on its first read after an outage, and with several
    /// readers that was several refused requests for one outage.
    fn again<T>(&self, read: impl Fn(&Self) -> Result<T, StoreError>) -> Result<T, StoreError> {
        match read(self) {
            Err(_) if self.conn.borrow().broken() => read(self),
            done => done,
        }
    }
}

impl StoreReader for PgReader {
    fn another(&self) -> Result<Box<dyn StoreReader>, StoreError> {
        let conn = self.conn.borrow();
        let another = Conn {
            url: conn.url.clone(),
            settings: conn.settings.clone(),
            client: None,
        };
        drop(conn);
        let mut another = another;
        another.get()?;
        Ok(Box::new(PgReader {
            conn: RefCell::new(another),
        }))
    }

    fn rooms(&self) -> Result<Vec<RoomRow>, StoreError> {
        self.again(|r| r.rooms_once())
    }

    fn identities(&self) -> Result<Vec<IdentityRow>, StoreError> {
        self.again(|r| r.identities_once())
    }

    fn memberships(&self) -> Result<Vec<MemberRow>, StoreError> {
        self.again(|r| super::access::load_pg(r.conn.borrow_mut().get()?))
    }

    fn moderation(&self, now_ms: u64) -> Result<super::moderation::Decided, StoreError> {
        self.again(|r| super::moderation::load_pg(r.conn.borrow_mut().get()?, now_ms))
    }

    fn audit(
        &self,
        query: &super::moderation::AuditQuery,
    ) -> Result<Vec<super::moderation::AuditRecord>, StoreError> {
        self.again(|r| super::moderation::audit_pg(r.conn.borrow_mut().get()?, query))
    }

    fn claim_name(
        &self,
        keys: &[String],
        identity: &str,
        now_ms: u64,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        self.again(|r| r.claim_name_once(keys, identity, now_ms, lease_ms))
    }

    fn last_read(&self, identity: &str, room: &str) -> Result<Option<u64>, StoreError> {
        self.again(|r| r.last_read_once(identity, room))
    }

    fn account(&self, query: &AccountQuery) -> Result<Option<AccountRow>, StoreError> {
        self.again(|r| accounts::account_pg(r.conn.borrow_mut().get()?, query))
    }

    fn account_roles(&self) -> Result<Vec<(String, Role)>, StoreError> {
        self.again(|r| accounts::roles_pg(r.conn.borrow_mut().get()?))
    }

    fn session(&self, hash: &[u8; 32]) -> Result<Option<SessionRow>, StoreError> {
        self.again(|r| accounts::session_pg(r.conn.borrow_mut().get()?, hash))
    }

    fn sessions_of(&self, identity: &str) -> Result<Vec<SessionRow>, StoreError> {
        self.again(|r| accounts::sessions_of_pg(r.conn.borrow_mut().get()?, identity))
    }

    fn sign_in_failures(&self, key: &str, now_ms: u64, window_ms: u64) -> Result<u32, StoreError> {
        self.again(|r| accounts::failures_pg(r.conn.borrow_mut().get()?, key, now_ms, window_ms))
    }

    fn grants(&self, query: &GrantQuery) -> Result<Grants, StoreError> {
        self.again(|r| super::grants::read_pg(r.conn.borrow_mut().get()?, query))
    }

    fn uploads(&self, query: &FileQuery) -> Result<Vec<UploadRow>, StoreError> {
        self.again(|r| super::files::read_pg(r.conn.borrow_mut().get()?, query))
    }

    fn personal(
        &self,
        query: &super::personal::PersonalQuery,
    ) -> Result<super::personal::Page, StoreError> {
        self.again(|r| super::personal::read_pg(r.conn.borrow_mut().get()?, query))
    }

    fn upload_usage(&self, identity: &str) -> Result<u64, StoreError> {
        self.again(|r| super::files::read_usage_pg(r.conn.borrow_mut().get()?, identity))
    }

    fn files_gone(&self) -> Result<Vec<String>, StoreError> {
        self.again(|r| super::files::read_gone_pg(r.conn.borrow_mut().get()?))
    }

    fn search(&self, search: &Search) -> Result<Found, StoreError> {
        self.again(|r| r.search_once(search))
    }

    fn range(&self, room: &str, from: u64, to: u64) -> Result<Vec<ChatMessage>, StoreError> {
        self.again(|r| r.range_once(room, from, to))
    }

    fn reactions(
        &self,
        room: &str,
        from: u64,
        to: u64,
        viewer: Option<&str>,
    ) -> Result<Vec<ReactionRow>, StoreError> {
        self.again(|r| changes::reactions(r.conn.borrow_mut().get()?, room, from, to, viewer))
    }

    fn change_log(&self, room: &str, query: LogQuery) -> Result<Vec<Logged>, StoreError> {
        self.again(|r| changes::log(r.conn.borrow_mut().get()?, room, query))
    }
}

/// Each read once, on the connection as it is ([`PgReader::again`]).
impl PgReader {
    fn rooms_once(&self) -> Result<Vec<RoomRow>, StoreError> {
        let mut conn = self.conn.borrow_mut();
        let rows = conn.get()?.query(
            "SELECT r.name, r.last_id, GREATEST(r.created_ms, COALESCE(m.ts, 0)), r.kind \
             FROM rooms r LEFT JOIN messages m ON m.room_id = r.id AND m.id = r.last_id \
             ORDER BY r.name",
            &[],
        )?;
        Ok(rows
            .iter()
            .map(|r| RoomRow {
                name: r.get(0),
                last_id: as_u64(r.get(1)),
                active_ms: as_u64(r.get(2)),
                kind: RoomKind::from_code(r.get::<_, i16>(3).into()),
            })
            .collect())
    }

    fn identities_once(&self) -> Result<Vec<IdentityRow>, StoreError> {
        let mut conn = self.conn.borrow_mut();
        let rows = conn
            .get()?
            .query("SELECT id, token_hash, name, seen_ms FROM identities", &[])?;
        Ok(rows
            .iter()
            .map(|r| IdentityRow {
                id: r.get(0),
                token_hash: r.get::<_, Vec<u8>>(1).try_into().unwrap_or([0; 32]),
                name: r.get(2),
                seen_ms: as_u64(r.get(3)),
            })
            .collect())
    }

    fn claim_name_once(
        &self,
        keys: &[String],
        identity: &str,
        now_ms: u64,
        lease_ms: u64,
    ) -> Result<bool, StoreError> {
        let mut keys = keys.to_vec();
        keys.sort();
        keys.dedup();
        let (now, cutoff) = (now_ms as i64, now_ms.saturating_sub(lease_ms) as i64);
        let mut conn = self.conn.borrow_mut();
        let mut tx = conn.get()?.transaction()?;
        // A concurrent claim of the same key waits here for the other's
        // commit, then sees its row: one of the two wins.
        let won = tx.query(
            "INSERT INTO name_keys (key, identity, seen_ms) \
             SELECT k, $2, $3 FROM unnest($1::text[]) AS k \
             ON CONFLICT (key) DO UPDATE SET identity = EXCLUDED.identity, \
               seen_ms = EXCLUDED.seen_ms \
             WHERE name_keys.identity = EXCLUDED.identity \
               OR (name_keys.seen_ms < $4 \
                   AND NOT EXISTS (SELECT 1 FROM cluster_sessions s \
                                   WHERE s.identity = name_keys.identity) \
                   AND NOT EXISTS (SELECT 1 FROM identities i \
                                   WHERE i.id = name_keys.identity AND i.seen_ms >= $4)) \
             RETURNING key",
            &[&keys, &identity, &now, &cutoff],
        )?;
        if won.len() < keys.len() {
            return Ok(false); // dropped: rolled back
        }
        tx.execute(
            "DELETE FROM name_keys WHERE identity = $1 AND key <> ALL($2)",
            &[&identity, &keys],
        )?;
        tx.commit()?;
        Ok(true)
    }

    fn last_read_once(&self, identity: &str, room: &str) -> Result<Option<u64>, StoreError> {
        super::reads::load_pg(self.conn.borrow_mut().get()?, identity, room)
    }

    fn search_once(&self, search: &Search) -> Result<Found, StoreError> {
        let mut conn = self.conn.borrow_mut();
        let mut tx = conn.get()?.transaction()?;
        // The budget, as a statement timeout for this search alone.
        let timeout = search.budget.as_millis().clamp(1, i32::MAX as u128);
        tx.batch_execute(&format!("SET LOCAL statement_timeout = {timeout}"))?;
        let before = search.before.map_or(i64::MAX, |c| c.seq);
        let rows = tx.query(
            &format!(
                "SELECT r.name, m.id, m.\"user\", m.text, m.ts, m.nonce, m.seq, {} \
                 FROM messages m JOIN rooms r ON r.id = m.room_id \
                 WHERE to_tsvector('simple', m.text) @@ to_tsquery('simple', $1) \
                   AND ($2::text IS NULL OR r.name = $2) AND m.seq < $3 \
                   AND (r.kind = 0 OR r.name = ANY($5)) AND NOT m.deleted \
                 ORDER BY m.seq DESC LIMIT $4",
                changes::EXTRA
            ),
            &[
                &search::tsquery(&search.terms),
                &search.room,
                &before,
                &(search.limit as i64),
                &search.readable,
            ],
        );
        let rows = match rows {
            Ok(rows) => rows,
            Err(e) if e.code() == Some(&postgres::error::SqlState::QUERY_CANCELED) => {
                return Ok(Found {
                    hits: Vec::new(),
                    stopped: true,
                })
            }
            Err(e) => return Err(e.into()),
        };
        tx.commit()?;
        let hits = rows
            .iter()
            .map(|r| {
                let message = read_back(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5));
                Hit::new(r.get(6), finish(message, changes::extra(r, 7)))
            })
            .collect();
        Ok(Found {
            hits,
            stopped: false,
        })
    }

    fn range_once(&self, room: &str, from: u64, to: u64) -> Result<Vec<ChatMessage>, StoreError> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut conn = self.conn.borrow_mut();
        let rows = conn.get()?.query(
            &format!(
                "SELECT m.id, m.\"user\", m.text, m.ts, m.nonce, {} FROM messages m \
                 JOIN rooms r ON r.id = m.room_id \
                 WHERE r.name = $1 AND m.id BETWEEN $2 AND $3 ORDER BY m.id",
                changes::EXTRA
            ),
            &[&room, &(from as i64), &(to.min(i64::MAX as u64) as i64)],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let message = read_back(
                    room.to_owned(),
                    r.get(0),
                    r.get(1),
                    r.get(2),
                    r.get(3),
                    r.get(4),
                );
                finish(message, changes::extra(r, 5))
            })
            .collect())
    }
}

/// Write side: lives on the group-commit thread.
pub struct PgWriter {
    /// Its own connection.
    conn: Conn,
    /// This node's id, in its notices (so that it skips its own).
    node: String,
}

/// The message `msg` repeats, if its author posted its nonce in the room
/// within [`NONCE_WINDOW_MS`] of its time.
fn find_repeat(
    tx: &mut Transaction<'_>,
    room_id: i64,
    msg: &NewMessage,
) -> Result<Option<ChatMessage>, StoreError> {
    let (Some(author), Some(nonce)) = (&msg.author, &msg.nonce) else {
        return Ok(None);
    };
    let since = msg.ts.saturating_sub(NONCE_WINDOW_MS) as i64;
    let row = tx.query_opt(
        "SELECT id, \"user\", text, ts FROM messages \
         WHERE room_id = $1 AND author = $2 AND nonce = $3 AND ts >= $4 \
         ORDER BY id DESC LIMIT 1",
        &[&room_id, author, nonce, &since],
    )?;
    Ok(row.map(|r| {
        let nonce = Some(nonce.clone());
        read_back(
            msg.room.clone(),
            r.get(0),
            r.get(1),
            r.get(2),
            r.get(3),
            nonce,
        )
    }))
}

/// Inserts `msg` as message `id` of room `room_id`, answering `reply`.
fn insert(
    tx: &mut Transaction<'_>,
    room_id: i64,
    id: u64,
    msg: &NewMessage,
    reply: &Option<(String, String)>,
) -> Result<(), postgres::Error> {
    let (reply_user, reply_text) = reply.clone().unzip();
    tx.execute(
        "INSERT INTO messages (room_id, id, \"user\", text, ts, author, nonce, \
                               reply_to, reply_user, reply_text) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &room_id,
            &(id as i64),
            &msg.user,
            &msg.text,
            &(msg.ts as i64),
            &msg.author,
            &msg.nonce,
            &msg.reply_to.map(|r| r as i64),
            &reply_user,
            &reply_text,
        ],
    )
    .map(drop)
}

impl PgWriter {
    /// One transaction over `batch`, each insert under a savepoint, so that
    /// a failing one is left out and the others go on (after
    /// [`PgWriter::append_batched`] met a failing statement).
    fn append_isolated(
        &mut self,
        batch: &[NewMessage],
    ) -> Result<Vec<Result<Stored, StoreError>>, StoreError> {
        let mut tx = self.conn.get()?.transaction()?;
        let mut staged = batch::lock_rooms(&mut tx, batch)?;
        let replies = changes::reply_snapshots(&mut tx, batch, &staged)?;
        let mut results = Vec::with_capacity(batch.len());
        for msg in batch {
            let room = msg.room.as_str();
            let (room_id, last) = staged[room];
            if let Some(message) = find_repeat(&mut tx, room_id, msg)? {
                results.push(Ok(Stored {
                    message,
                    repeat: true,
                }));
                continue;
            }
            let id = last + 1;
            let reply = msg
                .reply_to
                .and_then(|to| replies.get(&(room_id, to)).cloned());
            let mut one = tx.savepoint("one")?;
            // *1.2* (section 5): the attachments are the author's, and now posted.
            let attachments = super::files::claim_pg(&mut one, msg, id);
            let attachments = match attachments {
                Ok(attachments) => attachments,
                Err(refusal) => {
                    one.rollback()?;
                    results.push(Err(refusal));
                    continue;
                }
            };
            let inserted = match insert(&mut one, room_id, id, msg, &reply) {
                Ok(()) => one.commit(),
                Err(e) => {
                    one.rollback()?;
                    Err(e)
                }
            };
            match inserted {
                Err(e) => {
                    tracing::error!(room, error = %e, "message not stored");
                    results.push(Err(StoreError::from(e)));
                }
                Ok(()) => {
                    staged.insert(msg.room.clone(), (room_id, id));
                    let mut message = msg.stored_with(id, reply);
                    message.attachments = attachments;
                    results.push(Ok(Stored {
                        message,
                        repeat: false,
                    }));
                }
            }
        }
        for (room, &(room_id, last)) in &staged {
            tx.execute(
                "UPDATE rooms SET last_id = $2 WHERE id = $1",
                &[&room_id, &(last as i64)],
            )?;
            // Delivered to listeners at commit, in commit order.
            let notice = format!("{}\t{last}\t{room}", self.node);
            tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &notice])?;
        }
        tx.commit()?;
        Ok(results)
    }
}

impl StoreWriter for PgWriter {
    fn create_room(&mut self, room: &str) -> Result<(), StoreError> {
        self.conn.get()?.execute(
            "INSERT INTO rooms (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&room, &(now_ms() as i64)],
        )?;
        Ok(())
    }

    fn delete_room(&mut self, room: &str) -> Result<(), StoreError> {
        self.conn.get()?.execute(
            "DELETE FROM rooms WHERE name = $1 AND last_id = 0 \
             AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.room_id = rooms.id)",
            &[&room],
        )?;
        self.conn
            .get()?
            .execute(crate::store::access::ORPHANS[1], &[&room])?;
        Ok(())
    }

    fn change(&mut self, batch: &[ChangeRequest]) -> Vec<Result<Changed, Refusal>> {
        match self.conn.get() {
            Ok(client) => changes::change(client, batch),
            Err(e) => batch
                .iter()
                .map(|_| Err(Refusal::Store(e.clone())))
                .collect(),
        }
    }

    fn append(&mut self, batch: &[NewMessage]) -> Vec<Result<Stored, StoreError>> {
        super::append_or_isolate(batch, |isolate| match isolate {
            false => self.append_batched(batch),
            true => self.append_isolated(batch),
        })
    }

    fn save_identities(&mut self, changes: &[IdentityChange]) -> Result<(), StoreError> {
        let mut tx = self.conn.get()?.transaction()?;
        for change in changes {
            match change {
                IdentityChange::Save(row) => {
                    tx.execute(
                        "INSERT INTO identities (id, token_hash, name, seen_ms) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO UPDATE SET \
                         token_hash = EXCLUDED.token_hash, name = EXCLUDED.name, \
                         seen_ms = EXCLUDED.seen_ms",
                        &[
                            &row.id,
                            &&row.token_hash[..],
                            &row.name,
                            &(row.seen_ms as i64),
                        ],
                    )?;
                }
                // An account's identity is never forgotten, whatever a
                // node's memory says (it may not have heard of the account).
                IdentityChange::Forget(id) => {
                    let forgot = tx.execute(
                        "DELETE FROM identities WHERE id = $1 \
                         AND NOT EXISTS (SELECT 1 FROM accounts WHERE identity = $1)",
                        &[id],
                    )?;
                    if forgot > 0 {
                        tx.execute("DELETE FROM read_marks WHERE identity = $1", &[id])?;
                    }
                }
            }
        }
        Ok(tx.commit()?)
    }

    fn save_reads(&mut self, marks: &[super::reads::ReadMark]) -> Result<(), StoreError> {
        super::reads::save_pg(self.conn.get()?, marks)
    }

    fn save_accounts(&mut self, changes: &[AccountChange]) -> Result<(), StoreError> {
        accounts::save_pg(self.conn.get()?, changes)
    }

    fn probe(&mut self) -> Result<(), StoreError> {
        self.conn.get()?.execute(
            "INSERT INTO probe (id, at_ms) VALUES (1, $1) \
             ON CONFLICT (id) DO UPDATE SET at_ms = EXCLUDED.at_ms",
            &[&(now_ms() as i64)],
        )?;
        Ok(())
    }

    fn expire(&mut self, before_ms: u64, max_rows: usize) -> Result<usize, StoreError> {
        let mut tx = self.conn.get()?.transaction()?;
        let rooms: Vec<i64> = tx
            .query("SELECT id FROM rooms", &[])?
            .iter()
            .map(|r| r.get(0))
            .collect();
        let mut removed = 0usize;
        for room_id in rooms {
            while removed < max_rows {
                let chunk = ((max_rows - removed) as i64).min(EXPIRE_CHUNK);
                let n = tx.execute(
                    "DELETE FROM messages WHERE room_id = $1 AND id IN \
                     (SELECT id FROM messages WHERE room_id = $1 AND ts < $2 \
                      ORDER BY id LIMIT $3)",
                    &[&room_id, &(before_ms as i64), &chunk],
                )?;
                removed += n as usize;
                if (n as i64) < chunk {
                    break;
                }
            }
            // *1.2*: the reactions and logged changes of what went.
            for table in ["reactions", "changes"] {
                tx.execute(
                    &format!(
                        "DELETE FROM {table} WHERE room_id = $1 AND msg_id < \
                         (SELECT COALESCE(MIN(id), (SELECT last_id + 1 FROM rooms WHERE id = $1)) \
                          FROM messages WHERE room_id = $1)"
                    ),
                    &[&room_id],
                )?;
            }
            // *1.2* (section 5): and their files.
            for sql in super::files::gone_statements(super::files::Gone::Expired, '$') {
                tx.execute(&sql, &[&room_id])?;
            }
        }
        tx.commit()?;
        Ok(removed)
    }
}
