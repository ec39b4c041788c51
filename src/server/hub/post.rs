//! Posting: `send`, the page's plain form, the hand-off to the group-commit
//! thread, and the broadcast of what it committed.
//!
//! The messages of one room in one commit are encoded once and queued to
//! each member together ([`Outbox::push`](crate::server::outbox::Outbox::push)):
//! a busy room costs each member one queue operation per commit, not per
//! message. The commit thread keeps a commit's bytes under a quarter of a
//! member's outbound bound (see [`crate::store::group_commit::spawn`]).

use super::bucket::Bucket;
use super::{unavailable, ConnId, Hub, Reply};
use crate::protocol::{
    sanitize_text, validate_name, validate_room, ChatMessage, ProtocolError, ServerFrame,
};
use crate::render::render_html;
use crate::server::frame::encode_json;
use crate::store::group_commit::{Done, Job};
use crate::store::{now_ms, NewMessage};
use bytes::Bytes;
use std::collections::HashMap;
use std::time::Instant;

/// Who waits for a message to be stored.
#[derive(Debug)]
pub(super) enum Poster {
    /// A WebSocket connection: errors go to its queue, the message to its rooms.
    Conn(ConnId),
    /// A form post, answered with the stored message or the error.
    Form(Reply<ChatMessage>),
}

/// What travels with a message through the store: its poster and nonce.
pub(super) type Tag = (Poster, Option<String>);

/// A message ready for the store, stamped now.
fn new_message(room: String, user: String, text: String) -> NewMessage {
    NewMessage {
        html: render_html(&text),
        room,
        user,
        text,
        ts: now_ms(),
    }
}

impl Hub {
    pub(super) fn on_send(
        &mut self,
        conn: ConnId,
        room: String,
        text: &str,
        nonce: Option<String>,
    ) -> Result<(), ProtocolError> {
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        if !self.session(conn)?.sends.take(rate, burst) {
            return Err(ProtocolError::rate_limited(rate, burst));
        }
        self.joined_room(conn, &room)?;
        let text = sanitize_text(text)?;
        let user = self.session(conn)?.name.to_string();
        let message = new_message(room, user, text);
        self.queue(Job::Message {
            tag: (Poster::Conn(conn), nonce),
            message,
        })
    }

    /// Hands a job to the commit thread without waiting.
    pub(super) fn queue(&self, job: Job<Tag>) -> Result<(), ProtocolError> {
        let Some(writer) = &self.writer else {
            return Err(ProtocolError::unavailable("the server is shutting down"));
        };
        writer.try_send(job).map_err(|_| {
            ProtocolError::unavailable("the server is too busy to store this; try again")
        })
    }

    /// A form post: checked, then queued; answered once stored (or refused).
    pub(super) fn on_post(
        &mut self,
        name: &str,
        room: &str,
        text: &str,
        reply: Reply<ChatMessage>,
    ) {
        let message = match self.check_post(name, room, text) {
            Ok(message) => message,
            Err(e) => return drop(reply.send(Err(e))),
        };
        // On a queue refusal the reply is dropped: the poster hears `unavailable`.
        let _ = self.queue(Job::Message {
            tag: (Poster::Form(reply), None),
            message,
        });
    }

    /// Validates a form post as `hello` + `send` would: the name, that no live
    /// connection holds it, the room (which must exist), the poster's rate
    /// limit and the text.
    fn check_post(
        &mut self,
        name: &str,
        room: &str,
        text: &str,
    ) -> Result<NewMessage, ProtocolError> {
        let name = validate_name(name)?;
        if self.name_is_live(name) {
            return Err(ProtocolError::name_taken(name));
        }
        validate_room(room)?;
        if !self.rooms.contains_key(room) {
            return Err(ProtocolError::no_such_room(room));
        }
        let text = sanitize_text(text)?;
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        if self.form_buckets.len() >= self.config.max_identities {
            // Forget posters whose bucket has refilled: they lose nothing.
            let now = Instant::now();
            self.form_buckets
                .retain(|_, b| !b.is_full(now, rate, burst));
        }
        let bucket = self
            .form_buckets
            .entry(name.to_lowercase())
            .or_insert_with(|| Bucket::full(burst));
        if !bucket.take(rate, burst) {
            return Err(ProtocolError::rate_limited(rate, burst));
        }
        Ok(new_message(room.to_owned(), name.to_owned(), text))
    }

    /// Broadcasts what the store committed; tells the senders of what it could not.
    /// The messages of one room in one commit go to each member as one item.
    pub(super) fn on_committed(&mut self, done: Vec<Done<Tag>>) {
        let mut by_room: Vec<(String, Vec<Bytes>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for ((poster, nonce), result) in done {
            match result {
                Ok(message) => {
                    if let Poster::Form(reply) = poster {
                        let _ = reply.send(Ok(message.clone()));
                    }
                    if let Some(room) = self.rooms.get_mut(message.room.as_str()) {
                        debug_assert_eq!(message.id, room.last_id + 1);
                        room.last_id = message.id;
                    }
                    let room = message.room.clone();
                    let frame = ServerFrame::Message(ChatMessage { nonce, ..message });
                    let json = encode_json(&frame);
                    let slot = *index.entry(room).or_insert_with_key(|room| {
                        by_room.push((room.clone(), Vec::new()));
                        by_room.len() - 1
                    });
                    by_room[slot].1.push(json);
                }
                Err(e) => {
                    let error = unavailable(e).with_nonce(nonce.as_deref());
                    match poster {
                        Poster::Conn(conn) => {
                            if let Some(s) = self.sessions.get(&conn) {
                                s.outbox.send(&error.into_frame());
                            }
                        }
                        Poster::Form(reply) => drop(reply.send(Err(error))),
                    }
                }
            }
        }
        for (room, frames) in by_room {
            self.deliver(&room, &frames, None);
        }
    }
}
