//! *1.2* (section 1): what lets someone in besides a password: invites
//! (sign-up codes with a number of uses and an expiry) and API tokens (a
//! bot's or a script's way to post as an account). Both are kept only as
//! the SHA-256 of the code the server minted and showed once. Written
//! through the commit thread inside account changes
//! ([`AccountChange::Grant`](super::accounts::AccountChange::Grant)); read
//! by [`GrantQuery`]. Also the administrators' list of accounts. The SQL of
//! both stores is here (SQLite migration 7, PostgreSQL schema 6).

use super::{as_u64, StoreError};

/// An invite as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRow {
    /// SHA-256 of the code.
    pub hash: [u8; 32],
    /// Sign-ups it still allows.
    pub uses_left: u32,
    /// When it stops working (ms since the epoch).
    pub expires_ms: u64,
    /// When it was made (ms).
    pub created_ms: u64,
}

/// An API token as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    /// SHA-256 of the token.
    pub hash: [u8; 32],
    /// The account it posts as.
    pub identity: String,
    /// What its owner called it.
    pub label: String,
    /// The rooms it may post to; empty: every room.
    pub rooms: Vec<String>,
    /// When it was made (ms).
    pub created_ms: u64,
}

/// An account as the administrators' list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedAccount {
    /// Its identity id.
    pub identity: String,
    /// Its name now.
    pub name: String,
    /// `admin` or `user`.
    pub role: String,
    /// When it was made (ms).
    pub created_ms: u64,
}

/// Most accounts one list answer holds, and most tokens an account keeps.
pub const MAX_LISTED: usize = 1000;

/// A change to invites or tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantChange {
    /// A new invite.
    SaveInvite(InviteRow),
    /// One use of the invite `hash`, which must be live at `now_ms` with a
    /// use left: otherwise the whole transaction fails with
    /// [`INVITE_REFUSED`] (and the sign-up it is part of with it).
    UseInvite {
        /// The invite.
        hash: [u8; 32],
        /// Now (ms).
        now_ms: u64,
    },
    /// A new API token.
    SaveToken(TokenRow),
    /// Revokes the token `hash` of `identity` (another's is left alone).
    RevokeToken {
        /// The token.
        hash: [u8; 32],
        /// Its account.
        identity: String,
    },
}

/// The failure of a [`GrantChange::UseInvite`] whose invite is unknown,
/// used up or expired.
pub const INVITE_REFUSED: &str = "the invite is unknown, used up or expired";

/// What a reader is asked about grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrantQuery {
    /// The invite with this hash.
    Invite([u8; 32]),
    /// The token with this hash.
    Token([u8; 32]),
    /// An account's tokens, newest first.
    TokensOf(String),
    /// Accounts in name order (at most [`MAX_LISTED`]).
    Accounts,
}

/// The answer to a [`GrantQuery`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Grants {
    /// To [`GrantQuery::Invite`].
    Invite(Option<InviteRow>),
    /// To [`GrantQuery::Token`] (at most one) and [`GrantQuery::TokensOf`].
    Tokens(Vec<TokenRow>),
    /// To [`GrantQuery::Accounts`].
    Accounts(Vec<ListedAccount>),
}

impl Grants {
    /// The invite, if this answers an invite query and it exists.
    pub fn invite(self) -> Option<InviteRow> {
        match self {
            Grants::Invite(invite) => invite,
            _ => None,
        }
    }

    /// The tokens, if this answers a token query.
    pub fn tokens(self) -> Vec<TokenRow> {
        match self {
            Grants::Tokens(tokens) => tokens,
            _ => Vec::new(),
        }
    }

    /// The accounts, if this answers the accounts query.
    pub fn accounts(self) -> Vec<ListedAccount> {
        match self {
            Grants::Accounts(accounts) => accounts,
            _ => Vec::new(),
        }
    }
}

/// Rooms as one column: space-separated (room names have no spaces).
fn rooms_column(rooms: &[String]) -> String {
    rooms.join(" ")
}

