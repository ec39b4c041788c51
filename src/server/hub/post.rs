//! Posting: `send`, the page's plain form, the hand-off to the group-commit
//! thread, and the broadcast of what it committed.
//!
//! The messages of one room in one commit are encoded once and queued to
//! each member together ([`Outbox::push`](crate::server::outbox::Outbox::push)):
//! a busy room costs each member one queue operation per commit, not per
//! message. The commit thread keeps a commit's bytes under a quarter of a
//! member's outbound bound (see [`crate::store::group_commit::spawn`]).

use super::access::Act;
use super::identity::{addr_key, limit_bucket, Claim, Client, NameClaim};
use super::names::{self, Name};
use super::rooms::Room;
use super::{unavailable, ConnId, Hub, Reply};
use crate::protocol::{
    sanitize_text, validate_nonce, validate_room_ref, ChatMessage, ClientFrame, ProtocolError,
    ServerFrame, MAX_ATTACHMENTS,
};
use crate::render::render_html;
use crate::server::payload::encode_json;
use crate::server::payload::Payload;
use crate::server::stats;
use crate::store::group_commit::{Done, Job};
use crate::store::{now_ms, NewMessage, StoreError, StoreReader, Stored};
use std::collections::HashMap;
use std::sync::Arc;

/// The page's plain form, as posted.
#[derive(Debug, Clone)]
pub(crate) struct FormPost {
    /// The display name given.
    pub(crate) name: String,
    /// Room name.
    pub(crate) room: String,
    /// The text as typed.
    pub(crate) text: String,
    /// The form's nonce (a reload that posts again posts nothing new).
    pub(crate) nonce: Option<String>,
    /// Who posts it.
    pub(crate) client: Client,
}

/// A form post, stored.
#[derive(Debug, Clone)]
pub(crate) struct Posted {
    /// The message (the original, when the form was posted twice).
    pub(crate) message: ChatMessage,
    /// A new identity's token, for the cookie (`None`: the cookie has it).
    pub(crate) token: Option<String>,
}

/// Who waits for a message to be stored.
#[derive(Debug)]
pub(super) enum Poster {
    /// A WebSocket connection: errors go to its queue, the message to its rooms.
    Conn(ConnId),
    /// A form post, answered with the stored message or the error, and
    /// the token to set in its cookie.
    Form(Reply<Posted>, Option<String>),
    /// A deleted account's purge, room after room; nobody is answered
    /// until the last ([`super::erase`]).
    Erased(super::erase::Erasing),
}

/// What travels with a message through the store: its poster and nonce.
pub(super) type Tag = (Poster, Option<String>);

/// A text sanitized and rendered to HTML (`(text, html)`), or why it was
/// refused: work done by the request's own task, not the hub's.
pub(crate) type Checked = Result<(String, String), ProtocolError>;

/// Sanitizes and renders `text` (see [`Checked`]).
pub(crate) fn check_text(text: &str) -> Checked {
    let text = sanitize_text(text)?;
    let html = render_html(&text);
    Ok((text, html))
}

/// A client frame as its connection's task hands it to the hub.
#[derive(Debug)]
pub(crate) enum Request {
    /// A parsed frame (not `send`).
    Frame(ClientFrame),
    /// A `send`, its text checked and rendered already.
    Send {
        /// Room name (not yet checked).
        room: String,
        /// The text, or why it is refused.
        text: Checked,
        /// Its nonce, as sent.
        nonce: Option<String>,
        /// *1.2*: the message it answers.
        reply_to: Option<u64>,
        /// *1.2* (section 5): the uploads posted with it.
        attachments: Vec<String>,
    },
    /// *1.2*: an `edit`, its text checked and rendered already.
    Edit {
        /// Room name (not yet checked).
        room: String,
        /// The message's id.
        id: u64,
        /// The new text, or why it is refused.
        text: Checked,
    },
    /// A frame that did not parse (or a binary one): refused, after it
    /// counts against the request rate limit.
    Refused(ProtocolError),
}

