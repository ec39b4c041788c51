//! The history store: every room and message, behind two traits.
//!
//! The seam between the hub and storage:
//! - [`StoreWriter`] is the only place message ids are assigned and the only
//!   writer: it lives on the [`group_commit`] thread, which commits each
//!   batch in one transaction.
//! - [`StoreReader`] serves `join`, `after` and `history` on the hub's
//!   thread, always cut at the last id the hub has broadcast, so a reply
//!   never holds a message the hub has yet to announce.
//!
//! [`search`]: full-text search, on both stores; [`reads`]: read marks.
//!
//! [`sqlite`] implements both over an embedded SQLite database (the default),
//! [`pg`] over PostgreSQL (`CHAT_DATABASE_URL`); the hub does not change.

pub mod access;
pub mod accounts;
pub mod backup;
pub mod changes;
pub mod files;
pub mod grants;
pub mod group_commit;
pub mod moderation;
pub mod personal;
pub mod pg;
pub mod pool;
pub mod reads;
pub mod search;
pub mod sqlite;

use crate::protocol::ChatMessage;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

pub use sqlite::{open, SqliteReader, SqliteWriter, DB_FILE, MIGRATIONS};

/// How the store syncs to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// fsync on every commit: a delivered message survives power loss (default).
    Full,
    /// fsync at checkpoints only: survives a process crash, not a power loss.
    Normal,
}

/// How to open the store.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// The data directory; created if missing.
    pub data_dir: PathBuf,
    /// Disk sync policy.
    pub sync: SyncMode,
    /// How long a statement waits for a lock before failing.
    pub busy_timeout: Duration,
    /// `CHAT_DATABASE_URL`: a PostgreSQL database instead of SQLite in the
    /// data directory.
    pub database_url: Option<String>,
}

/// A message accepted by the hub, before the store gives it an id.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Room name (validated, joined).
    pub room: String,
    /// Author's display name.
    pub user: String,
    /// Sanitized text.
    pub text: String,
    /// Rendered safe HTML (handed back, not stored).
    pub html: String,
    /// Server time in ms since the Unix epoch ([`now_ms`]).
    pub ts: u64,
    /// *1.1*: the author's identity id (`user.id`); `None` for none.
    pub author: Option<String>,
    /// *1.1*: the sender's nonce (at most 128 characters), stored with the
    /// message; with `author`, it makes a resend within [`NONCE_WINDOW_MS`]
    /// a repeat instead of a new message.
    pub nonce: Option<String>,
    /// *1.2*: the id of the message (same room, already stored) it answers.
    pub reply_to: Option<u64>,
    /// *1.2* (section 5): upload ids posted with it; the store checks that
    /// each is the author's and not posted before, and records the message
    /// on them in the same transaction ([`files`]).
    pub attachments: Vec<String>,
}

impl NewMessage {
    /// The message as stored with `id`.
    pub fn stored_as(&self, id: u64) -> ChatMessage {
        ChatMessage {
            room: self.room.clone(),
            id,
            user: self.user.clone(),
            text: self.text.clone(),
            html: self.html.clone(),
            ts: self.ts,
            nonce: self.nonce.clone(),
            ..ChatMessage::default()
        }
    }

    /// The message as stored with `id`, answering what `reply` (the
    /// answered message's name and excerpt, `None` when gone) says.
    pub fn stored_with(&self, id: u64, reply: Option<(String, String)>) -> ChatMessage {
        let mut message = self.stored_as(id);
        message.reply_to = self.reply_to.map(|to| match reply {
            Some((user, text)) => crate::protocol::ReplyTo {
                id: to,
                user,
                text,
                deleted: false,
            },
            None => crate::protocol::ReplyTo {
                id: to,
                deleted: true,
                ..Default::default()
            },
        });
        message
    }
}

/// Why a store written by a newer server is not opened: it may hold what
/// this one would misread or undo.
pub(crate) fn newer_store(found: usize, known: usize) -> String {
    format!(
        "the database has schema version {found}, newer than this server knows \
         (version {known}): run the newer server, or restore a backup made for this one"
    )
}

