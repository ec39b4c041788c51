//! One fallback connection ([`Session`]) and the sessions of this node
//! ([`Sessions`]).
//!
//! A session is a connection to the hub like a WebSocket, with its
//! [`Outbox`], its place ([`Ticket`]) and its task ([`run`]); what differs
//! is that its stream may drop and come back. So a session keeps what its
//! streams were given ([`Replay`], bounded in bytes like the outbox), by
//! event id, and a stream that comes back with `Last-Event-ID` is given the
//! rest. It ends when no client frame came within the idle timeout (the
//! client pings, as on the WebSocket), when the hub closes it, or when a
//! stream cannot be resumed.

use super::super::admission::Ticket;
use super::super::cookies::secret_hash;
use super::super::outbox::{ConnId, GaugeGuard, Outbox};
use crate::protocol::CLOSE_PING_TIMEOUT;
use crate::server::payload::Payload;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::time::Instant;

/// The sessions of this node, by the hash of their id (the id itself is
/// only ever held by the client).
#[derive(Debug, Default)]
pub(crate) struct Sessions {
    /// Live sessions. A mutex: taken once per request, never across an
    /// `.await`.
    by_hash: Mutex<HashMap<[u8; 32], Arc<Session>>>,
}

impl Sessions {
    /// Adds a session under the hash of `id`.
    pub(crate) fn insert(&self, id: &str, session: Arc<Session>) {
        let mut map = self.by_hash.lock().expect("sessions lock");
        map.insert(secret_hash(id), session);
    }

    /// The live session `id` names, if any.
    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.get_hashed(&secret_hash(id))
    }

    /// The live session whose id hashes to `hash`, if any (a POST handed
    /// here by another node).
    pub(crate) fn get_hashed(&self, hash: &[u8; 32]) -> Option<Arc<Session>> {
        let map = self.by_hash.lock().expect("sessions lock");
        map.get(hash).filter(|s| !s.ended()).cloned()
    }

    /// Forgets the session `id` names.
    fn remove(&self, id: &str) {
        self.by_hash
            .lock()
            .expect("sessions lock")
            .remove(&secret_hash(id));
    }
}

/// What a session's streams were given, kept for a stream that comes back:
/// the newest frames, by event id, at most `limit` bytes of them.
#[derive(Debug)]
pub(crate) struct Replay {
    /// Frames, oldest first, each with its event id.
    frames: VecDeque<(u64, Payload)>,
    /// Their bytes.
    bytes: usize,
    /// Most bytes kept.
    limit: usize,
    /// The id the next frame gets (ids start at 1).
    next_id: u64,
}

impl Replay {
    fn new(limit: usize) -> Replay {
        Replay {
            frames: VecDeque::new(),
            bytes: 0,
            limit,
            next_id: 1,
        }
    }

    /// Keeps `frame`, dropping the oldest past the bound; returns its id.
    pub(crate) fn keep(&mut self, frame: Payload) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        self.bytes += frame.len();
        self.frames.push_back((id, frame));
        while self.bytes > self.limit && self.frames.len() > 1 {
            let (_, old) = self.frames.pop_front().expect("more than one");
            self.bytes -= old.len();
        }
        if self.frames.capacity() > 64 && self.frames.len() < 16 {
            self.frames.shrink_to_fit();
        }
        id
    }

    /// The frames after event `last`, or `None` when some of them are no
    /// longer kept (or `last` was never given).
    pub(crate) fn after(&self, last: u64) -> Option<Vec<(u64, Payload)>> {
        if last >= self.next_id {
            return None;
        }
        let oldest = self.frames.front().map_or(self.next_id, |(id, _)| *id);
        if last + 1 < oldest {
            return None;
        }
        Some(
            self.frames
                .iter()
                .filter(|(id, _)| *id > last)
                .cloned()
                .collect(),
        )
    }
}