/// Rooms from their column.
fn rooms_of(column: &str) -> Vec<String> {
    column.split_whitespace().map(str::to_owned).collect()
}

/// A 32-byte hash from a column.
fn hash_of(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Failed("a hash of the wrong length".into()))
}

/// Applies one change in a SQLite transaction.
pub(super) fn save_sqlite(
    tx: &rusqlite::Transaction,
    change: &GrantChange,
) -> Result<(), StoreError> {
    use rusqlite::params;
    match change {
        GrantChange::SaveInvite(i) => {
            tx.prepare_cached(
                "INSERT INTO invites (hash, uses_left, expires_ms, created_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![&i.hash[..], i.uses_left, i.expires_ms as i64, i.created_ms as i64])?;
        }
        GrantChange::UseInvite { hash, now_ms } => {
            let used = tx
                .prepare_cached(
                    "UPDATE invites SET uses_left = uses_left - 1 \
                     WHERE hash = ?1 AND uses_left > 0 AND expires_ms > ?2",
                )?
                .execute(params![&hash[..], *now_ms as i64])?;
            if used == 0 {
                return Err(StoreError::Failed(INVITE_REFUSED.into()));
            }
        }
        GrantChange::SaveToken(t) => {
            tx.prepare_cached(
                "INSERT INTO api_tokens (hash, identity, label, rooms, created_ms) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![
                &t.hash[..],
                t.identity,
                t.label,
                rooms_column(&t.rooms),
                t.created_ms as i64
            ])?;
        }
        GrantChange::RevokeToken { hash, identity } => {
            tx.prepare_cached("DELETE FROM api_tokens WHERE hash = ?1 AND identity = ?2")?
                .execute(params![&hash[..], identity])?;
        }
    }
    Ok(())
}

/// Applies one change in a PostgreSQL transaction.
pub(super) fn save_pg(
    tx: &mut postgres::Transaction,
    change: &GrantChange,
) -> Result<(), StoreError> {
    match change {
        GrantChange::SaveInvite(i) => {
            tx.execute(
                "INSERT INTO invites (hash, uses_left, expires_ms, created_ms) VALUES ($1, $2, $3, $4)",
                &[&&i.hash[..], &i64::from(i.uses_left), &(i.expires_ms as i64), &(i.created_ms as i64)],
            )?;
        }
        GrantChange::UseInvite { hash, now_ms } => {
            let used = tx.execute(
                "UPDATE invites SET uses_left = uses_left - 1 \
                 WHERE hash = $1 AND uses_left > 0 AND expires_ms > $2",
                &[&&hash[..], &(*now_ms as i64)],
            )?;
            if used == 0 {
                return Err(StoreError::Failed(INVITE_REFUSED.into()));
            }
        }
        GrantChange::SaveToken(t) => {
            tx.execute(
                "INSERT INTO api_tokens (hash, identity, label, rooms, created_ms) \
                 VALUES ($1, $2, $3, $4, $5)",
                &[
                    &&t.hash[..],
                    &t.identity,
                    &t.label,
                    &rooms_column(&t.rooms),
                    &(t.created_ms as i64),
                ],
            )?;
        }
        GrantChange::RevokeToken { hash, identity } => {
            tx.execute(
                "DELETE FROM api_tokens WHERE hash = $1 AND identity = $2",
                &[&&hash[..], identity],
            )?;
        }
    }
    Ok(())
}

/// The SQL of `query`, with `$n` or `?n` placeholders as `mark` says.
fn sql(query: &GrantQuery, mark: char) -> String {
    let token = "SELECT hash, identity, label, rooms, created_ms FROM api_tokens";
    match query {
        GrantQuery::Invite(_) => {
            format!(
                "SELECT hash, uses_left, expires_ms, created_ms FROM invites WHERE hash = {mark}1"
            )
        }
        GrantQuery::Token(_) => format!("{token} WHERE hash = {mark}1"),
        GrantQuery::TokensOf(_) => {
            format!("{token} WHERE identity = {mark}1 ORDER BY created_ms DESC LIMIT {MAX_LISTED}")
        }
        GrantQuery::Accounts => format!(
            "SELECT a.identity, i.name, a.role, a.created_ms FROM accounts a \
             JOIN identities i ON i.id = a.identity ORDER BY a.name_key LIMIT {MAX_LISTED}"
        ),
    }
}

