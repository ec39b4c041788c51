//! *1.2* (section 3): messages that change (edits, deletions, reactions),
//! on both stores.
//!
//! **How changes are ordered.** A change never moves a room's message ids.
//! Each room has a change sequence of its own (`rooms.last_rev`): every
//! edit, deletion and reaction the commit thread applies takes the next
//! `rev` under the room's write lock (SQLite's one writer; PostgreSQL's
//! row lock, so several nodes share one sequence) and is logged in
//! `changes` with `at_id`, the room's newest message id at that moment.
//! The message row itself always holds the current state (text,
//! `edited_ts`, `deleted`; reactions in `reactions`), so every later read
//! (`joined`, `history`, `search`, the page) gives it.
//!
//! **How they are replayed.** A client that saw the room up to message `a`
//! saw every change made while the newest id was below `a` (a room's
//! messages and changes reach it in commit order), so `join` with `after:
//! a` replays, after `joined`, the changes logged with `at_id >= a` to the
//! messages it holds (`id <= a`), as `edited`, `deleted` and `reaction`
//! frames, oldest first. Each frame says the state it leaves (the whole
//! text; a reaction's `count`), so one seen twice changes nothing. Other
//! nodes read the same log by `rev` when told of a change.
//!
//! The rules (who may edit or delete what, the reaction limit) that need
//! the stored message are checked here, in the transaction that applies
//! them; those that need the room (roles) by the hub's authorization point
//! before a change is queued. [`apply`] is written once over [`ChangeSql`],
//! which each store implements.

use super::StoreError;
use crate::protocol::{ChatMessage, ReplyTo, ServerFrame, MAX_REACTIONS};

/// An edit, deletion or reaction the hub queued for the commit thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRequest {
    /// Room name.
    pub room: String,
    /// The message's id.
    pub id: u64,
    /// Who asks (identity id).
    pub by: String,
    /// Its display name (a reaction's `user`).
    pub name: String,
    /// What.
    pub kind: ChangeKind,
    /// Server time (ms since the epoch).
    pub now_ms: u64,
}

/// What a [`ChangeRequest`] changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// New text (checked), and it rendered; only the author's, and only
    /// within `window_ms` of posting when there is one.
    Edit {
        /// Sanitized text.
        text: String,
        /// Rendered safe HTML.
        html: String,
        /// `CHAT_EDIT_WINDOW_MINS`, in ms.
        window_ms: Option<u64>,
    },
    /// Delete; `any`: the asker moderates the room (else only its own).
    Delete {
        /// A moderator's, owner's or admin's deletion.
        any: bool,
    },
    /// Add (`on`) or take back a reaction.
    React {
        /// The emoji (checked).
        emoji: String,
        /// Added or taken back.
        on: bool,
    },
    /// *1.2* (section 4): delete every message of `author` in the room (a
    /// moderator's `purge`, checked by the hub); `id` is unused and the
    /// request's `name` is the author's.
    Purge {
        /// The author's identity id.
        author: String,
        /// Messages deleted by the earlier chunks of this purge.
        done: u64,
    },
}

/// Most messages one transaction of a purge deletes: the rest follow in
/// further transactions, so the commit thread takes others' messages in
/// between (a purge of 10,000 in one took ~230 ms, and every message
/// posted meanwhile waited for it).
pub const PURGE_CHUNK: usize = 500;

/// What applying a change gave.
#[derive(Debug, Clone, PartialEq)]
pub enum Changed {
    /// Applied with this `rev`: the frame for every member.
    Applied {
        /// Room name.
        room: String,
        /// Its place in the room's change sequence.
        rev: u64,
        /// `edited`, `deleted` or `reaction`.
        frame: ServerFrame,
        /// A deletion of someone else's message (a moderator's: logged in
        /// the audit log).
        moderated: bool,
    },
    /// Nothing to do (a reaction already there, or already gone): the
    /// frame of how it stands, for the asker alone.
    Unchanged(ServerFrame),
    /// A purge applied with revs `from..=to` (none when `from > to`): a
    /// `deleted` frame for each message, for every member.
    Purged {
        /// Room name.
        room: String,
        /// Whose messages (a display name).
        user: String,
        /// The first rev.
        from: u64,
        /// The last rev.
        to: u64,
        /// The `deleted` frames, oldest message first.
        frames: Vec<ServerFrame>,
        /// Messages deleted by this purge so far (this chunk included).
        done: u64,
        /// The next chunk's request, when this one was full.
        next: Option<Box<ChangeRequest>>,
    },
}

