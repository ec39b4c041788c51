//! Group commit: one thread owns the [`StoreWriter`] and commits, in one
//! transaction, every message that queued up while the previous commit ran.
//!
//! Under light load each message is its own batch (no added latency); under
//! heavy load batches grow by themselves, so one fsync serves many messages.
//! It is also the only writer: rooms are created here too ([`Job::CreateRoom`]),
//! in queue order, so a room exists before any message queued after it.

use super::access::AccessChange;
use super::accounts::AccountChange;
use super::changes::{ChangeRequest, Changed, Refusal};
use super::reads::ReadMark;
use super::{IdentityChange, NewMessage, StoreError, StoreWriter, Stored};
use tokio::sync::{mpsc, oneshot};

/// Most messages in one transaction.
pub const MAX_BATCH: usize = 4096;

/// What the commit thread is asked to do.
#[derive(Debug)]
pub enum Job<T> {
    /// Store a message, handing `tag` (who sent it, its nonce…) back with the result.
    Message {
        /// Handed back with the result.
        tag: T,
        /// The message.
        message: NewMessage,
    },
    /// *1.2*: an edit, deletion or reaction, handing `tag` back with the
    /// result. A batch's changes are applied in one transaction after its
    /// messages (a change names a message already stored).
    Change {
        /// Handed back with the result.
        tag: T,
        /// The change.
        change: ChangeRequest,
    },
    /// Create a room if it does not exist. Nobody waits for this: a failure
    /// is logged, and storing the room's first message creates it anyway.
    CreateRoom(String),
    /// Remove a room that has no messages (the hub found it unused); one
    /// with messages stays. Nobody waits for this.
    DeleteRoom(String),
    /// The health check: commit a small write and say whether it worked.
    /// Probes queued together share one write, after the batch's messages.
    Probe(oneshot::Sender<Result<(), StoreError>>),
    /// Remove up to `max_rows` messages older than `before_ms`
    /// (`CHAT_RETENTION_DAYS`); nobody waits.
    Expire {
        /// The cut-off time (ms since the epoch).
        before_ms: u64,
        /// Most messages removed by this job.
        max_rows: usize,
    },
    /// *1.1*: save or forget an identity. Nobody waits for this either: the
    /// hub's memory is the truth while it runs, the store its copy for the
    /// next start. A batch's identity changes commit before its messages.
    Identity(IdentityChange),
    /// Raise a read mark (`read`); nobody waits, and the batch's marks are
    /// written together.
    Read(ReadMark),
    /// *1.2*: a room's kind or a standing in it. Nobody waits (the hub's
    /// memory is the truth while it runs); a batch's changes are written
    /// together, in order, after its identities and before its messages, so
    /// a private room is stored private before anything is posted to it.
    /// (One transaction per join would be one fsync per join: 10,000
    /// joining at once took seconds.)
    Access(AccessChange),
    /// *1.2*: a moderator's decision and its audit entry, in queue order
    /// with standings (nobody waits, as for them).
    Moderation(
        Option<super::moderation::ModerationChange>,
        Option<super::moderation::AuditRecord>,
    ),
    /// *1.2*: `identities` (saved first: an account's identity exists
    /// before it), then account, session and failure `changes`, in one
    /// transaction after every identity change queued before; `done` (if
    /// any) hears whether they were committed.
    Accounts {
        /// Identity changes to save first.
        identities: Vec<IdentityChange>,
        /// The changes, in order.
        changes: Vec<AccountChange>,
        /// Told once committed (or not).
        done: Option<oneshot::Sender<Result<(), StoreError>>>,
    },
}

/// The result of one message job.
pub type Done<T> = (T, Result<Stored, StoreError>);

/// *1.2*: the result of one change job.
pub type ChangeDone<T> = (T, Result<Changed, Refusal>);

/// What one batch gave, for `done`.
#[derive(Debug)]
pub enum Outcome<T> {
    /// Its messages' results, in order, and how long the commit took.
    Messages(Vec<Done<T>>, std::time::Duration),
    /// Its changes' results, in order (after its messages).
    Changes(Vec<ChangeDone<T>>),
}