/// One fallback connection.
#[derive(Debug)]
pub(crate) struct Session {
    /// The hub's name for it.
    pub(crate) conn: ConnId,
    /// Where the hub queues its frames: the attached stream takes them
    /// itself (one wakeup from the hub's push to the socket); the session's
    /// task only waits for a close ([`Outbox::poll_closed`]).
    pub(crate) outbox: Outbox,
    /// Everything that changes, under one lock (never held across `.await`).
    state: Mutex<State>,
}

/// The changing part of a [`Session`].
#[derive(Debug)]
struct State {
    /// What streams were given, for resuming.
    replay: Replay,
    /// The attached stream's number (0: none), and its waker.
    stream: (u64, Option<Waker>),
    /// The last stream's number.
    streams: u64,
    /// The sequence number the next POST must carry.
    next_post: u64,
    /// A POST is being handed to the hub (POSTs go one at a time).
    posting: bool,
    /// When the client last sent something.
    heard: Instant,
    /// The session's task has ended it.
    ended: bool,
}

/// What [`Session::take`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Take {
    /// Frames, moved into the caller's queue; the last one's event id.
    Frames(u64),
    /// Nothing yet.
    Nothing,
    /// The hub closed the connection, with this code and reason.
    Closed(u16, &'static str),
    /// This stream no longer holds the session.
    Gone,
}

/// What a POST's sequence number says to do.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Post {
    /// Apply its frames, then call [`Session::posted`].
    Apply,
    /// Already applied (a retry): nothing to do.
    Duplicate,
    /// Not the next one, or another is being applied.
    OutOfOrder,
}

impl Session {
    pub(crate) fn new(conn: ConnId, outbox: Outbox, replay_bytes: usize) -> Session {
        Session {
            conn,
            outbox,
            state: Mutex::new(State {
                replay: Replay::new(replay_bytes),
                stream: (0, None),
                streams: 0,
                next_post: 0,
                posting: false,
                heard: Instant::now(),
                ended: false,
            }),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().expect("session lock")
    }

    /// True once the session is over.
    pub(crate) fn ended(&self) -> bool {
        self.state().ended
    }

    /// A new stream takes the session, given what came after event `last`
    /// (`None`: a fresh session, nothing to give); the one before it, if
    /// any, stops. Returns the stream's number and the frames to write
    /// first, or `None` when some of those are no longer kept. One lock
    /// for all of it, so no frame goes to the stream that stops after the
    /// new one was given what came before it.
    pub(crate) fn attach(&self, last: Option<u64>) -> Option<(u64, Vec<(u64, Payload)>)> {
        let mut state = self.state();
        let frames = match last {
            Some(last) => state.replay.after(last)?,
            None => Vec::new(),
        };
        state.streams += 1;
        let number = state.streams;
        let (_, before) = std::mem::replace(&mut state.stream, (number, None));
        drop(state);
        if let Some(waker) = before {
            waker.wake();
        }
        Some((number, frames))
    }

    /// For stream `number`: what the hub queued (moved into `taken`, and
    /// kept for resuming), the close it asked for, or the end of this
    /// stream (another took its place, or the session ended). Registers the
    /// stream's waker with the outbox and the session. Under the session's
    /// lock, so that [`Session::attach`] sees every frame a stream took.
    pub(crate) fn take(
        &self,
        number: u64,
        cx: &mut Context<'_>,
        taken: &mut VecDeque<Payload>,
    ) -> Take {
        let mut state = self.state();
        if state.stream.0 != number {
            return Take::Gone;
        }
        if let Poll::Ready((code, reason)) = self.outbox.poll_next(cx, taken) {
            return Take::Closed(code, reason);
        }
        if state.ended {
            return Take::Gone;
        }
        if !state
            .stream
            .1
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()))
        {
            state.stream.1 = Some(cx.waker().clone());
        }
        let mut last = None;
        for frame in taken.iter() {
            last = Some(state.replay.keep(frame.clone()));
        }
        match last {
            Some(last) => Take::Frames(last),
            None => Take::Nothing,
        }
    }

    /// Stream `number` lets go (its response ended or was dropped).
    pub(crate) fn detach(&self, number: u64) {
        let mut state = self.state();
        if state.stream.0 == number {
            state.stream = (0, None);
        }
    }

    /// What to do with POST number `seq`; counts as hearing from the client.
    pub(crate) fn post(&self, seq: u64) -> Post {
        let mut state = self.state();
        if state.ended {
            return Post::OutOfOrder;
        }
        state.heard = Instant::now();
        if seq < state.next_post {
            Post::Duplicate
        } else if seq > state.next_post || state.posting {
            Post::OutOfOrder
        } else {
            state.posting = true;
            Post::Apply
        }
    }

    /// The POST being applied is done; the next may come.
    pub(crate) fn posted(&self) {
        let mut state = self.state();
        state.posting = false;
        state.next_post += 1;
        state.heard = Instant::now();
    }
}