impl Request {
    /// Prepares `frame` on the caller's task.
    pub(crate) fn new(frame: ClientFrame) -> Request {
        match frame {
            ClientFrame::Send {
                room,
                text,
                nonce,
                reply_to,
                attachments,
            } => Request::Send {
                room,
                // *1.2* (section 5): files may go without a word.
                text: match text.trim().is_empty() && !attachments.is_empty() {
                    true => Ok((String::new(), String::new())),
                    false => check_text(&text),
                },
                nonce,
                reply_to,
                attachments,
            },
            ClientFrame::Edit { room, id, text } => Request::Edit {
                room,
                id,
                text: check_text(&text),
            },
            frame => Request::Frame(frame),
        }
    }

    /// The nonce an `error` in answer carries.
    pub(crate) fn nonce(&self) -> Option<&str> {
        match self {
            Request::Frame(frame) => frame.nonce(),
            Request::Send { nonce, .. } => nonce.as_deref(),
            Request::Edit { .. } => None,
            Request::Refused(e) => e.nonce.as_deref(),
        }
    }
}

/// A message ready for the store, stamped now.
fn new_message(
    room: String,
    user: String,
    (text, html): (String, String),
    author: &str,
    nonce: Option<&str>,
) -> NewMessage {
    NewMessage {
        html,
        room,
        user,
        text,
        ts: now_ms(),
        author: Some(author.to_owned()),
        nonce: nonce.map(str::to_owned),
        reply_to: None,
        attachments: Vec::new(),
    }
}

/// Each stored message's `message` frame, encoded once (on the commit
/// thread, so the hub only queues it): `None` for what failed.
pub(super) fn encode_committed(done: &[Done<Tag>]) -> Vec<Option<Payload>> {
    done.iter()
        .map(|(_, result)| {
            let stored = result.as_ref().ok()?;
            Some(encode_json(&ServerFrame::Message(stored.message.clone())))
        })
        .collect()
}

/// *1.2* (section 5): at most [`MAX_ATTACHMENTS`] upload ids, each of the
/// shape the server makes, none twice.
fn check_attachments(ids: &[String]) -> Result<(), ProtocolError> {
    if ids.len() > MAX_ATTACHMENTS {
        return Err(ProtocolError::bad_request(&format!(
            "a message carries at most {MAX_ATTACHMENTS} attachments"
        )));
    }
    for (i, id) in ids.iter().enumerate() {
        let shaped = id.len() == 32 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        if !shaped || ids[..i].contains(id) {
            return Err(ProtocolError::bad_request(&format!(
                "{id:?} is not an upload id, or is given twice"
            )));
        }
    }
    Ok(())
}

impl Hub {
    pub(super) fn on_send(
        &mut self,
        conn: ConnId,
        room: String,
        text: Checked,
        nonce: Option<String>,
        reply_to: Option<u64>,
        attachments: Vec<String>,
    ) -> Result<(), ProtocolError> {
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        if !self.session(conn)?.sends.take(rate, burst) {
            return Err(ProtocolError::rate_limited(rate, burst));
        }
        self.joined_to(conn, &room, Act::Post)?;
        let text = text?;
        let stored_nonce = validate_nonce(nonce.as_deref())?;
        // *1.2* (section 5): whose they are is checked as they are stored.
        check_attachments(&attachments)?;
        // *1.2*: a reply answers a message the room has (perhaps deleted).
        let last = self.rooms.get(room.as_str()).map_or(0, |r| r.last_id);
        if reply_to.is_some_and(|id| id == 0 || id > last) {
            return Err(ProtocolError::bad_request(&format!(
                "{room:?} has no message {} to reply to",
                reply_to.unwrap_or_default()
            )));
        }
        // *1.2*: slow mode, once the message is known to be good.
        self.slow_mode(conn, &room)?;
        let session = self.session(conn)?;
        let author = session.identity.clone().unwrap_or_default();
        let user = session.name.to_string();
        let mut message = new_message(room, user, text, &author, stored_nonce);
        message.reply_to = reply_to;
        message.attachments = attachments;
        self.queue(Job::Message {
            tag: (Poster::Conn(conn), nonce),
            message,
        })
    }

