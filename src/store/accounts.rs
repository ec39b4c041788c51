//! *1.2* (section 1): accounts (identities with a password), their
//! sessions, and failed sign-ins, as both stores keep them. Written by the
//! commit thread ([`AccountChange`], in order, one transaction per batch);
//! read on the hub's readers. The failures live in the store, not in a
//! node's memory, so every node counts the same ones. The SQL of both
//! stores is here.

use super::grants::GrantChange;
use super::{as_u64, StoreError};

/// A server role (`welcome.user.role` says `guest` for an identity with no
/// account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// May do everything, on every room (the admin command line makes them).
    Admin,
    /// An ordinary account.
    User,
}

impl Role {
    /// As stored (and as the protocol says it).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }

    /// From the store; an unknown value is the lesser role (fail closed).
    pub fn parse(stored: &str) -> Role {
        match stored {
            "admin" => Role::Admin,
            _ => Role::User,
        }
    }
}

/// An account as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    /// Its identity's id (`user.id`).
    pub identity: String,
    /// Its name's first key (the hub's `names::keys`): sign-in finds it so.
    pub name_key: String,
    /// The password's Argon2id PHC string; never the password.
    pub password: String,
    /// Its server role.
    pub role: Role,
    /// When it was made (ms since the epoch).
    pub created_ms: u64,
}

/// A signed-in session as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRow {
    /// SHA-256 of the session id (the cookie's value); never the id.
    pub hash: [u8; 32],
    /// The account's identity id.
    pub identity: String,
    /// When it began (ms).
    pub created_ms: u64,
    /// When it was last used (ms): it ends after the configured time unused.
    pub used_ms: u64,
    /// The client address it was last used from.
    pub addr: String,
    /// Its `User-Agent` (cut to [`MAX_AGENT_CHARS`]).
    pub agent: String,
}

/// Most characters of a `User-Agent` a session keeps.
pub const MAX_AGENT_CHARS: usize = 200;

/// A change to the accounts, sessions or failure counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChange {
    /// Inserts the account of `row.identity`, or updates its name key,
    /// password and role; fails when another account has the name key.
    SaveAccount(AccountRow),
    /// Inserts the session `row.hash`, or records its latest use (its
    /// time, address and agent).
    SaveSession(SessionRow),
    /// Records a session's latest use, if it has not ended (never makes one).
    Touch {
        /// The session's hash.
        hash: [u8; 32],
        /// When (ms).
        used_ms: u64,
        /// From where.
        addr: String,
        /// By what.
        agent: String,
    },
    /// The account's identity was renamed: sign-in finds it by `name_key`.
    Rename {
        /// The account's identity id.
        identity: String,
        /// Its new name's first key.
        name_key: String,
    },
    /// Ends one session.
    EndSession([u8; 32]),
    /// Ends every session of `identity` but `except`.
    EndSessions {
        /// The account's identity id.
        identity: String,
        /// A session to keep (the one that asked), if any.
        except: Option<[u8; 32]>,
    },
    /// Ends every session unused since `before_ms`.
    ExpireSessions {
        /// Sessions last used before this (ms) end.
        before_ms: u64,
    },
    /// A failed sign-in counted against `key` at `at_ms`: the count starts
    /// again at 1 when its window (`window_ms` from its first failure) has
    /// passed.
    Failed {
        /// An account's or an address's key.
        key: String,
        /// When (ms).
        at_ms: u64,
        /// The window's length (ms).
        window_ms: u64,
    },
    /// A sign-in succeeded: `key`'s failures are forgotten.
    Succeeded(String),
    /// Forgets the failure counts whose window began before `before_ms`
    /// (they count nothing any more; names an attacker typed go too).
    ForgetFailures {
        /// Windows that began before this (ms) are over.
        before_ms: u64,
    },
    /// An invite or API token change ([`super::grants`]).
    Grant(GrantChange),
    /// The account of this identity is deleted ([`super::personal`]): its
    /// sessions, tokens, read marks, standings, uploads and identity go;
    /// the messages it has left show [`super::personal::DELETED_USER`].
    Erase(String),
    /// *1.2*: a room's kind or a standing in it ([`super::access`]).
    Access(super::access::AccessChange),
    /// *1.2* (section 5): an upload saved, posted or removed ([`super::files`]).
    File(super::files::FileChange),
    /// *1.2*: a moderator's decision ([`super::moderation`]) and its audit
    /// entry, written together.
    Moderation {
        /// What changes (`None`: only logged, as a kick or a purge).
        change: Option<super::moderation::ModerationChange>,
        /// The audit entry.
        audit: Option<super::moderation::AuditRecord>,
    },
}