/// Answers `query` from SQLite.
pub(super) fn read_sqlite(
    conn: &rusqlite::Connection,
    query: &GrantQuery,
) -> Result<Grants, StoreError> {
    let mut stmt = conn.prepare_cached(&sql(query, '?'))?;
    let mut rows = match query {
        GrantQuery::Invite(hash) | GrantQuery::Token(hash) => stmt.query([&hash[..]])?,
        GrantQuery::TokensOf(identity) => stmt.query([identity])?,
        GrantQuery::Accounts => stmt.query([])?,
    };
    let mut tokens = Vec::new();
    let mut accounts = Vec::new();
    while let Some(r) = rows.next()? {
        match query {
            GrantQuery::Invite(_) => {
                return Ok(Grants::Invite(Some(InviteRow {
                    hash: hash_of(r.get(0)?)?,
                    uses_left: r.get::<_, i64>(1)?.clamp(0, u32::MAX as i64) as u32,
                    expires_ms: as_u64(r.get(2)?),
                    created_ms: as_u64(r.get(3)?),
                })))
            }
            GrantQuery::Token(_) | GrantQuery::TokensOf(_) => tokens.push(TokenRow {
                hash: hash_of(r.get(0)?)?,
                identity: r.get(1)?,
                label: r.get(2)?,
                rooms: rooms_of(&r.get::<_, String>(3)?),
                created_ms: as_u64(r.get(4)?),
            }),
            GrantQuery::Accounts => accounts.push(ListedAccount {
                identity: r.get(0)?,
                name: r.get(1)?,
                role: r.get(2)?,
                created_ms: as_u64(r.get(3)?),
            }),
        }
    }
    Ok(match query {
        GrantQuery::Invite(_) => Grants::Invite(None),
        GrantQuery::Accounts => Grants::Accounts(accounts),
        _ => Grants::Tokens(tokens),
    })
}

/// Answers `query` from PostgreSQL.
pub(super) fn read_pg(
    client: &mut postgres::Client,
    query: &GrantQuery,
) -> Result<Grants, StoreError> {
    let sql = sql(query, '$');
    let rows = match query {
        GrantQuery::Invite(hash) | GrantQuery::Token(hash) => client.query(&sql, &[&&hash[..]])?,
        GrantQuery::TokensOf(identity) => client.query(&sql, &[identity])?,
        GrantQuery::Accounts => client.query(&sql, &[])?,
    };
    Ok(match query {
        GrantQuery::Invite(_) => Grants::Invite(match rows.first() {
            Some(r) => Some(InviteRow {
                hash: hash_of(r.try_get(0)?)?,
                uses_left: r.try_get::<_, i64>(1)?.clamp(0, u32::MAX as i64) as u32,
                expires_ms: as_u64(r.try_get(2)?),
                created_ms: as_u64(r.try_get(3)?),
            }),
            None => None,
        }),
        GrantQuery::Token(_) | GrantQuery::TokensOf(_) => Grants::Tokens(
            rows.iter()
                .map(|r| {
                    Ok(TokenRow {
                        hash: hash_of(r.try_get(0)?)?,
                        identity: r.try_get(1)?,
                        label: r.try_get(2)?,
                        rooms: rooms_of(&r.try_get::<_, String>(3)?),
                        created_ms: as_u64(r.try_get(4)?),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        ),
        GrantQuery::Accounts => Grants::Accounts(
            rows.iter()
                .map(|r| {
                    Ok(ListedAccount {
                        identity: r.try_get(0)?,
                        name: r.try_get(1)?,
                        role: r.try_get(2)?,
                        created_ms: as_u64(r.try_get(3)?),
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        ),
    })
}