    /// Hands a job to the commit thread without waiting.
    pub(super) fn queue(&self, job: Job<Tag>) -> Result<(), ProtocolError> {
        if self.writer.is_none() {
            return Err(ProtocolError::unavailable("the server is shutting down"));
        }
        self.writer_send(job).map_err(|_| {
            ProtocolError::unavailable("the server is too busy to store this; try again")
        })
    }

    /// Hands `job` to the commit thread, or back when it cannot take it
    /// (full, or shutting down).
    pub(super) fn writer_send(&self, job: Job<Tag>) -> Result<(), Box<Job<Tag>>> {
        match &self.writer {
            Some(writer) => writer.try_send(job).map_err(|e| Box::new(e.into_inner())),
            None => Err(Box::new(job)),
        }
    }

    /// A form post: checked, then queued; answered once stored (or refused).
    pub(super) fn on_post(&mut self, post: FormPost, text: Checked, reply: Reply<Posted>) {
        let (claim, name, ask) = match self.check_post(&post, text.as_ref().err()) {
            Ok(checked) => checked,
            Err(e) => return drop(reply.send(Err(e))),
        };
        let text = text.expect("checked");
        let Some(ask) = ask else {
            return self.queue_post(post, claim, name, text, reply);
        };
        let ticket = match self.admit_read() {
            Ok(ticket) => ticket,
            Err(e) => return drop(reply.send(Err(e))),
        };
        self.read_then(ticket, ask, move |hub, claimed| {
            match claimed.and_then(|claimed| hub.claimed(claimed, &claim, &name)) {
                Ok(()) => hub.queue_post(post, claim, name, text, reply),
                Err(e) => drop(reply.send(Err(e))),
            }
        });
    }

    /// Validates a form post as `hello` + `send` would: the name (owned by
    /// the cookie's identity, or free), the room (which must exist), the
    /// text (`bad_text`: why it was refused) and nonce, and the rate limits
    /// of the poster's address and identity. Returns the claim, the name,
    /// and the read that claims it in the database, if one is needed.
    fn check_post(
        &mut self,
        post: &FormPost,
        bad_text: Option<&ProtocolError>,
    ) -> Result<(Claim, Name, Option<NameClaim>), ProtocolError> {
        if !self.config.guests && post.client.account.is_none() {
            return Err(ProtocolError::account_required());
        }
        let name = names::check(&post.name)?;
        validate_room_ref(&post.room)?;
        if let Some(e) = bad_text {
            return Err(e.clone());
        }
        validate_nonce(post.nonce.as_deref())?;
        // Refused before any allowance is used.
        let claim = self.claim(&name, None, &post.client)?;
        // *1.2*: as the identity that posts (a new one sees public rooms).
        let mut viewer = self.viewer_of(claim.proven());
        viewer.token_rooms = post
            .client
            .account
            .as_ref()
            .and_then(|s| s.rooms.as_deref());
        let role = self.authorize(&viewer, &post.room, Act::Post)?;
        let admin = viewer.admin;
        // *1.2*: slow mode holds on every path (a new identity has not
        // posted yet).
        if let Some(identity) = claim.proven() {
            let identity: std::sync::Arc<str> = std::sync::Arc::from(identity);
            self.slow_mode_of(identity, role, admin, &post.room)?;
        }
        let (rate, burst) = (self.config.rate_per_sec, self.config.rate_burst);
        if let Some(identity) = claim.proven().and_then(|id| self.registry.get(id)) {
            let renaming = *identity.name != *name.display;
            if renaming && !identity.conns.is_empty() {
                return Err(ProtocolError::bad_request(&format!(
                    "you are chatting as {:?} in an open tab: change your name there",
                    identity.name
                )));
            }
            let bucket = limit_bucket(&mut self.form_by_identity, identity.id.clone(), rate, burst);
            if !bucket.take(rate, burst) {
                return Err(ProtocolError::rate_limited(rate, burst));
            }
        }
        let bucket = limit_bucket(
            &mut self.form_by_addr,
            addr_key(post.client.addr),
            rate,
            burst,
        );
        if !bucket.take(rate, burst) {
            return Err(ProtocolError::rate_limited(rate, burst));
        }
        let ask = self.claim_needed(&claim, &name);
        Ok((claim, name, ask))
    }