/// The SQLite form of `hash`.
fn blob(hash: &[u8; 32]) -> &[u8] {
    &hash[..]
}

/// Applies `changes` in SQLite, in order, in one transaction.
pub fn save_sqlite(
    conn: &mut rusqlite::Connection,
    changes: &[AccountChange],
) -> Result<(), StoreError> {
    use rusqlite::params;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    for change in changes {
        match change {
            AccountChange::SaveAccount(a) => tx
                .prepare_cached(
                    // Not INSERT OR REPLACE: that would delete another
                    // account holding the same name key; this fails.
                    "INSERT INTO accounts (identity, name_key, password, role, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)
                     ON CONFLICT (identity) DO UPDATE SET name_key = excluded.name_key,
                       password = excluded.password, role = excluded.role",
                )?
                .execute(params![
                    a.identity,
                    a.name_key,
                    a.password,
                    a.role.as_str(),
                    a.created_ms as i64
                ])?,
            AccountChange::SaveSession(s) => tx
                .prepare_cached(
                    "INSERT INTO sessions (hash, identity, created_ms, used_ms, addr, agent)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (hash) DO UPDATE SET used_ms = excluded.used_ms,
                       addr = excluded.addr, agent = excluded.agent",
                )?
                .execute(params![
                    blob(&s.hash),
                    s.identity,
                    s.created_ms as i64,
                    s.used_ms as i64,
                    s.addr,
                    s.agent
                ])?,
            AccountChange::Touch {
                hash,
                used_ms,
                addr,
                agent,
            } => tx
                .prepare_cached(
                    "UPDATE sessions SET used_ms = ?2, addr = ?3, agent = ?4 WHERE hash = ?1",
                )?
                .execute(params![blob(hash), *used_ms as i64, addr, agent])?,
            AccountChange::Rename { identity, name_key } => tx
                .prepare_cached("UPDATE accounts SET name_key = ?2 WHERE identity = ?1")?
                .execute(params![identity, name_key])?,
            AccountChange::EndSession(hash) => tx
                .prepare_cached("DELETE FROM sessions WHERE hash = ?1")?
                .execute([blob(hash)])?,
            AccountChange::EndSessions { identity, except } => tx
                .prepare_cached("DELETE FROM sessions WHERE identity = ?1 AND hash IS NOT ?2")?
                .execute(params![identity, except.as_ref().map(blob)])?,
            AccountChange::ExpireSessions { before_ms } => tx
                .prepare_cached("DELETE FROM sessions WHERE used_ms < ?1")?
                .execute([*before_ms as i64])?,
            AccountChange::Failed {
                key,
                at_ms,
                window_ms,
            } => tx
                .prepare_cached(
                    "INSERT INTO sign_in_failures (key, failures, since_ms) VALUES (?1, 1, ?2)
                     ON CONFLICT (key) DO UPDATE SET
                       failures = CASE WHEN since_ms <= ?2 - ?3 THEN 1 ELSE failures + 1 END,
                       since_ms = CASE WHEN since_ms <= ?2 - ?3 THEN ?2 ELSE since_ms END",
                )?
                .execute(params![key, *at_ms as i64, *window_ms as i64])?,
            AccountChange::Succeeded(key) => tx
                .prepare_cached("DELETE FROM sign_in_failures WHERE key = ?1")?
                .execute([key])?,
            AccountChange::ForgetFailures { before_ms } => tx
                .prepare_cached("DELETE FROM sign_in_failures WHERE since_ms < ?1")?
                .execute([*before_ms as i64])?,
            AccountChange::Grant(change) => {
                super::grants::save_sqlite(&tx, change)?;
                0
            }
            AccountChange::Erase(identity) => {
                super::personal::erase_sqlite(&tx, identity)?;
                0
            }
            AccountChange::Access(change) => {
                super::access::save_sqlite(&tx, change)?;
                0
            }
            AccountChange::File(change) => {
                super::files::save_sqlite(&tx, change)?;
                0
            }
            AccountChange::Moderation { change, audit } => {
                super::moderation::save_sqlite(&tx, change.as_ref(), audit.as_ref())?;
                0
            }
        };
    }
    Ok(tx.commit()?)
}

