//! *1.2* (section 3): `edit`, `delete`, `react` and `unreact`, and the
//! frames they fan out, from this node and from others.
//!
//! The hub checks what needs the room (joined, the authorization point's
//! `post`, and `moderate` for deleting another's message; the id within
//! the room's ids; the emoji) and queues the change for the commit thread,
//! which checks what needs the stored message (its author, the edit
//! window, the reaction limit) in the transaction that applies it and
//! gives it the room's next change `rev` (see [`crate::store::changes`]).
//! The frame goes to every member and watcher once committed, as a
//! message's would; other nodes are told the revs and read them from the
//! store.

use super::access::Act;
use super::post::{Checked, Poster};
use super::{unavailable, ConnId, Hub};
use crate::protocol::{validate_emoji, ProtocolError};
use crate::server::payload::encode_json;
use crate::server::payload::Payload;
use crate::store::changes::{ChangeKind, ChangeRequest, Changed, Refusal};
use crate::store::group_commit::{ChangeDone, Job};
use crate::store::pg::cluster::Event;
use crate::store::{now_ms, LogQuery, StoreReader};

/// What a connection asked to change (its text checked by its own task).
#[derive(Debug)]
pub(crate) enum Asked {
    /// `edit`, its text checked and rendered.
    Edit(Checked),
    /// `delete`.
    Delete,
    /// `react` (`true`) or `unreact`.
    React(String, bool),
}

impl Hub {
    /// `edit`, `delete`, `react`, `unreact` of message `id` in `room`.
    pub(super) fn on_change(
        &mut self,
        conn: ConnId,
        room: &str,
        id: u64,
        asked: Asked,
    ) -> Result<(), ProtocolError> {
        // Changes spend the sender's `send` allowance: an edit or a
        // reaction is a post, and costs the room as much.
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        if !self.session(conn)?.sends.take(rate, burst) {
            return Err(ProtocolError::rate_limited(rate, burst));
        }
        // An edit is a post (a read-only room, a mute stop it); a
        // deletion or a reaction is not (a read-only room allows them).
        let act = match asked {
            Asked::Edit(_) => Act::Post,
            Asked::Delete | Asked::React(..) => Act::React,
        };
        self.joined_to(conn, room, act)?;
        let last = self.rooms.get(room).map_or(0, |r| r.last_id);
        if id == 0 || id > last {
            return Err(no_message(room, id));
        }
        let kind = match asked {
            Asked::Edit(text) => {
                let (text, html) = text?;
                ChangeKind::Edit {
                    text,
                    html,
                    window_ms: self.config.edit_window.map(|w| w.as_millis() as u64),
                }
            }
            Asked::Delete => ChangeKind::Delete {
                any: self
                    .authorize(&self.viewer(conn), room, Act::Moderate)
                    .is_ok(),
            },
            Asked::React(emoji, on) => {
                validate_emoji(&emoji)?;
                ChangeKind::React { emoji, on }
            }
        };
        let session = self.session(conn)?;
        let change = ChangeRequest {
            room: room.to_owned(),
            id,
            by: session.identity.as_deref().unwrap_or_default().to_owned(),
            name: session.name.to_string(),
            kind,
            now_ms: now_ms(),
        };
        self.queue(Job::Change {
            tag: (Poster::Conn(conn), None),
            change,
        })
    }