/// SQL integers are i64 in both stores; ids and timestamps are never negative.
pub(crate) fn as_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// A message read back from either store (integers as SQL keeps them; ids
/// and times are never negative), its `html` rendered from `text`.
pub(crate) fn read_back(
    room: String,
    id: i64,
    user: String,
    text: String,
    ts: i64,
    nonce: Option<String>,
) -> ChatMessage {
    ChatMessage {
        room,
        id: as_u64(id),
        user,
        html: crate::render::render_html(&text),
        text,
        ts: as_u64(ts),
        nonce,
        ..ChatMessage::default()
    }
}

/// A batch's results, for both backends: `attempt(false)` stores the whole
/// batch in one go; only if a statement failed is it redone by
/// `attempt(true)`, message by message (savepoints), to keep the others.
/// When even that fails (the commit), every message fails and no id is
/// used up.
fn append_or_isolate(
    batch: &[NewMessage],
    mut attempt: impl FnMut(bool) -> Result<Vec<Result<Stored, StoreError>>, StoreError>,
) -> Vec<Result<Stored, StoreError>> {
    let outcome = match attempt(false) {
        Err(StoreError::Failed(_)) => attempt(true),
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

/// *1.1*: how long a (author, room, nonce) stays taken: a `send` that
/// repeats it within this many ms gets the original message back.
pub const NONCE_WINDOW_MS: u64 = 10 * 60 * 1000;

/// What storing a [`NewMessage`] gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// The message as stored (with its id); for a repeat, the original.
    pub message: ChatMessage,
    /// True when the author had already posted this nonce in this room
    /// within [`NONCE_WINDOW_MS`]: nothing new was stored.
    pub repeat: bool,
}

/// *1.1*: an identity as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityRow {
    /// Public id (`user.id`).
    pub id: String,
    /// SHA-256 of its token; the token itself is never stored.
    pub token_hash: [u8; 32],
    /// Display name (NFC).
    pub name: String,
    /// Last use, ms since the Unix epoch: the name lease runs from here.
    pub seen_ms: u64,
}

/// *1.1*: a change to the stored identities, applied by the commit thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdentityChange {
    /// Insert or replace the identity with this id.
    Save(IdentityRow),
    /// Remove the identity with this id (its lease ran out).
    Forget(String),
}

/// A stored room, as loaded at start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRow {
    /// Its name.
    pub name: String,
    /// The id of its newest message (0 when it has none).
    pub last_id: u64,
    /// When it was last active: its newest message, else its creation (ms).
    pub active_ms: u64,
    /// *1.2*: who may see it.
    pub kind: access::RoomKind,
}

/// A replay for `join` with `after`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Replay {
    /// The messages after the requested id, oldest first.
    pub messages: Vec<ChatMessage>,
    /// True when messages after the requested id were left out (beyond the cap).
    pub missed: bool,
}

/// *1.2*: which rows of a room's change log ([`changes`]) to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogQuery {
    /// What a `join` with `after: id` replays: changes made while the
    /// newest id was at least `id`, to messages up to `id`; at most `limit`.
    After {
        /// The `after`.
        id: u64,
        /// Most rows.
        limit: usize,
    },
    /// Changes `from..=to` (another node's).
    Revs {
        /// First rev.
        from: u64,
        /// Last rev.
        to: u64,
    },
}