/// Why a change was refused (nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No such message, or it was deleted.
    NoMessage,
    /// Only the author may edit (or, unless moderating, delete) it.
    NotAuthor,
    /// Past the edit window.
    TooLate,
    /// The message has [`MAX_REACTIONS`] different emoji already.
    TooManyReactions,
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

/// A message as a change needs it.
#[derive(Debug, Clone)]
pub struct Target {
    /// Author's identity id (`None` for a message without one).
    pub author: Option<String>,
    /// When it was posted.
    pub ts: u64,
    /// True once deleted.
    pub deleted: bool,
}

/// The statements [`apply`] needs, inside one open transaction of a store.
pub trait ChangeSql {
    /// The room's row id, newest message id and newest `rev`, locked for
    /// the rest of the transaction; `None` when no room has the name.
    fn room(&mut self, room: &str) -> Result<Option<(i64, u64, u64)>, StoreError>;
    /// Message `id` of room row `room_id`.
    fn target(&mut self, room_id: i64, id: u64) -> Result<Option<Target>, StoreError>;
    /// Sets its text and `edited_ts`.
    fn edit(&mut self, room_id: i64, id: u64, text: &str, at: u64) -> Result<(), StoreError>;
    /// Empties it (text, name) and marks it deleted; its reactions go.
    fn delete(&mut self, room_id: i64, id: u64) -> Result<(), StoreError>;
    /// How many different emoji it has, and whether `emoji` is one.
    fn emoji_count(
        &mut self,
        room_id: i64,
        id: u64,
        emoji: &str,
    ) -> Result<(usize, bool), StoreError>;
    /// Adds (`on`) or removes `by`'s `emoji` at `rev`; false when that
    /// changed nothing.
    #[allow(clippy::too_many_arguments)]
    fn set_reaction(
        &mut self,
        room_id: i64,
        id: u64,
        emoji: &str,
        by: &str,
        name: &str,
        rev: u64,
        on: bool,
    ) -> Result<bool, StoreError>;
    /// How many identities reacted to it with `emoji`.
    fn reaction_count(&mut self, room_id: i64, id: u64, emoji: &str) -> Result<u32, StoreError>;
    /// Logs change `rev` and makes it the room's newest.
    fn log(&mut self, room_id: i64, row: &LogRow) -> Result<(), StoreError>;
    /// The ids of `author`'s messages in room row `room_id` not deleted
    /// yet, oldest first.
    fn authored(
        &mut self,
        room_id: i64,
        author: &str,
        limit: usize,
    ) -> Result<Vec<u64>, StoreError>;
}

/// One row of the change log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    /// Its place in the room's sequence.
    pub rev: u64,
    /// The message.
    pub id: u64,
    /// The room's newest message id when it was made.
    pub at_id: u64,
    /// What (the store's code: [`Kind`]).
    pub kind: Kind,
    /// A reaction's emoji (else empty).
    pub emoji: String,
    /// A reaction's display name (else empty).
    pub user: String,
    /// A reaction's count after it (else 0).
    pub count: u32,
}

/// What a logged change was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An edit (the text is read from the message).
    Edit,
    /// A deletion.
    Delete,
    /// A reaction added.
    ReactOn,
    /// A reaction taken back.
    ReactOff,
}

impl Kind {
    /// The store's column value.
    pub fn code(self) -> i16 {
        match self {
            Kind::Edit => 1,
            Kind::Delete => 2,
            Kind::ReactOn => 3,
            Kind::ReactOff => 4,
        }
    }

    /// From the store's column (`None`: a newer server's kind, skipped).
    pub fn from_code(code: i64) -> Option<Kind> {
        Some(match code {
            1 => Kind::Edit,
            2 => Kind::Delete,
            3 => Kind::ReactOn,
            4 => Kind::ReactOff,
            _ => return None,
        })
    }
}