    /// What the commit thread applied: each change's frame to its room
    /// (and other nodes told), each refusal to its asker.
    pub(super) fn on_changed(&mut self, done: Vec<ChangeDone<super::post::Tag>>) {
        let mut told: Vec<(String, u64, u64)> = Vec::new();
        for ((poster, _), result) in done {
            let conn = match poster {
                Poster::Conn(conn) => conn,
                Poster::Erased(erasing) => {
                    self.erased(erasing, result, &mut told);
                    continue;
                }
                Poster::Form(..) => continue,
            };
            match result {
                Ok(Changed::Applied {
                    room,
                    rev,
                    frame,
                    moderated,
                }) => {
                    if moderated {
                        self.audit_deletion(conn, &room, &frame);
                    }
                    if matches!(frame, crate::protocol::ServerFrame::Deleted { .. }) {
                        self.files_gone.notify_one();
                    }
                    self.deliver_messages(&room, &[encode_json(&frame)]);
                    match told
                        .iter_mut()
                        .find(|(r, _, to)| *r == room && *to + 1 == rev)
                    {
                        Some(span) => span.2 = rev,
                        None => told.push((room, rev, rev)),
                    }
                }
                Ok(Changed::Purged {
                    room,
                    user,
                    from,
                    to,
                    frames,
                    done,
                    next,
                }) => {
                    self.deliver_purged(&room, &frames);
                    // A full chunk: the next goes to the back of the queue
                    // (others' messages are stored in between); the last
                    // answers the moderator.
                    let queued = next.is_some_and(|next| {
                        let job = Job::Change {
                            tag: (Poster::Conn(conn), None),
                            change: *next,
                        };
                        self.queue(job).is_ok()
                    });
                    if let Some(s) = self.sessions.get(&conn).filter(|_| !queued) {
                        s.outbox.send(&crate::protocol::ServerFrame::Moderated {
                            action: crate::protocol::AuditAction::Purge,
                            room: Some(room.clone()),
                            user,
                            count: Some(done),
                        });
                    }
                    if from <= to {
                        told.push((room, from, to));
                    }
                }
                Ok(Changed::Unchanged(frame)) => {
                    if let Some(s) = self.sessions.get(&conn) {
                        s.outbox.send(&frame);
                    }
                }
                Err(refusal) => {
                    let error = match refusal {
                        Refusal::NoMessage => {
                            ProtocolError::bad_request("there is no such message (deleted?)")
                        }
                        Refusal::NotAuthor => {
                            ProtocolError::forbidden("only its author may change this message")
                        }
                        Refusal::TooLate => {
                            ProtocolError::forbidden("this message is too old to edit")
                        }
                        Refusal::TooManyReactions => ProtocolError::bad_request(&format!(
                            "a message has at most {} different reactions",
                            crate::protocol::MAX_REACTIONS
                        )),
                        Refusal::Store(e) => unavailable(e),
                    };
                    if let Some(s) = self.sessions.get(&conn) {
                        s.outbox.send(&error.into_frame());
                    }
                }
            }
        }
        for (room, from, to) in told {
            self.publish(Event::Changed { room, from, to });
        }
    }

    /// *1.2* (section 4): a moderator deleted someone else's message: the
    /// audit log keeps it (who, which room, which message).
    fn audit_deletion(
        &mut self,
        conn: super::ConnId,
        room: &str,
        frame: &crate::protocol::ServerFrame,
    ) {
        let (Some(s), crate::protocol::ServerFrame::Deleted { id, .. }) =
            (self.sessions.get(&conn), frame)
        else {
            return;
        };
        let by = (s.identity.as_deref().unwrap_or_default(), &*s.name);
        let mut record = crate::store::moderation::AuditRecord::new(
            by,
            crate::protocol::AuditAction::Delete,
            Some(room),
            None,
        );
        record.entry.detail = Some(format!("message {id}"));
        if self.queue(Job::Moderation(None, Some(record))).is_err() {
            tracing::warn!(
                room,
                "a deletion's audit entry was not stored: the queue is full"
            );
        }
    }

    /// Another node committed changes `from..=to` of `room`: read from the
    /// store beside the hub, then fanned out here.
    pub(super) fn remote_changed(&mut self, room: &str, from: u64, to: u64) {
        if !self.rooms.contains_key(room) {
            return; // nobody here reads it; a later join reads the store
        }
        let name = room.to_owned();
        let read = move |reader: &dyn StoreReader| {
            let rows = reader.change_log(&name, LogQuery::Revs { from, to })?;
            let frames: Vec<Payload> = rows
                .into_iter()
                .filter_map(|(row, text)| crate::store::changes::replay_frame(&name, row, text))
                .map(|frame| encode_json(&frame))
                .collect();
            Ok((name, frames))
        };
        self.read_then(None, read, |hub, read| {
            // Failed: logged; readers see the change on their next read.
            if let Ok((room, frames)) = read {
                hub.deliver_messages(&room, &frames);
            }
        });
    }
}

/// `bad_request` for an id the room has no message with.
fn no_message(room: &str, id: u64) -> ProtocolError {
    ProtocolError::bad_request(&format!("{room:?} has no message {id}"))
}

/// The frames of `after`'s replay of changes, encoded (for `joined`).
pub(super) fn replay(
    reader: &dyn StoreReader,
    room: &str,
    after: u64,
) -> Result<(Vec<Payload>, bool), crate::store::StoreError> {
    let replay = reader.replay_changes(room, after)?;
    let frames = replay.frames.iter().map(encode_json).collect();
    Ok((frames, replay.missed))
}
