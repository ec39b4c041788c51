//! *1.2* (section 2): who may see each room, and each identity's standing
//! in it. Memberships belong to identities, not connections: the rooms one
//! joined follow one to every device and node. Written through the commit
//! thread inside account changes
//! ([`AccountChange::Access`](super::accounts::AccountChange::Access)), in
//! queue order with the room's creation and messages; loaded whole at start
//! (the hub keeps them in memory, as it keeps identities). The SQL of both
//! stores is here (SQLite migration 8, PostgreSQL schema 7).
//!
//! What the standings allow is decided in one place, the hub's
//! `access` module; the store only keeps them.

use super::{now_ms, StoreError};
use crate::protocol::RoomRole;

/// Who may see a room. The default is private: a room whose kind a node
/// has not learnt yet is hidden (unknown means no).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum RoomKind {
    /// Everyone.
    Public,
    /// Its members and invited identities.
    #[default]
    Private,
    /// A direct message: exactly its two members.
    Dm,
}

impl RoomKind {
    /// The store's column value.
    pub fn code(self) -> i16 {
        match self {
            RoomKind::Public => 0,
            RoomKind::Private => 1,
            RoomKind::Dm => 2,
        }
    }

    /// From the store's column; an unknown value is a private room (a newer
    /// server's kind must not become public here: unknown means no).
    pub fn from_code(code: i64) -> RoomKind {
        match code {
            0 => RoomKind::Public,
            2 => RoomKind::Dm,
            _ => RoomKind::Private,
        }
    }
}

/// An identity's standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Standing {
    /// May join (a private room); nothing else yet.
    Invited,
    /// A member with this role.
    Member(RoomRole),
}

impl Standing {
    /// The store's text.
    pub fn as_str(self) -> &'static str {
        match self {
            Standing::Invited => "invited",
            Standing::Member(role) => role.as_str(),
        }
    }

    /// From the store's text; `None` for what this server does not know
    /// (it then grants nothing).
    pub fn parse(s: &str) -> Option<Standing> {
        Some(match s {
            "invited" => Standing::Invited,
            "member" => Standing::Member(RoomRole::Member),
            "moderator" => Standing::Member(RoomRole::Moderator),
            "owner" => Standing::Member(RoomRole::Owner),
            _ => return None,
        })
    }

    /// The role, for a member.
    pub fn role(self) -> Option<RoomRole> {
        match self {
            Standing::Invited => None,
            Standing::Member(role) => Some(role),
        }
    }
}

/// One identity's standing in one room, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRow {
    /// The room's name.
    pub room: String,
    /// The identity's id.
    pub identity: String,
    /// Its standing.
    pub standing: Standing,
}

/// A change to rooms' access.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessChange {
    /// Makes the room (if no room has the name) of this kind, with its
    /// first members, in one transaction: a private room is never stored
    /// public, not even for a moment.
    Create {
        /// Its name.
        room: String,
        /// Its kind.
        kind: RoomKind,
        /// Its first members (the owner; a direct message's two).
        members: Vec<(String, Standing)>,
    },
    /// Sets an identity's standing in a room.
    Set(MemberRow),
    /// Ends an identity's standing in a room (it left, or declined).
    Remove {
        /// The room.
        room: String,
        /// The identity.
        identity: String,
    },
    /// Ends every standing of an identity (it was forgotten).
    Forget(String),
}

const CREATE_ROOM: [&str; 2] = [
    "INSERT INTO rooms (name, created_ms, kind) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
    "INSERT INTO rooms (name, created_ms, kind) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
];
const SET: [&str; 2] = [
    "INSERT INTO room_members (room, identity, standing, since_ms) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (room, identity) DO UPDATE SET standing = excluded.standing",
    "INSERT INTO room_members (room, identity, standing, since_ms) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (room, identity) DO UPDATE SET standing = EXCLUDED.standing",
];
const REMOVE: [&str; 2] = [
    "DELETE FROM room_members WHERE room = ?1 AND identity = ?2",
    "DELETE FROM room_members WHERE room = $1 AND identity = $2",
];
const FORGET: [&str; 2] = [
    "DELETE FROM room_members WHERE identity = ?1",
    "DELETE FROM room_members WHERE identity = $1",
];
/// Every standing, and every room's kind (what is not public).
const LOAD: &str = "SELECT room, identity, standing FROM room_members";
/// A room's members and invited identities go when the room does.
pub(super) const ORPHANS: [&str; 2] = [
    "DELETE FROM room_members WHERE room = ?1 AND NOT EXISTS (SELECT 1 FROM rooms WHERE name = ?1)",
    "DELETE FROM room_members WHERE room = $1 AND NOT EXISTS (SELECT 1 FROM rooms WHERE name = $1)",
];