/// Applies `changes` in PostgreSQL, in order, in one transaction.
pub fn save_pg(client: &mut postgres::Client, changes: &[AccountChange]) -> Result<(), StoreError> {
    let mut tx = client.transaction()?;
    for change in changes {
        match change {
            AccountChange::SaveAccount(a) => tx.execute(
                "INSERT INTO accounts (identity, name_key, password, role, created_ms) \
                 VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (identity) DO UPDATE SET name_key = EXCLUDED.name_key, \
                   password = EXCLUDED.password, role = EXCLUDED.role",
                &[
                    &a.identity,
                    &a.name_key,
                    &a.password,
                    &a.role.as_str(),
                    &(a.created_ms as i64),
                ],
            )?,
            AccountChange::SaveSession(s) => tx.execute(
                "INSERT INTO sessions (hash, identity, created_ms, used_ms, addr, agent) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (hash) DO UPDATE SET used_ms = EXCLUDED.used_ms, \
                   addr = EXCLUDED.addr, agent = EXCLUDED.agent",
                &[
                    &blob(&s.hash),
                    &s.identity,
                    &(s.created_ms as i64),
                    &(s.used_ms as i64),
                    &s.addr,
                    &s.agent,
                ],
            )?,
            AccountChange::Touch {
                hash,
                used_ms,
                addr,
                agent,
            } => tx.execute(
                "UPDATE sessions SET used_ms = $2, addr = $3, agent = $4 WHERE hash = $1",
                &[&blob(hash), &(*used_ms as i64), addr, agent],
            )?,
            AccountChange::Rename { identity, name_key } => tx.execute(
                "UPDATE accounts SET name_key = $2 WHERE identity = $1",
                &[identity, name_key],
            )?,
            AccountChange::EndSession(hash) => {
                tx.execute("DELETE FROM sessions WHERE hash = $1", &[&blob(hash)])?
            }
            AccountChange::EndSessions { identity, except } => tx.execute(
                "DELETE FROM sessions WHERE identity = $1 AND hash IS DISTINCT FROM $2",
                &[identity, &except.as_ref().map(blob)],
            )?,
            AccountChange::ExpireSessions { before_ms } => tx.execute(
                "DELETE FROM sessions WHERE used_ms < $1",
                &[&(*before_ms as i64)],
            )?,
            AccountChange::Failed {
                key,
                at_ms,
                window_ms,
            } => tx.execute(
                "INSERT INTO sign_in_failures AS f (key, failures, since_ms) VALUES ($1, 1, $2) \
                 ON CONFLICT (key) DO UPDATE SET \
                   failures = CASE WHEN f.since_ms <= $2 - $3 THEN 1 ELSE f.failures + 1 END, \
                   since_ms = CASE WHEN f.since_ms <= $2 - $3 THEN $2 ELSE f.since_ms END",
                &[key, &(*at_ms as i64), &(*window_ms as i64)],
            )?,
            AccountChange::Succeeded(key) => {
                tx.execute("DELETE FROM sign_in_failures WHERE key = $1", &[key])?
            }
            AccountChange::ForgetFailures { before_ms } => tx.execute(
                "DELETE FROM sign_in_failures WHERE since_ms < $1",
                &[&(*before_ms as i64)],
            )?,
            AccountChange::Grant(change) => {
                super::grants::save_pg(&mut tx, change)?;
                0
            }
            AccountChange::Erase(identity) => {
                super::personal::erase_pg(&mut tx, identity)?;
                0
            }
            AccountChange::Access(change) => {
                super::access::save_pg(&mut tx, change)?;
                0
            }
            AccountChange::File(change) => {
                super::files::save_pg(&mut tx, change)?;
                0
            }
            AccountChange::Moderation { change, audit } => {
                super::moderation::save_pg(&mut tx, change.as_ref(), audit.as_ref())?;
                0
            }
        };
    }
    Ok(tx.commit()?)
}