/// Applies one change in the open transaction `sql`.
pub fn apply(sql: &mut impl ChangeSql, req: &ChangeRequest) -> Result<Changed, Refusal> {
    let (room_id, last_id, last_rev) = sql.room(&req.room)?.ok_or(Refusal::NoMessage)?;
    if let ChangeKind::Purge { author, done } = &req.kind {
        let ids = sql.authored(room_id, author, PURGE_CHUNK)?;
        let mut frames = Vec::with_capacity(ids.len());
        for (i, &id) in ids.iter().enumerate() {
            sql.delete(room_id, id)?;
            let row = LogRow {
                rev: last_rev + 1 + i as u64,
                id,
                at_id: last_id,
                kind: Kind::Delete,
                emoji: String::new(),
                user: String::new(),
                count: 0,
            };
            sql.log(room_id, &row)?;
            frames.push(ServerFrame::Deleted {
                room: req.room.clone(),
                id,
            });
        }
        let done = done + ids.len() as u64;
        let next = (ids.len() == PURGE_CHUNK).then(|| {
            let mut next = req.clone();
            next.kind = ChangeKind::Purge {
                author: author.clone(),
                done,
            };
            Box::new(next)
        });
        return Ok(Changed::Purged {
            room: req.room.clone(),
            user: req.name.clone(),
            from: last_rev + 1,
            to: last_rev + ids.len() as u64,
            frames,
            done,
            next,
        });
    }
    let target = sql.target(room_id, req.id)?.ok_or(Refusal::NoMessage)?;
    if target.deleted {
        return Err(Refusal::NoMessage);
    }
    let own = target.author.as_deref() == Some(req.by.as_str());
    let rev = last_rev + 1;
    let mut row = LogRow {
        rev,
        id: req.id,
        at_id: last_id,
        kind: Kind::Edit,
        emoji: String::new(),
        user: String::new(),
        count: 0,
    };
    let (room, id) = (req.room.clone(), req.id);
    let frame = match &req.kind {
        ChangeKind::Edit {
            text,
            html,
            window_ms,
        } => {
            if !own {
                return Err(Refusal::NotAuthor);
            }
            if window_ms.is_some_and(|w| req.now_ms > target.ts.saturating_add(w)) {
                return Err(Refusal::TooLate);
            }
            sql.edit(room_id, id, text, req.now_ms)?;
            ServerFrame::Edited {
                room,
                id,
                text: text.clone(),
                html: html.clone(),
                edited_ts: req.now_ms,
            }
        }
        ChangeKind::Delete { any } => {
            if !own && !any {
                return Err(Refusal::NotAuthor);
            }
            sql.delete(room_id, id)?;
            row.kind = Kind::Delete;
            ServerFrame::Deleted { room, id }
        }
        ChangeKind::Purge { .. } => unreachable!("applied above"),
        ChangeKind::React { emoji, on } => {
            let (kinds, has) = sql.emoji_count(room_id, id, emoji)?;
            if *on && !has && kinds >= MAX_REACTIONS {
                return Err(Refusal::TooManyReactions);
            }
            let changed = sql.set_reaction(room_id, id, emoji, &req.by, &req.name, rev, *on)?;
            let count = sql.reaction_count(room_id, id, emoji)?;
            let frame = ServerFrame::Reaction {
                room,
                id,
                emoji: emoji.clone(),
                user: req.name.clone(),
                on: *on,
                count: Some(count),
            };
            if !changed {
                return Ok(Changed::Unchanged(frame));
            }
            row.kind = if *on { Kind::ReactOn } else { Kind::ReactOff };
            row.emoji = emoji.clone();
            row.user = req.name.clone();
            row.count = count;
            frame
        }
    };
    sql.log(room_id, &row)?;
    Ok(Changed::Applied {
        room: req.room.clone(),
        rev,
        moderated: !own && matches!(req.kind, ChangeKind::Delete { .. }),
        frame,
    })
}

