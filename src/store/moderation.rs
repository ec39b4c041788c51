//! *1.2* (section 4): what moderators decided, kept: bans and mutes (timed
//! or not), each room's settings, and the audit log of every action.
//!
//! Like standings ([`super::access`]), bans, mutes and settings are loaded
//! whole at start and held by the hub (they are asked on every `join` and
//! `send`), written through the commit thread in queue order
//! ([`AccountChange::Moderation`](super::accounts::AccountChange::Moderation)),
//! each with its audit entry in the same transaction, and told to the
//! other nodes. The SQL of both stores is here (SQLite migration 10,
//! PostgreSQL schema 9). What they allow is decided by the hub's one
//! authorization point; the store only keeps them.

use super::StoreError;
use crate::protocol::{AuditAction, AuditEntry, RoomSettings};
use serde::{Deserialize, Serialize};

/// What a sanction stops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SanctionKind {
    /// May not join, watch, read or post (a room's), or connect at all
    /// (the server's).
    Ban,
    /// May read, but not post, react or say it is typing.
    Mute,
}

impl SanctionKind {
    /// The store's text.
    pub fn as_str(self) -> &'static str {
        match self {
            SanctionKind::Ban => "ban",
            SanctionKind::Mute => "mute",
        }
    }

    /// From the store's text (`None`: a newer server's kind: left out).
    pub fn parse(s: &str) -> Option<SanctionKind> {
        match s {
            "ban" => Some(SanctionKind::Ban),
            "mute" => Some(SanctionKind::Mute),
            _ => None,
        }
    }
}

/// A ban or mute of an identity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sanction {
    /// The room (`None`: a server-wide ban).
    pub room: Option<String>,
    /// Whom (identity id).
    pub identity: String,
    /// What it stops.
    pub kind: SanctionKind,
    /// When it ends (ms since the epoch; `None`: when lifted).
    pub until_ms: Option<u64>,
}

impl Sanction {
    /// True while it holds at `now_ms` (it ends at `until_ms` exactly).
    pub fn holds(&self, now_ms: u64) -> bool {
        self.until_ms.is_none_or(|until| now_ms < until)
    }
}

/// A change of what moderators decided.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ModerationChange {
    /// Sets (or replaces) a sanction.
    Sanction(Sanction),
    /// Ends the sanction of this kind of `identity` in `room`.
    Lift {
        /// The room (`None`: the server).
        room: Option<String>,
        /// Whom.
        identity: String,
        /// Which.
        kind: SanctionKind,
    },
    /// A room's settings now.
    Settings {
        /// The room.
        room: String,
        /// Its settings.
        settings: RoomSettings,
    },
    /// *Several nodes* only (never stored): `identity` was kicked from
    /// `room`: its connections on every node leave it.
    Kick {
        /// The room.
        room: String,
        /// Whom.
        identity: String,
    },
}

/// An audit entry as written (the ids alongside the names, for the admin
/// command line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// The entry as `audit` gives it (its `id` is the store's).
    pub entry: AuditEntry,
    /// The actor's identity id.
    pub by_identity: String,
    /// The target's identity id, if any.
    pub target: Option<String>,
}

impl AuditRecord {
    /// An entry of `action` now by `by` (identity id, display name) in
    /// `room` (`None`: the server) to `target` (identity id, display
    /// name), without a reason or detail yet.
    pub fn new(
        by: (&str, &str),
        action: AuditAction,
        room: Option<&str>,
        target: Option<(&str, &str)>,
    ) -> AuditRecord {
        AuditRecord {
            entry: AuditEntry {
                id: 0,
                ts: super::now_ms(),
                by: by.1.to_owned(),
                action,
                room: room.map(str::to_owned),
                user: target.map(|t| t.1.to_owned()),
                reason: None,
                detail: None,
            },
            by_identity: by.0.to_owned(),
            target: target.map(|t| t.0.to_owned()),
        }
    }
}

/// Everything kept, as loaded at start.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decided {
    /// Every sanction that had not ended.
    pub sanctions: Vec<Sanction>,
    /// Every room's settings that differ from the default.
    pub settings: Vec<(String, RoomSettings)>,
}

/// Which audit entries: a room's (or all), older than `before`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditQuery {
    /// Only this room.
    pub room: Option<String>,
    /// Entries with a smaller id.
    pub before: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

/// The room column's value for a sanction (`''`: the server).
fn room_key(room: &Option<String>) -> &str {
    room.as_deref().unwrap_or("")
}