/// The columns [`AccountRow`] is read from, in its order.
const ACCOUNT_COLUMNS: &str = "identity, name_key, password, role, created_ms";
/// The columns [`SessionRow`] is read from, in its order.
const SESSION_COLUMNS: &str = "hash, identity, created_ms, used_ms, addr, agent";

/// One row's values, whichever store it came from.
trait Row {
    /// Column `i` as text.
    fn text(&self, i: usize) -> Result<String, StoreError>;
    /// Column `i` as an integer.
    fn int(&self, i: usize) -> Result<i64, StoreError>;
    /// Column `i` as bytes.
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError>;
}

impl Row for rusqlite::Row<'_> {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.get(i)?)
    }
}

impl Row for postgres::Row {
    fn text(&self, i: usize) -> Result<String, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn int(&self, i: usize) -> Result<i64, StoreError> {
        Ok(self.try_get(i)?)
    }
    fn bytes(&self, i: usize) -> Result<Vec<u8>, StoreError> {
        Ok(self.try_get(i)?)
    }
}

/// An [`AccountRow`] from a row of [`ACCOUNT_COLUMNS`].
fn account(r: &impl Row) -> Result<AccountRow, StoreError> {
    Ok(AccountRow {
        identity: r.text(0)?,
        name_key: r.text(1)?,
        password: r.text(2)?,
        role: Role::parse(&r.text(3)?),
        created_ms: as_u64(r.int(4)?),
    })
}

/// A [`SessionRow`] from a row of [`SESSION_COLUMNS`].
fn session(r: &impl Row) -> Result<SessionRow, StoreError> {
    Ok(SessionRow {
        hash: r
            .bytes(0)?
            .try_into()
            .map_err(|_| StoreError::Failed("a session hash of the wrong length".into()))?,
        identity: r.text(1)?,
        created_ms: as_u64(r.int(2)?),
        used_ms: as_u64(r.int(3)?),
        addr: r.text(4)?,
        agent: r.text(5)?,
    })
}

/// What a reader asks about accounts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountQuery {
    /// The account whose name has this first key.
    ByNameKey(String),
    /// The account of this identity.
    ByIdentity(String),
}

impl AccountQuery {
    /// The column it matches and the value it matches it with.
    fn column(&self) -> (&'static str, &str) {
        match self {
            AccountQuery::ByNameKey(key) => ("name_key", key),
            AccountQuery::ByIdentity(id) => ("identity", id),
        }
    }
}

/// Reads an account from SQLite.
pub fn account_sqlite(
    conn: &rusqlite::Connection,
    query: &AccountQuery,
) -> Result<Option<AccountRow>, StoreError> {
    let (column, value) = query.column();
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {column} = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([value])?;
    rows.next()?.map(account).transpose()
}

/// Reads an account from PostgreSQL.
pub fn account_pg(
    client: &mut postgres::Client,
    query: &AccountQuery,
) -> Result<Option<AccountRow>, StoreError> {
    let (column, value) = query.column();
    let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE {column} = $1");
    client
        .query_opt(&sql, &[&value])?
        .as_ref()
        .map(account)
        .transpose()
}