    /// Speaks as the checked form post's name and queues its message.
    fn queue_post(
        &mut self,
        post: FormPost,
        claim: Claim,
        name: Name,
        text: (String, String),
        reply: Reply<Posted>,
    ) {
        let speaker = match self.speak(claim, &name, &post.client) {
            Ok(speaker) => speaker,
            Err(e) => return drop(reply.send(Err(e))),
        };
        self.registry.used(&speaker.id, now_ms());
        let nonce = validate_nonce(post.nonce.as_deref()).ok().flatten();
        let message = new_message(post.room, name.display, text, &speaker.id, nonce);
        // On a queue refusal the reply is dropped: the poster hears `unavailable`.
        let _ = self.queue(Job::Message {
            tag: (Poster::Form(reply, speaker.token), None),
            message,
        });
    }

    /// Broadcasts what the store committed; tells the senders of what it could not.
    /// The messages of one room in one commit go to each member as one item.
    ///
    /// With several nodes on one database (PostgreSQL), another node's
    /// messages may come between ours: a message already delivered (fetched
    /// on that node's notice) is skipped, and one after a gap is left for
    /// [`Hub::catch_up`], which reads the room up to it: the rooms and ids
    /// to catch up to are returned.
    pub(super) fn on_committed(
        &mut self,
        done: Vec<Done<Tag>>,
        frames: Vec<Option<Payload>>,
    ) -> Vec<(String, u64)> {
        let mut gaps: Vec<(String, u64)> = Vec::new();
        let mut by_room: Vec<(String, Vec<Payload>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        for (((poster, nonce), result), json) in done.into_iter().zip(frames) {
            match result {
                Ok(Stored { message, repeat }) => {
                    let json = json.expect("encoded by the commit thread");
                    match poster {
                        Poster::Form(reply, token) => {
                            let message = message.clone();
                            let _ = reply.send(Ok(Posted { message, token }));
                        }
                        // A resend: the original again, to the sender alone.
                        Poster::Conn(conn) if repeat => {
                            if let Some(s) = self.sessions.get(&conn) {
                                s.outbox.push(std::slice::from_ref(&json));
                            }
                        }
                        Poster::Conn(_) | Poster::Erased(_) => {}
                    }
                    if repeat {
                        continue;
                    }
                    // A room removed as unused while this message was in
                    // flight (a form post) was made again by the store.
                    if !self.rooms.contains_key(message.room.as_str()) {
                        self.rooms
                            .insert(Arc::from(message.room.as_str()), Room::default());
                    }
                    if let Some(gap) = gaps.iter_mut().find(|(r, _)| *r == message.room) {
                        gap.1 = message.id;
                        continue;
                    }
                    if let Some(room) = self.rooms.get_mut(message.room.as_str()) {
                        if message.id <= room.last_id {
                            continue;
                        }
                        // After a gap, or while a catch-up is out: its
                        // read brings this one too, in order.
                        if message.id != room.last_id + 1 || room.catching {
                            gaps.push((message.room.clone(), message.id));
                            continue;
                        }
                        room.last_id = message.id;
                        room.active_ms = message.ts;
                        room.posted_by(&message.user);
                    }
                    let room = message.room;
                    let slot = *index.entry(room).or_insert_with_key(|room| {
                        by_room.push((room.clone(), Vec::new()));
                        by_room.len() - 1
                    });
                    by_room[slot].1.push(json);
                }
                Err(e) => {
                    let error = match e {
                        // *1.2* (section 5): an attachment that is not the sender's.
                        StoreError::Refused(why) => ProtocolError::bad_request(&why),
                        e => unavailable(e),
                    };
                    let error = error.with_nonce(nonce.as_deref());
                    match poster {
                        Poster::Conn(conn) => {
                            if let Some(s) = self.sessions.get(&conn) {
                                s.outbox.send(&error.into_frame());
                            }
                        }
                        Poster::Form(reply, _) => drop(reply.send(Err(error))),
                        Poster::Erased(_) => {}
                    }
                }
            }
        }
        let mut deliveries = 0;
        for (room, frames) in by_room {
            let members = self.rooms.get(room.as_str()).map_or(0, |r| r.members.len());
            deliveries += members * frames.len();
            metrics::counter!(stats::STORED).increment(frames.len() as u64);
            self.deliver_messages(&room, &frames);
        }
        metrics::counter!(stats::DELIVERIES).increment(deliveries as u64);
        gaps
    }

    /// Delivers `room`'s messages after the last one delivered, up to
    /// `upto`, read from the store beside the hub: another node wrote them
    /// (its notice), or ours came after them. A room made on another node
    /// is added. One read per room is out at a time; what comes meanwhile
    /// raises where it must reach, and the next read goes on from there.
    pub(super) fn catch_up(&mut self, room: &str, upto: u64) {
        if !self.rooms.contains_key(room) {
            let made = Room {
                active_ms: crate::store::now_ms(),
                ..Room::default()
            };
            self.rooms.insert(Arc::from(room), made);
        }
        let r = self.rooms.get_mut(room).expect("just made");
        r.catch_to = r.catch_to.max(upto);
        let (from, upto) = (r.last_id + 1, r.catch_to);
        if r.catching || upto < from {
            return;
        }
        r.catching = true;
        let name = room.to_owned();
        let read = move |reader: &dyn StoreReader| {
            let mut messages = reader.range(&name, from, upto)?;
            reader.attach_files(&name, from, upto, &mut messages)?;
            let last = messages.last().map(|m| (m.id, m.ts));
            let users: Vec<String> = messages.iter().map(|m| m.user.clone()).collect();
            let frames: Vec<Payload> = messages
                .into_iter()
                .map(|m| encode_json(&ServerFrame::Message(m)))
                .collect();
            Ok((name, last, frames, users))
        };
        let room = room.to_owned();
        self.read_then(None, read, move |hub, read| {
            let Some(r) = hub.rooms.get_mut(room.as_str()) else {
                return;
            };
            r.catching = false;
            // Failed: logged; the next notice or commit catches up.
            let Ok((room, Some((last_id, ts)), frames, users)) = read else {
                return;
            };
            r.last_id = last_id;
            r.active_ms = ts;
            for user in &users {
                r.posted_by(user);
            }
            let deliveries = r.members.len() * frames.len();
            let again = r.catch_to;
            metrics::counter!(stats::DELIVERIES).increment(deliveries as u64);
            hub.deliver_messages(&room, &frames);
            hub.catch_up(&room, again);
        });
    }

    /// After the notices were lost (a broken connection): catches every
    /// room up to the store.
    pub(super) fn catch_up_all(&mut self) {
        self.read_then(
            None,
            |r| r.rooms(),
            |hub, rooms| {
                let Ok(rooms) = rooms else { return };
                for row in rooms {
                    hub.catch_up(&row.name, row.last_id);
                }
            },
        );
    }
}