/// Runs session `id` until it ends, then tells the hub (`on_end`) and gives
/// its place back: it ends once the hub asks for a close (the attached
/// stream, if any, writes why when it can). A session nobody heard from within
/// `idle` is closed, as a WebSocket is (the client pings meanwhile).
pub(crate) async fn run(
    id: String,
    session: Arc<Session>,
    sessions: Arc<Sessions>,
    idle: Duration,
    on_end: impl std::future::Future<Output = ()>,
    place: (Ticket, GaugeGuard),
) {
    loop {
        let heard = session.state().heard;
        if heard + idle <= Instant::now() {
            session
                .outbox
                .close(CLOSE_PING_TIMEOUT, "no frame within the idle timeout");
        }
        tokio::select! {
            () = std::future::poll_fn(|cx| session.outbox.poll_closed(cx)) => break,
            () = tokio::time::sleep_until(heard + idle) => {}
        }
    }
    let stream = {
        let mut state = session.state();
        state.ended = true;
        state.stream.1.take()
    };
    // A stream waiting for frames sees the close (or its end) now.
    if let Some(waker) = stream {
        waker.wake();
    }
    sessions.remove(&id);
    on_end.await;
    drop(place);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(n: usize) -> Payload {
        Payload::from(bytes::Bytes::from(vec![b'x'; n]))
    }

    #[test]
    fn a_replay_keeps_its_bound_in_bytes_and_says_when_it_cannot_resume() {
        let mut replay = Replay::new(100);
        assert_eq!(replay.after(0), Some(vec![]), "nothing given yet");
        assert_eq!(replay.after(1), None, "an id never given");
        for _ in 0..4 {
            replay.keep(frame(25));
        }
        assert_eq!(replay.bytes, 100, "exactly the bound is kept");
        assert_eq!(replay.after(0).unwrap().len(), 4);
        assert_eq!(replay.after(2).unwrap()[0].0, 3);
        replay.keep(frame(1));
        assert_eq!(replay.bytes, 76, "one past it drops the oldest");
        assert_eq!(replay.after(0), None, "frame 1 is gone");
        assert_eq!(replay.after(1).unwrap().len(), 4);
        assert_eq!(replay.after(5), Some(vec![]));
    }

    #[test]
    fn posts_apply_once_in_order_one_at_a_time() {
        let session = Session::new(1, Outbox::new(10), 10);
        assert_eq!(session.post(1), Post::OutOfOrder, "0 comes first");
        assert_eq!(session.post(0), Post::Apply);
        assert_eq!(session.post(0), Post::OutOfOrder, "still being applied");
        session.posted();
        assert_eq!(session.post(0), Post::Duplicate, "a retry");
        assert_eq!(session.post(1), Post::Apply);
        session.posted();
        session.state().ended = true;
        assert_eq!(session.post(2), Post::OutOfOrder, "ended");
    }
}