/// Starts the commit thread. A batch holds at most [`MAX_BATCH`] messages
/// and about `max_bytes` of them as frames (the first message always fits):
/// a commit's messages in one room reach each member at once, so the hub
/// keeps this well under a member's outbound bound, and a member that reads
/// at normal speed drains one commit before the next arrives.
/// `done` gets each batch's results, in order, and how long its commit took
/// (then, *1.2*, its changes' results);
/// the thread ends once every sender of `jobs` is dropped and the queue is
/// drained, after which the database connection is closed.
pub fn spawn<T, F>(
    mut writer: impl StoreWriter,
    mut jobs: mpsc::Receiver<Job<T>>,
    max_bytes: usize,
    mut done: F,
) -> std::io::Result<std::thread::JoinHandle<()>>
where
    T: Send + 'static,
    F: FnMut(Outcome<T>) + Send + 'static,
{
    std::thread::Builder::new()
        .name("group-commit".into())
        .spawn(move || {
            let mut tags = Vec::new();
            let mut messages = Vec::new();
            let mut changes = Vec::new();
            let mut change_tags = Vec::new();
            let mut identities = Vec::new();
            let mut reads = Vec::new();
            let mut access = Vec::new();
            let mut probes = Vec::new();
            while let Some(first) = jobs.blocking_recv() {
                let mut next = Some(first);
                let mut bytes = 0;
                while let Some(job) = next.take() {
                    match job {
                        Job::Message { tag, message } => {
                            bytes += frame_bytes(&message);
                            tags.push(tag);
                            messages.push(message);
                        }
                        Job::Change { tag, change } => {
                            bytes += change_bytes(&change);
                            change_tags.push(tag);
                            changes.push(change);
                        }
                        Job::CreateRoom(room) => {
                            // Rooms queued before these messages exist before them.
                            if let Err(e) = writer.create_room(&room) {
                                tracing::error!(room, error = %e, "room not stored");
                            }
                        }
                        Job::DeleteRoom(room) => {
                            if let Err(e) = writer.delete_room(&room) {
                                tracing::error!(room, error = %e, "room not deleted");
                            }
                        }
                        Job::Identity(change) => identities.push(change),
                        Job::Accounts {
                            identities: first,
                            changes,
                            done,
                        } => {
                            identities.extend(first);
                            save_identities(&mut writer, &mut identities);
                            let saved = writer.save_accounts(&changes);
                            if let Err(e) = &saved {
                                tracing::error!(error = %e, changes = changes.len(), "account changes not stored");
                            }
                            if let Some(done) = done {
                                let _ = done.send(saved);
                            }
                        }
                        Job::Read(mark) => reads.push(mark),
                        Job::Access(change) => access.push(AccountChange::Access(change)),
                        Job::Moderation(change, audit) => {
                            access.push(AccountChange::Moderation { change, audit })
                        }
                        Job::Probe(reply) => probes.push(reply),
                        Job::Expire {
                            before_ms,
                            max_rows,
                        } => match writer.expire(before_ms, max_rows) {
                            Ok(0) => {}
                            Ok(n) => tracing::info!(messages = n, "expired old messages"),
                            Err(e) => tracing::error!(error = %e, "old messages not removed"),
                        },
                    }
                    if messages.len() + changes.len() < MAX_BATCH && bytes < max_bytes {
                        next = jobs.try_recv().ok();
                    }
                }
                save_identities(&mut writer, &mut identities);
                if !access.is_empty() {
                    if let Err(e) = writer.save_accounts(&access) {
                        tracing::error!(error = %e, changes = access.len(), "room access not stored");
                    }
                    access.clear();
                }
                if !reads.is_empty() {
                    if let Err(e) = writer.save_reads(&reads) {
                        tracing::error!(error = %e, marks = reads.len(), "read marks not stored");
                    }
                    reads.clear();
                }
                if !messages.is_empty() {
                    let start = std::time::Instant::now();
                    let results = writer.append(&messages);
                    let took = start.elapsed();
                    messages.clear();
                    done(Outcome::Messages(tags.drain(..).zip(results).collect(), took));
                }
                if !changes.is_empty() {
                    let results = writer.change(&changes);
                    changes.clear();
                    done(Outcome::Changes(change_tags.drain(..).zip(results).collect()));
                }
                if !probes.is_empty() {
                    let probed = writer.probe();
                    for reply in probes.drain(..) {
                        let _ = reply.send(probed.clone());
                    }
                }
            }
        })
}

/// Saves and clears the identity changes gathered so far (a failure is
/// logged: the hub's memory stays the truth while it runs).
fn save_identities(writer: &mut impl StoreWriter, identities: &mut Vec<IdentityChange>) {
    if identities.is_empty() {
        return;
    }
    if let Err(e) = writer.save_identities(identities) {
        tracing::error!(error = %e, changes = identities.len(), "identities not stored");
    }
    identities.clear();
}

/// About how many bytes `change` takes as its frame.
fn change_bytes(change: &ChangeRequest) -> usize {
    let text = match &change.kind {
        super::changes::ChangeKind::Edit { text, html, .. } => text.len() + html.len(),
        _ => 0,
    };
    text + change.room.len() + change.name.len() + 100
}

/// About how many bytes `message` takes as a `message` frame.
fn frame_bytes(message: &NewMessage) -> usize {
    message.text.len()
        + message.html.len()
        + message.user.len()
        + message.room.len()
        + message.nonce.as_ref().map_or(0, String::len)
        + 100
}