const SET: [&str; 2] = [
    "INSERT INTO sanctions (room, identity, kind, until_ms) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (room, identity, kind) DO UPDATE SET until_ms = excluded.until_ms",
    "INSERT INTO sanctions (room, identity, kind, until_ms) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (room, identity, kind) DO UPDATE SET until_ms = EXCLUDED.until_ms",
];
const LIFT: [&str; 2] = [
    "DELETE FROM sanctions WHERE room = ?1 AND identity = ?2 AND kind = ?3",
    "DELETE FROM sanctions WHERE room = $1 AND identity = $2 AND kind = $3",
];
const SETTINGS: [&str; 2] = [
    "INSERT INTO room_settings (room, slow_mode_secs, read_only, topic) VALUES (?1, ?2, ?3, ?4) \
     ON CONFLICT (room) DO UPDATE SET slow_mode_secs = excluded.slow_mode_secs, \
     read_only = excluded.read_only, topic = excluded.topic",
    "INSERT INTO room_settings (room, slow_mode_secs, read_only, topic) VALUES ($1, $2, $3, $4) \
     ON CONFLICT (room) DO UPDATE SET slow_mode_secs = EXCLUDED.slow_mode_secs, \
     read_only = EXCLUDED.read_only, topic = EXCLUDED.topic",
];
const AUDIT: [&str; 2] = [
    "INSERT INTO audit (at_ms, by_identity, by_name, action, room, target, target_name, reason, detail) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    "INSERT INTO audit (at_ms, by_identity, by_name, action, room, target, target_name, reason, detail) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
];
const LOAD_SANCTIONS: [&str; 2] = [
    "SELECT room, identity, kind, until_ms FROM sanctions WHERE until_ms IS NULL OR until_ms > ?1",
    "SELECT room, identity, kind, until_ms FROM sanctions WHERE until_ms IS NULL OR until_ms > $1",
];
const LOAD_SETTINGS: &str = "SELECT room, slow_mode_secs, read_only, topic FROM room_settings";
/// Newest first; `before` and `room` are optional (NULL: any).
const READ_AUDIT: [&str; 2] = [
    "SELECT id, at_ms, by_name, action, room, target_name, reason, detail, by_identity, target \
     FROM audit WHERE (?1 IS NULL OR room = ?1) AND (?2 IS NULL OR id < ?2) ORDER BY id DESC LIMIT ?3",
    "SELECT id, at_ms, by_name, action, room, target_name, reason, detail, by_identity, target \
     FROM audit WHERE ($1::TEXT IS NULL OR room = $1) AND ($2::BIGINT IS NULL OR id < $2) \
     ORDER BY id DESC LIMIT $3",
];

/// Writes `change` (if any) and its audit entry (if any) in `tx`.
pub(super) fn save_sqlite(
    tx: &rusqlite::Transaction,
    change: Option<&ModerationChange>,
    audit: Option<&AuditRecord>,
) -> Result<(), StoreError> {
    use rusqlite::params;
    match change {
        Some(ModerationChange::Sanction(s)) => {
            tx.prepare_cached(SET[0])?.execute(params![
                room_key(&s.room),
                s.identity,
                s.kind.as_str(),
                s.until_ms.map(|u| u as i64)
            ])?;
        }
        Some(ModerationChange::Lift {
            room,
            identity,
            kind,
        }) => {
            tx.prepare_cached(LIFT[0])?.execute(params![
                room_key(room),
                identity,
                kind.as_str()
            ])?;
        }
        Some(ModerationChange::Settings { room, settings }) => {
            tx.prepare_cached(SETTINGS[0])?.execute(params![
                room,
                settings.slow_mode_secs,
                settings.read_only,
                settings.topic
            ])?;
        }
        Some(ModerationChange::Kick { .. }) | None => {}
    }
    if let Some(a) = audit {
        let e = &a.entry;
        tx.prepare_cached(AUDIT[0])?.execute(params![
            e.ts as i64,
            a.by_identity,
            e.by,
            e.action.as_str(),
            e.room,
            a.target,
            e.user,
            e.reason,
            e.detail
        ])?;
    }
    Ok(())
}

/// [`save_sqlite`] on PostgreSQL.
pub(super) fn save_pg(
    tx: &mut postgres::Transaction,
    change: Option<&ModerationChange>,
    audit: Option<&AuditRecord>,
) -> Result<(), StoreError> {
    match change {
        Some(ModerationChange::Sanction(s)) => {
            let until = s.until_ms.map(|u| u as i64);
            tx.execute(
                SET[1],
                &[&room_key(&s.room), &s.identity, &s.kind.as_str(), &until],
            )?;
        }
        Some(ModerationChange::Lift {
            room,
            identity,
            kind,
        }) => {
            tx.execute(LIFT[1], &[&room_key(room), identity, &kind.as_str()])?;
        }
        Some(ModerationChange::Settings { room, settings }) => {
            let secs = settings.slow_mode_secs as i32;
            tx.execute(
                SETTINGS[1],
                &[room, &secs, &settings.read_only, &settings.topic],
            )?;
        }
        Some(ModerationChange::Kick { .. }) | None => {}
    }
    if let Some(a) = audit {
        let e = &a.entry;
        tx.execute(
            AUDIT[1],
            &[
                &(e.ts as i64),
                &a.by_identity,
                &e.by,
                &e.action.as_str(),
                &e.room,
                &a.target,
                &e.user,
                &e.reason,
                &e.detail,
            ],
        )?;
    }
    Ok(())
}