/// Why the store could not do what was asked. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// The data directory or database file could not be created or opened.
    Open {
        /// The path.
        path: PathBuf,
        /// The cause.
        cause: String,
    },
    /// A statement or commit failed (disk full, I/O error, lock timeout…).
    Failed(String),
    /// *1.2*: the write was refused for what it asked (nothing changed):
    /// the asker's mistake, said to it, not a failure of the store.
    Refused(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Open { path, cause } => {
                write!(f, "cannot open the store at {}: {cause}", path.display())
            }
            StoreError::Failed(cause) => write!(f, "store operation failed: {cause}"),
            StoreError::Refused(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for StoreError {}

/// What the hub reads. Ids within a room are consecutive from 1, so every
/// read is a range; a backend provides [`StoreReader::range`] and the cuts
/// and caps are computed here, once for all backends.
pub trait StoreReader: Send + 'static {
    /// Another reader of the same store, with a connection of its own (the
    /// hub reads on several at once: [`pool`]).
    fn another(&self) -> Result<Box<dyn StoreReader>, StoreError>;

    /// Every room, by name.
    fn rooms(&self) -> Result<Vec<RoomRow>, StoreError>;

    /// *1.1*: every stored identity.
    fn identities(&self) -> Result<Vec<IdentityRow>, StoreError>;

    /// *1.2*: every identity's standing in every room ([`access`]). A store
    /// that keeps none (a test's) has none: its rooms are all public.
    fn memberships(&self) -> Result<Vec<access::MemberRow>, StoreError> {
        Ok(Vec::new())
    }

    /// *1.2*: every ban, mute and room setting that holds at `now_ms`
    /// ([`moderation`]). A store that keeps none (a test's) has none.
    fn moderation(&self, _now_ms: u64) -> Result<moderation::Decided, StoreError> {
        Ok(moderation::Decided::default())
    }

    /// *1.2*: a page of the audit log, newest first (a store that keeps
    /// none fails: unknown means no).
    fn audit(
        &self,
        _query: &moderation::AuditQuery,
    ) -> Result<Vec<moderation::AuditRecord>, StoreError> {
        Err(no_accounts())
    }

    /// *Several nodes*: claims the name `keys` for `identity` at `now_ms`
    /// against the other nodes; false when another identity holds one of
    /// them (connected, or used within `lease_ms`). A store that serves one
    /// node has nothing to check: the hub's registry is the truth.
    fn claim_name(
        &self,
        _keys: &[String],
        _identity: &str,
        _now_ms: u64,
        _lease_ms: u64,
    ) -> Result<bool, StoreError> {
        Ok(true)
    }

    /// A small read of a real table: the health check's proof that reads
    /// work.
    fn probe(&self) -> Result<(), StoreError> {
        self.last_read("", "").map(drop)
    }

    /// Where `identity` stopped reading `room` ([`reads`]), if it said.
    fn last_read(&self, identity: &str, room: &str) -> Result<Option<u64>, StoreError>;

    /// *1.2*: an account ([`accounts`]). A store that keeps none (a test's)
    /// fails, as do the other account reads: unknown means no.
    fn account(
        &self,
        _query: &accounts::AccountQuery,
    ) -> Result<Option<accounts::AccountRow>, StoreError> {
        Err(no_accounts())
    }

    /// *1.2*: every account's identity and role, loaded at start. A store
    /// that keeps no accounts (a test's) has none.
    fn account_roles(&self) -> Result<Vec<(String, accounts::Role)>, StoreError> {
        Ok(Vec::new())
    }

    /// *1.2*: the session with this hash, if it has not ended.
    fn session(&self, _hash: &[u8; 32]) -> Result<Option<accounts::SessionRow>, StoreError> {
        Err(no_accounts())
    }

    /// *1.2*: an account's sessions, most recently used first (at most
    /// [`accounts::MAX_LISTED_SESSIONS`]).
    fn sessions_of(&self, _identity: &str) -> Result<Vec<accounts::SessionRow>, StoreError> {
        Err(no_accounts())
    }

    /// *1.2* (section 5): the uploads `query` names.
    /// (A store without files has none.)
    fn uploads(&self, _query: &files::FileQuery) -> Result<Vec<files::UploadRow>, StoreError> {
        Ok(Vec::new())
    }

    /// A page of a person's own data ([`personal`]). A store that keeps
    /// no accounts (a test's) fails: unknown means no.
    fn personal(&self, _query: &personal::PersonalQuery) -> Result<personal::Page, StoreError> {
        Err(no_accounts())
    }

    /// *1.2* (section 5): files whose bytes are to be removed (at most 1000).
    fn files_gone(&self) -> Result<Vec<String>, StoreError> {
        Ok(Vec::new())
    }

    /// *1.2* (section 5): the bytes of files `identity` keeps.
    fn upload_usage(&self, _identity: &str) -> Result<u64, StoreError> {
        Err(no_accounts())
    }

    /// *1.2* (section 5): puts the files of `room`'s messages `from` to
    /// `to` on `messages` (ordered by id).
    fn attach_files(
        &self,
        room: &str,
        from: u64,
        to: u64,
        messages: &mut [ChatMessage],
    ) -> Result<(), StoreError> {
        let query = files::FileQuery::OfMessages {
            room: room.to_owned(),
            from,
            to,
        };
        files::attach(messages, self.uploads(&query)?);
        Ok(())
    }

    /// *1.2*: invites, API tokens, the list of accounts ([`grants`]).
    fn grants(&self, _query: &grants::GrantQuery) -> Result<grants::Grants, StoreError> {
        Err(no_accounts())
    }

    /// *1.2*: failed sign-ins counted against `key` in the window open at
    /// `now_ms`.
    fn sign_in_failures(
        &self,
        _key: &str,
        _now_ms: u64,
        _window_ms: u64,
    ) -> Result<u32, StoreError> {
        Err(no_accounts())
    }

    /// Full-text search ([`search`]): up to `limit` matches, newest first,
    /// within the search's time budget.
    fn search(&self, search: &search::Search) -> Result<search::Found, StoreError>;

    /// Messages of `room` with `from <= id <= to`, oldest first, `html`
    /// rendered, as they stand now (*1.2*: edited, deleted, replies), but
    /// without their reactions ([`StoreReader::messages`] adds them);
    /// empty when `from > to`.
    fn range(&self, room: &str, from: u64, to: u64) -> Result<Vec<ChatMessage>, StoreError>;

    /// *1.2*: the reactions on `room`'s messages `from..=to`, by message
    /// and then first reaction, `mine` for `viewer`. A store that keeps
    /// none (a test's) has none.
    fn reactions(
        &self,
        _room: &str,
        _from: u64,
        _to: u64,
        _viewer: Option<&str>,
    ) -> Result<Vec<changes::ReactionRow>, StoreError> {
        Ok(Vec::new())
    }

    /// *1.2*: rows of `room`'s change log, oldest first, each with its
    /// message's current text and `edited_ts` (when not deleted). A store
    /// that keeps none (a test's) has none.
    fn change_log(
        &self,
        _room: &str,
        _query: LogQuery,
    ) -> Result<Vec<changes::Logged>, StoreError> {
        Ok(Vec::new())
    }

    /// [`StoreReader::range`] with each message's reactions (`mine` for
    /// `viewer`).
    fn messages(
        &self,
        room: &str,
        from: u64,
        to: u64,
        viewer: Option<&str>,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let mut messages = self.range(room, from, to)?;
        if !messages.is_empty() {
            changes::attach(&mut messages, self.reactions(room, from, to, viewer)?);
            self.attach_files(room, from, to, &mut messages)?;
        }
        Ok(messages)
    }

    /// *1.2*: what a `join` with `after` replays of the changes since
    /// ([`changes`]): at most [`changes::REPLAY_CHANGES`] frames.
    fn replay_changes(&self, room: &str, after: u64) -> Result<changes::ChangeReplay, StoreError> {
        let limit = changes::REPLAY_CHANGES;
        let rows = self.change_log(
            room,
            LogQuery::After {
                id: after,
                limit: limit + 1,
            },
        )?;
        let missed = rows.len() > limit;
        let frames = rows
            .into_iter()
            .take(limit)
            .filter_map(|(row, text)| changes::replay_frame(room, row, text))
            .collect();
        Ok(changes::ChangeReplay { frames, missed })
    }

    /// Up to `limit` messages with an id below `before` (all when `None`) and
    /// at most `upto`, oldest first (*1.2*: with reactions, `mine` for
    /// `viewer`).
    fn before(
        &self,
        room: &str,
        before: Option<u64>,
        limit: usize,
        upto: u64,
        viewer: Option<&str>,
    ) -> Result<Vec<ChatMessage>, StoreError> {
        let last = before.map_or(upto, |b| b.saturating_sub(1).min(upto));
        let first = last.saturating_sub(limit as u64 - 1).max(1);
        self.messages(room, first, last, viewer)
    }

    /// The messages with `after < id <= upto`, at most `cap` (the newest);
    /// none when `after >= upto` (any `after`, up to `u64::MAX`).
    fn after(
        &self,
        room: &str,
        after: u64,
        cap: usize,
        upto: u64,
        viewer: Option<&str>,
    ) -> Result<Replay, StoreError> {
        if after >= upto {
            return Ok(Replay::default());
        }
        let missing = upto - after;
        let first = after + 1 + missing.saturating_sub(cap as u64);
        Ok(Replay {
            messages: self.messages(room, first, upto, viewer)?,
            missed: missing > cap as u64,
        })
    }
}

/// What the group-commit thread writes; the only sequencer of ids.
pub trait StoreWriter: Send + 'static {
    /// Creates `room` if it does not exist.
    fn create_room(&mut self, room: &str) -> Result<(), StoreError>;

    /// Removes `room` if it never had a message (else leaves it).
    fn delete_room(&mut self, room: &str) -> Result<(), StoreError>;

    /// Commits a small write: the health check's proof that writes work.
    fn probe(&mut self) -> Result<(), StoreError>;

    /// Removes up to `max_rows` messages older than `before_ms` (oldest
    /// first); returns how many. Ids are never given out again.
    fn expire(&mut self, before_ms: u64, max_rows: usize) -> Result<usize, StoreError>;

    /// Stores a batch in one transaction and returns one result per message
    /// (in order), creating rooms as needed. A message whose insert fails is
    /// left out and the others go on; when the commit itself fails, every
    /// message fails and no id is used up. A message whose author already
    /// posted its nonce in its room within [`NONCE_WINDOW_MS`] (of its `ts`)
    /// is not stored again: its result is the original, marked `repeat`.
    fn append(&mut self, batch: &[NewMessage]) -> Vec<Result<Stored, StoreError>>;

    /// *1.1*: applies identity changes in one transaction, in order.
    fn save_identities(&mut self, changes: &[IdentityChange]) -> Result<(), StoreError>;

    /// Raises read marks ([`reads`]).
    fn save_reads(&mut self, marks: &[reads::ReadMark]) -> Result<(), StoreError>;

    /// *1.2*: applies account changes ([`accounts`]) in one transaction, in
    /// order. A store that keeps none (a test's) fails.
    fn save_accounts(&mut self, _changes: &[accounts::AccountChange]) -> Result<(), StoreError> {
        Err(no_accounts())
    }

    /// *1.2*: applies edits, deletions and reactions ([`changes`]) in one
    /// transaction, in order: one result each. A store that keeps none (a
    /// test's) refuses them.
    fn change(
        &mut self,
        batch: &[changes::ChangeRequest],
    ) -> Vec<Result<changes::Changed, changes::Refusal>> {
        batch
            .iter()
            .map(|_| {
                Err(changes::Refusal::Store(StoreError::Failed(
                    "this store keeps no changes".into(),
                )))
            })
            .collect()
    }
}

/// What a store that keeps no accounts answers (a test's).
fn no_accounts() -> StoreError {
    StoreError::Failed("this store keeps no accounts".into())
}

/// A SQLite store in a temporary directory (which goes with the
/// returned guard), for the store's own tests.
#[cfg(test)]
pub(crate) fn temp_store() -> (tempfile::TempDir, SqliteReader, SqliteWriter) {
    let dir = tempfile::tempdir().unwrap();
    let (reader, writer) = open(&StoreOptions {
        data_dir: dir.path().to_owned(),
        sync: SyncMode::Normal,
        busy_timeout: Duration::from_secs(1),
        database_url: None,
    })
    .unwrap();
    (dir, reader, writer)
}

/// Server time in ms since the Unix epoch: every stored timestamp.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// The default data directory: `$XDG_DATA_HOME/chat`, else
/// `$HOME/.local/share/chat`, else `./chat-data`.
pub fn default_data_dir() -> PathBuf {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("chat");
    }
    if let Some(home) = std::env::var_os("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/chat");
    }
    PathBuf::from("chat-data")
}