/// The session with this hash, from SQLite.
pub fn session_sqlite(
    conn: &rusqlite::Connection,
    hash: &[u8; 32],
) -> Result<Option<SessionRow>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE hash = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([blob(hash)])?;
    rows.next()?.map(session).transpose()
}

/// The session with this hash, from PostgreSQL.
pub fn session_pg(
    client: &mut postgres::Client,
    hash: &[u8; 32],
) -> Result<Option<SessionRow>, StoreError> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE hash = $1");
    client
        .query_opt(&sql, &[&blob(hash)])?
        .as_ref()
        .map(session)
        .transpose()
}

/// Most sessions [`sessions_of_sqlite`] and [`sessions_of_pg`] list (the
/// most recently used): a read of bounded cost however many there are.
pub const MAX_LISTED_SESSIONS: usize = 100;

/// An account's sessions, most recently used first, from SQLite.
pub fn sessions_of_sqlite(
    conn: &rusqlite::Connection,
    identity: &str,
) -> Result<Vec<SessionRow>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE identity = ?1 \
         ORDER BY used_ms DESC LIMIT {MAX_LISTED_SESSIONS}"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([identity])?;
    let mut found = Vec::new();
    while let Some(row) = rows.next()? {
        found.push(session(row)?);
    }
    Ok(found)
}

/// An account's sessions, most recently used first, from PostgreSQL.
pub fn sessions_of_pg(
    client: &mut postgres::Client,
    identity: &str,
) -> Result<Vec<SessionRow>, StoreError> {
    let sql = format!(
        "SELECT {SESSION_COLUMNS} FROM sessions WHERE identity = $1 \
         ORDER BY used_ms DESC LIMIT {MAX_LISTED_SESSIONS}"
    );
    client
        .query(&sql, &[&identity])?
        .iter()
        .map(session)
        .collect()
}

/// The failures counted against `key` in the window that is open at
/// `now_ms` (0 once it has passed), from SQLite.
pub fn failures_sqlite(
    conn: &rusqlite::Connection,
    key: &str,
    now_ms: u64,
    window_ms: u64,
) -> Result<u32, StoreError> {
    use rusqlite::OptionalExtension;
    let count: Option<i64> = conn
        .prepare_cached("SELECT failures FROM sign_in_failures WHERE key = ?1 AND since_ms > ?2")?
        .query_row(
            rusqlite::params![key, now_ms as i64 - window_ms as i64],
            |r| r.get(0),
        )
        .optional()?;
    Ok(count.map_or(0, |c| c.clamp(0, u32::MAX as i64) as u32))
}

/// The failures counted against `key` in the window open at `now_ms`,
/// from PostgreSQL.
pub fn failures_pg(
    client: &mut postgres::Client,
    key: &str,
    now_ms: u64,
    window_ms: u64,
) -> Result<u32, StoreError> {
    let row = client.query_opt(
        "SELECT failures FROM sign_in_failures WHERE key = $1 AND since_ms > $2",
        &[&key, &(now_ms as i64 - window_ms as i64)],
    )?;
    Ok(row.map_or(0, |r| r.get::<_, i64>(0).clamp(0, u32::MAX as i64) as u32))
}

/// Every account's identity and role (the hub keeps them: an account's
/// name never expires), from SQLite.
pub fn roles_sqlite(conn: &rusqlite::Connection) -> Result<Vec<(String, Role)>, StoreError> {
    let mut stmt = conn.prepare_cached("SELECT identity, role FROM accounts")?;
    let mut rows = stmt.query([])?;
    let mut found = Vec::new();
    while let Some(r) = rows.next()? {
        found.push((r.text(0)?, Role::parse(&r.text(1)?)));
    }
    Ok(found)
}

/// Every account's identity and role, from PostgreSQL.
pub fn roles_pg(client: &mut postgres::Client) -> Result<Vec<(String, Role)>, StoreError> {
    client
        .query("SELECT identity, role FROM accounts", &[])?
        .iter()
        .map(|r| Ok((r.text(0)?, Role::parse(&r.text(1)?))))
        .collect()
}