/// A sanction row (`room`, `identity`, `kind`, `until_ms`), if this server
/// knows its kind.
fn sanction(room: String, identity: String, kind: &str, until: Option<i64>) -> Option<Sanction> {
    Some(Sanction {
        room: Some(room).filter(|r| !r.is_empty()),
        identity,
        kind: SanctionKind::parse(kind)?,
        until_ms: until.map(|u| u.max(0) as u64),
    })
}

/// Everything kept that still holds at `now_ms`.
pub(super) fn load_sqlite(conn: &rusqlite::Connection, now_ms: u64) -> Result<Decided, StoreError> {
    let mut out = Decided::default();
    let mut stmt = conn.prepare_cached(LOAD_SANCTIONS[0])?;
    let rows = stmt.query_map([now_ms as i64], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get::<_, String>(2)?, r.get(3)?))
    })?;
    for row in rows {
        let (room, identity, kind, until) = row?;
        out.sanctions.extend(sanction(room, identity, &kind, until));
    }
    let mut stmt = conn.prepare_cached(LOAD_SETTINGS)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            RoomSettings {
                slow_mode_secs: r.get(1)?,
                read_only: r.get(2)?,
                topic: r.get(3)?,
            },
        ))
    })?;
    for row in rows {
        out.settings.push(row?);
    }
    Ok(out)
}

/// [`load_sqlite`] on PostgreSQL.
pub(super) fn load_pg(client: &mut postgres::Client, now_ms: u64) -> Result<Decided, StoreError> {
    let mut out = Decided::default();
    for r in client.query(LOAD_SANCTIONS[1], &[&(now_ms as i64)])? {
        out.sanctions
            .extend(sanction(r.get(0), r.get(1), r.get(2), r.get(3)));
    }
    for r in client.query(LOAD_SETTINGS, &[])? {
        let secs: i32 = r.get(1);
        out.settings.push((
            r.get(0),
            RoomSettings {
                slow_mode_secs: secs.max(0) as u32,
                read_only: r.get(2),
                topic: r.get(3),
            },
        ));
    }
    Ok(out)
}

/// An audit row, read (its action known to this server).
#[allow(clippy::too_many_arguments)]
fn record(
    id: i64,
    at: i64,
    by: String,
    action: &str,
    room: Option<String>,
    user: Option<String>,
    reason: Option<String>,
    detail: Option<String>,
    by_identity: String,
    target: Option<String>,
) -> Option<AuditRecord> {
    Some(AuditRecord {
        entry: AuditEntry {
            id: id as u64,
            ts: at as u64,
            by,
            action: AuditAction::parse(action)?,
            room,
            user,
            reason,
            detail,
        },
        by_identity,
        target,
    })
}

/// A page of the audit log, newest first.
pub(super) fn audit_sqlite(
    conn: &rusqlite::Connection,
    q: &AuditQuery,
) -> Result<Vec<AuditRecord>, StoreError> {
    use rusqlite::params;
    let mut stmt = conn.prepare_cached(READ_AUDIT[0])?;
    let before = q.before.map(|b| b as i64);
    let rows = stmt.query_map(params![q.room, before, q.limit as i64], |r| {
        Ok(record(
            r.get(0)?,
            r.get(1)?,
            r.get(2)?,
            &r.get::<_, String>(3)?,
            r.get(4)?,
            r.get(5)?,
            r.get(6)?,
            r.get(7)?,
            r.get(8)?,
            r.get(9)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        out.extend(row?);
    }
    Ok(out)
}

/// [`audit_sqlite`] on PostgreSQL.
pub(super) fn audit_pg(
    client: &mut postgres::Client,
    q: &AuditQuery,
) -> Result<Vec<AuditRecord>, StoreError> {
    let before = q.before.map(|b| b as i64);
    let rows = client.query(READ_AUDIT[1], &[&q.room, &before, &(q.limit as i64)])?;
    Ok(rows
        .iter()
        .filter_map(|r| {
            record(
                r.get(0),
                r.get(1),
                r.get(2),
                r.get(3),
                r.get(4),
                r.get(5),
                r.get(6),
                r.get(7),
                r.get(8),
                r.get(9),
            )
        })
        .collect())
}
