//! Deleting a person's account: from the account page, or by an admin
//! (`chat admin delete-user`).
//!
//! At once: every session ends (here and on every node, connections
//! closed) and the registry forgets the identity, so its name is free and
//! nothing it held signs in again. With `CHAT_DELETED_USER_MESSAGES=remove`
//! its messages are then purged room after room, as a moderator's purge
//! is (in chunks, each member told `deleted`); the store's
//! [`AccountChange::Erase`] comes last, so a deletion cut short (a full
//! queue) leaves the account for a second try to finish.

use super::accounts::{ending_event, AccountCommand, Committed, Ending};
use super::post::Poster;
use super::{Command, Hub, HubHandle};
use crate::server::payload::{encode_json, Payload};
use crate::store::accounts::AccountChange;
use crate::store::changes::{ChangeKind, ChangeRequest, Changed};
use crate::store::group_commit::Job;
use crate::store::pg::cluster::Event;
use crate::store::{now_ms, StoreError};
use std::sync::Arc;
use tokio::sync::oneshot;

/// A deletion under way: what is left of it.
#[derive(Debug)]
pub(crate) struct Erasing {
    /// The identity id.
    identity: Arc<str>,
    /// Its display name (what a purge's frames and log say).
    name: String,
    /// Rooms whose messages are still to be purged (the last first).
    rooms: Vec<String>,
    /// Told once it is all stored.
    done: Option<Committed>,
}

impl Erasing {
    /// A deletion of `identity` (named `name`); `rooms`: where its
    /// messages are to be purged (none when they are kept).
    fn new(identity: Arc<str>, name: String, mut rooms: Vec<String>, done: Committed) -> Erasing {
        rooms.reverse();
        Erasing {
            identity,
            name,
            rooms,
            done: Some(done),
        }
    }

    /// The purge of `room`'s messages by the identity (a first chunk).
    fn purge(&self, room: String) -> ChangeRequest {
        ChangeRequest {
            room,
            id: 0,
            by: self.identity.to_string(),
            name: self.name.clone(),
            kind: ChangeKind::Purge {
                author: self.identity.to_string(),
                done: 0,
            },
            now_ms: now_ms(),
        }
    }

    fn fail(&mut self, why: &str) {
        tracing::warn!(
            identity = &*self.identity,
            why,
            "an account's deletion stopped"
        );
        if let Some(done) = self.done.take() {
            let _ = done.send(Err(StoreError::Failed(format!(
                "{why}; the account is not yet deleted: try again"
            ))));
        }
    }
}

impl Hub {
    /// Starts deleting an account: sessions end, the name is free, then
    /// the purges (if any) and the store's change follow.
    pub(super) fn on_erase(&mut self, erasing: Erasing) {
        let ending = Ending::All {
            identity: erasing.identity.clone(),
            except: None,
        };
        self.end_sessions(&ending);
        self.publish(Event::SessionsEnded(ending_event(&ending)));
        self.registry.forget_now(&erasing.identity);
        self.publish(Event::Erased(erasing.identity.to_string()));
        self.erase_next(erasing);
    }

    /// The next step of a deletion: the next room's purge, or the store's
    /// change once none is left.
    fn erase_next(&mut self, mut erasing: Erasing) {
        match erasing.rooms.pop() {
            Some(room) => {
                let change = erasing.purge(room);
                self.queue_erasing(erasing, change);
            }
            None => {
                let change = AccountChange::Erase(erasing.identity.to_string());
                let done = erasing.done.take();
                self.queue_accounts(vec![change], done);
            }
        }
    }

    fn queue_erasing(&mut self, erasing: Erasing, change: ChangeRequest) {
        let job = Job::Change {
            tag: (Poster::Erased(erasing), None),
            change,
        };
        let refused = self.writer_send(job).map_err(|job| *job);
        if let Err(Job::Change {
            tag: (Poster::Erased(mut erasing), _),
            ..
        }) = refused
        {
            erasing.fail("the server is too busy");
        }
    }

    /// A deletion's purge chunk was applied (or refused).
    pub(super) fn erased(
        &mut self,
        mut erasing: Erasing,
        result: Result<Changed, crate::store::changes::Refusal>,
        told: &mut Vec<(String, u64, u64)>,
    ) {
        match result {
            Ok(Changed::Purged {
                room,
                from,
                to,
                frames,
                next,
                ..
            }) => {
                self.deliver_purged(&room, &frames);
                if from <= to {
                    told.push((room, from, to));
                }
                match next {
                    Some(next) => self.queue_erasing(erasing, *next),
                    None => self.erase_next(erasing),
                }
            }
            // A room gone meanwhile has nothing left to purge.
            Ok(_) | Err(crate::store::changes::Refusal::NoMessage) => self.erase_next(erasing),
            Err(e) => erasing.fail(&format!("{e:?}")),
        }
    }

    /// A purge's `deleted` frames to its room's members, in chunks as a
    /// room's messages are delivered: a purge of thousands is many small
    /// frames.
    pub(super) fn deliver_purged(&self, room: &str, frames: &[crate::protocol::ServerFrame]) {
        if !frames.is_empty() {
            self.files_gone.notify_one();
        }
        let frames: Vec<Payload> = frames.iter().map(encode_json).collect();
        for chunk in frames.chunks(256) {
            self.deliver_messages(room, chunk);
        }
    }
}

impl HubHandle {
    /// Deletes an account (see the module): its messages in
    /// `rooms` are purged first (none: they are kept); resolves once all
    /// is stored.
    pub(crate) async fn erase(
        &self,
        identity: Arc<str>,
        name: String,
        rooms: Vec<String>,
    ) -> Result<(), StoreError> {
        let (done, stored) = oneshot::channel();
        let erasing = Erasing::new(identity, name, rooms, done);
        let command = Command::Account(AccountCommand::Erase(erasing));
        self.account_command(command, Some(stored)).await
    }
}