/// Applies `batch` in order in the open transaction `sql`: each change's
/// outcome, or the store's error (the caller then commits nothing).
pub fn apply_batch(
    sql: &mut impl ChangeSql,
    batch: &[ChangeRequest],
) -> Result<Vec<Result<Changed, Refusal>>, StoreError> {
    let mut results = Vec::with_capacity(batch.len());
    for req in batch {
        match apply(sql, req) {
            Err(Refusal::Store(e)) => return Err(e),
            other => results.push(other),
        }
    }
    Ok(results)
}

/// A batch's outcomes once its transaction was tried: each change's, or
/// the store's failure for every one (nothing was written).
pub fn outcomes(
    tried: Result<Vec<Result<Changed, Refusal>>, StoreError>,
    batch: &[ChangeRequest],
) -> Vec<Result<Changed, Refusal>> {
    tried.unwrap_or_else(|e| {
        tracing::error!(error = %e, changes = batch.len(), "changes not stored");
        batch
            .iter()
            .map(|_| Err(Refusal::Store(e.clone())))
            .collect()
    })
}

/// The columns a message read adds for section 3, as both stores give them.
#[derive(Debug, Clone, Default)]
pub struct Extra {
    /// `edited_ts`.
    pub edited_ts: Option<i64>,
    /// `deleted`.
    pub deleted: bool,
    /// `reply_to`.
    pub reply_to: Option<i64>,
    /// `reply_user`: `None` when the answered message was gone.
    pub reply_user: Option<String>,
    /// `reply_text`.
    pub reply_text: Option<String>,
}

/// A message read back with its section 3 columns: a deleted one in its
/// deleted form; an edited one with `edited_ts`; a reply with `reply_to`.
pub fn finish(mut message: ChatMessage, extra: Extra) -> ChatMessage {
    if extra.deleted {
        return ChatMessage::deleted_form(message.room, message.id, message.ts);
    }
    message.edited_ts = extra.edited_ts.map(super::as_u64);
    message.reply_to = extra.reply_to.map(|id| match extra.reply_user {
        Some(user) => ReplyTo {
            id: super::as_u64(id),
            user,
            text: extra.reply_text.unwrap_or_default(),
            deleted: false,
        },
        None => ReplyTo {
            id: super::as_u64(id),
            deleted: true,
            ..ReplyTo::default()
        },
    });
    message
}

/// A logged change as read, with its message's current text and
/// `edited_ts` (`None` once deleted).
pub type Logged = (LogRow, Option<(String, u64)>);

/// One reaction group as read: (message id, emoji, count, mine).
pub type ReactionRow = (u64, String, u32, bool);

/// Puts `rows` (ordered by message id, then first reaction) on `messages`
/// (ordered by id).
pub fn attach(messages: &mut [ChatMessage], rows: Vec<ReactionRow>) {
    let mut rows = rows.into_iter().peekable();
    for m in messages.iter_mut() {
        while let Some((id, ..)) = rows.peek() {
            if *id < m.id {
                rows.next();
                continue;
            }
            if *id > m.id {
                break;
            }
            let (_, emoji, count, mine) = rows.next().expect("peeked");
            m.reactions
                .push(crate::protocol::Reaction { emoji, count, mine });
        }
    }
}

/// A logged change read back (with the message's text for an edit), as the
/// frame it replays.
pub fn replay_frame(room: &str, row: LogRow, text: Option<(String, u64)>) -> Option<ServerFrame> {
    let (room, id) = (room.to_owned(), row.id);
    Some(match row.kind {
        Kind::Edit => {
            let (text, edited_ts) = text?;
            ServerFrame::Edited {
                room,
                id,
                html: crate::render::render_html(&text),
                text,
                edited_ts,
            }
        }
        Kind::Delete => ServerFrame::Deleted { room, id },
        Kind::ReactOn | Kind::ReactOff => ServerFrame::Reaction {
            room,
            id,
            emoji: row.emoji,
            user: row.user,
            on: row.kind == Kind::ReactOn,
            count: Some(row.count),
        },
    })
}

/// The changes a `join` with `after` replays: at most this many frames,
/// else `missed`.
pub const REPLAY_CHANGES: usize = 1000;

/// A replay of changes, and whether some were left out.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ChangeReplay {
    /// Frames, oldest change first.
    pub frames: Vec<ServerFrame>,
    /// True when more changes were made than [`REPLAY_CHANGES`].
    pub missed: bool,
}