pub(super) fn save_sqlite(
    tx: &rusqlite::Transaction,
    change: &AccessChange,
) -> Result<(), StoreError> {
    use rusqlite::params;
    let now = now_ms() as i64;
    let set = |room: &str, identity: &str, standing: Standing| -> Result<(), StoreError> {
        tx.prepare_cached(SET[0])?
            .execute(params![room, identity, standing.as_str(), now])?;
        Ok(())
    };
    match change {
        AccessChange::Create {
            room,
            kind,
            members,
        } => {
            tx.prepare_cached(CREATE_ROOM[0])?
                .execute(params![room, now, kind.code()])?;
            for (identity, standing) in members {
                set(room, identity, *standing)?;
            }
        }
        AccessChange::Set(row) => set(&row.room, &row.identity, row.standing)?,
        AccessChange::Remove { room, identity } => {
            tx.prepare_cached(REMOVE[0])?
                .execute(params![room, identity])?;
        }
        AccessChange::Forget(identity) => {
            tx.prepare_cached(FORGET[0])?.execute([identity])?;
        }
    }
    Ok(())
}

pub(super) fn save_pg(
    tx: &mut postgres::Transaction,
    change: &AccessChange,
) -> Result<(), StoreError> {
    let now = now_ms() as i64;
    match change {
        AccessChange::Create {
            room,
            kind,
            members,
        } => {
            tx.execute(CREATE_ROOM[1], &[room, &now, &kind.code()])?;
            for (identity, standing) in members {
                tx.execute(SET[1], &[room, identity, &standing.as_str(), &now])?;
            }
        }
        AccessChange::Set(row) => {
            let standing = row.standing.as_str();
            tx.execute(SET[1], &[&row.room, &row.identity, &standing, &now])?;
        }
        AccessChange::Remove { room, identity } => {
            tx.execute(REMOVE[1], &[room, identity])?;
        }
        AccessChange::Forget(identity) => {
            tx.execute(FORGET[1], &[identity])?;
        }
    }
    Ok(())
}

/// Every stored standing this server understands (one it does not is left
/// out: it grants nothing).
pub(super) fn load_sqlite(conn: &rusqlite::Connection) -> Result<Vec<MemberRow>, StoreError> {
    let mut stmt = conn.prepare_cached(LOAD)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (room, identity, standing) = row?;
        if let Some(standing) = Standing::parse(&standing) {
            out.push(MemberRow {
                room,
                identity,
                standing,
            });
        }
    }
    Ok(out)
}

/// [`load_sqlite`] on PostgreSQL.
pub(super) fn load_pg(client: &mut postgres::Client) -> Result<Vec<MemberRow>, StoreError> {
    let rows = client.query(LOAD, &[])?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            Some(MemberRow {
                room: r.get(0),
                identity: r.get(1),
                standing: Standing::parse(r.get(2))?,
            })
        })
        .collect())
}

/// *Several nodes*: a standing that changed, as other nodes hear of it (in
/// order with the joins and messages around it). A node that never heard
/// of `room` learns its kind here; a node's hub sends nothing of it to
/// anyone but the identity it names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessEvent {
    /// The room.
    pub room: String,
    /// Its kind.
    pub kind: RoomKind,
    /// Whose standing.
    pub identity: String,
    /// The standing now; `None`: it ended.
    pub standing: Option<Standing>,
    /// Who invited (a display name), when this is an invitation or a
    /// direct message: the identity's connections are told.
    pub by: Option<String>,
}
